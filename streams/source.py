"""Where a message was read: logged and carried on every rejection."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """Topic, partition and offset of one message."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


Raw = tuple[bytes | None, bytes | None, Source]
"""One message as read: its value, its key and where it was read."""
