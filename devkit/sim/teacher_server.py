"""A local OpenAI-compatible teacher endpoint for tests, demos and benchmarks.

Serves ``POST /v1/chat/completions`` (with logprobs when asked), ``/v1/files``
(upload, retrieve, content) and ``/v1/batches`` (create, retrieve; a batch
completes ``batch_delay_s`` after creation), answered by a teacher
(:class:`SimTeacher` by default, or a :class:`ReplayTeacher`) or any
``responder(input_text, request_body) -> Reply``. A request whose system prompt
lists a label set its teacher could answer outside of (another task than the
teacher's) is answered by a :class:`ReplayTeacher` over that label set, from the
teacher's ground truth, so answers always stay in the requested labels. Every request is
recorded (``requests``), so a test can assert what never reached it, and
:class:`~devkit.sim.faults.Faults` injects 429s, 5xx, slow answers,
malformed bodies and outages at runtime.

Start it on 127.0.0.1 with an ephemeral port, in the current loop::

    async with SimTeacherServer(latency_s=0.05) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x")

or in a thread of its own: ``with SimTeacherServer().run_in_thread() as server: ...``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy as email_policy
from email.parser import BytesParser
from typing import Any

from aiohttp import web

from devkit.sim import wire
from devkit.sim.batches import BatchStore
from devkit.sim.faults import Faults
from devkit.sim.teacher_model import ReplayTeacher, SimTeacher, Teacher
from devkit.sim.wire import Reply

Responder = Callable[[str, dict[str, Any]], Reply]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    body: str
    at: float


class SimTeacherServer:
    """The simulated teacher behind an OpenAI-compatible HTTP API."""

    def __init__(
        self,
        teacher: Teacher | None = None,
        *,
        latency_s: float = 0.0,
        batch_delay_s: float = 0.1,
        responder: Responder | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.teacher: Teacher = teacher or SimTeacher()
        self.latency_s = latency_s
        self.responder: Responder = responder or (
            lambda text, body: Reply.from_answer(self.teacher_for(body).answer(text)))
        self._other_tasks: dict[tuple[str, ...], ReplayTeacher] = {}
        self.host = host
        self.port = port
        self.faults = Faults()
        self.store = BatchStore(self._answer, delay_s=batch_delay_s)
        self.requests: list[RecordedRequest] = []
        # chat completions being answered now, and the most at once (to check client concurrency)
        self.in_flight = 0
        self.max_in_flight = 0
        self._runner: web.AppRunner | None = None
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- lifecycle
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, the openai client's ``base_url``."""
        if self._runner is None:
            raise RuntimeError("the simulated teacher server is not running; start it first")
        return f"http://{self.host}:{self.port}/v1"

    async def start(self) -> str:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files/{file_id}", self._file)
        app.router.add_get("/v1/files/{file_id}/content", self._file_content)
        app.router.add_post("/v1/batches", self._batch_create)
        app.router.add_get("/v1/batches/{batch_id}", self._batch_get)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimTeacherServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @contextmanager
    def run_in_thread(self) -> Iterator[SimTeacherServer]:
        """Serve from a daemon thread with its own event loop until the block ends."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="sim-teacher-server", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=30)
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            loop.close()

    def teacher_for(self, body: dict[str, Any]) -> Teacher:
        """The teacher for a request: the server's own, unless the request is for another task.

        A request listing labels (``Categories:`` in its system prompt) that do not
        cover every label the teacher may answer is for a task the teacher does not
        know: a :class:`ReplayTeacher` over the listed labels answers it, with the
        teacher's ground truth (as loaded when first needed), accuracy and seed.
        """
        labels = wire.labels_of(body.get("messages") or [])
        if len(set(labels)) < 2 or set(self.teacher.labels) <= set(labels):
            return self.teacher
        with self._lock:
            other = self._other_tasks.get(labels)
            if other is None:
                other = self._other_tasks[labels] = ReplayTeacher(
                    labels, self.teacher.truth, accuracy=self.teacher.accuracy, seed=self.teacher.seed)
        return other

    # ---------------------------------------------------------------- recording
    def received_text(self) -> str:
        """Every request body received so far, concatenated (uploads included)."""
        with self._lock:
            return "\n".join(r.body for r in self.requests)

    def count(self, path: str) -> int:
        """How many requests hit ``path`` (e.g. ``/v1/chat/completions``)."""
        with self._lock:
            return sum(1 for r in self.requests if r.path == path)

    async def _record(self, request: web.Request) -> bytes:
        raw = await request.read()
        with self._lock:
            self.requests.append(
                RecordedRequest(request.method, request.path, raw.decode("utf-8", "replace"), time.time())
            )
        return raw

    # ----------------------------------------------------------------- handlers
    def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body.get("messages") or []
        return wire.completion(body, self.responder(wire.input_of(messages), body))

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await self._record(request)
        fault = self.faults.next_fault()
        if fault is not None and fault.kind == "down":
            return web.json_response(wire.error("the teacher is down", type_="server_error"), status=503)
        if fault is not None and fault.kind == "rate_limit":
            headers = {} if fault.retry_after_s is None else {"retry-after": f"{fault.retry_after_s:g}"}
            return web.json_response(wire.error("rate limit reached", type_="requests", code="rate_limit_exceeded"),
                                     status=429, headers=headers)
        if fault is not None and fault.kind == "server_error":
            return web.json_response(wire.error("internal error", type_="server_error"), status=fault.status)
        if fault is not None and fault.kind == "bad_request":
            return web.json_response(wire.error(fault.message), status=400)
        try:
            body = json.loads(raw)
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                raise ValueError("expected an object with a messages list")
        except ValueError as err:
            return web.json_response(wire.error(f"bad request body: {err}"), status=400)
        delay = self.latency_s + (fault.delay_s if fault is not None and fault.kind == "slow" else 0.0)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            payload = json.dumps(self._answer(body))
        finally:
            self.in_flight -= 1
        if fault is not None and fault.kind == "malformed":
            payload = payload[: len(payload) // 2]
        return web.Response(text=payload, content_type="application/json")

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        raw = await self._record(request)
        if self.faults.is_down():
            return web.json_response(wire.error("the teacher is down", type_="server_error"), status=503)
        form = parse_multipart(request.headers.get("Content-Type", ""), raw)
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, tuple) or not isinstance(purpose, str):
            return web.json_response(wire.error("multipart fields 'file' and 'purpose' are required"), status=400)
        stored = self.store.add_file(upload[0], purpose, upload[1])
        return web.json_response(stored.describe())

    async def _file(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        f = self.store.files.get(request.match_info["file_id"])
        if f is None:
            return web.json_response(wire.error("no such file", code="not_found"), status=404)
        return web.json_response(f.describe())

    async def _file_content(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        f = self.store.files.get(request.match_info["file_id"])
        if f is None:
            return web.json_response(wire.error("no such file", code="not_found"), status=404)
        return web.Response(body=f.data, content_type="application/octet-stream")

    async def _batch_create(self, request: web.Request) -> web.StreamResponse:
        raw = await self._record(request)
        if self.faults.is_down():
            return web.json_response(wire.error("the teacher is down", type_="server_error"), status=503)
        try:
            batch = self.store.create_batch(json.loads(raw))
        except KeyError as err:
            return web.json_response(wire.error(f"input_file_id {err} not found", code="not_found"), status=404)
        except ValueError as err:
            return web.json_response(wire.error(f"bad request body: {err}"), status=400)
        return web.json_response(batch.describe())

    async def _batch_get(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        batch_id = request.match_info["batch_id"]
        if batch_id not in self.store.batches:
            return web.json_response(wire.error("no such batch", code="not_found"), status=404)
        return web.json_response(self.store.retrieve(batch_id).describe())


def parse_multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    """The fields of a ``multipart/form-data`` body: files as (filename, bytes), others as text."""
    msg = BytesParser(policy=email_policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + raw
    )
    out: dict[str, Any] = {}
    if not msg.is_multipart():
        return out
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        out[name] = (filename, bytes(data)) if filename else bytes(data).decode()
    return out


async def serve(*, host: str = "127.0.0.1", port: int = 0, latency_s: float = 0.0, accuracy: float = 0.95,
                seed: int = 0, batch_delay_s: float = 1.0) -> None:
    """Run a server until cancelled, printing ``listening on BASE_URL`` once it is up."""
    server = SimTeacherServer(SimTeacher(accuracy=accuracy, seed=seed), latency_s=latency_s,
                              batch_delay_s=batch_delay_s, host=host, port=port)
    await server.start()
    print(f"listening on {server.base_url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m devkit.sim.teacher_server [--port N] [--latency-s S]``: serve in the foreground."""
    import argparse

    ap = argparse.ArgumentParser(description="Simulated OpenAI-compatible teacher for the transactions task.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port (printed at start)")
    ap.add_argument("--latency-s", type=float, default=0.0, help="added to every chat completion")
    ap.add_argument("--accuracy", type=float, default=0.95)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-delay-s", type=float, default=1.0)
    args = ap.parse_args(argv)
    try:
        asyncio.run(serve(host=args.host, port=args.port, latency_s=args.latency_s, accuracy=args.accuracy,
                          seed=args.seed, batch_delay_s=args.batch_delay_s))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
