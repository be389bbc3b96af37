"""JSON arrays of objects and GeoJSON FeatureCollections → Arrow record batches, streamed with ijson (two passes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from harvester.errors import RecordError

BATCH_ROWS = 50_000
GEOMETRY = "geometry"
_CRS84 = {
    "urn:ogc:def:crs:OGC:1.3:CRS84",
    "urn:ogc:def:crs:OGC::CRS84",
    "EPSG:4326",
    "urn:ogc:def:crs:EPSG::4326",
}


@dataclass
class JsonLayout:
    """Where the records are (an ijson prefix), whether they are GeoJSON features, and their columns."""

    prefix: str
    geojson: bool
    kinds: dict[str, set[str]] = field(default_factory=dict)  # column → kinds seen (bool,int,float,str,json)
    crs_known: bool = True
    rows: int = 0


def _kind(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int" if -(2**63) <= v < 2**63 else "str"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    return "json"


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


def _find_records(path: Path, url: str) -> tuple[str, bool, bool]:
    """(prefix, geojson, crs_known) of the record array: the top-level array, or the first array in the top object."""
    import ijson

    crs_known = True
    geojson = False
    try:
        with path.open("rb") as fh:
            for prefix, event, value in ijson.parse(fh):
                if prefix == "" and event == "start_array":
                    return "item", False, True
                if prefix == "type" and event == "string" and value in ("FeatureCollection", "Feature"):
                    geojson = True
                    if value == "Feature":
                        raise RecordError("a single GeoJSON Feature is not a table", url=url)
                if prefix == "crs.properties.name" and event == "string":
                    crs_known = value in _CRS84
                if event == "start_array" and prefix and "." not in prefix:
                    return f"{prefix}.item", geojson or prefix == "features", crs_known
                if prefix == "" and event == "end_map":
                    break
    except RecordError:
        raise
    except Exception as exc:  # ijson.JSONError / IncompleteJSONError
        raise RecordError(f"malformed or truncated JSON: {exc}", url=url) from exc
    raise RecordError("JSON holds no array of records", url=url)


def _items(path: Path, prefix: str, url: str) -> Iterator[Any]:
    import ijson

    try:
        with path.open("rb") as fh:
            yield from ijson.items(fh, prefix, use_float=True)
    except Exception as exc:
        raise RecordError(f"malformed or truncated JSON: {exc}", url=url) from exc


def _record(item: Any, geojson: bool, url: str, index: int) -> dict[str, Any]:
    if geojson:
        if not isinstance(item, dict):
            raise RecordError(f"GeoJSON feature {index} is not an object", url=url)
        props = item.get("properties") or {}
        return props if isinstance(props, dict) else {"properties": props}
    if not isinstance(item, dict):
        raise RecordError(f"JSON record {index} is not an object (an array of objects is expected)", url=url)
    return item


def scan_json(path: Path, *, url: str) -> JsonLayout:
    """First pass: find the records and every column with the kinds of values it holds."""
    prefix, geojson, crs_known = _find_records(path, url)
    layout = JsonLayout(prefix, geojson, crs_known=crs_known)
    for i, item in enumerate(_items(path, prefix, url)):
        rec = _record(item, geojson, url, i)
        for k, v in rec.items():
            kinds = layout.kinds.setdefault(str(k), set())
            kind = _kind(v)
            if kind:
                kinds.add(kind)
        layout.rows += 1
    if layout.rows == 0:
        raise RecordError("JSON array of records is empty", url=url)
    return layout


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

    for i, item in enumerate(_items(path, layout.prefix, url)):
        buf.append(_record(item, layout.geojson, url, i))
        if layout.geojson:
            g = item.get("geometry")
            geoms.append(json.dumps(g) if isinstance(g, dict) else None)
        if len(buf) >= BATCH_ROWS:
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
