"""JSON arrays of objects and GeoJSON FeatureCollections → Arrow record batches, streamed with ijson (two passes).

The first pass (`jsonscan.scan_json`) finds the records and their columns and applies the depth and memory guards;
the second builds the records of the file it accepted, in batches sized so that one batch stays within
`BATCH_BYTES` of estimated memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pyarrow as pa

from harvester.errors import RecordError
from harvester.normalise.jsonscan import READ_BUFFER, JsonLayout, JsonLimits, scan_json

__all__ = ["GEOMETRY", "JsonLayout", "JsonLimits", "iter_json_batches", "json_schema", "scan_json"]

BATCH_ROWS = 50_000
BATCH_BYTES = 256 * 1024**2  # estimated memory of the records of one batch
GEOMETRY = "geometry"


def _arrow_type(kinds: set[str]) -> pa.DataType:
    if kinds == {"bool"}:
        return pa.bool_()
    if kinds == {"int"}:
        return pa.int64()
    if kinds and kinds <= {"int", "float"}:
        return pa.float64()
    return pa.string()


def _cell(v: Any, typ: pa.DataType) -> Any:
    if v is None or not pa.types.is_string(typ):
        return v
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    return json.dumps(v, ensure_ascii=False)


def _items(path: Path, prefix: str, url: str) -> Iterator[Any]:
    import ijson

    try:
        with path.open("rb") as fh:
            yield from ijson.items(fh, prefix, buf_size=READ_BUFFER, use_float=True)
    except Exception as exc:
        raise RecordError(f"malformed or truncated JSON: {exc}", url=url) from exc


def _record(item: Any, geojson: bool) -> dict[str, Any]:
    """The columns of one record (`scan_json` already checked every record is an object)."""
    if geojson:
        props = item.get("properties") or {}
        return props if isinstance(props, dict) else {"properties": props}
    return cast(dict[str, Any], item)


def _names(layout: JsonLayout) -> list[tuple[str, str]]:
    """(output name, record key); a property called `geometry` in GeoJSON is renamed."""
    out = []
    for k in layout.kinds:
        name = f"properties_{k}" if layout.geojson and k == GEOMETRY else k
        out.append((name, k))
    return out


def json_schema(layout: JsonLayout) -> pa.Schema:
    fields = [pa.field(name, _arrow_type(layout.kinds[key])) for name, key in _names(layout)]
    if layout.geojson:
        fields.append(pa.field(GEOMETRY, pa.binary()))
    return pa.schema(fields)


def iter_json_batches(path: Path, layout: JsonLayout, *, url: str) -> Iterator[pa.RecordBatch]:
    """Second pass: record batches with the schema of `json_schema(layout)` (GeoJSON geometry as WKB)."""
    schema = json_schema(layout)
    names = _names(layout)
    batch_rows = max(1, min(BATCH_ROWS, BATCH_BYTES // max(layout.max_record_bytes, 1)))
    buf: list[dict[str, Any]] = []
    geoms: list[str | None] = []

    def flush() -> pa.RecordBatch:
        cols = []
        for name, key in names:
            typ = schema.field(name).type
            cols.append(pa.array([_cell(r.get(key), typ) for r in buf], typ))
        if layout.geojson:
            cols.append(_wkb(geoms))
        return pa.RecordBatch.from_arrays(cols, schema=schema)

    for item in _items(path, layout.prefix, url):
        buf.append(_record(item, layout.geojson))
        if layout.geojson:
            g = item.get("geometry")
            geoms.append(json.dumps(g) if isinstance(g, dict) else None)
        if len(buf) >= batch_rows:
            yield flush()
            buf, geoms = [], []
    if buf:
        yield flush()


def _wkb(geojson_texts: list[str | None]) -> pa.Array:
    import numpy as np
    import shapely

    values = np.array(geojson_texts, dtype=object)
    geoms = shapely.from_geojson(values, on_invalid="ignore")
    return pa.array(shapely.to_wkb(geoms), type=pa.binary())
