"""The Batch API path: label non-urgent inputs at half price within 24 hours.

Steps, all through the task's :class:`TeacherClient` (its retries and breaker):
write one JSONL line per input, ``{"custom_id", "method", "url", "body"}``
(inputs redacted, like online calls); upload it with ``files.create(purpose="batch")``;
``batches.create(endpoint="/v1/chat/completions", completion_window="24h")``;
poll ``batches.retrieve`` until a final status; download the output (and error)
file with ``files.content`` and match every line back by ``custom_id``. Costs are
computed at the batch discount.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from openai.types import Batch
from openai.types.chat import ChatCompletion
from pydantic import ValidationError as PydanticValidationError

from distillery.errors import MalformedResponseError, TeacherError
from streams.teacher.client import TeacherClient
from streams.teacher.completions import TeacherResult, result_from_completion

ENDPOINT: Final = "/v1/chat/completions"
FINAL = frozenset({"completed", "failed", "expired", "cancelled"})


@dataclass(frozen=True)
class BatchOutcome:
    """Per ``custom_id``: a result, or why there is none."""

    batch_id: str
    status: str
    results: dict[str, TeacherResult] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def cost_usd(self) -> float:
        return sum(r.cost_usd for r in self.results.values())


class BatchLabeler:
    """Submits, polls and collects Batch API jobs for one task's teacher."""

    def __init__(self, teacher: TeacherClient, *, poll_s: float = 30.0) -> None:
        self.teacher = teacher
        self.poll_s = poll_s

    def jsonl(self, items: Mapping[str, str]) -> bytes:
        """The batch input file for ``custom_id -> input text``."""
        lines = []
        for custom_id, text in items.items():
            line = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": self.teacher.request(text)}
            lines.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")))
        return ("\n".join(lines) + "\n").encode()

    async def submit(self, items: Mapping[str, str]) -> str:
        """Upload ``items`` and start a batch; its id."""
        if not items:
            raise TeacherError("batch: no items to submit; pass at least one custom_id -> text")
        client = self.teacher.client
        data = self.jsonl(items)
        name = f"distillery-{self.teacher.spec.name}.jsonl"
        uploaded, _ = await self.teacher.call(
            lambda: client.files.create(file=(name, data, "application/jsonl"), purpose="batch"), "batch upload"
        )
        batch, _ = await self.teacher.call(
            lambda: client.batches.create(
                input_file_id=uploaded.id,
                endpoint=ENDPOINT,
                completion_window="24h",
                metadata={"task": self.teacher.spec.name},
            ),
            "batch create",
        )
        self.teacher.stats["batches"] += 1
        return batch.id

    async def retrieve(self, batch_id: str) -> Batch:
        batch, _ = await self.teacher.call(lambda: self.teacher.client.batches.retrieve(batch_id), "batch retrieve")
        return batch

    async def wait(self, batch_id: str, *, timeout_s: float = 26 * 3600.0) -> Batch:
        """Poll until the batch reaches a final status (or raise after ``timeout_s``)."""
        waited = 0.0
        while True:
            batch = await self.retrieve(batch_id)
            if batch.status in FINAL:
                return batch
            if waited >= timeout_s:
                raise TeacherError(f"batch {batch_id}: still {batch.status!r} after {waited:.0f}s; poll it later")
            await self.teacher.sleep(self.poll_s)
            waited += self.poll_s

    async def collect(self, batch: Batch, custom_ids: list[str] | None = None) -> BatchOutcome:
        """Results and errors of a finished batch, matched by ``custom_id``."""
        out = BatchOutcome(batch.id, batch.status)
        if batch.output_file_id:
            for line in await self._lines(batch.output_file_id):
                self._read_line(line, out)
        if batch.error_file_id:
            for line in await self._lines(batch.error_file_id):
                self._read_line(line, out)
        if not batch.output_file_id and not batch.error_file_id and batch.status != "completed":
            detail = "; ".join(e.message or e.code or "" for e in (batch.errors.data or [])) if batch.errors else ""
            raise TeacherError(f"batch {batch.id} ended {batch.status!r} with no output: {detail or 'no detail'}")
        for custom_id in custom_ids or ():
            if custom_id not in out.results and custom_id not in out.errors:
                out.errors[custom_id] = "missing from the batch output"
        return out

    async def run(self, items: Mapping[str, str], *, timeout_s: float = 26 * 3600.0) -> BatchOutcome:
        """Submit, wait and collect in one go."""
        batch_id = await self.submit(items)
        batch = await self.wait(batch_id, timeout_s=timeout_s)
        return await self.collect(batch, list(items))

    async def _lines(self, file_id: str) -> list[dict[str, Any]]:
        content, _ = await self.teacher.call(lambda: self.teacher.client.files.content(file_id), "batch download")
        lines = []
        for n, raw in enumerate(content.text.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                lines.append(json.loads(raw))
            except ValueError as err:
                raise TeacherError(f"batch file {file_id}: line {n} is not JSON ({err})") from None
        return lines

    def _read_line(self, line: dict[str, Any], out: BatchOutcome) -> None:
        custom_id = str(line.get("custom_id", ""))
        response = line.get("response") or {}
        error = line.get("error")
        status = response.get("status_code")
        if error or status != 200:
            msg = (error or {}).get("message") if isinstance(error, dict) else None
            out.errors[custom_id] = msg or f"HTTP {status}"
            return
        try:
            completion = ChatCompletion.model_validate(response.get("body"))
            out.results[custom_id] = result_from_completion(
                self.teacher.spec, completion, latency_s=0.0, attempts=1, batch=True
            )
        except (PydanticValidationError, MalformedResponseError) as err:
            out.errors[custom_id] = f"malformed response: {str(err).splitlines()[0]}"
