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
    def __init__(self, routes: dict[str, Route]) -> None:
        table = routes

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                route = table.get(parts.path)
                status, ctype, body = (
                    route(parse_qs(parts.query)) if route else (404, "text/plain", b"not found")
                )
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ReplayServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
