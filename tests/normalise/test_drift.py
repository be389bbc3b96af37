"""Schema drift: added, removed, renamed and retyped columns, and the append-only schema_changes.parquet."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from harvester.normalise.drift import SCHEMA_CHANGES, append_schema_changes, diff_columns, schema_changes_path


def test_no_change() -> None:
    cols = [("code", "string"), ("population", "int64")]
    assert diff_columns(cols, list(cols)) == []


def test_added_removed_and_type_changed() -> None:
    old = [("code", "string"), ("population", "int64"), ("surface", "double")]
    new = [("code", "string"), ("population", "double"), ("densite", "string"), ("annee", "int64")]
    changes = {(c["change"], c["column"]): c for c in diff_columns(old, new)}
    assert set(changes) == {
        ("type_changed", "population"),
        ("removed", "surface"),
        ("added", "densite"),
        ("added", "annee"),
    }
    assert changes[("type_changed", "population")]["old_type"] == "int64"
    assert changes[("type_changed", "population")]["new_type"] == "double"


def test_rename_by_spelling() -> None:
    changes = diff_columns(
        [("Code Postal", "string"), ("nom", "string")], [("code_postal", "string"), ("nom", "string")]
    )
    assert changes == [
        {
            "change": "renamed",
            "column": "code_postal",
            "old_column": "Code Postal",
            "old_type": "string",
            "new_type": "string",
        }
    ]


def test_rename_by_position_and_type() -> None:
    old = [("dep", "string"), ("nb_faits", "int64")]
    new = [("dep", "string"), ("faits", "int64")]
    assert [(c["change"], c["old_column"], c["column"]) for c in diff_columns(old, new)] == [
        ("renamed", "nb_faits", "faits")
    ]


def test_same_position_other_type_is_remove_plus_add() -> None:
    changes = diff_columns([("a", "string"), ("b", "int64")], [("a", "string"), ("c", "date32[day]")])
    assert sorted(c["change"] for c in changes) == ["added", "removed"]


def test_changes_file_is_append_only(tmp_path: Path) -> None:
    row = {"source_id": "s", "dataset_key": "s:d", "resource_key": "s:d:r", "run_id": "run1"}
    first = [{**row, **c} for c in diff_columns([("a", "int64")], [("a", "string")])]
    t1 = datetime(2024, 1, 1, tzinfo=UTC)
    append_schema_changes(tmp_path, "s", first, t1)
    second = [
        {**row, "run_id": "run2", **c}
        for c in diff_columns([("a", "string")], [("a", "string"), ("b", "int64")])
    ]
    path = append_schema_changes(tmp_path, "s", second, datetime(2024, 2, 1, tzinfo=UTC))
    assert path == schema_changes_path(tmp_path, "s")
    table = pq.read_table(path)
    assert table.schema.equals(SCHEMA_CHANGES)
    assert [(r["run_id"], r["change"], r["column"]) for r in table.to_pylist()] == [
        ("run1", "type_changed", "a"),
        ("run2", "added", "b"),
    ]
    assert not list(path.parent.glob("*.tmp"))
