"""A loopback TCP proxy in front of the CKAN testbed that holds one write call until released.

It forwards bytes both ways and reads the request lines (`POST /api/3/action/<name>`) to count write calls; the
(`after`+1)-th write is held before it is forwarded, and `reached` is set: the publisher is then, deterministically,
in the middle of its publication. `forward_held=False` drops the held request instead (CKAN never sees it).
"""

from __future__ import annotations

import re
import socket
import threading
from urllib.parse import urlsplit

from harvester.publish.client import READ_ACTIONS

_ACTION = re.compile(rb"POST /api/(?:3/)?action/(\w+) HTTP/1\.[01]\r\n")


class HoldingProxy:
    def __init__(self, upstream: str, after: int) -> None:
        u = urlsplit(upstream)
        self.upstream = (u.hostname or "127.0.0.1", u.port or 80)
        self.after = after
        self.writes_seen: list[str] = []
        self.reached = threading.Event()
        self.release = threading.Event()
        self.forward_held = True
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                break
            if not data:
                break
            if from_client:
                for m in _ACTION.finditer(data):
                    name = m.group(1).decode()
                    if name in READ_ACTIONS:
                        continue
                    with self._lock:
                        self.writes_seen.append(name)
                        hold = len(self.writes_seen) == self.after + 1
                    if hold:
                        self.reached.set()
                        self.release.wait(60)
                        if not self.forward_held:
                            data = b""
            try:
                if data:
                    dst.sendall(data)
            except OSError:
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._closed = True
        self.release.set()
        self._listener.close()
