// Distillery ops page: polls api/state and draws, per task, agreement, category mix and
// alarms over time as inline SVG. Self-contained on purpose: no library, nothing fetched
// from the internet, and data only ever reaches the page through textContent (no HTML
// injection from task or category names).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const W = 900, PAD = { l: 44, r: 12, t: 8, b: 22 };
const TOP_CATEGORIES = 8;
const PALETTE = ["#2f7fc1", "#e07b39", "#3c9d5d", "#c2405a", "#8a63c7", "#b08d24", "#2aa5a0", "#d45fb0",
                 "#9aa3ab"];
const params = new URLSearchParams(location.search);
const REFRESH_MS = Math.max(1, Number(params.get("refresh")) || 5) * 1000;

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmtTime(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function fmtNum(v, digits) {
  if (v === null || v === undefined) return "–";
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString();
  return Number(v).toFixed(digits === undefined ? 0 : digits);
}

function fmtLevel(signal, v) {
  if (v === null || v === undefined) return "–";
  if (signal === "input_length") return v.toFixed(1) + " chars";
  return (100 * v).toFixed(1) + "%";
}

// A chart frame: a time axis shared by a task's charts and a linear y axis.
function frame(height, domain, yMin, yMax, yTicks, yFmt) {
  const svg = svgEl("svg", { class: "chart", viewBox: `0 0 ${W} ${height}`, role: "img" });
  const [t0, t1] = domain;
  const x = (t) => PAD.l + (t1 > t0 ? (t - t0) / (t1 - t0) : 0.5) * (W - PAD.l - PAD.r);
  const y = (v) => PAD.t + (1 - (v - yMin) / (yMax - yMin || 1)) * (height - PAD.t - PAD.b);
  for (const v of yTicks) {
    svg.appendChild(svgEl("line", { class: "gridline", x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v) }));
    svg.appendChild(svgEl("text", { x: PAD.l - 4, y: y(v) + 3, "text-anchor": "end" }, yFmt(v)));
  }
  if (t1 > t0) {
    for (let i = 0; i <= 4; i++) {
      const t = t0 + (i * (t1 - t0)) / 4;
      const anchor = i === 0 ? "start" : i === 4 ? "end" : "middle";
      svg.appendChild(svgEl("text", { x: x(t), y: height - 6, "text-anchor": anchor }, fmtTime(t)));
    }
  }
  return { svg, x, y, height };
}

function alarmMarks(f, alarms) {
  for (const a of alarms) {
    const line = svgEl("line", { class: `alarm-mark ${a.severity}`, x1: f.x(a.t_ms), x2: f.x(a.t_ms),
                                 y1: PAD.t, y2: f.height - PAD.b });
    line.appendChild(svgEl("title", {}, `${a.signal} ${a.severity} at ${fmtTime(a.t_ms)}`));
    f.svg.appendChild(line);
  }
}

function pathOf(points) {
  return points.map(([px, py], i) => `${i ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`).join("");
}

function agreementChart(task, domain) {
  const pts = task.agreement;
  const lows = pts.map((p) => p.rate).concat(pts.map((p) => p.level).filter((v) => v !== null));
  const yMin = Math.max(0, Math.min(0.5, Math.floor((Math.min(...lows, 1) - 0.05) * 10) / 10));
  const ticks = [];
  for (let v = yMin; v <= 1.0001; v += (1 - yMin) / 4) ticks.push(v);
  const f = frame(180, domain, yMin, 1, ticks, (v) => `${Math.round(v * 100)}%`);
  f.svg.setAttribute("data-chart", "agreement");
  f.svg.setAttribute("data-points", String(pts.length));
  alarmMarks(f, task.alarms);
  f.svg.appendChild(svgEl("path", { class: "series-rate", d: pathOf(pts.map((p) => [f.x(p.t_ms), f.y(p.rate)])) }));
  const level = pts.filter((p) => p.level !== null);
  f.svg.appendChild(svgEl("path", { class: "series-level",
                                    d: pathOf(level.map((p) => [f.x(p.t_ms), f.y(p.level)])) }));
  for (const p of pts) {
    const c = svgEl("circle", { class: "pt agreement-pt", cx: f.x(p.t_ms), cy: f.y(p.rate), r: 2.5 });
    c.appendChild(svgEl("title", {}, `${fmtTime(p.t_ms)}: ${(100 * p.rate).toFixed(1)}% agree ` +
                                     `(detector level ${fmtLevel("agreement", p.level)})`));
    f.svg.appendChild(c);
  }
  return f.svg;
}

