"""The columns of a batch are cast side by side (columnpool.py), with the same result as one after the other."""

from __future__ import annotations

import threading
from contextlib import closing
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harvester.normalise import csv_table
from harvester.normalise.columnpool import ColumnPool, default_threads


def test_map_runs_calls_at_the_same_time_and_keeps_their_order() -> None:
    # broken (an error) if the two calls run one after the other
    both_running = threading.Barrier(2, timeout=10)

    def call(x: int, y: int) -> tuple[int, str]:
        both_running.wait()
        return x * y, threading.current_thread().name

    with closing(ColumnPool(2)) as pool:
        (a, ta), (b, tb) = pool.map(call, [2, 3], [10, 100])
    assert (a, b) == (20, 300)
    assert ta != tb and {ta[:7], tb[:7]} == {"columns"}


def test_map_raises_the_error_of_a_call() -> None:
    def call(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x

    with closing(ColumnPool(2)) as pool, pytest.raises(ValueError, match="two"):
        pool.map(call, [1, 2, 3])


def test_one_thread_means_the_callers_thread() -> None:
    with closing(ColumnPool(1)) as pool:
        names = pool.map(lambda _x: threading.current_thread().name, [1, 2, 3])
    assert names == [threading.current_thread().name] * 3


def test_threads_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARVESTER_COLUMN_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("HARVESTER_COLUMN_THREADS", "zero")
    assert 1 <= default_threads() <= 4


def _french_csv(path: Path, rows: int, *, late_bad: bool = False) -> Path:
    lines = ["code;montant;date;actif;nom"]
    for i in range(rows):
        amount = f"{i * 37:,}".replace(",", "\u00a0")  # thousands separated by a non-breaking space
        lines.append(f"{i:05d};{amount},5;{1 + i % 28:02d}/03/2024;{'oui' if i % 2 else 'non'};Élise {i}")
    if late_bad:  # values the sample did not see, in two columns: both are re-typed, in column order
        lines.append("ABCDE;beaucoup;demain;peut-être;x")
    path.write_bytes("\n".join(lines).encode("cp1252"))
    return path


@pytest.mark.parametrize("late_bad", [False, True])
def test_conversion_casts_columns_on_several_threads_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, late_bad: bool
) -> None:
    src = _french_csv(tmp_path / "t.csv", 70_000, late_bad=late_bad)  # two cast batches (CAST_ROWS)
    cast = csv_table.cast_column
    threads: set[str] = set()

    def recorded(*args: object) -> object:
        threads.add(threading.current_thread().name)
        return cast(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(csv_table, "cast_column", recorded)
    monkeypatch.setenv("HARVESTER_COLUMN_THREADS", "1")
    one = csv_table.convert_csv(src, tmp_path / "one.parquet")
    assert threads == {threading.current_thread().name}

    threads.clear()
    monkeypatch.setenv("HARVESTER_COLUMN_THREADS", "3")
    many = csv_table.convert_csv(src, tmp_path / "many.parquet")
    assert len(threads) > 1 and all(t.startswith("columns") for t in threads)
    assert not [t for t in threading.enumerate() if t.name.startswith("columns")]  # the pool is closed

    assert many.warnings == one.warnings
    assert many.schema == one.schema and many.rows == one.rows == 70_000 + late_bad
    assert pq.read_table(many.path).equals(pq.read_table(one.path))
    types = {f.name: str(f.type) for f in many.schema}
    if late_bad:
        assert types["code"] == types["montant"] == types["date"] == types["actif"] == "string"
        assert [w.split("'")[1] for w in many.warnings if w.startswith("column")] == [
            "montant",
            "date",
            "actif",
        ]
    else:
        assert types["code"] == "string" and types["montant"] == "double" and types["actif"] == "bool"
