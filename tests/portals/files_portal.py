"""A commune web server for the `files` connector: real files with controllable HTTP behaviour.

Each served file can send or omit ETag and Last-Modified (Content-Length is always sent), refuse HEAD (405),
answer conditional GETs with 304, or be replaced (new bytes) between runs. Every request is logged by the fixture server.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from tests.fixture_server import FixtureServer, Reply, Request
from tests.portals.util import FIXTURES

COMMUNE = FIXTURES / "files" / "commune"


@dataclass
class Served:
    body: bytes
    content_type: str = "text/csv"
    last_modified: datetime | None = None
    etag: bool = True
    head: bool = True  # False: HEAD answers 405

    @property
    def etag_value(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'


class FileHost:
    def __init__(self, server: FixtureServer) -> None:
        self.server = server
        self.files: dict[str, Served] = {}

    def serve(self, path: str, served: Served) -> str:
        self.files[path] = served
        self.server.route(path, lambda req, p=path: self._answer(req, p))  # type: ignore[misc]
        return self.server.url + path

    def _answer(self, req: Request, path: str) -> Reply:
        f = self.files[path]
        headers: dict[str, str] = {}
        if f.etag:
            headers["ETag"] = f.etag_value
        if f.last_modified is not None:
            headers["Last-Modified"] = format_datetime(f.last_modified, usegmt=True)
        if req.method == "HEAD" and not f.head:
            return Reply(405, b"", headers={"Allow": "GET"}, content_type="text/html")
        if req.method == "GET":
            inm = req.headers.get("If-None-Match")
            ims = req.headers.get("If-Modified-Since")
            if (inm and f.etag and inm == f.etag_value) or (
                ims and not inm and f.last_modified and ims == headers.get("Last-Modified")
            ):
                return Reply(304, b"", headers=headers, content_type=f.content_type)
        return Reply(200, f.body, headers=headers, content_type=f.content_type)
