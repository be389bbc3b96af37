"""A loopback TCP proxy in front of the CKAN testbed that goes away after N write calls, like a CKAN that dies.

It forwards bytes both ways and reads only the request lines (`POST /api/3/action/<name>`) to count the write
calls. When the (N+1)th write arrives, it is not forwarded: every connection is closed and the listening socket
too, so the client sees a reset, then refused connections, exactly as when the server process is gone.
"""

from __future__ import annotations

import re
import socket
import threading
from urllib.parse import urlsplit

from harvester.publish.client import READ_ACTIONS

_ACTION = re.compile(rb"POST /api/(?:3/)?action/(\w+) HTTP/1\.[01]\r\n")


class DyingProxy:
    def __init__(self, upstream: str, writes_allowed: int) -> None:
        u = urlsplit(upstream)
        self.upstream = (u.hostname or "127.0.0.1", u.port or 80)
        self.writes_allowed = writes_allowed
        self.writes_seen: list[str] = []
        self.cut = threading.Event()
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.cut.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._socks += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        tail = b""
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            if from_client:
                window = tail + data
                for m in _ACTION.finditer(window):
                    if m.end() <= len(tail):
                        continue  # already counted in the previous chunk
                    name = m.group(1).decode()
                    if name not in READ_ACTIONS:
                        with self._lock:
                            self.writes_seen.append(name)
                            over = len(self.writes_seen) > self.writes_allowed
                        if over:
                            self.kill()
                            return
                tail = window[-200:]
            try:
                dst.sendall(data)
            except OSError:
                return

    def kill(self) -> None:
        """CKAN goes away: open connections are reset, new ones refused."""
        self.cut.set()
        self._listener.close()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()
            except OSError:
                pass

    def close(self) -> None:
        if not self.cut.is_set():
            self.kill()
