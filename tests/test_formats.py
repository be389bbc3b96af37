"""Format normalisation: every format case of the recorded corpus, plus declared / media type / URL spellings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harvester.formats import (
    format_from_media_type,
    format_from_url,
    load_formats,
    media_type_for,
    normalise_format,
)

FIXTURES = Path(__file__).parent / "fixtures" / "formats"
CORPUS_CASES = json.loads((FIXTURES / "corpus_formats.json").read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize(
    "case",
    CORPUS_CASES,
    ids=[f"{c['file'].split('/')[-1]}:{c['declared']}:{c['media_type']}"[:90] for c in CORPUS_CASES],
)
def test_every_corpus_format_case(case: dict[str, str | None]) -> None:
    assert normalise_format(case["declared"], case["media_type"], case["url"]) == case["expected"]


def test_corpus_cases_cover_every_kind() -> None:
    kinds = {c["file"].split("/")[0] for c in CORPUS_CASES}
    assert {"ckan", "ods", "udata", "dcat", "csw", "arcgis"} <= kinds
    assert len({c["expected"] for c in CORPUS_CASES}) > 30


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("csv", "CSV"),
        (".csv", "CSV"),
        ("CSV ", "CSV"),
        ("text/csv", "CSV"),
        ("text/csv; charset=utf-8", "CSV"),
        ("CSV file", "CSV"),
        ("Fichier CSV", "CSV"),
        ("Comma Separated Values", "CSV"),
        ("csv.gz", "CSV"),
        ("xls", "XLS"),
        ("XLS", "XLS"),
        ("Excel", "XLS"),
        ("xlsx", "XLSX"),
        ("ods", "ODS"),
        ("json", "JSON"),
        ("geojson", "GEOJSON"),
        ("application/geo+json", "GEOJSON"),
        ("application/vnd.geo+json", "GEOJSON"),
        ("zip", "ZIP"),
        ("shp", "SHP"),
        ("shapefile", "SHP"),
        ("ESRI Shapefile", "SHP"),
        ("esri shapefile (shp)", "SHP"),
        ("SHAPE-ZIP", "SHP"),
        ("pdf", "PDF"),
        ("html", "HTML"),
        ("Web Page", "HTML"),
        ("page web", "HTML"),
        ("wms", "WMS"),
        ("ogc:wms", "WMS"),
        ("OGC:WMS", "WMS"),
        ("OGC:WMS-1.1.1-http-get-map", "WMS"),
        ("OGC:WMS-1.3.0-http-get-capabilities", "WMS"),
        ("wfs", "WFS"),
        ("OGC:WFS", "WFS"),
        ("OGC:WFS-1.0.0-http-get-capabilities", "WFS"),
        ("OGC:WMTS", "WMTS"),
        ("ESRI REST", "ESRI REST"),
        ("ESRI:REST", "ESRI REST"),
        ("ArcGIS GeoServices REST API", "ESRI REST"),
        ("api", "API"),
        ("API REST", "API"),
        ("kml", "KML"),
        ("kmz", "KMZ"),
        ("gpkg", "GPKG"),
        ("GeoPackage", "GPKG"),
        ("parquet", "PARQUET"),
        ("xml", "XML"),
        ("rdf", "RDF"),
        ("RDF/XML", "RDF"),
        ("txt", "TXT"),
        ("tsv", "TSV"),
        ("7z", "7Z"),
        ("gtfs", "GTFS"),
        ("GTFS-RT", "GTFS-RT"),
        ("NeTEx", "NETEX"),
        ("MapInfo TAB", "TAB"),
        ("netcdf4", "NETCDF"),
        ("JSON-LD", "JSON-LD"),
        ("n-triples", "NT"),
        ("image/jpeg", "JPEG"),
        ("application/vnd.ogc.csw_xml", "CSW"),
        ("https://www.iana.org/assignments/media-types/text/csv", "CSV"),
        # unknown: a short token is kept upper-cased, anything else is None
        ("mp4", "MP4"),
        ("r package", "R PACKAGE"),
        ("WWW:DOWNLOAD-1.0-http--download", None),
        ("a long free text description of what this resource might be about", None),
        ("", None),
        (None, None),
    ],
)
def test_declared(declared: str | None, expected: str | None) -> None:
    assert normalise_format(declared) == expected


@pytest.mark.parametrize(
    ("media_type", "expected"),
    [
        ("text/csv", "CSV"),
        ("TEXT/CSV; charset=UTF-8", "CSV"),
        ("application/json", "JSON"),
        ("application/geo+json", "GEOJSON"),
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "XLSX"),
        ("application/vnd.ms-excel", "XLS"),
        ("application/xls", "XLS"),
        ("application/zip", "ZIP"),
        ("application/x-zip-compressed", "ZIP"),
        ("application/pdf", "PDF"),
        ("application/vnd.google-earth.kml+xml", "KML"),
        ("application/vnd.apache.parquet", "PARQUET"),
        ("https://www.iana.org/assignments/media-types/application/gpx+xml", "GPX"),
        ("application/octet-stream", None),
        ("text/plain", "TXT"),
        ("nonsense/thing", None),
        (None, None),
    ],
)
def test_media_type_only(media_type: str | None, expected: str | None) -> None:
    assert normalise_format(None, media_type) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/data/file.csv", "CSV"),
        ("https://example.org/data/FILE.CSV?download=1", "CSV"),
        ("https://example.org/data/file.csv.gz", "CSV"),
        ("https://example.org/data/file.xlsx#sheet", "XLSX"),
        ("https://example.org/a/b.geojson", "GEOJSON"),
        ("https://example.org/a/b.shp", "SHP"),
        ("https://example.org/a/archive.zip", "ZIP"),
        ("https://example.org/api/records?format=csv", "CSV"),
        (
            "https://example.org/geoserver/ows?service=WFS&request=GetFeature&outputFormat=application/json",
            "JSON",
        ),
        ("https://example.org/geoserver/ows?service=WFS&request=GetFeature&outputFormat=SHAPE-ZIP", "SHP"),
        ("https://example.org/geoserver/ows?SERVICE=WMS&REQUEST=GetCapabilities", "WMS"),
        ("https://example.org/geoserver/wms", "WMS"),
        (
            "https://services.arcgis.com/x/arcgis/rest/services/a/FeatureServer/0/query?where=1=1&f=geojson",
            "GEOJSON",
        ),
        ("https://services.arcgis.com/x/arcgis/rest/services/a/FeatureServer/0", "ESRI REST"),
        ("https://geo.example.fr/arcgis/services/public/X/MapServer/WMSServer", "WMS"),
        ("https://x.opendatasoft.com/api/explore/v2.1/catalog/datasets/d/exports/csv?use_labels=true", "CSV"),
        ("https://x.opendatasoft.com/api/explore/v2.1/catalog/datasets/d/exports/geojson", "GEOJSON"),
        ("https://x.opendatasoft.com/api/explore/v2.1/catalog/datasets/d/exports/parquet", "PARQUET"),
        ("https://x.opendatasoft.com/api/explore/v2.1/catalog/datasets/d/exports/shp", "SHP"),
        ("https://x.opendatasoft.com/explore/dataset/d/download/?format=shp&timezone=Europe/Berlin", "SHP"),
        ("https://hub.arcgis.com/api/download/v1/items/abc/shapefile?layers=0", "SHP"),
        ("https://hub.arcgis.com/api/download/v1/items/abc/filegdb?layers=0", "GDB"),
        ("https://example.org/dataset/page", None),
        ("https://example.org/", None),
        ("https://example.org/script.php?id=3", None),
        ("not a url at all", None),
        ("", None),
        (None, None),
    ],
)
def test_url_only(url: str | None, expected: str | None) -> None:
    assert normalise_format(None, None, url) == expected


@pytest.mark.parametrize(
    ("declared", "media_type", "url", "expected"),
    [
        # declared first
        (".xls", None, "https://example.org/download/file.csv", "XLS"),
        ("CSV", "application/json", None, "CSV"),
        # generic declared refined by the media type or the URL
        ("json", "application/vnd.geo+json", None, "GEOJSON"),
        (
            "json",
            "application/json",
            "https://x/api/explore/v2.1/catalog/datasets/d/exports/geojson",
            "GEOJSON",
        ),
        (
            "ZIP",
            "application/zip",
            "https://hub.arcgis.com/api/download/v1/items/a/shapefile?layers=0",
            "SHP",
        ),
        ("zip", None, "https://example.org/files/gtfs.zip", "ZIP"),
        # not a format: fall through to media type / URL
        ("WWW:DOWNLOAD-1.0-http--download", None, "https://example.org/x/data.zip", "ZIP"),
        ("WWW:LINK-1.0-http--link", None, "https://example.org/doc.pdf", "PDF"),
        ("WWW:LINK-1.0-http--link", None, "https://example.org/page", "HTML"),
        ("image", None, "https://example.org/photo.png", "PNG"),
        ("", "text/csv", "https://example.org/x.json", "CSV"),
        (None, "application/octet-stream", "https://example.org/x.parquet", "PARQUET"),
        (None, "text/plain", "https://example.org/x.csv", "CSV"),
        ("xcls", None, "https://example.org/x.csv", "CSV"),
        ("xcls", None, None, "XCLS"),
        ("csv excel", None, None, "CSV EXCEL"),  # two formats named: unknown, kept as a short token
    ],
)
def test_precedence(
    declared: str | None, media_type: str | None, url: str | None, expected: str | None
) -> None:
    assert normalise_format(declared, media_type, url) == expected


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("CSV", "text/csv"),
        ("csv", "text/csv"),
        ("GEOJSON", "application/geo+json"),
        ("XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("PARQUET", "application/vnd.apache.parquet"),
        ("SHP", "application/zip"),
        ("WMS", "application/vnd.ogc.wms_xml"),
        ("MP4", None),
        (None, None),
    ],
)
def test_media_type_for(fmt: str | None, expected: str | None) -> None:
    assert media_type_for(fmt) == expected


def test_round_trip_every_format_through_its_media_type() -> None:
    table = load_formats()
    for fmt, media in table.media_type.items():
        named = format_from_media_type(media)
        # a canonical media type either names the format back, or is shared by a container (zip, json, xml...)
        assert named == fmt or named in {"ZIP", "JSON", "XML", "TIFF", None}, (fmt, media, named)
        assert normalise_format(fmt) == fmt


def test_helpers_and_cache() -> None:
    assert load_formats() is load_formats()
    assert format_from_url("https://example.org/a.kml?x=1") == "KML"
    assert format_from_media_type("application/octet-stream") is None
