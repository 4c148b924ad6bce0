"""Every drift signal of one task, fed from its records, emitting ``DriftEvent``s.

Pure: no Kafka, no clock. The monitors worker hands each record (with its
Kafka position) to :meth:`TaskMonitor.observe` and publishes what comes back.
Which record feeds which signal:

* ``InferenceEvent`` - input length, character-class shares, unseen-token
  share, the answer's category (mix and new categories), the answering
  model's confidence, and a 0 for the dead-letter rate;
* ``LabeledExample`` from the teacher - agreement with the student (sampled
  events, where the student's answer is known) and a 0 for teacher rejection;
* ``ReviewItem`` - a 1 for teacher rejection;
* ``DeadLetter`` - a 1 for the dead-letter rate (per inbound event).

References: the signals that compare traffic with a reference (category mix,
new categories, unseen tokens) take it from the serving adapter's training
data. The monitor folds ``adapters.published`` and ``adapters.control`` with
the contract's :class:`~distillery.adapter_book.AdapterBook` (the rules every
subscriber follows) and :meth:`TaskMonitor.apply_adapter_record` says when the
adapter that serves changed; the worker then reads its snapshot and calls
:meth:`TaskMonitor.set_reference`, which also ends those signals' alarm
episodes. Before any adapter, each warms up on live traffic.
:meth:`TaskMonitor.references` says which reference each signal uses.

State survives restarts through :meth:`TaskMonitor.state_dict` /
:meth:`TaskMonitor.load_state` (or :meth:`to_bytes` / :meth:`from_bytes`,
pickle): the detectors' windows and references, the adapter book, the alarm
gate's open episodes and the last offset seen per topic partition, so records replayed after a crash are
skipped rather than counted twice and an alarm already raised is not raised
again. Only load checkpoints this service wrote: unpickling runs code.

>>> from distillery.events import InferenceEvent
>>> mon = TaskMonitor("transactions")
>>> ev = InferenceEvent(event_id="e-1", task="transactions", input="SQ *BLUE BOTTLE #42", output="coffee_shops")
>>> mon.observe(ev, Position("inference.events", 0, 7)), mon.observe(ev, Position("inference.events", 0, 7))
([], [])
>>> mon.signals["input_length"].events_seen, round(mon.levels()["input_length"])
(1, 19)
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from distillery.adapter_book import AdapterBook, AdapterRecord
from distillery.answers import category_of, same_answer
from distillery.errors import InvalidInputError
from distillery.events import (
    AdapterPublished,
    DeadLetter,
    DriftEvent,
    InferenceEvent,
    LabeledExample,
    ReviewItem,
    TrainJob,
)
from monitors.alarm import AlarmGate, Position, build_drift_event
from monitors.reference import Reference
from monitors.signals import (
    CHAR_CLASSES,
    Agreement,
    CategoryMix,
    CharClassShare,
    Confidence,
    DeadLetterRate,
    InputLength,
    NewCategory,
    Signal,
    TeacherRejection,
    UnseenTokenShare,
    char_class_shares,
)

STATE_FORMAT = 2
"""Version of :meth:`TaskMonitor.state_dict`'s layout."""

TEACHER_SOURCES = frozenset({"teacher", "teacher_batch", "router_escalation"})
"""Label sources that are the teacher's answers (the rest: production labels, ground truth)."""
_SAMPLED_SOURCES = frozenset({"teacher", "teacher_batch"})


def student_agreed(record: LabeledExample) -> bool | None:
    """Whether the student's answer matched a sampled teacher label; None when there is nothing to compare.

    Only labels of sampled traffic count (an escalation reached the teacher because the
    student was unsure, so it would bias agreement down), and only when the event
    carried the student's answer.

    >>> ex = LabeledExample(task="t", event_id="e", input="x", label="fuel", source="teacher",
    ...                     student_output="Fuel", ts_ms=1)
    >>> student_agreed(ex), student_agreed(ex.model_copy(update={"source": "router_escalation"}))
    (True, None)
    """
    if record.source not in _SAMPLED_SOURCES or record.student_output is None:
        return None
    return same_answer(record.student_output, record.label)
