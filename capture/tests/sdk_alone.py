"""A service that has only the capture SDK: capture one call, send it, say what was imported.

Run as a script (``python sdk_alone.py [BOOTSTRAP TOPIC]``) by the tests, in a
fresh interpreter so ``sys.modules`` shows what importing the SDK pulls in. With
no arguments it only imports; with a broker and a topic it captures one chat
completion (a plain mapping, as an OpenAI-compatible client may return) and
sends it. Prints one JSON line: the emitter's counters and the top-level
packages loaded.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import distillery_capture
from distillery_capture import capture, sink_of

COMPLETION = {
    "id": "chatcmpl-alone-1", "model": "gpt-4.1-mini",
    "choices": [{"message": {"role": "assistant", "content": "coffee_shops"}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3},
}


class Completions:
    def create(self, **kwargs: Any) -> dict[str, Any]:
        return COMPLETION


class FakeClient:
    def __init__(self) -> None:
        self.chat = type("Chat", (), {"completions": Completions()})()


def main(argv: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"version": distillery_capture.__name__}
    if argv:
        servers, topic = argv
        client = capture(FakeClient(), task="transactions", bootstrap_servers=servers, topic=topic,
                         metadata={"service": "alone"})
        client.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": "STARBUCKS"}])
        sink = sink_of(client)
        assert sink is not None
        stats = sink.close(30.0)  # type: ignore[attr-defined]
        out["stats"] = [stats.emitted, stats.dropped_full, stats.dropped_error, stats.pending]
    out["packages"] = sorted({name.partition(".")[0] for name in sys.modules})
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
