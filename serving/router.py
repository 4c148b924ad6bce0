"""The escalation router: the student answers when it is sure enough, the teacher otherwise.

For each request the router reads the adapter the server now serves for the
task and its ``router_threshold`` (calibrated on the gold set for
``RoutingSpec.target_accuracy``), checks whether the input is out of the
adapter's training distribution (:mod:`serving.vocabulary`), asks the student
when it is not, and escalates to the task's teacher when the student's
confidence is below the threshold (:mod:`serving.escalation` has the rule).

Every request becomes one ``InferenceEvent`` with ``route`` set, offered to the
emitter (a :class:`distillery_capture.KafkaEmitter` on ``inference.events``; it
never blocks the request). Student answers carry the student's base model, so
the monitors see its live quality; teacher answers carry the task's teacher
model, which streams takes as a label as it is (``event.model ==
teacher.model``): escalated inputs become training examples without a second
teacher call.

Use :meth:`Router.aroute` from async code and :meth:`Router.route` from
threads; the sync path runs the student in the caller's thread and only
escalations hop to a private event-loop thread. The async path answers
through a :class:`~serving.batching.MicroBatcher` (``settings.serving.max_batch``
and ``max_wait_ms``): concurrent requests of a task share one forward pass.
:meth:`Router.achat` is the async path for an OpenAI chat request
(:mod:`serving.openai_api`): the student answers the same way, and an
escalation forwards the caller's own request to the task's teacher model and
keeps its completion as it came.

When the teacher fails (down, out of retries) and the student can answer, the
student's answer is returned (reason ``teacher_failed``): serving degrades to
the student rather than failing the request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from distillery.errors import ConfigError, InvalidInputError, ServingError, TeacherError
from distillery.events import MAX_ID_CHARS, AdapterPublished, InferenceEvent, Record, Usage, new_id, now_ms
from distillery.settings import Settings
from serving.batching import BatchStats, MicroBatcher
from serving.escalation import DEFAULT_MAX_UNSEEN, Reason, confidence_decision, pre_decision, unseen_bound
from serving.vocabulary import SnapshotVocabulary, unseen_share
from streams.teacher.completions import TeacherResult
from trainer.predict import Prediction

log = logging.getLogger("distillery.serving")

T = TypeVar("T")
Route = Literal["student", "teacher"]


class StudentServer(Protocol):
    """What the router needs of a student server (:class:`serving.adapters.InProcessServer`)."""

    def served(self, task: str) -> AdapterPublished | None: ...

    def predict_served(self, task: str, texts: Sequence[str]) -> tuple[AdapterPublished | None, list[Prediction]]:
        ...


class EventSink(Protocol):
    """Where routed requests go as events: :class:`distillery_capture.KafkaEmitter` (never blocks)."""

    def offer(self, record: Record) -> bool: ...


class Teacher(Protocol):
    """What the router needs of a teacher (:class:`streams.teacher.client.TeacherClient`)."""

    async def label(self, text: str) -> TeacherResult: ...

    async def aclose(self) -> None: ...


class ForwardingTeacher(Teacher, Protocol):
    """A teacher that also takes a caller's own chat request (:meth:`streams.teacher.client.TeacherClient.forward`)."""

    async def forward(self, body: dict[str, Any]) -> tuple[dict[str, Any], TeacherResult]: ...


@dataclass(frozen=True)
class RouteResult:
    """The answer to one request, who gave it and why."""

    answer: str | dict[str, Any] | None
    route: Route
    confidence: float | None
    reason: Reason
    model: str
    adapter_id: str | None = None
    threshold: float | None = None
    student_answer: str | dict[str, Any] | None = None
    student_confidence: float | None = None
    unseen_share: float | None = None
    event_id: str = ""
    cost_usd: float = 0.0


@dataclass(frozen=True)
class ChatResult:
    """An OpenAI chat request's answer: the route taken and, on the teacher route, its completion as it came."""

    result: RouteResult
    completion: dict[str, Any] | None
    """The teacher's ``chat.completion`` JSON, unchanged; None when the student answered."""
    served: AdapterPublished | None = None
    """The adapter that was asked (its ``student_prompt`` is what the student read)."""
    student_ms: float | None = None
    """Milliseconds the request waited for the student's answer (its batch's queue and forward pass)."""
    teacher_ms: float | None = None
    """Milliseconds the escalation took (the teacher's call, with its retries); None when not escalated."""


Answer = tuple[AdapterPublished | None, Prediction]
"""One request's share of a batch: the adapter that answered it, and its prediction."""


