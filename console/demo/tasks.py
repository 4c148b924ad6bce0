"""The task a replayed log runs as: the one declared in the config, or one derived from the file.

A declared task is used as is. Otherwise a classification task is derived: its
labels are the label column's distinct values in first-seen order, its prompts
are generic (built from the name and the labels), and every other setting
(teacher, sampling, retrain, gate, routing, economics, lora, sft) is copied from
the config's ``transactions`` task, the one the demo is tuned for.

>>> from distillery.replay import Row
>>> rows = [Row("where is my refund", "refund"), Row("card declined", "billing"), Row("thanks!", "refund")]
>>> chosen = replay_task(Settings(), rows, source="Support Logs.csv", label_col="category")
>>> chosen.name, chosen.derived, chosen.settings.task("support_logs").labels
('support_logs', True, ['refund', 'billing'])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

from distillery.errors import ConfigError
from distillery.replay import Row
from distillery.settings import Settings
from distillery.taskspec import TaskSpec

TEMPLATE_TASK = "transactions"
"""The declared task a derived one copies its settings from (defaults where it is not declared)."""
MAX_LABELS = 1000
"""More distinct labels than this is a free-text column, not a label set."""
EXAMPLES = 5
"""How many offending rows an unknown-label report shows."""

_NOT_NAME = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class ReplayTask:
    """The task a replay runs as, the settings that declare it, and what was found in the rows."""

    name: str
    settings: Settings
    derived: bool
    unknown_labels: int = 0
    """Labeled rows whose label is not in the task's label set (declared tasks)."""
    examples: tuple[tuple[int, str], ...] = ()
    """A few of them: (row number, label)."""

    @property
    def spec(self) -> TaskSpec:
        return self.settings.task(self.name)


def task_name(text: str) -> str:
    """A task name from a file stem or free text: lower case, runs of other characters as ``_``.

    >>> task_name("Support Logs (2024).csv"), task_name("---")
    ('support_logs_2024_csv', 'replay')
    """
    return _NOT_NAME.sub("_", text.casefold()).strip("_") or "replay"


def label_set_of(rows: Sequence[Row], *, label_col: str, source: str) -> list[str]:
    """The distinct labels of ``rows`` in first-seen order, or a :class:`ConfigError` naming the column."""
    from streams.teacher.labels import normalise_label

    labels = list(dict.fromkeys(r.label for r in rows if r.label is not None))
    if not labels:
        raise ConfigError(f"no row has a value in the label column {label_col!r}, so there is no label set "
                          "to derive a task from; set --label-col to the column with the ground truth, "
                          "or declare the task in the config and pass --task NAME", source=source)
    if len(labels) < 2:
        raise ConfigError(f"the label column {label_col!r} holds one label ({labels[0]!r}); a classification "
                          "task needs at least two", source=source)
    if len(labels) > MAX_LABELS:
        raise ConfigError(f"the label column {label_col!r} holds {len(labels):,} distinct values (at most "
                          f"{MAX_LABELS:,}): is it free text rather than a label? Set --label-col to the "
                          "column with the ground truth", source=source)
    seen: dict[str, str] = {}
    for label in labels:
        first = seen.setdefault(normalise_label(label), label)
        if first != label:
            raise ConfigError(f"the label column {label_col!r} holds {first!r} and {label!r}, which answers "
                              "cannot tell apart (case, spaces, hyphens and underscores are ignored when "
                              "matching): make them one label in the file", source=source)
    return labels


def derive_task(name: str, labels: Sequence[str], template: TaskSpec | None) -> TaskSpec:
    """A classification task over ``labels``, with generic prompts and ``template``'s other settings."""
    listed = ", ".join(labels)
    teacher_prompt = (f"You are a careful annotator for the task {name!r}. Classify the input into exactly "
                      f"one of its {len(labels)} labels, listed below. Answer with the label only.")
    student_prompt = (f"Classify the {name} input as one of: {listed}." if len(listed) <= 120
                      else f"Classify the {name} input into one of its {len(labels)} labels.")
    data = (template or TaskSpec(name=name, kind="classification", labels=list(labels))).model_dump()
    data.update(name=name, kind="classification", description=f"Classify a {name} input into one of: {listed}.",
                labels=list(labels), output_schema=None)
    data["teacher"]["prompt"] = teacher_prompt
    data["student"]["system_prompt"] = student_prompt
    return TaskSpec.model_validate(data)


def replay_task(settings: Settings, rows: Sequence[Row], *, task: str | None = None, source: str = "replay",
                label_col: str = "label") -> ReplayTask:
    """The task ``rows`` (read from file ``source``) run as, and settings that declare it.

    Parameters
    ----------
    settings
        The config's settings; they are not changed.
    rows
        The replayed rows, in file order.
    task
        ``--task``: a declared task is used as is; another name is the name of the
        derived task. ``None`` derives a task named after the file's stem.
    source
        The file's path (its stem names the task; messages name it).
    label_col
        The label column, named in messages.

    Returns
    -------
    ReplayTask
        For a declared task: ``settings`` unchanged, with the count and a few
        examples of labeled rows whose label is not in its label set (matched as
        the pipeline matches answers). For a derived one: a copy of ``settings``
        with the task added.

    Raises
    ------
    ConfigError
        No label column, fewer than two labels, more than :data:`MAX_LABELS`, two
        labels that match alike, or (no ``--task``) a file stem naming a declared task.
    """
    from streams.teacher.labels import label_set

    if task is not None and task in settings.tasks:
        spec = settings.tasks[task]
        if spec.kind != "classification":
            return ReplayTask(task, settings, derived=False)
        known = label_set(tuple(spec.labels))
        unknown = [(n, r.label) for n, r in enumerate(rows, 1) if r.label is not None and known.match(r.label) is None]
        return ReplayTask(task, settings, derived=False, unknown_labels=len(unknown),
                          examples=tuple(unknown[:EXAMPLES]))
    name = task_name(task if task is not None else PurePath(source).stem)
    if name in settings.tasks:
        why = f"--task {task!r} becomes" if task is not None else f"the file's stem {PurePath(source).stem!r} is"
        raise ConfigError(f"{why} {name!r}, a task declared in the config; pass --task {name} to use the "
                          "declared task, or --task OTHER to derive a new one from the file", source=source)
    spec = derive_task(name, label_set_of(rows, label_col=label_col, source=source),
                       settings.tasks.get(TEMPLATE_TASK))
    return ReplayTask(name, settings.with_overrides(tasks={**settings.tasks, name: spec}), derived=True)
