"""The optional named-entity pass: person names in inputs bound for the teacher.

No regex tells a name from a merchant (``ZELLE TO JANE DOE``, ``VENMO *JOHN SMITH``),
so :mod:`streams.redact` leaves names alone. With ``[streams.names] model`` set, a
Microsoft Presidio ``AnalyzerEngine`` over a spaCy pipeline finds them, and each
finding becomes a typed placeholder (``[PERSON]``, like the redactor's ``[EMAIL]``).

It runs only on events sampled for the teacher (online, Batch API, gold pinning),
never on the rest of the stream: :class:`streams.pipeline.Pipeline` hands each
batch's teacher-bound texts to :meth:`NameRedactor.redact_batch`, which runs them
through ``nlp.pipe`` on one worker thread, off the event loop. Every copy of those
events (the request, the example, the records on Kafka) carries the same text.

The pipeline is loaded at start, and every way it can be missing fails there with a
:class:`ConfigError` naming ``streams.names.model``: Presidio or spaCy not installed,
a name that is neither an installed package nor a folder (nothing is downloaded),
a folder that is no spaCy pipeline, or one that recognises none of the entities.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from distillery.errors import ConfigError
from distillery.events import InferenceEvent
from distillery.settings import NamesSettings
from streams.redact import PLACEHOLDERS, Redaction, Redactor

log = logging.getLogger("distillery.streams.names")

KEY = "streams.names.model"
LANGUAGE = "en"
INSTALL = "pip install 'distillery[names]'"


def placeholder(entity: str) -> str:
    """The placeholder of a Presidio entity type: the redactor's own where it has one.

    >>> placeholder("PERSON"), placeholder("LOCATION"), placeholder("EMAIL_ADDRESS")
    ('[PERSON]', '[LOCATION]', '[EMAIL_ADDRESS]')
    """
    return PLACEHOLDERS.get(entity.lower(), f"[{entity}]")


def replace_spans(text: str, spans: Sequence[tuple[int, int, str]]) -> Redaction:
    """``text`` with each ``(start, end, entity)`` span replaced by its placeholder.

    Overlapping findings keep the one that starts first (the longer at the same start).

    >>> r = replace_spans("ZELLE TO JANE DOE REF JANE", [(9, 17, "PERSON"), (22, 26, "PERSON"), (9, 13, "PERSON")])
    >>> r.text, r.counts
    ('ZELLE TO [PERSON] REF [PERSON]', {'person': 2})
    """
    parts: list[str] = []
    counts: dict[str, int] = {}
    pos = 0
    for start, end, entity in sorted(spans, key=lambda s: (s[0], -s[1])):
        if start < pos or end <= start:
            continue
        parts += [text[pos:start], placeholder(entity)]
        counts[entity.lower()] = counts.get(entity.lower(), 0) + 1
        pos = end
    if not parts:
        return Redaction(text)
    parts.append(text[pos:])
    return Redaction("".join(parts), counts)


class NameRedactor:
    """Presidio's analyzer over one spaCy pipeline, run on its own thread; ``load`` builds it."""

    def __init__(self, analyzer: Any, settings: NamesSettings) -> None:
        from presidio_analyzer import BatchAnalyzerEngine

        self.settings = settings
        self.entities = list(settings.entities)
        self._batch = BatchAnalyzerEngine(analyzer)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="distillery-names")

    @classmethod
    def from_settings(cls, settings: NamesSettings) -> NameRedactor | None:
        """The pass ``settings`` ask for, loaded; ``None`` when it is off (no ``model``)."""
        return None if settings.model is None else cls.load(settings)

    @classmethod
    def load(cls, settings: NamesSettings) -> NameRedactor:
        """Load the spaCy pipeline and Presidio's analyzer, or raise a :class:`ConfigError` saying why not."""
        model = settings.model or ""
        try:
            import spacy
            from presidio_analyzer import AnalyzerEngine
            from presidio_analyzer.nlp_engine import SpacyNlpEngine
        except ImportError as exc:
            raise ConfigError(f"model = {model!r} turns the named-entity pass on, but {exc.name or exc} is not "
                              f"installed; run `{INSTALL}`, or remove the setting to turn the pass off",
                              key=KEY) from None
        if not (spacy.util.is_package(model) or Path(model).is_dir()):
            # Presidio would try to download a missing package: never from here, and never at run time
            raise ConfigError(f"{model!r} is neither an installed spaCy pipeline package nor a folder; install one "
                              "(e.g. en_core_web_lg from your package mirror), set the folder of one saved with "
                              "nlp.to_disk, or remove the setting to turn the pass off", key=KEY)
        engine = SpacyNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": model}])
        presidio_log = logging.getLogger("presidio-analyzer")
        level = presidio_log.level
        presidio_log.setLevel(logging.ERROR)  # one warning per recognizer of another language, at every start
        try:
            analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=[LANGUAGE])
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"{model!r} cannot be loaded as a spaCy pipeline ({type(exc).__name__}: "
                              f"{str(exc)[:300]}); point it at a pipeline's folder (the one holding "
                              "config.cfg and meta.json) or package name", key=KEY) from None
        finally:
            presidio_log.setLevel(level)
        supported = set(analyzer.get_supported_entities(LANGUAGE))
        unknown = [e for e in settings.entities if e not in supported]
        if unknown:
            raise ConfigError(f"entities {unknown} are not known to Presidio; use some of {sorted(supported)}",
                              key="streams.names.entities")
        nlp: Any = engine.nlp[LANGUAGE] if engine.nlp else None
        mapping: dict[str, str] = engine.ner_model_configuration.model_to_presidio_entity_mapping or {}
        labels: list[str] = [label for found in (nlp.pipe_labels.values() if nlp else ()) for label in found]
        found = {mapping.get(label, label) for label in labels}
        if "PERSON" in settings.entities and "PERSON" not in found:
            raise ConfigError(f"the spaCy pipeline {model!r} recognises no person names (its components: "
                              f"{nlp.pipe_names if nlp else []}, labels: {sorted(found)}); use one with an "
                              "entity recognizer such as en_core_web_lg", key=KEY)
        log.info("named-entity pass on teacher-bound inputs: spaCy pipeline %s, entities %s", model,
                 ", ".join(settings.entities))
        return cls(analyzer, settings)

    def redact_many(self, texts: Sequence[str]) -> list[Redaction]:
        """Each text with its named entities replaced (CPU work: call it off the event loop)."""
        if not texts:
            return []
        results = self._batch.analyze_iterator(
            list(texts), language=LANGUAGE, batch_size=self.settings.batch_size, entities=self.entities,
            score_threshold=self.settings.score_threshold)
        return [replace_spans(text, [(r.start, r.end, r.entity_type) for r in found])
                for text, found in zip(texts, results, strict=True)]

    async def redact_batch(self, texts: Sequence[str]) -> list[Redaction]:
        """:meth:`redact_many` on the pass's own thread, so the worker's event loop keeps running."""
        if not texts:
            return []
        return await asyncio.get_running_loop().run_in_executor(self._thread, self.redact_many, list(texts))

    def close(self) -> None:
        self._thread.shutdown(wait=True, cancel_futures=True)


