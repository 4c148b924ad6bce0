"""The demo's replay task: a declared task as is, else one derived from the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from console import cli
from console.demo.config_file import task_toml, write_run_config
from console.demo.tasks import MAX_LABELS, replay_task, task_name
from distillery.errors import ConfigError
from distillery.replay import Row
from distillery.settings import Settings, load_settings
from distillery.taskspec import TaskSpec
from streams.teacher.prompts import teacher_system_prompt

ROOT = Path(__file__).resolve().parents[3]

TICKETS = """
[tasks.tickets]
kind = "classification"
labels = ["billing", "bug", "other"]
[tasks.tickets.teacher]
prompt = "Route the support ticket."
[tasks.tickets.gate]
min_accuracy = 0.8
"""

ROWS = [
    Row("card charged twice", "billing"),
    Row("app crashes on login", "bug"),
    Row("love it", None),
    Row("refund please", "Refund"),
    Row("where is the invoice", "billing"),
    Row("button does nothing", "bug"),
    Row("cancel my plan", "cancel"),
    Row("hello", "other"),
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    config = tmp_path / "distillery.toml"
    config.write_text((ROOT / "distillery.toml").read_text() + TICKETS)
    return load_settings(config, env={})


def test_a_declared_task_is_used_as_is_and_foreign_labels_are_reported(settings: Settings) -> None:
    chosen = replay_task(settings, ROWS, task="tickets", source="logs.csv", label_col="category")
    assert (chosen.name, chosen.derived) == ("tickets", False)
    assert chosen.settings is settings
    assert chosen.spec is settings.tasks["tickets"]
    assert chosen.spec.labels == ["billing", "bug", "other"] and chosen.spec.gate.min_accuracy == 0.8
    assert chosen.unknown_labels == 2
    assert chosen.examples == ((4, "Refund"), (7, "cancel"))


def test_labels_are_matched_as_the_pipeline_matches_answers(settings: Settings) -> None:
    rows = [Row("x", " Billing. "), Row("y", "BUG")]
    chosen = replay_task(settings, rows, task="tickets")
    assert (chosen.unknown_labels, chosen.examples) == (0, ())


def test_an_undeclared_task_is_derived_from_the_file(settings: Settings) -> None:
    chosen = replay_task(settings, ROWS, source="/data/Support Logs.csv", label_col="category")
    assert (chosen.name, chosen.derived) == ("support_logs", True)
    spec = chosen.spec
    assert spec.kind == "classification"
    assert spec.labels == ["billing", "bug", "Refund", "cancel", "other"]
    base = settings.tasks["transactions"]
    for part in ("sampling", "retrain", "gate", "routing", "economics", "lora", "sft", "redact_patterns"):
        assert getattr(spec, part) == getattr(base, part), part
    assert spec.teacher.model_copy(update={"prompt": base.teacher.prompt}) == base.teacher
    assert spec.student.model_copy(update={"system_prompt": base.student.system_prompt}) == base.student
    assert spec.teacher.prompt == ("You are a careful annotator for the task 'support_logs'. Classify the input "
                                   "into exactly one of its 5 labels, listed below. Answer with the label only.")
    assert spec.student.system_prompt == "Classify the support_logs input as one of: billing, bug, Refund, cancel, other."
    assert "Categories:\n- billing\n- bug\n- Refund\n- cancel\n- other\n" in teacher_system_prompt(spec)
    # a new Settings: the config's own is untouched, its tasks kept
    assert sorted(chosen.settings.tasks) == ["support_logs", "tickets", "transactions"]
    assert "support_logs" not in settings.tasks
    assert chosen.settings.model_copy(update={"tasks": settings.tasks}) == settings


def test_a_derived_task_is_named_by_task_and_long_label_lists_stay_out_of_the_student_prompt() -> None:
    rows = [Row(f"input {i}", f"label number {i}") for i in range(40)]
    chosen = replay_task(Settings(), rows, task="My Task!", source="logs.csv")
    assert chosen.name == "my_task"
    assert chosen.spec.labels == [f"label number {i}" for i in range(40)]
    assert chosen.spec.student.system_prompt == "Classify the my_task input into one of its 40 labels."
    assert chosen.spec.gate == TaskSpec(name="x", kind="classification", labels=["a", "b"]).gate


def test_task_names_are_sanitised() -> None:
    assert [task_name(x) for x in ("logs", "Support-Logs 2024", "über.csv", "__")] == [
        "logs", "support_logs_2024", "ber_csv", "replay"]


def test_no_label_column_is_refused_naming_it(settings: Settings) -> None:
    rows = [Row("a"), Row("b")]
    with pytest.raises(ConfigError) as err:
        replay_task(settings, rows, source="logs.csv", label_col="category")
    assert str(err.value) == (
        "logs.csv: no row has a value in the label column 'category', so there is no label set to derive a "
        "task from; set --label-col to the column with the ground truth, or declare the task in the config "
        "and pass --task NAME")


def test_one_label_is_refused_naming_the_column(settings: Settings) -> None:
    rows = [Row("a", "spam"), Row("b", "spam"), Row("c")]
    with pytest.raises(ConfigError) as err:
        replay_task(settings, rows, source="logs.csv", label_col="category")
    assert str(err.value) == ("logs.csv: the label column 'category' holds one label ('spam'); a classification "
                              "task needs at least two")


def test_too_many_labels_and_labels_alike_are_refused(settings: Settings) -> None:
    rows = [Row(str(i), f"l{i}") for i in range(MAX_LABELS + 1)]
    with pytest.raises(ConfigError, match=r"the label column 'text' holds 1,001 distinct values \(at most 1,000\)"):
        replay_task(settings, rows, source="logs.csv", label_col="text")
    with pytest.raises(ConfigError, match=r"holds 'Fast food' and 'fast_food', which answers cannot tell apart"):
        replay_task(settings, [Row("a", "Fast food"), Row("b", "fast_food")], source="logs.csv")


def test_a_file_named_after_a_declared_task_needs_task(settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"the file's stem 'Tickets' is 'tickets', a task declared in the config; "
                                          r"pass --task tickets"):
        replay_task(settings, ROWS, source="Tickets.csv")


def test_the_run_config_declares_the_derived_task_for_the_workers(settings: Settings, tmp_path: Path) -> None:
    chosen = replay_task(settings, ROWS, source="support.csv")
    run = write_run_config(chosen.settings, chosen.spec, tmp_path / "run" / "distillery.toml")
    assert run.config_path == str(tmp_path / "run" / "distillery.toml")
    assert run.model_copy(update={"config_path": settings.config_path}) == chosen.settings
    back = load_settings(run.config_path, env={})
    assert back.tasks == chosen.settings.tasks
    assert task_toml(chosen.spec).startswith('[tasks.support]\nkind = "classification"\n')


def test_a_derived_task_without_a_config_gets_the_defaults(tmp_path: Path) -> None:
    chosen = replay_task(Settings(), ROWS, source="support.csv")
    assert chosen.spec.sft == TaskSpec(name="x", kind="classification", labels=["a", "b"]).sft
    run = write_run_config(chosen.settings, chosen.spec, tmp_path / "distillery.toml")
    assert load_settings(run.config_path, env={}).tasks == {"support": chosen.spec}


def test_demo_refuses_before_starting_anything(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "logs.csv"
    log.write_text("text,category\nhello,\nbye,\n")
    config = settings.config_path
    assert config is not None
    runner = CliRunner()
    result = runner.invoke(cli, ["-c", config, "demo", "--replay", str(log), "--input-col", "text",
                                 "--label-col", "category"])
    assert isinstance(result.exception, ConfigError)
    assert "no row has a value in the label column 'category'" in str(result.exception)
    result = runner.invoke(cli, ["-c", config, "demo", "--task", "tickets"])
    assert result.exit_code == 2
    assert "--task tickets: synthetic traffic is the transactions task" in result.output
