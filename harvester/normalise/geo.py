"""Geometry from table columns (lat/lon pairs, "lat,lon" strings, WKT or GeoJSON text) into GeoParquet WKB."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harvester.normalise.sink import GeoStats, ParquetSink

GEOMETRY = "geometry"
BATCH_ROWS = 65_536
_LAT = re.compile(r"^(y)?lat(itude)?(wgs84|dd|deg|gps)?$")
_LON = re.compile(r"^(x)?(lon|lng|long|longitude)(wgs84|dd|deg|gps)?$")
_PAIR_NAMES = re.compile(
    r"^(coordonnees?(xy|gps|wgs84)?|coordinates|coords?|geopoint(2d)?|latlo?ng?|lo?ng?lat|xy|gps|geoloc(alisation)?|position)$"
)
_LON_FIRST = re.compile(r"(xy|lonlat|lnglat|longlat)$")
_PAIR_VALUE = (
    r"^\s*[\[\(]?\s*(?P<a>[-+]?\d{1,3}(?:\.\d+)?)\s*[,; ]\s*(?P<b>[-+]?\d{1,3}(?:\.\d+)?)\s*[\]\)]?\s*$"
)
_WKT = r"(?i)^\s*(SRID=\d+;\s*)?(POINT|LINESTRING|POLYGON|MULTIPOINT|MULTILINESTRING|MULTIPOLYGON|GEOMETRYCOLLECTION)\s*(ZM|Z|M)?\s*(\(|EMPTY)"
_GEOJSON = r'^\s*\{.*"type"\s*:\s*"(Point|LineString|Polygon|MultiPoint|MultiLineString|MultiPolygon|GeometryCollection)"'
_SRID = re.compile(r"(?i)^\s*SRID=(\d+);")
MIN_SHARE = 0.9  # share of the non-empty values that must look right before a column is taken as geometry


@dataclass(frozen=True)
class GeoPlan:
    """How to build the geometry of a table: from which columns, and in which order."""

    kind: str  # "latlon" (two columns) | "pair" (one "a,b" column) | "wkt" | "geojson"
    columns: tuple[str, ...]  # latlon: (lat, lon); pair/wkt/geojson: (column,)
    lon_first: bool = False  # pair: the first number is the longitude
    crs_known: bool = True  # False when the values say nothing about the CRS (EWKT with another SRID)
    target: str = GEOMETRY

    def describe(self) -> str:
        return f"{self.kind}({', '.join(self.columns)})"


def _norm(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", text)


def _to_float(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Numbers as float64; strings with a decimal comma or point are parsed, anything else becomes null."""
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_decimal(arr.type):
        return pc.cast(arr, pa.float64())
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return pa.nulls(len(arr), pa.float64())
    text = pc.replace_substring(pc.utf8_trim_whitespace(arr), ",", ".")
    ok = pc.match_substring_regex(text, r"^[-+]?\d+(\.\d+)?$")
    return pc.cast(pc.if_else(ok, text, pa.scalar(None, text.type)), pa.float64())


def _in_range(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (np.abs(lat) <= 90) & (np.abs(lon) <= 180) & ~np.isnan(lat) & ~np.isnan(lon)


def _floats(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(_to_float(arr).to_numpy(zero_copy_only=False), dtype="float64")  # nulls become NaN


def _string_sample(pf: pq.ParquetFile, column: str, limit: int = 200) -> list[str]:
    out: list[str] = []
    for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=[column]):
        arr = batch.column(0)
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            return []
        out.extend(v for v in arr.drop_null().to_pylist() if v and v.strip())
        if len(out) >= limit:
            break
    return out[:limit]


def _share(values: list[str], pattern: str) -> float:
    if not values:
        return 0.0
    rx = re.compile(pattern, re.S)
    return sum(1 for v in values if rx.match(v)) / len(values)


def _latlon_columns(names: list[str]) -> tuple[str, str] | None:
    normed = {n: _norm(n) for n in names}
    lats = [n for n in names if _LAT.match(normed[n])]
    lons = [n for n in names if _LON.match(normed[n])]
    if lats and lons:
        return lats[0], lons[0]
    xs = [n for n in names if normed[n] == "x"]
    ys = [n for n in names if normed[n] == "y"]
    if xs and ys:  # only accepted when the values are degrees (checked by the caller)
        return ys[0], xs[0]
    return None


def _latlon_valid(pf: pq.ParquetFile, lat: str, lon: str) -> bool:
    valid = present = 0
    for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=[lat, lon]):
        la, lo = _floats(batch.column(0)), _floats(batch.column(1))
        either = ~np.isnan(la) | ~np.isnan(lo)
        present += int(either.sum())
        valid += int(_in_range(la, lo).sum())
    return valid > 0 and valid >= MIN_SHARE * present


