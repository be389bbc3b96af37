"""A Parquet writer that fails on a full disk must let go of its file: the caller unlinks the temporary file, and
an unlinked file that is still open keeps its blocks. CI once failed on this: pyarrow leaves the file it opened open
when writing the footer fails, the table's space was not given back, and the run report that follows could not be
written (tests/faults/test_disk_full_tables.py).

Each case fills a real small filesystem so that the row group fits and the footer does not, makes the writer fail
at close, and checks that no descriptor of this process still points at the file.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harvester.normalise.pqwriter import COMPRESSION_LEVEL, BackgroundWriter, close_writer
from harvester.normalise.sink import ParquetSink
from tests.faults.small_disk import fill, small_disk

PAGE = 4096
_RNG = np.random.default_rng(7)
VALUES = [_RNG.bytes(48).hex() for _ in range(20_000)]  # incompressible text


def footer_misses_by_a_page(options: dict[str, Any]) -> tuple[pa.Table, int]:
    """A table whose data ends in one page and whose footer needs the next, and the free space to leave."""
    for n in range(19_000, 20_000, 7):
        table = pa.table({"text": VALUES[:n]})
        buf = io.BytesIO()
        pq.write_table(table, buf, **options)
        raw = buf.getvalue()
        data = len(raw) - int.from_bytes(raw[-8:-4], "little") - 8
        if -(-data // PAGE) < -(-len(raw) // PAGE):
            return table, -(-data // PAGE) * PAGE
    raise AssertionError("no row count puts a page boundary between the data and the footer")


def open_fds_to(path: Path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(path)):
            found.append(target)
    return found


def background(path: Path, table: pa.Table) -> None:
    writer = BackgroundWriter(path, table.schema)
    try:
        writer.write(table)
    finally:
        writer.close()


def sink(path: Path, table: pa.Table) -> None:
    with ParquetSink(path, table.schema) as out:
        out.write(table)
        out.close()


def plain(path: Path, table: pa.Table) -> None:
    """What MonthWriter and compact_month do: a pyarrow writer closed through close_writer."""
    writer = pq.ParquetWriter(path, table.schema, compression="zstd")
    writer.write_table(table)
    close_writer(writer)


CASES: dict[str, tuple[Callable[[Path, pa.Table], None], dict[str, Any]]] = {
    "background-writer": (background, {"compression": "zstd", "compression_level": COMPRESSION_LEVEL}),
    "parquet-sink": (sink, {"compression": "zstd"}),
    "close-writer": (plain, {"compression": "zstd"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_writer_whose_footer_hits_a_full_disk_closes_its_file(tmp_path: Path, case: str) -> None:
    write, options = CASES[case]
    table, leave = footer_misses_by_a_page(options)
    with small_disk(tmp_path, 8) as (mount, _kind):  # tmpfs and the ext4 image both count 4 KiB blocks
        fill(mount, leave=leave)
        free = shutil.disk_usage(mount).free
        path = mount / ".table.parquet.tmp"
        with pytest.raises(OSError) as failed:
            write(path, table)
        assert failed.value.errno == 28, failed.value
        assert open_fds_to(path) == []
        path.unlink(missing_ok=True)
        assert shutil.disk_usage(mount).free == free
