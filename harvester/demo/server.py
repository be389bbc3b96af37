"""A local HTTP server replaying recorded portal responses shipped with the package (no internet needed)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

Route = Callable[[dict[str, list[str]]], tuple[int, str, bytes]]


def replay_bytes(name: str) -> bytes:
    return resources.files("harvester.demo").joinpath("replay", name).read_bytes()


def static(name: str, content_type: str) -> Route:
    data = replay_bytes(name)
    return lambda _q: (200, content_type, data)


ETAG_TIME = "Tue, 01 Oct 2024 08:00:00 GMT"


def ckan_search(names: list[str]) -> Route:
    """package_search over recorded package dicts: offset paging with `start`/`rows`, sorted by id."""
    pkgs: list[dict[str, Any]] = []
    for name in names:
        doc = json.loads(replay_bytes(name))
        result = doc["result"]
        pkgs.extend(result["results"] if "results" in result else [result])
    pkgs.sort(key=lambda p: p["id"])

    def route(q: dict[str, list[str]]) -> tuple[int, str, bytes]:
        start = int(q.get("start", ["0"])[0])
        rows = int(q.get("rows", ["10"])[0])
        fields = q.get("fl", [""])[0]
        page = pkgs[start : start + rows]
        if fields:
            keep = fields.replace(",", " ").split()
            page = [{k: p.get(k) for k in keep} for p in page]
        body = {"success": True, "result": {"count": len(pkgs), "results": page}}
        return 200, "application/json", json.dumps(body).encode()

    return route


class ReplayServer:
    def __init__(self, routes: dict[str, Route], port: int = 0) -> None:
        table = routes

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(send_body=True)

            def do_HEAD(self) -> None:
                self._answer(send_body=False)

            def _answer(self, send_body: bool) -> None:
                parts = urlsplit(self.path)
                route = table.get(parts.path)
                status, ctype, body = (
                    route(parse_qs(parts.query)) if route else (404, "text/plain", b"not found")
                )
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                if status == 200 and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if status == 200:
                    self.send_header("ETag", etag)
                    self.send_header("Last-Modified", ETAG_TIME)
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

        # A fixed port keeps the replayed URLs, and so the catalogue, identical from one demo run to the next.
        try:
            self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        except OSError:
            self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ReplayServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
