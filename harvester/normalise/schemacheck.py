"""Normalise hook: validate each converted table that declares a Table Schema; flag, never drop."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa

from harvester.config import SourceConfig
from harvester.http import HttpClient
from harvester.layout import table_location
from harvester.normalise.resource import ResourceOutcome
from harvester.normalise.validation import previous_validation, validate_table, write_validation
from harvester.tableschema import declared_schema, resolve

log = logging.getLogger(__name__)


def _extras(datasets: pa.Table) -> dict[str, dict[str, str]]:
    keys = datasets.column("dataset_key").to_pylist()
    extras = datasets.column("extras").to_pylist()
    return {k: dict(e or []) for k, e in zip(keys, extras, strict=True)}


def check_schemas(
    source: SourceConfig,
    data_dir: Path,
    datasets: pa.Table,
    outcomes: list[ResourceOutcome],
    http: HttpClient | None,
) -> int:
    """Validate the tables of ``outcomes`` that declare a schema; returns how many fail theirs."""
    by_dataset = _extras(datasets)
    invalid = 0
    for o in outcomes:
        if o.status not in ("ok", "unchanged") or not o.table_path:
            continue
        ref = declared_schema(source, o.dataset_key, by_dataset.get(o.dataset_key), o.url)
        if ref is None:
            continue
        o.table_schema = ref.label
        if o.status == "unchanged":  # the table did not change: its last validation still holds
            prev = previous_validation(data_dir, o.table_path)
            if prev is not None:
                o.schema_valid, o.schema_errors = bool(prev.get("valid")), int(prev.get("error_count") or 0)
                invalid += not o.schema_valid
                continue
        descriptor, why = resolve(ref, source, http)
        if descriptor is None:
            o.warnings.append(str(why))
            continue
        try:
            result = validate_table(table_location(data_dir, o.table_path), descriptor, ref.label)
        except Exception as exc:  # noqa: BLE001 - a validator failure must not lose the converted table
            o.warnings.append(f"Table Schema {ref.label} could not be checked: {exc}")
            log.warning("%s: %s: schema %s not checked: %s", source.id, o.resource_key, ref.label, exc)
            continue
        write_validation(data_dir, o.table_path, o.resource_key, result)
        o.schema_valid, o.schema_errors = result.valid, len(result.errors)
        invalid += not result.valid
    return invalid
