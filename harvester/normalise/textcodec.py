"""Turn the bytes of a text file into UTF-8 for Arrow, noting where bytes could not be decoded."""

from __future__ import annotations

import codecs
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SINGLE_BYTE = frozenset({"cp1252", "iso8859_15", "latin_1", "cp850", "mac_roman"})
MAX_NOTED = 20
CHUNK = 8 << 20
_local = threading.local()


def _note(exc: UnicodeDecodeError) -> None:
    tracker = getattr(_local, "tracker", None)
    if tracker is not None:
        tracker.note(exc.start, exc.end)


def _keep_byte(exc: UnicodeError) -> tuple[str, int]:
    """Bytes a single-byte code page leaves undefined (0x81 in Windows-1252) become the same code point."""
    assert isinstance(exc, UnicodeDecodeError)
    _note(exc)
    return "".join(chr(b) for b in exc.object[exc.start : exc.end]), exc.end


def _replace(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    _note(exc)
    return "\ufffd", exc.end


codecs.register_error("harvester-keep-byte", _keep_byte)
codecs.register_error("harvester-replace", _replace)


def error_mode(encoding: str) -> str:
    """Decoding errors mode for sniffing: lossless for single-byte pages and UTF-8 (so offsets stay exact)."""
    if encoding in SINGLE_BYTE:
        return "harvester-keep-byte"
    return "surrogateescape" if encoding == "utf-8" else "replace"


def encoded_length(text: str, encoding: str) -> int:
    """How many bytes ``text`` took in the file (text decoded with error_mode(encoding))."""
    if encoding in SINGLE_BYTE:
        return len(text)
    if encoding == "utf-8":
        return len(text.encode("utf-8", "surrogateescape"))
    return len(text.encode(encoding, "replace"))


@dataclass
class Transcoder:
    """A transform for ``pa.TransformInputStream``: file bytes from ``start`` → UTF-8, NUL characters dropped.

    Undecodable bytes become U+FFFD (or, for single-byte code pages, the same code point); their absolute byte
    offsets are kept (the first MAX_NOTED) for the warnings.
    """

    encoding: str
    start: int
    bad_offsets: list[int] = field(default_factory=list)
    bad_count: int = 0
    nul_count: int = 0

    def __post_init__(self) -> None:
        errors = "harvester-keep-byte" if self.encoding in SINGLE_BYTE else "harvester-replace"
        self._decoder = codecs.getincrementaldecoder(self.encoding)(errors=errors)
        self._offset = self.start
        self._pending = 0

    def note(self, start: int, end: int) -> None:
        self.bad_count += end - start
        if len(self.bad_offsets) < MAX_NOTED:
            self.bad_offsets.append(self._offset - self._pending + start)

    def __call__(self, buf: Any) -> bytes:
        data = bytes(buf)
        state = self._decoder.getstate()
        self._pending = len(state[0]) if isinstance(state, tuple) and isinstance(state[0], bytes) else 0
        _local.tracker = self
        try:
            text = self._decoder.decode(data, not data)
        finally:
            _local.tracker = None
        self._offset += len(data)
        if "\x00" in text:
            self.nul_count += text.count("\x00")
            text = text.replace("\x00", "")
        return text.encode("utf-8")


@dataclass
class Utf8Scan:
    """What a strict UTF-8 reading of a whole file found."""

    bad_offsets: list[int]
    bad_count: int
    valid_non_ascii: bool  # some multi-byte UTF-8 sequence decoded fine


def scan_utf8(path: Path, start: int) -> Utf8Scan:
    """Read the file as UTF-8 from ``start``: where are the bad bytes, and is there any good non-ASCII text?"""
    tracker = Transcoder("utf-8", start)
    valid = False
    other = re.compile("[^\x00-\x7f\ufffd]")
    with path.open("rb") as fh:
        fh.seek(start)
        while True:
            chunk = fh.read(CHUNK)
            text = tracker(chunk).decode("utf-8")
            valid = valid or bool(other.search(text))
            if not chunk:
                break
    return Utf8Scan(tracker.bad_offsets, tracker.bad_count, valid)


def lines_at(path: Path, offsets: list[int]) -> list[int]:
    """The 1-based line number of each byte offset."""
    wanted = sorted(set(offsets))
    found: dict[int, int] = {}
    line, pos = 1, 0
    with path.open("rb") as fh:
        while wanted:
            chunk = fh.read(CHUNK)
            if not chunk:
                break
            while wanted and wanted[0] < pos + len(chunk):
                off = wanted.pop(0)
                found[off] = line + chunk.count(b"\n", 0, off - pos)
            line += chunk.count(b"\n")
            pos += len(chunk)
    return [found.get(o, line) for o in offsets]


def window(path: Path, offset: int, size: int = 64 * 1024) -> bytes:
    """Bytes around an offset (to re-detect the encoding where UTF-8 failed)."""
    with path.open("rb") as fh:
        fh.seek(max(0, offset - size // 2))
        return fh.read(size)
