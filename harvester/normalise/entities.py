"""NGSI entities of one type → GeoParquet: `location` as the WKB `geometry` column, attributes flattened
(`<attr>`, `<attr>_observedAt`, `<attr>_unitCode`…), DateTimes as UTC timestamps.

The table is the broker's current state, rewritten at each run. Pages are flattened into a JSON-lines spill file
while the column types are gathered, then written in batches with the final schema: memory stays bounded.
An entity whose location is broken gets a null geometry and a warning naming it; the table is still written.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from harvester import store
from harvester.connectors.ngsi_entity import flatten, location_wkb
from harvester.connectors.ngsi_query import iter_entity_pages
from harvester.errors import RecordError
from harvester.http import HttpClient
from harvester.layout import table_location
from harvester.normalise.sink import ParquetSink

GEOMETRY = "geometry"
BATCH = 20_000
MAX_WARNED = 20
TS = pa.timestamp("us", tz="UTC")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


_KINDS: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str", type(None): "null"}


class ColumnTypes:
    """The Arrow type of each column, widened as values are seen (bool < int < float; anything else: text)."""

    def __init__(self) -> None:
        self.kinds: dict[str, str] = {}
        self.not_dates: set[str] = set()

    def add(self, row: dict[str, Any]) -> None:
        kinds, not_dates = self.kinds, self.not_dates
        for name, value in row.items():
            kind = _KINDS.get(type(value), "str")
            old = kinds.get(name)
            if old != kind:
                kinds[name] = _widen(old or "null", kind)
            if name not in not_dates and (kind != "str" or not _ISO.match(value)):
                if kind != "null":
                    not_dates.add(name)

    def schema(self) -> pa.Schema:
        fields = []
        for name, kind in self.kinds.items():
            if kind == "str" and name not in self.not_dates:
                t: pa.DataType = TS
            else:
                t = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64()}.get(kind, pa.string())
            fields.append(pa.field(name, t))
        return pa.schema([*fields, pa.field(GEOMETRY, pa.binary())])


def _widen(old: str, new: str) -> str:
    if new == "null":
        return old
    if old in ("null", new):
        return new
    if {old, new} == {"int", "float"}:
        return "float"
    return "str"


def _column(values: list[Any], t: pa.DataType) -> pa.Array:
    if pa.types.is_string(t):
        return pa.array([None if v is None else v if isinstance(v, str) else str(v) for v in values], t)
    if t == TS:
        try:
            return pa.array(values, pa.string()).cast(TS)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            from harvester.dates import parse_datetime

            return pa.array([parse_datetime(v) for v in values], TS)
    if pa.types.is_floating(t):
        return pa.array([None if v is None else float(v) for v in values], t)
    return pa.array(values, t)


def convert_entities(unit: Any, client: HttpClient, work: Path, out: Any, feed: dict[str, Any]) -> None:
    """Read every entity of the resource's type and write `tables/…/entities.parquet` (GeoParquet)."""
    from urllib.parse import parse_qs, urlsplit

    from harvester.normalise.resource import schema_hash

    parts = urlsplit(unit.url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    entity_type = feed.get("entity_type") or query.get("type")
    if not entity_type:
        raise RecordError("NGSI resource without an entity type", url=unit.url)
    endpoint = f"{parts.scheme}://{parts.netloc}{parts.path}"
    spill = work / "entities.jsonl"
    types = ColumnTypes()
    broken: list[str] = []
    short: list[tuple[int, int]] = []
    rows = 0
    with spill.open("wb") as fh:
        for items, _url, size in iter_entity_pages(
            client,
            endpoint,
            flavour=str(feed.get("flavour") or "ngsi-ld"),
            entity_type=entity_type,
            q=query.get("q"),
            limit=int(feed.get("page_size") or 100),
            headers=dict(feed.get("headers") or {}),
            policy=unit.policy,
            source_id=unit.source_id,
            on_short=lambda read, total: short.append((read, total)),
        ):
            out.bytes += size
            for entity in items:
                if not isinstance(entity, dict):
                    continue
                row, _dates, location = flatten(entity)
                wkb, _bounds, error = location_wkb(location)
                if error:
                    broken.append(f"{entity.get('id')}: {error}")
                types.add(row)
                fh.write(orjson.dumps({"r": row, "g": wkb.hex() if wkb else None}) + b"\n")
                rows += 1
    if broken:
        shown = "; ".join(broken[:MAX_WARNED]) + (
            f"; … {len(broken) - MAX_WARNED} more" if len(broken) > MAX_WARNED else ""
        )
        out.warnings.append(f"{len(broken)} entities with a broken location (null geometry): {shown}")
    if short:
        out.warnings.append(f"the broker listed {short[0][0]} of {short[0][1]} entities")
    out.detected.update(entity_type=entity_type, entities=rows, broken_locations=len(broken))
    if rows == 0:
        raise RecordError(f"the broker lists no {entity_type} entities", url=unit.url)
    out.sha256 = _sha256(spill)
    dest = table_location(store.data_path(unit.data_dir), unit.table_path)
    prev = unit.previous
    if not unit.force and prev.sha256 == out.sha256 and prev.table_path and dest.exists():
        out.status, out.table_path, out.rows = "unchanged", prev.table_path, prev.table_rows
        out.schema_hash, out.columns = prev.table_schema_hash, list(prev.columns) if prev.columns else None
        return
    schema = types.schema()
    with ParquetSink(dest, schema, geometry_column=GEOMETRY) as sink:
        batch: list[dict[str, Any]] = []
        with spill.open("rb") as fh:
            for line in fh:
                batch.append(orjson.loads(line))
                if len(batch) >= BATCH:
                    sink.write(_batch(batch, schema))
                    batch = []
        if batch:
            sink.write(_batch(batch, schema))
        sink.close()
    out.columns = [(f.name, str(f.type)) for f in store.read_schema(dest)]
    out.rows, out.table_path, out.schema_hash = rows, unit.table_path, schema_hash(out.columns)
    out.detected["geometry"] = "location"
    out.status = "ok"


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _batch(lines: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    arrays = []
    for f in schema:
        if f.name == GEOMETRY:
            arrays.append(pa.array([bytes.fromhex(x["g"]) if x["g"] else None for x in lines], pa.binary()))
        else:
            arrays.append(_column([x["r"].get(f.name) for x in lines], f.type))
    return pa.Table.from_arrays(arrays, schema=schema)