function topCategories(points) {
  const total = {};
  for (const p of points) for (const [c, s] of Object.entries(p.shares)) total[c] = (total[c] || 0) + s;
  return Object.keys(total).sort((a, b) => total[b] - total[a] || a.localeCompare(b)).slice(0, TOP_CATEGORIES);
}

function categoryChart(task, domain) {
  const pts = task.categories;
  const top = topCategories(pts);
  const rest = pts.some((p) => Object.keys(p.shares).some((c) => !top.includes(c)));
  const names = rest ? top.concat(["other"]) : top;
  const f = frame(180, domain, 0, 1, [0, 0.25, 0.5, 0.75, 1], (v) => `${Math.round(v * 100)}%`);
  f.svg.setAttribute("data-chart", "categories");
  f.svg.setAttribute("data-points", String(pts.length));
  const lower = pts.map(() => 0);
  names.forEach((name, i) => {
    const share = pts.map((p) => name === "other"
      ? Object.entries(p.shares).filter(([c]) => !top.includes(c)).reduce((s, [, v]) => s + v, 0)
      : (p.shares[name] || 0));
    const upper = share.map((s, j) => lower[j] + s);
    const edge = pts.map((p, j) => [f.x(p.t_ms), f.y(upper[j])]);
    const back = pts.map((p, j) => [f.x(p.t_ms), f.y(lower[j])]).reverse();
    const area = svgEl("path", { class: "cat-area", "data-category": name, "data-n": String(pts.length),
                                 fill: PALETTE[i % PALETTE.length], "fill-opacity": "0.85",
                                 d: pts.length ? pathOf(edge.concat(back)) + "Z" : "" });
    area.appendChild(svgEl("title", {}, name));
    f.svg.appendChild(area);
    upper.forEach((u, j) => { lower[j] = u; });
  });
  alarmMarks(f, task.alarms.filter((a) => a.signal === "category_mix"));
  const legend = el("div", { class: "legend" });
  names.forEach((name, i) => {
    const item = el("span");
    item.appendChild(el("span", { class: "swatch", style: `background:${PALETTE[i % PALETTE.length]}` }));
    item.appendChild(document.createTextNode(name));
    legend.appendChild(item);
  });
  const box = el("div");
  box.appendChild(f.svg);
  box.appendChild(legend);
  return box;
}

function alarmChart(task, domain) {
  const lanes = [...new Set(task.alarms.map((a) => a.signal))].sort();
  const height = PAD.t + PAD.b + Math.max(1, lanes.length) * 18;
  const f = frame(height, domain, 0, 1, [], () => "");
  f.svg.setAttribute("data-chart", "alarms");
  f.svg.setAttribute("data-points", String(task.alarms.length));
  lanes.forEach((lane, i) => {
    const ly = PAD.t + 9 + i * 18;
    f.svg.appendChild(svgEl("line", { class: "gridline", x1: PAD.l, x2: W - PAD.r, y1: ly, y2: ly }));
    f.svg.appendChild(svgEl("text", { x: PAD.l + 2, y: ly - 3 }, lane));
  });
  for (const a of task.alarms) {
    const dot = svgEl("circle", { class: `alarm-dot ${a.severity}`, cx: f.x(a.t_ms),
                                  cy: PAD.t + 9 + lanes.indexOf(a.signal) * 18, r: 5 });
    dot.appendChild(svgEl("title", {}, `${fmtTime(a.t_ms)} ${a.signal} (${a.detector}) ` +
                                       `${fmtLevel(a.signal, a.before)} → ${fmtLevel(a.signal, a.after)}`));
    f.svg.appendChild(dot);
  }
  return f.svg;
}