_REFERENCED = ("category_mix", "new_category", "unseen_token_share")
"""Signals whose reference is the serving adapter's data (the others watch the live stream's own level)."""
_JOBS_KEPT = 64
"""Train jobs remembered (to find the snapshot checksum and gold set of a published adapter)."""

Record = InferenceEvent | LabeledExample | ReviewItem | DeadLetter


class TaskMonitor:
    """The drift signals of one task and the gate that turns their firings into alarms.

    Parameters
    ----------
    task
        The task name every emitted ``DriftEvent`` carries.
    cooldown_events
        Observations of a signal without a firing that end its alarm (see :class:`AlarmGate`).
    vocabulary
        A vocabulary to start the unseen-token share from (else it warms up on live inputs).
    unseen_warmup
        Inputs whose words form the provisional vocabulary before any adapter.
    category_mix, new_category
        The category signals, when not the defaults (configured ones, a bench's).
    """

    def __init__(self, task: str, *, cooldown_events: int = 2000, vocabulary: Iterable[str] = (),
                 unseen_warmup: int = 300, category_mix: CategoryMix | None = None,
                 new_category: NewCategory | None = None) -> None:
        self.task = task
        self.input_length = InputLength()
        self.char_shares = tuple(CharClassShare(c) for c in CHAR_CLASSES)
        self.unseen_tokens = UnseenTokenShare(vocabulary, warmup=unseen_warmup)
        self.category_mix = category_mix or CategoryMix()
        self.new_category = new_category or NewCategory()
        self.confidence = Confidence()
        self.agreement = Agreement()
        self.teacher_rejection = TeacherRejection()
        self.dead_letter = DeadLetterRate()
        self.gate = AlarmGate(cooldown_events=cooldown_events)
        self.offsets: dict[tuple[str, int], int] = {}
        self.book = AdapterBook()
        self.jobs: dict[str, TrainJob] = {}
        self.reference_adapter: str | None = None
        self._redact: Callable[[str], str] | None = None

    @property
    def signals(self) -> dict[str, Signal]:
        """Every signal by name."""
        sigs: list[Signal] = [self.input_length, *self.char_shares, self.unseen_tokens, self.category_mix,
                              self.new_category, self.confidence, self.agreement, self.teacher_rejection, self.dead_letter]
        return {s.name: s for s in sigs}

    def levels(self) -> dict[str, float | None]:
        """Each signal's current estimate (for gauges and the ops page)."""
        return {name: s.estimate for name, s in self.signals.items()}

    # ------------------------------------------------------------ references
    @property
    def redact(self) -> Callable[[str], str] | None:
        """How inputs are redacted before their words appear in a drift event (not checkpointed)."""
        return self._redact

    @redact.setter
    def redact(self, fn: Callable[[str], str] | None) -> None:
        self._redact = fn
        self.unseen_tokens.redact = fn

    def set_vocabulary(self, vocabulary: Iterable[str], *, source: str = "given") -> None:
        """Measure unseen tokens against a vocabulary (no held-out level to prime with)."""
        self.unseen_tokens.set_vocabulary(vocabulary, source=source)
        self.gate.end("unseen_token_share")

    def set_category_reference(self, counts: Mapping[str, float], *, source: str = "given") -> None:
        """Compare the answer mix (and new categories) against a known mix."""
        self.category_mix.set_reference(dict(counts), source=source)
        self.new_category.set_reference(dict(counts), source=source)
        self.gate.end("category_mix")
        self.gate.end("new_category")

    def set_reference(self, reference: Reference, *, adapter_id: str | None = None,
                      prefer_traffic: bool = True) -> None:
        """Compare traffic with an adapter's training data from now on; ends those signals' episodes.

        Vocabulary: the snapshot's training inputs. Category mix: the answer
        mix of the traffic the adapter's training window saw, as this monitor
        observed it (:meth:`CategoryMix.traffic_mix`), when it observed enough
        of it and ``prefer_traffic``; else the snapshot's label counts. The
        snapshot's labels are a biased sample of traffic (duplicates skipped,
        uncertain answers and the time after a drift oversampled: on the demo's
        traffic, skipping exact duplicates alone moves the mix by a total
        variation of 0.14), which would raise an alarm at every publish.
        A part the reference lacks (no labels: an extraction task; no inputs)
        leaves that signal's reference as it was.
        """
        mix = self.category_mix
        traffic = mix.traffic_mix() if prefer_traffic else None
        if traffic is not None:
            self.set_category_reference(traffic, source=f"{reference.source} (its traffic)")
        elif reference.labels and (not prefer_traffic or mix.events_seen == 0):
            self.set_category_reference(reference.labels, source=f"{reference.source} (snapshot labels)")
        elif reference.labels:
            # some traffic seen, too little to trust (just after a change): learn the new adapter's from the next
            mix.warm_up(f"warm-up after {reference.source}")
            self.gate.end("category_mix")
            self.gate.end("new_category")
        if reference.vocabulary:
            self.unseen_tokens.set_vocabulary(reference.vocabulary, source=reference.source)
            self.gate.end("unseen_token_share")
        self.reference_adapter = adapter_id

    def references(self) -> dict[str, str]:
        """Which reference each signal compares with (``adapter <id>``, ``warm-up``, ``live window``...)."""
        return {name: (getattr(sig, "reference_source", "none") if name in _REFERENCED else "live window")
                for name, sig in self.signals.items()}

    def note_train_job(self, job: TrainJob) -> None:
        """Remember a train job, so the adapter it yields can be matched to its snapshot and gold set."""
        self.jobs[job.job_id] = job
        while len(self.jobs) > _JOBS_KEPT:
            del self.jobs[next(iter(self.jobs))]

    def apply_adapter_record(self, record: AdapterRecord) -> AdapterPublished | None:
        """Fold an adapter record; the adapter that now serves when its data is not yet the reference."""
        self.book.apply(record)
        chosen = self.book.chosen(self.task)
        if chosen is None or chosen.adapter_id == self.reference_adapter:
            return None
        return chosen

    # --------------------------------------------------------- observations
    def observe_input(
        self,
        text: str,
        *,
        category: str | None = None,
        confidence: float | None = None,
        position: Position | None = None,
        event_ts_ms: int | None = None,
    ) -> list[DriftEvent]:
        """One served request: its input, the answer's category and confidence when known."""
        if self._replayed(position):
            return []
        fired: list[Signal] = []
        if self.input_length.update(len(text)):
            fired.append(self.input_length)
        for signal, share in zip(self.char_shares, char_class_shares(text), strict=True):
            if signal.update(share):
                fired.append(signal)
        if self.unseen_tokens.observe(text):
            fired.append(self.unseen_tokens)
        if category is not None:
            if self.category_mix.update(category, event_ts_ms):
                fired.append(self.category_mix)
            mix = self.category_mix
            if (self.new_category.reference_source != mix.reference_source
                    and mix.reference_source.startswith("warm-up")):
                self.new_category.set_reference(mix.reference, source=mix.reference_source)
            if self.new_category.update(category, event_ts_ms):
                fired.append(self.new_category)
                mix.recent = {}  # a new kind of request: what a retrain learns is the traffic from here
        if confidence is not None and self.confidence.update(confidence):
            fired.append(self.confidence)
        if self.dead_letter.update(0):
            fired.append(self.dead_letter)
        return self._alarms(fired, position, event_ts_ms)

    def observe_teacher(
        self,
        *,
        rejected: bool,
        agree: bool | None = None,
        position: Position | None = None,
        event_ts_ms: int | None = None,
    ) -> list[DriftEvent]:
        """One teacher answer: rejected to review or not, and whether the student agreed (if known)."""
        if self._replayed(position):
            return []
        fired: list[Signal] = []
        if self.teacher_rejection.update(rejected):
            fired.append(self.teacher_rejection)
        if agree is not None and self.agreement.update(agree):
            fired.append(self.agreement)
        return self._alarms(fired, position, event_ts_ms)

    def observe_dead_letter(
        self, *, position: Position | None = None, event_ts_ms: int | None = None
    ) -> list[DriftEvent]:
        """One inbound event refused to the dead-letter topic."""
        if self._replayed(position):
            return []
        fired: list[Signal] = [self.dead_letter] if self.dead_letter.update(1) else []
        return self._alarms(fired, position, event_ts_ms)

    def observe(self, record: Record, position: Position | None = None) -> list[DriftEvent]:
        """Feed any record this monitor reads to the signals it informs."""
        if record.task != self.task:
            raise InvalidInputError([f"task: this monitor watches {self.task!r}, got a record for {record.task!r}; "
                                   "route records to the monitor of their task"])
        if isinstance(record, InferenceEvent):
            return self.observe_input(record.input_text(), category=category_of(record.output),
                                      confidence=record.confidence, position=position, event_ts_ms=record.ts_ms())
        if isinstance(record, LabeledExample):
            if record.source not in TEACHER_SOURCES:
                self._replayed(position)  # informs no signal, but is seen: a restart must not count it again
                return []
            return self.observe_teacher(rejected=False, agree=student_agreed(record), position=position,
                                        event_ts_ms=record.ts_ms)
        if isinstance(record, ReviewItem):
            return self.observe_teacher(rejected=True, position=position, event_ts_ms=record.ts_ms)
        return self.observe_dead_letter(position=position, event_ts_ms=record.ts_ms)

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """A deep copy of everything a restart needs (picklable; river detectors pickle)."""
        return copy.deepcopy({
            "format": STATE_FORMAT,
            "task": self.task,
            "signals": {
                "input_length": self.input_length,
                "char_shares": self.char_shares,
                "unseen_tokens": self.unseen_tokens,
                "category_mix": self.category_mix,
                "new_category": self.new_category,
                "confidence": self.confidence,
                "agreement": self.agreement,
                "teacher_rejection": self.teacher_rejection,
                "dead_letter": self.dead_letter,
            },
            "gate": self.gate,
            "offsets": self.offsets,
            "book": self.book,
            "jobs": self.jobs,
            "reference_adapter": self.reference_adapter,
        })

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict` of this task's monitor."""
        if state.get("format") != STATE_FORMAT:
            raise InvalidInputError([f"format: expected monitor state format {STATE_FORMAT}, "
                                   f"got {state.get('format')!r}; start this monitor afresh"])
        if state.get("task") != self.task:
            raise InvalidInputError([f"task: the state belongs to {state.get('task')!r}, not {self.task!r}; "
                                   "load each task's own checkpoint"])
        state = copy.deepcopy(dict(state))
        for attr, value in state["signals"].items():
            setattr(self, attr, value)
        saved: AlarmGate = state["gate"]
        # open episodes carry over; the cooldown is this process's configuration
        self.gate = AlarmGate(cooldown_events=self.gate.cooldown_events, hysteresis=self.gate.hysteresis,
                              episodes=saved.episodes, folded_total=saved.folded_total)
        self.offsets = state["offsets"]
        self.book = state["book"]
        self.jobs = state["jobs"]
        self.reference_adapter = state["reference_adapter"]
        self.redact = self._redact

    def to_bytes(self) -> bytes:
        """The state as one pickle, for a checkpoint file or a compacted topic."""
        return pickle.dumps(self.state_dict(), protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, data: bytes, *, cooldown_events: int = 2000) -> TaskMonitor:
        """A monitor restored from :meth:`to_bytes` (trusted input only: unpickling runs code)."""
        state = pickle.loads(data)
        if not isinstance(state, dict) or "task" not in state:
            raise InvalidInputError(["state: not a TaskMonitor checkpoint (no task); check the checkpoint path"])
        monitor = cls(str(state["task"]), cooldown_events=cooldown_events)
        monitor.load_state(state)
        return monitor

    # -------------------------------------------------------------- helpers
    def _replayed(self, position: Position | None) -> bool:
        """True for a record at or before the last offset seen on its partition (a redelivery)."""
        if position is None:
            return False
        key = (position.topic, position.partition)
        if self.offsets.get(key, -1) >= position.offset:
            return True
        self.offsets[key] = position.offset
        return False

    def _alarms(self, fired: list[Signal], position: Position | None, event_ts_ms: int | None) -> list[DriftEvent]:
        events = []
        for signal in fired:
            change = signal.last_change
            if change is not None and self.gate.offer(signal, change):
                events.append(build_drift_event(self.task, signal, change, position=position,
                                                event_ts_ms=event_ts_ms))
        return events
