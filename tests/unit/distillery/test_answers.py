"""One answers rule: what the copies in the gate, the monitors, the report, streams and serving disagreed on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillery.answers import category_of, decode, encode, normalise, same_answer
from distillery.events import InferenceEvent
from distillery.taskspec import TaskSpec
from serving.report.data import check_answers
from streams.rows import event_row
from trainer.data import read_snapshot
from trainer.gate import model_scores
from trainer.gold import GoldRow


def test_the_gate_the_monitors_and_the_report_agree_on_a_label_in_another_case() -> None:
    # before: the gate (trainer.gate.same) counted "groceries" against "Groceries" as a miss,
    # while the monitors and the report (monitors.answers.answers_agree) counted it as agreeing
    student, truth = "groceries", " Groceries"
    assert same_answer(student, truth)
    scores = model_scores([GoldRow("in", truth, "groceries", truth)], [student], min_category_support=1)
    assert (scores.accuracy, scores.teacher_agreement) == (1.0, 1.0)
    assert check_answers([("e1", student, truth, None)]).correct == 1
    assert category_of(student) == category_of(truth) == "groceries"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Fuel", "fuel ", True),
        ("fuel", "gas", False),
        ("coffee shops", "coffee_shops", False),  # separators carry meaning once a label is stored
        ({"a": "X", "b": 1}, {"b": 1, "a": "x"}, True),
        ({"a": "X", "b": 1}, '{"b": 1, "a": "x"}', True),  # an object and its stored text
        ({"tags": ["A", "b"]}, {"tags": ["a", "b"]}, True),
        ({"tags": ["b", "a"]}, {"tags": ["a", "b"]}, False),  # lists whole, in order
        ({"amount": 3}, {"amount": 3, "payee": "x"}, False),
        ("fuel", {"label": "fuel"}, False),
        (None, None, False),
    ],
)
def test_one_definition_of_the_same_answer(a: Any, b: Any, same: bool) -> None:
    assert same_answer(a, b) is same
    assert same_answer(b, a) is same


def test_a_non_ascii_answer_encodes_the_same_everywhere() -> None:
    # before: streams.rows.as_text escaped it ("Caf\u00e9", ensure_ascii) while trainer.data.answer_text and
    # serving.openai_api.answer_text kept it, and only the first two sorted keys
    answer = {"payee": "Café", "amount": 3}
    assert encode(answer) == '{"amount":3,"payee":"Café"}'
    spec = TaskSpec(name="t", kind="extraction", output_schema={"type": "object"}, teacher={"model": "m"})
    event = InferenceEvent(event_id="e1", task="t", input="x", output=answer, model="student", route="student")
    assert event_row(event, "x", spec, "labeled", None)[2] == encode(answer)


def test_rows_written_by_the_old_encoding_read_back_and_compare_the_same(tmp_path: Path) -> None:
    old = json.dumps({"payee": "Café", "amount": 3}, sort_keys=True, separators=(",", ":"))  # ensure_ascii
    assert old == '{"amount":3,"payee":"Caf\\u00e9"}' and old != encode(decode(old))
    assert decode(old) == decode(encode(decode(old))) == {"amount": 3, "payee": "Café"}
    assert same_answer(old, encode({"payee": "café", "amount": 3}))
    assert normalise(old) == normalise('{"payee": "Café", "amount": 3}')
    # the trainer re-writes a stored extraction label in the one canonical form, old or new
    path = tmp_path / "snap.parquet"
    pq.write_table(pa.table({"event_id": ["a", "b"], "input": ["x", "y"], "label": [old, encode(decode(old))],
                             "category": ["", ""], "split": ["train", "train"]}), path)
    snap = read_snapshot(path, min_train_examples=1, kind="extraction")
    assert [ex.label for ex in snap.train] == ['{"amount":3,"payee":"Café"}'] * 2


def test_an_unpaired_surrogate_stays_an_escape_so_the_store_can_hold_it() -> None:
    answer = {"a": "x" + chr(0xD800)}
    text = encode(answer)
    assert text == '{"a":"x\\ud800"}' and decode(text) == answer
    con = duckdb.connect()
    con.execute("CREATE TABLE t (label VARCHAR)")
    con.execute("INSERT INTO t VALUES (?)", [text])
    assert decode(con.execute("SELECT label FROM t").fetchone()[0]) == answer  # type: ignore[index]


def test_the_monitors_drift_category_reads_labels_and_label_fields() -> None:
    assert category_of(" Groceries\n") == "groceries"
    assert category_of({"label": "Fuel"}) == category_of('{"category": "fuel"}') == "fuel"
    assert category_of({"amount": 3}) is None and category_of("  ") is None