function referenceLine(task) {
  // which reference each signal compares live traffic with: an adapter's training data, a warm-up, or its own window
  const refs = task.references || {};
  const groups = {};
  for (const [signal, ref] of Object.entries(refs)) (groups[ref] = groups[ref] || []).push(signal);
  const parts = Object.entries(groups).map(([ref, signals]) => `${ref}: ${signals.join(", ")}`);
  return el("p", { class: "dim references" }, parts.length ? `Compared with — ${parts.join(" · ")}`
                                                            : "No reference yet.");
}

function alarmTable(task) {
  if (!task.alarms.length) return el("p", { class: "empty" }, "No alarms.");
  const table = el("table", { class: "alarms" });
  const head = el("tr");
  for (const h of ["time", "signal", "detector", "before → after", "severity", "where"]) head.appendChild(el("th", {}, h));
  table.appendChild(head);
  for (const a of task.alarms.slice().reverse().slice(0, 20)) {
    const row = el("tr", { class: "alarm-row" });
    row.appendChild(el("td", {}, new Date(a.t_ms).toLocaleString()));
    row.appendChild(el("td", {}, a.signal));
    row.appendChild(el("td", {}, a.detector));
    row.appendChild(el("td", {}, `${fmtLevel(a.signal, a.before)} → ${fmtLevel(a.signal, a.after)}`));
    row.appendChild(el("td", { class: `sev ${a.severity}` }, a.severity));
    row.appendChild(el("td", {}, a.where));
    table.appendChild(row);
  }
  return table;
}

function timeDomain(task) {
  const ts = task.agreement.map((p) => p.t_ms).concat(task.categories.map((p) => p.t_ms),
                                                      task.alarms.map((a) => a.t_ms));
  return ts.length ? [Math.min(...ts), Math.max(...ts)] : [0, 0];
}

function renderSummary(state) {
  const box = document.getElementById("summary");
  box.replaceChildren();
  const names = Object.keys(state.tasks);
  if (!names.length) {
    box.appendChild(el("p", { class: "empty" }, "No task seen yet by this monitors worker."));
    return;
  }
  const lag = state.lag.reduce((s, l) => s + l.lag, 0);
  const table = el("table", { id: "totals" });
  const head = el("tr");
  for (const h of ["task", "events in", "dead-lettered", "sampled", "teacher calls", "spend (USD)", "agreement",
                   "alarms"]) head.appendChild(el("th", {}, h));
  table.appendChild(head);
  for (const name of names) {
    const t = state.tasks[name], out = state.outcomes[name] || {};
    const row = el("tr", { "data-task": name });
    const cells = [name, fmtNum(t.counts.events_in), fmtNum(t.counts.deadlettered), fmtNum(t.counts.sampled),
                   fmtNum(out.teacher_calls), fmtNum(out.spend_usd, 2), fmtLevel("agreement", t.levels.agreement),
                   fmtNum(t.alarms.length)];
    for (const c of cells) row.appendChild(el("td", {}, c));
    table.appendChild(row);
  }
  box.appendChild(table);
  box.appendChild(el("p", { class: "dim" }, `consumer lag: ${lag} messages · drift events published: ` +
                                            `${state.drift_published}`));
}

function render(state) {
  renderSummary(state);
  const main = document.getElementById("tasks");
  main.replaceChildren();
  for (const [name, task] of Object.entries(state.tasks)) {
    const domain = timeDomain(task);
    const card = el("section", { class: "task", "data-task": name });
    card.appendChild(el("h2", {}, name));
    card.appendChild(referenceLine(task));
    card.appendChild(el("h3", {}, `Teacher-student agreement, per ${task.bucket} answers ` +
                                  "(dashed: detector level)"));
    card.appendChild(agreementChart(task, domain));
    card.appendChild(el("h3", {}, `Category mix, per ${task.bucket} answered requests`));
    card.appendChild(categoryChart(task, domain));
    card.appendChild(el("h3", {}, "Alarms"));
    card.appendChild(alarmChart(task, domain));
    card.appendChild(alarmTable(task));
    main.appendChild(card);
  }
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const resp = await fetch("api/state", { cache: "no-store" });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    render(await resp.json());
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes) + 1);
    status.className = "status";
    status.textContent = `updated ${fmtTime(Date.now())} · every ${REFRESH_MS / 1000}s`;
  } catch (err) {
    status.className = "status error";
    status.textContent = `cannot reach the monitors worker (${err.message}); retrying`;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
