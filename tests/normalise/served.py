"""Test helpers: files served with ETag/Last-Modified (and 304s) and a CKAN catalogue whose resources point at them."""

from __future__ import annotations

import copy
import hashlib
import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from tests.fixture_server import FixtureServer, Reply, Request
from tests.portals.ckan_portal import CkanPortal, real_packages

FIXTURES = Path(__file__).parent.parent / "fixtures"
CSV_FR = FIXTURES / "csv_fr"


@dataclass
class Served:
    body: bytes
    content_type: str
    etag: bool = True
    last_modified: str | None = "Wed, 21 Oct 2015 07:28:00 GMT"

    @property
    def tag(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'


class Files:
    """`put(path, body)` serves a file that answers conditional requests like a static web server."""

    def __init__(self, server: FixtureServer) -> None:
        self.server = server
        self.files: dict[str, Served] = {}

    def url(self, path: str) -> str:
        return self.server.url + path

    def put(self, path: str, body: bytes, content_type: str = "text/csv", **kw: Any) -> str:
        self.files[path] = Served(body, content_type, **kw)
        self.server.route(path, self._handler(path))
        return self.url(path)

    def _handler(self, path: str) -> Any:
        def handle(req: Request) -> Reply:
            f = self.files[path]
            headers: dict[str, str] = {}
            if f.etag:
                headers["ETag"] = f.tag
            if f.last_modified:
                headers["Last-Modified"] = f.last_modified
            inm, ims = req.headers.get("If-None-Match"), req.headers.get("If-Modified-Since")
            if (f.etag and inm == f.tag) or (not f.etag and f.last_modified and ims == f.last_modified):
                return Reply(304, b"", headers=headers, content_type=f.content_type)
            return Reply(200, f.body, headers=headers, content_type=f.content_type)

        return handle

    def requests_for(self, path: str) -> list[Request]:
        return [r for r in self.server.requests if r.path == path]


def ckan_with_resources(server: FixtureServer, resources: list[dict[str, Any]]) -> CkanPortal:
    """The real recorded CKAN packages, their resources replaced by `resources` (spread over the packages).

    Each resource dict has at least `name`, `format` and `url`; ids are stable so that resource keys are too.
    """
    pkgs = [copy.deepcopy(p) for p in real_packages()]
    for p in pkgs:
        p["resources"] = []
    for i, r in enumerate(resources):
        pkg = pkgs[i % len(pkgs)]
        pkg["resources"].append({"id": f"res-{r['name']}", "package_id": pkg["id"], "description": "", **r})
    return CkanPortal(server, pkgs)


def xlsx_bytes(rows: list[list[Any]], extra_sheet: bool = False) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Données"
    for r in rows:
        ws.append(r)
    if extra_sheet:
        wb.create_sheet("Notes").append(["source: test"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def ods_bytes(rows: list[list[Any]]) -> bytes:
    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame(rows[1:], columns=rows[0]).to_excel(buf, engine="odf", index=False)
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def zip_bomb_bytes(mib: int = 64) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("donnees.csv", "w") as fh:
            chunk = b"0" * (1 << 20)
            for _ in range(mib):
                fh.write(chunk)
    return buf.getvalue()


SPREADSHEET_ROWS: list[list[Any]] = [
    ["Commune", "Code INSEE", "Population", "Surface (km²)", "Date de mise à jour", "Budget"],
    ["Ajaccio", "2A004", 71361, 82.03, date(2023, 1, 1), "1 234,50"],
    ["Bastia", "2B033", 48503, 19.38, date(2023, 6, 30), "987,00"],
    ["Ambérieu-en-Bugey", "01004", 14514, 24.6, datetime(2023, 12, 31, 0, 0), "12,25"],
]
