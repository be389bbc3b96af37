"""Streaming Parquet output (zstd) written to a temporary name and renamed into place, with GeoParquet metadata."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from harvester import store
from harvester.normalise.pqwriter import close_writer

GEOPARQUET_VERSION = "1.1.0"
_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LineString",  # LinearRing
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


class GeoStats:
    """Geometry types and bounding box of a WKB column, accumulated batch after batch."""

    def __init__(self) -> None:
        self.types: set[str] = set()
        self.bbox: list[float] | None = None

    def update(self, wkb: pa.Array | pa.ChunkedArray) -> None:
        import numpy as np
        import shapely

        values = wkb.to_numpy(zero_copy_only=False)
        geoms = shapely.from_wkb(values)
        present = geoms[~shapely.is_missing(geoms)]
        if present.size == 0:
            return
        ids = shapely.get_type_id(present)
        has_z = shapely.has_z(present)
        for tid, z in set(zip(ids.tolist(), has_z.tolist(), strict=True)):
            self.types.add(_TYPE_NAMES.get(int(tid), "GeometryCollection") + (" Z" if z else ""))
        nonempty = present[~shapely.is_empty(present)]
        if nonempty.size == 0:
            return
        b = shapely.total_bounds(nonempty)
        if not np.all(np.isfinite(b)):
            return
        box = [float(v) for v in b]
        if self.bbox is None:
            self.bbox = box
        else:
            self.bbox = [
                min(self.bbox[0], box[0]),
                min(self.bbox[1], box[1]),
                max(self.bbox[2], box[2]),
                max(self.bbox[3], box[3]),
            ]

    def add_points(self, x: Any, y: Any) -> None:
        """Points known without parsing WKB (numpy arrays of valid coordinates)."""
        if len(x) == 0:
            return
        self.types.add("Point")
        box = [float(x.min()), float(y.min()), float(x.max()), float(y.max())]
        self.bbox = (
            box
            if self.bbox is None
            else [
                min(self.bbox[0], box[0]),
                min(self.bbox[1], box[1]),
                max(self.bbox[2], box[2]),
                max(self.bbox[3], box[3]),
            ]
        )

    def lonlat(self) -> bool:
        """True when every coordinate fits longitude/latitude degrees (then the CRS is taken as OGC:CRS84)."""
        if self.bbox is None:
            return True
        x0, y0, x1, y1 = self.bbox
        return -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90


def geo_metadata(column: str, stats: GeoStats, *, crs_known: bool = True) -> dict[str, Any]:
    """The `geo` file metadata of GeoParquet 1.1: WKB encoding, types, bbox; CRS omitted (= OGC:CRS84) or null."""
    col: dict[str, Any] = {"encoding": "WKB", "geometry_types": sorted(stats.types)}
    if stats.bbox is not None:
        col["bbox"] = stats.bbox
    if not (crs_known and stats.lonlat()):
        col["crs"] = None  # coordinates are not lon/lat degrees and the source did not say which CRS
    return {"version": GEOPARQUET_VERSION, "primary_column": column, "columns": {column: col}}


class ParquetSink:
    """Write record batches to `dest` atomically: a `.part` file beside it, renamed on success, removed on error.

    With `geometry_column`, the column is WKB and the `geo` metadata is added when the file is closed.
    """

    def __init__(
        self, dest: Path, schema: pa.Schema, *, geometry_column: str | None = None, crs_known: bool = True
    ) -> None:
        self.dest = dest
        self.schema = schema
        self.geometry_column = geometry_column
        self.crs_known = crs_known
        self.rows = 0
        self.geo = GeoStats() if geometry_column else None
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = store.tmp_or(dest.with_name(f".{dest.name}.{os.getpid()}.part"), dest)  # local scratch
        self._writer = pq.ParquetWriter(self.tmp, schema, compression="zstd")
        self._closed = False

    def write(self, batch: pa.RecordBatch | pa.Table, *, geo_done: bool = False) -> None:
        """Append rows; `geo_done` when the caller already added this batch's geometries to `self.geo`."""
        if batch.num_rows == 0:
            return
        if batch.schema != self.schema:
            batch = (
                batch.cast(self.schema)
                if isinstance(batch, pa.Table)
                else pa.Table.from_batches([batch]).cast(self.schema)
            )
        if self.geo is not None and self.geometry_column is not None and not geo_done:
            self.geo.update(batch.column(self.geometry_column))
        if isinstance(batch, pa.Table):
            self._writer.write_table(batch)
        else:
            self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def metadata(self) -> dict[str, Any] | None:
        if self.geo is None or self.geometry_column is None:
            return None
        return geo_metadata(self.geometry_column, self.geo, crs_known=self.crs_known)

    def close(self) -> int:
        """Finish the file and rename it into place; returns the number of rows."""
        meta = self.metadata()
        if meta is not None:
            self._writer.add_key_value_metadata({"geo": json.dumps(meta)})
        self._closed = True
        close_writer(self._writer)
        store.commit(self.tmp, self.dest)
        return self.rows

    def abort(self) -> None:
        try:
            if not self._closed:
                self._closed = True
                close_writer(self._writer)
        except OSError:
            pass  # the file is thrown away: a footer that cannot be written (full disk) does not matter
        finally:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.abort()


def read_geo_metadata(path: Path) -> dict[str, Any] | None:
    """The `geo` metadata of a Parquet file, or None."""
    kv = store.footer(path).metadata or {}
    raw = kv.get(b"geo")
    return json.loads(raw) if raw else None
