"""A minimal Faust app with a table, run as a worker by test_broker_compat.

It counts words per key into a table whose changelog is a compacted topic, and
prints each count, proving a restarted worker recovers the table from Kafka.
Usage: ``python faust_table_app.py PREFIX BOOTSTRAP DATADIR worker``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator


def main(prefix: str, bootstrap: str, datadir: str) -> None:
    import faust
    from faust.worker import Worker

    app = faust.App(f"{prefix}compat", broker=f"kafka://{bootstrap}", store="memory://", web_enabled=False,
                    autodiscover=False, topic_partitions=4, consumer_auto_offset_reset="earliest",
                    datadir=datadir)
    words = app.topic(f"{prefix}words", key_type=bytes, value_type=bytes, key_serializer="raw",
                      value_serializer="raw", partitions=4)
    counts = app.Table("counts", default=int, partitions=4)

    @app.agent(words)
    async def count(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for raw in stream.group_by(lambda w: w, name="byword"):
            word = raw.decode()
            counts[word] += 1
            print(f"COUNT {word} {counts[word]}", flush=True)
            yield None

    os.makedirs(datadir, exist_ok=True)
    sys.argv = [sys.argv[0], *sys.argv[4:]]
    # info, not warning: when a run stalls, the test's failure shows where (joining, recovering, processing)
    Worker(app, loglevel="info", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