@dataclass(frozen=True)
class _Step:
    """The student's part of a request: what was served, and the decision so far."""

    task: str
    text: str
    event_id: str
    served: AdapterPublished | None
    threshold: float | None
    unseen: float | None
    reason: Reason
    prediction: Prediction | None = None
    student_ms: float | None = None


class _LoopThread:
    """A private event loop on a daemon thread, for the sync path's teacher calls."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="distillery-router", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5.0)
        self.loop.close()


class Router:
    """Routes each request of a task to its student or its teacher.

    ``teacher`` builds a teacher for a task (default
    :meth:`TeacherClient.from_settings`, created on the first escalation);
    ``vocabulary`` gives an adapter's training vocabulary (default: read from
    its snapshot); ``emitter`` None emits nothing; ``drift_since(task)`` the
    time of the task's latest drift alarm (the adapter subscriber's), for the
    stricter bound on unseen words while the serving adapter predates it.
    """

    def __init__(self, settings: Settings, server: StudentServer, emitter: EventSink | None = None, *,
                 teacher: Callable[[str], Teacher] | None = None,
                 vocabulary: Callable[[AdapterPublished], frozenset[str] | None] | None = None,
                 max_unseen: float = DEFAULT_MAX_UNSEEN, max_batch: int | None = None,
                 max_wait_ms: float | None = None, drift_since: Callable[[str], int | None] | None = None) -> None:
        self.settings = settings
        self.drift_since = drift_since
        self.server = server
        self.emitter = emitter
        self.vocabulary = vocabulary or SnapshotVocabulary(settings.data_dir)
        self.max_unseen = max_unseen
        self.counts: Counter[tuple[str, Route, Reason]] = Counter()
        self._make_teacher = teacher or _default_teacher(settings)
        self._teachers: dict[tuple[str, asyncio.AbstractEventLoop], Teacher] = {}
        self._lock = threading.Lock()
        self._background: _LoopThread | None = None
        self.max_batch = settings.serving.max_batch if max_batch is None else max_batch
        self.max_wait_ms = settings.serving.max_wait_ms if max_wait_ms is None else max_wait_ms
        self._batchers: dict[asyncio.AbstractEventLoop, MicroBatcher[Answer]] = {}
        self._closed_stats = BatchStats()
        self._vocab_read: set[str] = set()

    # --------------------------------------------------------------- public
    def route(self, task: str, text: str, *, event_id: str | None = None) -> RouteResult:
        """Answer one request from a thread (not from inside a running event loop: use :meth:`aroute`)."""
        step = self._student(task, text, event_id)
        if step.reason == "confident":
            return self._answer_student(step)
        return self._loop().run(self._escalate(step))[0]

    async def aroute(self, task: str, text: str, *, event_id: str | None = None) -> RouteResult:
        """Answer one request; the student answers in a batch with the task's other requests, off the loop."""
        step = await self._astudent(task, text, event_id)
        if step.reason == "confident":
            return self._answer_student(step)
        return (await self._escalate(step))[0]

    async def achat(self, task: str, text: str, body: dict[str, Any], *, event_id: str | None = None) -> ChatResult:
        """Answer an OpenAI chat request whose last user message reads ``text``.

        The student decides as in :meth:`aroute`; an escalation sends ``body``
        (the caller's messages and parameters) to the task's teacher model
        through :meth:`ForwardingTeacher.forward`, with its retries and circuit
        breaker, and returns the teacher's completion as it came.
        """
        step = await self._astudent(task, text, event_id)
        if step.reason == "confident":
            return ChatResult(self._answer_student(step), None, step.served, student_ms=step.student_ms)
        started = time.perf_counter()
        result, completion = await self._escalate(step, body)
        return ChatResult(result, completion, step.served, student_ms=step.student_ms,
                          teacher_ms=1000 * (time.perf_counter() - started))

    def batch_stats(self, task: str | None = None) -> BatchStats:
        """Forward passes and requests of the async path so far (of ``task``, or all)."""
        out = BatchStats()
        if task is None:
            out.add(self._closed_stats)
        for batcher in list(self._batchers.values()):
            if task is None:
                out.add(batcher.total())
            elif task in batcher.stats:
                out.add(batcher.stats[task])
        return out

    def escalation_share(self, task: str | None = None) -> float:
        """Share of requests (of ``task``, or all) the teacher answered so far."""
        with self._lock:
            items = [(k, n) for k, n in self.counts.items() if task is None or k[0] == task]
        total = sum(n for _, n in items)
        return sum(n for k, n in items if k[1] == "teacher") / total if total else 0.0

    async def aclose(self) -> None:
        """Stop the running loop's batcher and close the teachers created on it."""
        loop = asyncio.get_running_loop()
        batcher = self._batchers.pop(loop, None)
        if batcher is not None:
            await batcher.aclose()
            self._closed_stats.add(batcher.total())
        for key in [k for k in self._teachers if k[1] is loop]:
            await self._teachers.pop(key).aclose()

    def close(self) -> None:
        """Close the sync path's teachers and stop its loop thread."""
        if self._background is not None:
            self._background.run(self.aclose())
            self._background.stop()
            self._background = None

    # ------------------------------------------------------------- internals
    def _prepare(self, task: str, text: str, event_id: str | None) -> tuple[_Step, bool]:
        """The decision known before the student runs; True: ask the student."""
        spec = self.settings.task(task)
        if not text.strip():
            raise InvalidInputError([f"input: {text!r} is empty; route the request's text"])
        for field, value in (("input", text), ("event_id", event_id)):
            where = lone_surrogate(value) if value is not None else None
            if value is not None and where is not None:  # JSON can carry one, UTF-8 cannot: the inference event could not be written
                raise InvalidInputError([f"{field}: a lone UTF-16 surrogate ({value[where]!r}) at character {where}; "
                                       "send valid Unicode text (pair surrogates, or drop them)"])
        if event_id is not None and not 1 <= len(event_id) <= MAX_ID_CHARS:
            # checked before anything is paid: the inference event could not carry it afterwards
            raise InvalidInputError([f"event_id: {len(event_id)} characters ({event_id[:40]!r}...); an event id holds "
                                   f"1 to {MAX_ID_CHARS}: send a shorter one or none (one is made)"])
        served = self.server.served(task)
        unseen = None
        if served is not None and spec.routing.ood_escalates:
            vocab = self.vocabulary(served)
            unseen = unseen_share(text, vocab) if vocab else None
        threshold = served.router_threshold if served is not None else None
        step = _Step(task, text, event_id or new_id("route"), served, threshold, unseen, "no_adapter")
        bound = self.max_unseen
        if served is not None and self.drift_since is not None:
            learned_until = served.snapshot_at_ms or served.created_at_ms  # older events carry no snapshot time
            bound = unseen_bound(bound, spec.routing.max_unseen_during_drift, self.drift_since(task), learned_until)
        early = pre_decision(has_adapter=served is not None, threshold=threshold, unseen=unseen,
                             ood_escalates=spec.routing.ood_escalates, max_unseen=bound)
        if early is not None:
            return dataclasses.replace(step, reason=early), False
        return step, True

    def _judge(self, step: _Step, used: AdapterPublished | None, prediction: Prediction) -> _Step:
        """The decision once the student answered, judged by the adapter that answered."""
        threshold = step.threshold
        if used is not step.served:  # swapped between the two reads: judge by the adapter that answered
            threshold = used.router_threshold if used is not None else None
        reason: Reason = ("no_adapter" if used is None else "no_threshold" if threshold is None
                          else confidence_decision(prediction.confidence, threshold))
        return dataclasses.replace(step, served=used, threshold=threshold, reason=reason, prediction=prediction)

    def _student(self, task: str, text: str, event_id: str | None) -> _Step:
        step, ask = self._prepare(task, text, event_id)
        if not ask:
            return step
        used, predictions = self.server.predict_served(task, [text])
        return self._judge(step, used, predictions[0])

    async def _astudent(self, task: str, text: str, event_id: str | None) -> _Step:
        served = self.server.served(task)
        if (served is not None and served.adapter_id not in self._vocab_read
                and self.settings.task(task).routing.ood_escalates):
            await asyncio.to_thread(self.vocabulary, served)  # a snapshot's first read is I/O: off the loop
            self._vocab_read.add(served.adapter_id)
        step, ask = self._prepare(task, text, event_id)
        if not ask:
            return step
        started = time.perf_counter()
        used, prediction = await self._batcher().submit(task, text)
        return dataclasses.replace(self._judge(step, used, prediction),
                                   student_ms=1000 * (time.perf_counter() - started))

    def _predict_batch(self, task: str, texts: list[str]) -> list[Answer]:
        used, predictions = self.server.predict_served(task, texts)
        if len(predictions) != len(texts):
            raise ServingError(f"task {task}: the student gave {len(predictions)} answers to {len(texts)} inputs")
        return [(used, p) for p in predictions]

    def _batcher(self) -> MicroBatcher[Answer]:
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            batcher = self._batchers[loop] = MicroBatcher(self._predict_batch, max_batch=self.max_batch,
                                                          max_wait_ms=self.max_wait_ms)
        return batcher

    def _answer_student(self, step: _Step) -> RouteResult:
        assert step.served is not None and step.prediction is not None
        pred = step.prediction
        result = RouteResult(answer=pred.answer, route="student", confidence=pred.confidence, reason=step.reason,
                             model=step.served.base_model, adapter_id=step.served.adapter_id,
                             threshold=step.threshold, student_answer=pred.answer, student_confidence=pred.confidence,
                             unseen_share=step.unseen, event_id=step.event_id)
        self._emit(step, result, None)
        return result

    async def _escalate(self, step: _Step, body: dict[str, Any] | None = None
                        ) -> tuple[RouteResult, dict[str, Any] | None]:
        """The teacher's answer (``body``: forward that chat request), or the student's when the teacher fails."""
        spec = self.settings.task(step.task)
        completion: dict[str, Any] | None = None
        try:
            teacher = self._teacher(step.task)
            if body is None:
                answer = await teacher.label(step.text)
            else:
                forward = getattr(teacher, "forward", None)
                if forward is None:
                    raise ConfigError(f"the teacher of task {step.task} ({type(teacher).__name__}) cannot forward "
                                      "chat requests", key=f"tasks.{step.task}.teacher")
                completion, answer = await forward(body)
        except TeacherError as exc:
            if step.served is None:
                raise
            log.warning("task %s: the teacher failed (%s); the student answers %s", step.task, exc, step.event_id)
            prediction = step.prediction
            used: AdapterPublished | None = step.served
            if prediction is None:
                used, prediction = await self._batcher().submit(step.task, step.text)
            if used is None:  # swapped out in the meantime: nobody can answer
                raise
            return self._answer_student(dataclasses.replace(step, served=used, prediction=prediction,
                                                            reason="teacher_failed")), None
        pred = step.prediction
        result = RouteResult(
            answer=answer.label if answer.label is not None else (answer.text or None), route="teacher",
            confidence=answer.confidence, reason=step.reason, model=spec.teacher.model,
            adapter_id=step.served.adapter_id if step.served else None, threshold=step.threshold,
            student_answer=pred.answer if pred else None, student_confidence=pred.confidence if pred else None,
            unseen_share=step.unseen, event_id=step.event_id, cost_usd=answer.cost_usd,
        )
        self._emit(step, result, answer)
        return result, completion

    def _teacher(self, task: str) -> Teacher:
        key = (task, asyncio.get_running_loop())
        if key not in self._teachers:
            self._teachers[key] = self._make_teacher(task)
        return self._teachers[key]

    def _loop(self) -> _LoopThread:
        with self._lock:
            if self._background is None:
                self._background = _LoopThread()
            return self._background

    def _emit(self, step: _Step, result: RouteResult, teacher: TeacherResult | None) -> None:
        with self._lock:
            self.counts[(step.task, result.route, result.reason)] += 1
        if self.emitter is None:
            return
        meta: dict[str, Any] = {"reason": result.reason, "adapter_id": result.adapter_id,
                                "threshold": result.threshold, "unseen_share": result.unseen_share}
        usage = None
        if teacher is not None:
            meta.update(student_answer=result.student_answer, student_confidence=result.student_confidence,
                        teacher_model_version=teacher.model, cost_usd=teacher.cost_usd)
            usage = Usage(prompt_tokens=teacher.prompt_tokens, completion_tokens=teacher.completion_tokens)
        self.emitter.offer(InferenceEvent(
            event_id=step.event_id, task=step.task, input=step.text, ts=now_ms(), output=result.answer,
            model=result.model, route=result.route, confidence=result.confidence, usage=usage,
            metadata={k: v for k, v in meta.items() if v is not None},
        ))


def lone_surrogate(text: str) -> int | None:
    """The index of the first unpaired surrogate in ``text`` (which UTF-8 cannot encode), else None.

    >>> lone_surrogate("café"), lone_surrogate("ab" + chr(0xD800) + "c")
    (None, 2)
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _default_teacher(settings: Settings) -> Callable[[str], Teacher]:
    def make(task: str) -> Teacher:
        from streams.teacher.client import TeacherClient

        return TeacherClient.from_settings(settings, task)

    return make