def detect_geometry(pf: pq.ParquetFile) -> GeoPlan | None:
    """Find the columns a geometry can be built from; None when the table has none (or already has one)."""
    names = list(pf.schema_arrow.names)
    if GEOMETRY in names:
        return None
    string_cols = [
        f.name for f in pf.schema_arrow if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]
    for name in string_cols:
        sample = _string_sample(pf, name)
        if _share(sample, _WKT) >= MIN_SHARE:
            srids = {m.group(1) for v in sample if (m := _SRID.match(v))}
            return GeoPlan("wkt", (name,), crs_known=srids <= {"4326"})
        if _share(sample, _GEOJSON) >= MIN_SHARE:
            return GeoPlan("geojson", (name,))
    pair = _latlon_columns(names)
    if pair and _latlon_valid(pf, *pair):
        return GeoPlan("latlon", pair)
    for name in string_cols:
        if not _PAIR_NAMES.match(_norm(name)):
            continue
        sample = _string_sample(pf, name)
        if _share(sample, _PAIR_VALUE) < MIN_SHARE:
            continue
        lon_first = bool(_LON_FIRST.search(_norm(name)))
        if not lon_first:
            rx = re.compile(_PAIR_VALUE)
            firsts = [abs(float(m.group("a"))) for v in sample if (m := rx.match(v))]
            seconds = [abs(float(m.group("b"))) for v in sample if (m := rx.match(v))]
            lon_first = any(a > 90 for a in firsts) and all(b <= 90 for b in seconds)
        return GeoPlan("pair", (name,), lon_first=lon_first)
    return None


_POINT_WKB = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])  # packed: 21 bytes


def points_wkb(x: np.ndarray, y: np.ndarray, ok: np.ndarray) -> pa.Array:
    """2D points as little-endian ISO WKB (byte order 1, type 1, x, y), null where `ok` is False.

    Built with numpy rather than through GEOS objects: the layout is fixed by the WKB spec, and it is ~30x faster
    for the millions of rows of a lat/lon table. Read back by shapely and DuckDB in the tests.
    """
    n = int(ok.sum())
    rec = np.empty(n, dtype=_POINT_WKB)
    rec["order"], rec["type"], rec["x"], rec["y"] = 1, 1, x[ok], y[ok]
    offsets = np.zeros(len(ok) + 1, dtype=np.int32)
    np.cumsum(ok * _POINT_WKB.itemsize, out=offsets[1:])
    validity = pa.py_buffer(np.packbits(ok, bitorder="little"))
    return pa.Array.from_buffers(
        pa.binary(),
        len(ok),
        [validity, pa.py_buffer(offsets), pa.py_buffer(rec.tobytes())],
        null_count=len(ok) - n,
    )


def _lonlat(batch: pa.RecordBatch, plan: GeoPlan) -> tuple[np.ndarray, np.ndarray]:
    if plan.kind == "latlon":
        return _floats(batch.column(plan.columns[1])), _floats(batch.column(plan.columns[0]))
    parts = pc.extract_regex(pc.fill_null(batch.column(plan.columns[0]), ""), _PAIR_VALUE)
    a, b = _floats(pc.struct_field(parts, "a")), _floats(pc.struct_field(parts, "b"))
    return (a, b) if plan.lon_first else (b, a)


def geometry_wkb(batch: pa.RecordBatch, plan: GeoPlan, stats: GeoStats | None = None) -> pa.Array:
    """The WKB geometry of each row (null where the row has no usable geometry); updates `stats` if given."""
    import shapely

    if plan.kind in ("latlon", "pair"):
        lon, lat = _lonlat(batch, plan)
        ok = _in_range(lat, lon)
        if stats is not None:
            stats.add_points(lon[ok], lat[ok])
        return points_wkb(lon, lat, ok)
    if plan.kind == "wkt":
        text = pc.replace_substring_regex(batch.column(plan.columns[0]), r"(?i)^\s*SRID=\d+;\s*", "")
        geoms = shapely.from_wkt(text.to_numpy(zero_copy_only=False), on_invalid="ignore")
    else:
        values = batch.column(plan.columns[0]).to_numpy(zero_copy_only=False)
        geoms = shapely.from_geojson(values, on_invalid="ignore")
    wkb = pa.array(shapely.to_wkb(geoms), type=pa.binary())
    if stats is not None:
        stats.update(wkb)
    return wkb


def write_with_geometry(src: Path, dest: Path) -> tuple[int, GeoPlan | None]:
    """Copy the Parquet file `src` to `dest`, adding a WKB geometry column and `geo` metadata when the columns allow.

    Streams record batches (bounded memory). Without geometry columns the file is moved as is.
    """
    pf = pq.ParquetFile(src)
    plan = detect_geometry(pf)
    if plan is None:
        rows = pf.metadata.num_rows
        pf.close()
        dest.parent.mkdir(parents=True, exist_ok=True)
        src.replace(dest)
        return rows, None
    schema = pf.schema_arrow.append(pa.field(plan.target, pa.binary()))
    with ParquetSink(dest, schema, geometry_column=plan.target, crs_known=plan.crs_known) as sink:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS):
            wkb = geometry_wkb(batch, plan, sink.geo)
            sink.write(batch.append_column(pa.field(plan.target, pa.binary()), wkb), geo_done=True)
        rows = sink.close()
    pf.close()
    return rows, plan