async def hide_names(names: NameRedactor, redactor: Redactor,
                     bound: Sequence[tuple[InferenceEvent, str]]) -> list[tuple[InferenceEvent, str, bool]]:
    """Each ``(event, text)`` (both already redacted) with its names hidden: ``(event, text, changed)``.

    One :meth:`NameRedactor.redact_batch` call for them all. A string input is
    ``text`` itself; a chat input is passed message by message, as the redactor
    passes it, and its text is made again from the messages
    (:meth:`InferenceEvent.input_text`, redacted), as a stored event's text is.
    """
    pieces: list[str] = []
    for ev, text in bound:
        pieces += [text] if isinstance(ev.input, str) else [m.content for m in ev.input]
    done = iter(await names.redact_batch(pieces))
    out: list[tuple[InferenceEvent, str, bool]] = []
    for ev, text in bound:
        if isinstance(ev.input, str):
            r = next(done)
            out.append((ev.model_copy(update={"input": r.text}), r.text, r.changed))
            continue
        found = [next(done) for _ in ev.input]
        if not any(r.changed for r in found):
            out.append((ev, text, False))
            continue
        messages = [m.model_copy(update={"content": r.text}) for m, r in zip(ev.input, found, strict=True)]
        ev = ev.model_copy(update={"input": messages})
        out.append((ev, redactor(ev.input_text()).text, True))
    return out
