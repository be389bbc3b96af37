"""A small local HTTP server for tests: routes answer from recorded fixtures, and every request is logged.

Connector tests use it so that the real HTTP code runs (paging, retries, timeouts, conditional requests).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)
    drip: tuple[int, float] | None = None  # (bytes, seconds): send the body that many bytes at a time, slowly
    content_type: str = "application/json"


Handler = Callable[[Request], Reply]


class FixtureServer:
    """`route(path, handler)` then point a connector at `url`. `requests` lists what was asked, in order."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = (
                True  # TCP_NODELAY: headers and body are separate writes (no 40 ms stalls)
            )

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(
                    self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body
                )
                outer.requests.append(req)
                handler = outer.routes.get(parts.path)
                reply = handler(req) if handler else Reply(404, b'{"error": "no such route"}')
                if reply.delay:
                    time.sleep(reply.delay)
                data = reply.body.encode() if isinstance(reply.body, str) else reply.body
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": reply.content_type, **reply.headers}
                    for k, v in headers.items():
                        self.send_header(k, v)
                    if "Content-Length" not in headers:
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD" and reply.status != 304:
                        if reply.drip is None:
                            self.wfile.write(data)
                        else:
                            size, pause = reply.drip
                            for i in range(0, len(data), size):
                                time.sleep(pause)
                                self.wfile.write(data[i : i + size])
                                self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_HEAD = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> FixtureServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def route(
        self, path: str, handler: Handler | Reply | bytes | str, content_type: str | None = None
    ) -> None:
        if isinstance(handler, Reply):
            fixed = handler
            self.routes[path] = lambda _r: fixed
        elif isinstance(handler, bytes | str):
            body = handler
            ct = content_type or "application/json"
            self.routes[path] = lambda _r: Reply(200, body, content_type=ct)
        else:
            self.routes[path] = handler

    def file(self, path: str, fixture: str, content_type: str | None = None) -> None:
        """Serve `tests/fixtures/<fixture>` at `path`."""
        data = (FIXTURES / fixture).read_bytes()
        self.route(path, data, content_type or _guess_type(fixture))

    def count(self, path: str | None = None) -> int:
        return sum(1 for r in self.requests if path is None or r.path == path)


def _guess_type(name: str) -> str:
    for ext, ct in (
        (".json", "application/json"),
        (".jsonld", "application/ld+json"),
        (".xml", "application/xml"),
        (".rdf", "application/rdf+xml"),
        (".ttl", "text/turtle"),
        (".csv", "text/csv"),
        (".html", "text/html"),
    ):
        if name.endswith(ext):
            return ct
    return "application/octet-stream"
