"""Files and Batch API jobs of the simulated server, kept in memory.

A batch is ``in_progress`` until ``delay_s`` after its creation; the first
retrieve after that runs every line of its input file through the responder and
writes an output file (``{"custom_id", "response": {"status_code", "body"}}``
per line) and, for lines it could not read, an error file.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devkit.sim import wire

Answer = Callable[[dict[str, Any]], dict[str, Any]]
"""Request body -> chat completion dict."""


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def describe(self) -> dict[str, Any]:
        return wire.file_object(self.id, self.filename, len(self.data), self.purpose, self.created_at)


@dataclass
class StoredBatch:
    id: str
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, Any] | None
    created_at: float
    status: str = "in_progress"
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed_at: int | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"total": 0, "completed": 0, "failed": 0})

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "batch", "endpoint": self.endpoint, "input_file_id": self.input_file_id,
            "completion_window": self.completion_window, "status": self.status,
            "created_at": int(self.created_at), "completed_at": self.completed_at,
            "in_progress_at": int(self.created_at), "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id, "metadata": self.metadata, "request_counts": self.counts,
            "errors": None,
        }


class BatchStore:
    """Uploaded files and batch jobs; thread-safe."""

    def __init__(self, answer: Answer, *, delay_s: float = 0.1) -> None:
        self.answer = answer
        self.delay_s = delay_s
        self.files: dict[str, StoredFile] = {}
        self.batches: dict[str, StoredBatch] = {}
        self._lock = threading.Lock()

    def add_file(self, filename: str, purpose: str, data: bytes) -> StoredFile:
        f = StoredFile(f"file-{uuid.uuid4().hex[:24]}", filename, purpose, data, int(time.time()))
        with self._lock:
            self.files[f.id] = f
        return f

    def create_batch(self, body: dict[str, Any]) -> StoredBatch:
        """A new batch; ``KeyError`` naming the input file when it does not exist."""
        file_id = str(body.get("input_file_id", ""))
        if file_id not in self.files:
            raise KeyError(file_id)
        b = StoredBatch(
            f"batch_{uuid.uuid4().hex[:24]}", file_id, str(body.get("endpoint", "")),
            str(body.get("completion_window", "24h")), body.get("metadata"), time.time(),
        )
        with self._lock:
            self.batches[b.id] = b
        return b

    def retrieve(self, batch_id: str) -> StoredBatch:
        """The batch, run to completion first if its delay has passed."""
        b = self.batches[batch_id]
        with self._lock:
            if b.status == "in_progress" and time.time() - b.created_at >= self.delay_s:
                self._run(b)
        return b

    def _run(self, b: StoredBatch) -> None:
        outputs, errors = [], []
        lines = [ln for ln in self.files[b.input_file_id].data.decode().splitlines() if ln.strip()]
        for n, raw in enumerate(lines, 1):
            try:
                req = json.loads(raw)
                custom_id, body = str(req["custom_id"]), req["body"]
                if not isinstance(body, dict):
                    raise TypeError("body is not an object")
            except (ValueError, KeyError, TypeError) as err:
                errors.append({"id": f"batch_req_{n}", "custom_id": None, "response": None,
                               "error": {"code": "invalid_request", "message": f"line {n}: {err}"}})
                continue
            outputs.append({
                "id": f"batch_req_{uuid.uuid4().hex[:16]}", "custom_id": custom_id,
                "response": {"status_code": 200, "request_id": uuid.uuid4().hex, "body": self.answer(body)},
                "error": None,
            })
        b.counts = {"total": len(lines), "completed": len(outputs), "failed": len(errors)}
        out = StoredFile(f"file-{uuid.uuid4().hex[:24]}", f"{b.id}_output.jsonl", "batch_output",
                         "".join(json.dumps(o) + "\n" for o in outputs).encode(), int(time.time()))
        self.files[out.id] = out
        b.output_file_id = out.id
        if errors:
            failed = StoredFile(f"file-{uuid.uuid4().hex[:24]}", f"{b.id}_errors.jsonl", "batch_output",
                                "".join(json.dumps(e) + "\n" for e in errors).encode(), int(time.time()))
            self.files[failed.id] = failed
            b.error_file_id = failed.id
        b.status = "completed"
        b.completed_at = int(time.time())
