// Distillery review page: one leased item at a time from api/review/next, decided with the
// keyboard (a accept, c correct, s skip, g gold) through api/review/decide. Self-contained, and
// data only ever reaches the page through textContent / value (no HTML injection from inputs).
"use strict";

const params = new URLSearchParams(location.search);
const TASK = params.get("task") || "";
const $ = (id) => document.getElementById(id);
let current = null;
let busy = false;

function reviewer() {
  return $("reviewer").value.trim() || "web";
}

function fmtConf(v) {
  return v === null || v === undefined ? "–" : Number(v).toFixed(2);
}

function setStatus(text, error) {
  $("status").textContent = text;
  $("status").className = error ? "status error" : "status";
}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const resp = await fetch(path, init);
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => ({ error: `HTTP ${resp.status}` }));
  if (!resp.ok) throw new Error(data.error || `HTTP ${resp.status}`);
  return data;
}

function show(item) {
  current = item;
  $("error").textContent = "";
  $("item").hidden = !item;
  $("empty").hidden = !!item;
  document.body.dataset.itemId = item ? item.item_id : "";
  if (!item) return;
  $("task").textContent = item.task;
  $("origin").textContent = item.origin;
  $("reason").textContent = item.reason;
  $("input").textContent = item.input;
  $("teacher").textContent = item.teacher_output === null ? "(no answer)" : item.teacher_output;
  $("confidence").textContent = fmtConf(item.teacher_confidence);
  $("student").textContent = item.student_output === null ? "(none)" : item.student_output;
  const json = item.kind === "extraction";
  $("answer").hidden = json;
  $("answer-json").hidden = !json;
  const list = $("labels");
  list.replaceChildren(...item.labels.map((l) => { const o = document.createElement("option"); o.value = l; return o; }));
  $("answer").value = item.category || item.teacher_output || "";
  let pretty = item.teacher_output || "{}";
  try { pretty = JSON.stringify(JSON.parse(pretty), null, 2); } catch (e) { /* shown as it came */ }
  $("answer-json").value = pretty;
}

async function loadNext() {
  const task = TASK ? `&task=${encodeURIComponent(TASK)}` : "";
  try {
    show(await api(`api/review/next?reviewer=${encodeURIComponent(reviewer())}${task}`));
    setStatus("");
  } catch (e) {
    setStatus(`cannot reach the review queue (${e.message})`, true);
  }
  refreshStats();
}

async function refreshStats() {
  let stats;
  try { stats = await api(`api/review/stats${TASK ? `?task=${encodeURIComponent(TASK)}` : ""}`); } catch (e) { return; }
  let open = 0, rate = 0;
  const rows = [];
  for (const [task, s] of Object.entries(stats)) {
    open += s.open; rate += s.per_minute;
    for (const [cat, d] of Object.entries(s.disagreement)) rows.push([task, cat, d]);
  }
  $("counter").textContent = `${open} left · ${rate.toFixed(1)}/min` + (rate > 0 ? ` · ~${Math.ceil(open / rate)} min` : "");
  $("counter").dataset.open = String(open);
  rows.sort((x, y) => y[2].teacher_error_rate - x[2].teacher_error_rate);
  $("disagreement").tBodies[0].replaceChildren(...rows.map(([task, cat, d]) => {
    const tr = document.createElement("tr");
    tr.dataset.category = cat;
    const instead = Object.entries(d.people_said || {}).slice(0, 3).map(([a, n]) => `${a} (${n})`).join(", ");
    for (const v of [task, cat, d.reviewed, d.disagreed, `${(100 * d.teacher_error_rate).toFixed(0)}%`, instead]) {
      const td = document.createElement("td"); td.textContent = String(v); tr.appendChild(td);
    }
    if (d.teacher_error_rate >= 0.2 && d.reviewed >= 3) tr.className = "high";
    return tr;
  }));
}

function answerValue() {
  return current.kind === "extraction" ? $("answer-json").value : $("answer").value;
}

async function decide(decision, answer) {
  if (!current || busy) return;
  busy = true;
  const body = { task: current.task, item_id: current.item_id, decision, reviewer: reviewer() };
  if (answer !== undefined) body.answer = answer;
  try {
    await api("api/review/decide", body);
    document.body.dataset.decided = String(Number(document.body.dataset.decided) + 1);
    document.activeElement.blur();
    await loadNext();
  } catch (e) {
    $("error").textContent = e.message;  // nothing changed: fix the answer, or skip
  } finally {
    busy = false;
  }
}

function editing() {
  const a = document.activeElement;
  return a && (a.id === "answer" || a.id === "answer-json" || a.id === "reviewer");
}

document.addEventListener("keydown", (ev) => {
  if (editing()) {
    if (ev.key === "Escape") document.activeElement.blur();
    const submit = ev.key === "Enter" && (document.activeElement.id === "answer" || ev.ctrlKey || ev.metaKey);
    if (submit && document.activeElement.id !== "reviewer") { ev.preventDefault(); decide("correct", answerValue()); }
    if (ev.key === "Enter" && document.activeElement.id === "reviewer") { document.activeElement.blur(); loadNext(); }
    return;
  }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.key === "a") decide("accept");
  else if (ev.key === "s") decide("skip");
  else if (ev.key === "g") decide("promote_gold", answerValue() === (current && current.category) ? undefined : answerValue());
  else if (ev.key === "c" && current) {
    ev.preventDefault();
    const box = current.kind === "extraction" ? $("answer-json") : $("answer");
    box.focus(); box.select();
  }
});

$("reviewer").value = params.get("reviewer") || localStorage.getItem("distillery.reviewer") || "";
$("reviewer").addEventListener("change", () => localStorage.setItem("distillery.reviewer", reviewer()));
loadNext();
setInterval(refreshStats, 10000);
