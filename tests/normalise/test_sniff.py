"""Which catalogue resources are tables, and what downloaded bytes really are."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from harvester.errors import RecordError
from harvester.normalise.sniff import resource_kind, sniff_kind

URL = "http://example.invalid/file"


@pytest.mark.parametrize(
    ("fmt", "url", "kind"),
    [
        ("CSV", "http://x/a", "csv"),
        ("XLS", "http://x/a", "spreadsheet"),
        ("GEOJSON", "http://x/a", "geojson"),
        (None, "http://x/data/communes.CSV?x=1", "csv"),
        ("", "http://x/d%C3%A9parts.xlsx", "spreadsheet"),
        (None, "http://x/api/explore/v2.1/catalog/datasets/irve/exports/csv", "csv"),
        (None, "http://x/records?format=geojson", "geojson"),
        ("PDF", "http://x/rapport.pdf", None),
        ("WMS", "http://x/wms?service=WMS", None),
        (None, None, None),
    ],
)
def test_resource_kind(fmt: str | None, url: str | None, kind: str | None) -> None:
    assert resource_kind(fmt, url) == kind


def _file(tmp_path: Path, data: bytes) -> Path:
    p = tmp_path / "download"
    p.write_bytes(data)
    return p


def test_html_error_page_served_as_csv(tmp_path: Path) -> None:
    page = b"\xef\xbb\xbf  <!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>"
    with pytest.raises(RecordError, match="HTML page instead of a table"):
        sniff_kind(_file(tmp_path, page), "csv", url=URL)


def test_binary_with_nul_bytes(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="NUL bytes"):
        sniff_kind(_file(tmp_path, b"\x00\x01\x02\x00" * 100), "csv", url=URL)


def test_utf16_text_is_not_taken_for_binary(tmp_path: Path) -> None:
    data = "\ufeffcode;nom\n01001;Ambérieu\n".encode("utf-16-le")
    assert sniff_kind(_file(tmp_path, b"\xff\xfe" + data[2:]), "csv", url=URL) == "csv"


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="empty"):
        sniff_kind(_file(tmp_path, b"  \n"), "csv", url=URL)


def test_content_wins_over_declared_format(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
    assert sniff_kind(_file(tmp_path, buf.getvalue()), "csv", url=URL) == "spreadsheet"
    assert (
        sniff_kind(_file(tmp_path, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600), "csv", url=URL)
        == "spreadsheet"
    )
    assert sniff_kind(_file(tmp_path, b"code;nom\n1;a\n"), "spreadsheet", url=URL) == "csv"
    fc = b'{"type": "FeatureCollection", "features": []}'
    assert sniff_kind(_file(tmp_path, fc), "json", url=URL) == "geojson"
    assert sniff_kind(_file(tmp_path, b'[{"a": 1}]'), "csv", url=URL) == "json"


def test_json_declared_but_text(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="expected JSON"):
        sniff_kind(_file(tmp_path, b"code;nom\n"), "json", url=URL)
