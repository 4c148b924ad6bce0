"""One-shot reads and writes of the adapter topics: the book as of now, an operator's decision.

:func:`read_book` is how the trainer learns which adapter serves each task (the
one its candidates must not regress from) and how the ``distillery adapters``
commands list them; serving's subscriber folds the same records with the same
rules (:mod:`distillery.adapter_book`) as they arrive, so they agree.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping

import pydantic
from aiokafka import ConsumerRecord

from distillery.adapter_book import AdapterBook, AdapterRecord, in_event_order
from distillery.events import AdapterControl, AdapterPublished, AdapterRejected
from distillery.kafka import ensure_topics, read_topic, send_one
from distillery.settings import Settings
from distillery.topics import Topics

log = logging.getLogger("distillery.adapters")


def adapter_models(topics: Topics) -> dict[str, type[AdapterRecord]]:
    """The record type of each adapter topic, by its full name."""
    return {topics.published: AdapterPublished, topics.rejected: AdapterRejected, topics.control: AdapterControl}


def fold(book: AdapterBook, records: Iterable[ConsumerRecord[bytes, bytes]],
         models: Mapping[str, type[AdapterRecord]]) -> AdapterBook:
    """Apply ``records`` to ``book`` in event order; a record that is not its topic's type is logged and skipped."""
    for rec in in_event_order(records):
        try:
            book.apply(models[rec.topic].model_validate_json(rec.value or b""))
        except pydantic.ValidationError as exc:
            log.warning("skipped %s[%d]@%d: %s", rec.topic, rec.partition, rec.offset, str(exc).splitlines()[0])
    return book


async def read_book(settings: Settings, *, timeout_s: float = 15.0) -> AdapterBook:
    """Everything published, rejected and decided so far, folded in the order it happened."""
    models = adapter_models(settings.topics)
    await ensure_topics(settings, list(models))
    batches = await asyncio.gather(*(read_topic(settings.kafka, topic, idle_s=1.0,
                                                timeout_s=timeout_s) for topic in models))
    return fold(AdapterBook(), (r for batch in batches for r in batch), models)


async def send_control(settings: Settings, control: AdapterControl) -> None:
    """Publish an operator's decision on ``adapters.control``; every subscriber follows it."""
    await ensure_topics(settings, [settings.topics.control])
    await send_one(settings, control)
