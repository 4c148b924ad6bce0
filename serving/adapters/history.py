"""One-shot reads and writes of the adapter topics, for the ``distillery adapters`` commands."""

from __future__ import annotations

import asyncio
import logging

import pydantic
from aiokafka import ConsumerRecord

from distillery.events import AdapterControl, AdapterPublished, AdapterRejected
from distillery.kafka import ensure_topics, read_topic, send_one
from distillery.settings import Settings
from serving.adapters.book import AdapterBook, AdapterRecord

log = logging.getLogger("distillery.serving")


async def read_book(settings: Settings, *, timeout_s: float = 15.0) -> AdapterBook:
    """Everything published, rejected and decided so far, folded in production order."""
    t = settings.topics
    models: dict[str, type[AdapterRecord]] = {t.published: AdapterPublished, t.rejected: AdapterRejected,
                                              t.control: AdapterControl}
    await ensure_topics(settings, list(models))
    batches = await asyncio.gather(*(read_topic(settings.kafka, topic, idle_s=1.0,
                                                timeout_s=timeout_s) for topic in models))
    records: list[ConsumerRecord[bytes, bytes]] = sorted(
        (r for batch in batches for r in batch), key=lambda r: (r.timestamp, r.topic, r.partition, r.offset))
    book = AdapterBook()
    for rec in records:
        try:
            book.apply(models[rec.topic].model_validate_json(rec.value or b""))
        except pydantic.ValidationError as exc:
            log.warning("skipped %s[%d]@%d: %s", rec.topic, rec.partition, rec.offset, str(exc).splitlines()[0])
    return book


async def send_control(settings: Settings, control: AdapterControl) -> None:
    """Publish an operator's decision on ``adapters.control``; every subscriber follows it."""
    await ensure_topics(settings, [settings.topics.control])
    await send_one(settings, control)
