"""New topics are usable when ensure_topics returns: every partition has a leader."""

from __future__ import annotations

from typing import Any

from distillery import kafka


class FakeAdmin:
    def __init__(self, answers: list[list[dict[str, Any]]]) -> None:
        self.answers = answers
        self.calls = 0

    async def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        self.calls += 1
        return self.answers[min(self.calls, len(self.answers)) - 1]


def _topic(name: str, leaders: list[int], error: int = 0) -> dict[str, Any]:
    return {"topic": name, "error_code": error, "partitions": [{"partition": i, "leader": le}
                                                              for i, le in enumerate(leaders)]}


async def test_it_waits_for_every_partition_leader() -> None:
    admin = FakeAdmin([[_topic("a", [], error=3), _topic("b", [-1, 1])],
                       [_topic("a", [1, -1]), _topic("b", [1, 1])],
                       [_topic("a", [1, 1]), _topic("b", [1, 1])]])
    await kafka._until_led(admin, ["a", "b"])  # type: ignore[arg-type]
    assert admin.calls == 3


async def test_it_gives_up_with_a_warning_after_its_limit(monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(kafka, "TOPIC_READY_S", 0.3)
    admin = FakeAdmin([[_topic("a", [-1])]])
    await kafka._until_led(admin, ["a"])  # type: ignore[arg-type]
    assert admin.calls >= 2 and "without a leader" in caplog.text
