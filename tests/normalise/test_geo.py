"""GeoParquet from lat/lon pairs, "lat,lon" strings, WKT and GeoJSON text columns; read back by shapely and DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from harvester.normalise import geo
from harvester.normalise.geo import write_with_geometry
from harvester.normalise.sink import read_geo_metadata


def _convert(tmp_path: Path, table: pa.Table) -> tuple[Path, geo.GeoPlan | None]:
    src = tmp_path / "src.parquet"
    pq.write_table(table, src)
    dest = tmp_path / "out" / "table.parquet"
    rows, plan = write_with_geometry(src, dest)
    assert rows == table.num_rows
    return dest, plan


def _points(path: Path) -> list[tuple[float, float] | None]:
    wkb = pq.read_table(path).column("geometry").to_pylist()
    return [None if w is None else (shapely.from_wkb(w).x, shapely.from_wkb(w).y) for w in wkb]


def test_french_latitude_longitude_columns_with_decimal_comma(tmp_path: Path) -> None:
    table = pa.table(
        {
            "Nom": ["Mairie de Dinan", "Mairie de Lannion", "sans position"],
            "Latitude": ["48,454903", "48,7326", None],
            "Longitude": ["-2,057803", "-3,4597", None],
        }
    )
    dest, plan = _convert(tmp_path, table)
    assert plan is not None and plan.kind == "latlon" and plan.columns == ("Latitude", "Longitude")
    assert _points(dest) == [(-2.057803, 48.454903), (-3.4597, 48.7326), None]
    meta = read_geo_metadata(dest)
    assert meta == {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": ["Point"],
                "bbox": [-3.4597, 48.454903, -2.057803, 48.7326],
            }
        },
    }
    # the original columns are kept
    assert pq.read_table(dest).column_names == ["Nom", "Latitude", "Longitude", "geometry"]


def test_duckdb_reads_the_geoparquet(tmp_path: Path) -> None:
    table = pa.table({"id": [1, 2], "lat": [48.454903, 43.3], "lon": [-2.057803, 5.4]})
    dest, _ = _convert(tmp_path, table)
    con = duckdb.connect()
    typ, text = con.execute(
        f"SELECT typeof(geometry), geometry::VARCHAR FROM read_parquet('{dest}') ORDER BY id"
    ).fetchall()[0]
    assert typ.startswith("GEOMETRY")  # DuckDB recognised the GeoParquet metadata
    assert text == "POINT (-2.057803 48.454903)"
    kv = dict(con.execute(f"SELECT key::VARCHAR, value FROM parquet_kv_metadata('{dest}')").fetchall())
    assert json.loads(kv["geo"])["primary_column"] == "geometry"


def test_lambert93_x_y_are_not_taken_as_degrees(tmp_path: Path) -> None:
    table = pa.table({"x": [351_234.5, 652_000.0], "y": [6_789_000.0, 6_862_000.0]})
    dest, plan = _convert(tmp_path, table)
    assert plan is None
    assert read_geo_metadata(dest) is None
    assert pq.read_table(dest).column_names == ["x", "y"]


def test_x_y_in_degrees_are_points(tmp_path: Path) -> None:
    dest, plan = _convert(tmp_path, pa.table({"X": [2.35, 5.37], "Y": [48.85, 43.29]}))
    assert plan is not None and plan.kind == "latlon"
    assert _points(dest) == [(2.35, 48.85), (5.37, 43.29)]


def test_coordonnees_xy_is_longitude_first(tmp_path: Path) -> None:
    # the IRVE schema publishes "[longitude, latitude]" in coordonneesXY
    table = pa.table(
        {"id_station": ["FR*A", "FR*B"], "coordonneesXY": ["[5.608585, 43.190533]", "[-1.55,47.21]"]}
    )
    dest, plan = _convert(tmp_path, table)
    assert plan is not None and plan.kind == "pair" and plan.lon_first
    assert _points(dest) == [(5.608585, 43.190533), (-1.55, 47.21)]


def test_geo_point_2d_is_latitude_first(tmp_path: Path) -> None:
    # OpenDataSoft CSV exports: geo_point_2d = "lat, lon"
    dest, plan = _convert(tmp_path, pa.table({"geo_point_2d": ["48.1113, -1.6800", "47.2184, -1.5536"]}))
    assert plan is not None and not plan.lon_first
    assert _points(dest) == [(-1.68, 48.1113), (-1.5536, 47.2184)]


def test_wkt_column_polygons_with_bbox(tmp_path: Path) -> None:
    table = pa.table(
        {
            "commune": ["A", "B", "C"],
            "wkt": [
                "POLYGON ((2 48, 3 48, 3 49, 2 49, 2 48))",
                "MULTIPOLYGON (((4 43, 5 43, 5 44, 4 43)))",
                None,
            ],
        }
    )
    dest, plan = _convert(tmp_path, table)
    assert plan is not None and plan.kind == "wkt"
    col = read_geo_metadata(dest)["columns"]["geometry"]  # type: ignore[index]
    assert col["geometry_types"] == ["MultiPolygon", "Polygon"]
    assert col["bbox"] == [2.0, 43.0, 5.0, 49.0]
    assert "crs" not in col  # lon/lat degrees: OGC:CRS84
    wkb = pq.read_table(dest).column("geometry").to_pylist()
    assert shapely.from_wkb(wkb[0]).area == 1.0 and wkb[2] is None


def test_ewkt_in_lambert93_has_an_unknown_crs(tmp_path: Path) -> None:
    table = pa.table({"geom": ["SRID=2154;POINT (652000 6862000)", "SRID=2154;POINT (351234 6789000)"]})
    dest, plan = _convert(tmp_path, table)
    assert plan is not None and not plan.crs_known
    col = read_geo_metadata(dest)["columns"]["geometry"]  # type: ignore[index]
    assert col["crs"] is None and col["bbox"] == [351234.0, 6789000.0, 652000.0, 6862000.0]


def test_geojson_text_column(tmp_path: Path) -> None:
    shape = '{"type": "LineString", "coordinates": [[2.0, 48.0], [2.5, 48.5]]}'
    dest, plan = _convert(tmp_path, pa.table({"geo_shape": [shape, shape]}))
    assert plan is not None and plan.kind == "geojson"
    assert read_geo_metadata(dest)["columns"]["geometry"]["geometry_types"] == ["LineString"]  # type: ignore[index]


def test_mostly_out_of_range_coordinates_are_not_a_geometry(tmp_path: Path) -> None:
    # IGN-like files store coordinates in grads x 1000 under lat/lon-like names
    table = pa.table({"lat": [48763.0, 43.2, 49001.0], "lon": [5204.0, 5.4, 6111.0]})
    _, plan = _convert(tmp_path, table)
    assert plan is None


def test_streams_in_batches_and_accumulates_the_bbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(geo, "BATCH_ROWS", 10)
    n = 95
    table = pa.table({"lat": [40.0 + i / 10 for i in range(n)], "lon": [-5.0 + i / 10 for i in range(n)]})
    src = tmp_path / "src.parquet"
    pq.write_table(table, src, row_group_size=10)
    dest = tmp_path / "dest.parquet"
    rows, _ = write_with_geometry(src, dest)
    assert rows == n
    assert read_geo_metadata(dest)["columns"]["geometry"]["bbox"] == pytest.approx([-5.0, 40.0, 4.4, 49.4])  # type: ignore[index]
    assert pq.ParquetFile(dest).metadata.num_row_groups >= 1
    assert not list(dest.parent.glob(".*.part"))


def test_point_wkb_is_byte_identical_to_shapely() -> None:
    import numpy as np

    x = np.array([-2.057803, 0.0, 5.608585, np.nan])
    y = np.array([48.454903, 0.0, 43.190533, 1.0])
    ok = ~np.isnan(x)
    built = geo.points_wkb(x, y, ok).to_pylist()
    expected = [shapely.to_wkb(shapely.Point(a, b)) for a, b in zip(x[:3], y[:3], strict=True)]
    assert built == [*expected, None]
