"""snapshot.table_of: the rows of a listing as an Arrow table, built from NDJSON blocks of `chunk_rows` rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.json as pj
import pytest

from harvester import snapshot
from harvester.schema import DATASETS, RESOURCES

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _dataset(i: int) -> dict[str, Any]:
    return {
        "dataset_key": f"src:{i:03d}",
        "source_id": "src",
        "remote_id": f"{i:03d}",
        "name": None if i % 4 == 0 else f"jeu-{i}",
        "title": f"Jeu n°{i} — « données » ✓",
        "description": 'ligne 1\nligne 2\t"citée"' if i % 3 else None,
        "keywords": ["eau", "qualité"] if i % 2 else [],
        "themes": None,
        "issued": T0 + timedelta(days=i),
        "modified": None if i % 5 == 0 else T0 + timedelta(hours=i),
        "extras": [("license_rule", f"rule {i}"), ("é", "ü")] if i % 2 else [],
        "metadata_hash": f"h{i}",
        "harvested_at": T0,
        "withdrawn_at": None,
        # the portal record, serialised by catalog.record_rows; None for some
        "raw": None if i % 7 == 0 else orjson.dumps({"id": i, "titre": f"Jeu {i} ✓", "n": [i] * (i % 3)}),
        "not_a_column": "ignored",
    }


def _resource(i: int) -> dict[str, Any]:
    return {
        "dataset_key": f"src:{i // 3:03d}",
        "resource_key": f"src:{i // 3:03d}:{i}",
        "source_id": "src",
        "url": f"https://example.org/{i}.csv",
        "format": "CSV" if i % 2 else None,
        "size_bytes": None if i % 4 == 0 else i * 1000,
        "modified": T0 + timedelta(minutes=i),
    }


def _expected(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """What from_pylist gives, raw bytes read as the UTF-8 text they are."""
    plain = [{**r, "raw": r["raw"].decode()} if isinstance(r.get("raw"), bytes) else r for r in rows]
    return pa.Table.from_pylist(plain, schema=schema)


@pytest.mark.parametrize("chunk_rows", [1, 3, 7, 64])
def test_chunked_tables_equal_the_rows_whatever_the_chunk(chunk_rows: int) -> None:
    datasets = [_dataset(i) for i in range(23)]
    resources = [_resource(i) for i in range(40)]
    got = snapshot.table_of(datasets, DATASETS, chunk_rows=chunk_rows)
    assert got.schema == DATASETS
    assert got.equals(_expected(datasets, DATASETS))
    got_res = snapshot.table_of(resources, RESOURCES, chunk_rows=chunk_rows)
    assert got_res.equals(_expected(resources, RESOURCES))


def test_the_ndjson_text_is_made_a_block_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Arrow's reader is given one block of at most `chunk_rows` lines at a time, never the whole listing's text
    (which, with its joined copy, held 0.3 GB of a 10,000-dataset DCAT harvest)."""
    blocks: list[int] = []
    real = pj.read_json

    def spy(source: Any, **kw: Any) -> pa.Table:
        data = source.read()
        blocks.append(data.count(b"\n") + 1)
        return real(pa.BufferReader(data), **kw)

    monkeypatch.setattr(pj, "read_json", spy)
    rows = [_dataset(i) for i in range(50)]
    table = snapshot.table_of(rows, DATASETS, chunk_rows=16)
    assert blocks == [16, 16, 16, 2]
    assert table.num_rows == 50
    assert table.column("dataset_key").to_pylist() == [r["dataset_key"] for r in rows]
    blocks.clear()
    snapshot.table_of(rows, DATASETS)  # the default block holds these 50 rows at once
    assert blocks == [50]


def test_a_value_orjson_cannot_write_in_a_later_block_converts_every_row_value_by_value() -> None:
    rows = [_resource(i) for i in range(10)]
    rows[8]["size_bytes"] = np.int64(8000)  # a row built from a pandas frame: orjson refuses numpy scalars
    table = snapshot.table_of(rows, RESOURCES, chunk_rows=4)
    assert table.equals(_expected(rows, RESOURCES))
    assert table.column("size_bytes").to_pylist()[8] == 8000


def test_no_rows_is_an_empty_table_of_the_schema() -> None:
    assert snapshot.table_of([], RESOURCES, chunk_rows=4).schema == RESOURCES
    assert snapshot.table_of([], RESOURCES).num_rows == 0
