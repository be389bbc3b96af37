"""What one DCAT page gave last time, kept next to the HTTP body cache so that an unchanged page is not parsed.

A page answered 304 (or served again byte for byte) maps to the same records: its memo holds the records, the
mapping errors, the dataset ids, the Hydra next link and totalItems read from it. The memo is keyed by the page
URL and names the SHA-256 of the body it was read from and a fingerprint of the mapping (its code, the source and
its identity rules): a memo whose body or mapping differs is ignored and the page is parsed again, so a stale
pairing of body and records cannot happen. Memos are written atomically (temporary file, then rename) under
`<http cache>/dcat-pages/`; a missing, unreadable or foreign memo only costs a parse.

A memo is JSON lines: a header (next link, total, ids, errors, and each record's id and dct:modified), then one
line per record, decoded only when the record is wanted (an incremental run skips the unmodified ones unread).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from harvester import store
from harvester.records import DatasetRecord, ResourceRef

log = logging.getLogger(__name__)

_MAPPING_CODE = ("fields.py", "parse.py", "rdf_index.py", "rdf_terms.py", "rdf_fast.py", "page_memo.py")
_DATES = frozenset({"issued", "modified"})
Issue = tuple[str | None, str, str | None]  # (remote id or None, message, URL or None), as given to on_error


class Entry:
    """One record of a page: its id and modification date at once, the record itself when asked for."""

    __slots__ = ("remote_id", "modified", "_record", "_line")

    def __init__(
        self, remote_id: str, modified: datetime | None, record: DatasetRecord | None, line: bytes = b""
    ) -> None:
        self.remote_id = remote_id
        self.modified = modified
        self._record = record
        self._line = line

    @classmethod
    def of(cls, record: DatasetRecord) -> Entry:
        return cls(record.remote_id, record.modified, record)

    def record(self) -> DatasetRecord:
        if self._record is None:
            self._record = _record(orjson.loads(self._line))
            self._line = b""
        return self._record


@dataclass
class PageMemo:
    """The outcome of reading one page."""

    next_url: str | None
    total: int | None
    ids: list[str | None]  # per dataset node: its IRI, None for a blank node
    entries: list[Entry] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)


@cache
def mapping_code() -> str:
    """A digest of the mapping's own source: a new harvester version never reuses an older version's records."""
    here = Path(__file__).parent
    h = hashlib.sha256()
    for name in _MAPPING_CODE:
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def body_digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def memo_path(cache_dir: Path, url: str, source_id: str | None = None) -> Path:
    """One memo per source and page URL (two sources reading one catalogue never write the same file)."""
    digest = hashlib.sha256(f"{source_id or ''} {url}".encode()).hexdigest()
    return cache_dir / "dcat-pages" / digest[:2] / f"{digest}.jsonl"


def load(
    cache_dir: Path | None, url: str, content: bytes, mapping: str, source_id: str | None = None
) -> PageMemo | None:
    """The memo of `url` when it was read from exactly `content` with the same `mapping`, else None."""
    if cache_dir is None:
        return None
    path = memo_path(cache_dir, url, source_id)
    try:
        lines = path.read_bytes().split(b"\n")
        doc = orjson.loads(lines[0])
        if doc.get("body") != body_digest(content) or doc.get("mapping") != mapping:
            return None
        keys = doc["keys"]
        if len(lines) != len(keys) + 1:
            raise ValueError(f"{len(keys)} records announced, {len(lines) - 1} found")
        return PageMemo(
            next_url=doc["next"],
            total=doc["total"],
            ids=doc["ids"],
            entries=[
                Entry(rid, _date(when), None, line) for (rid, when), line in zip(keys, lines[1:], strict=True)
            ],
            errors=[(e[0], e[1], e[2]) for e in doc["errors"]],
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:  # a damaged memo: parse again
        # (orjson.JSONDecodeError is a ValueError)
        log.debug("ignoring the page memo %s: %s", path, exc)
        return None


def save(
    cache_dir: Path | None,
    url: str,
    content: bytes,
    mapping: str,
    memo: PageMemo,
    source_id: str | None = None,
) -> None:
    """Write the memo of `url` read from `content` (atomically; a failure to write only costs a later parse)."""
    if cache_dir is None:
        return
    path = memo_path(cache_dir, url, source_id)
    records = [e.record() for e in memo.entries]
    header = {
        "url": url,
        "body": body_digest(content),
        "mapping": mapping,
        "next": memo.next_url,
        "total": memo.total,
        "ids": memo.ids,
        "errors": [list(e) for e in memo.errors],
        "keys": [[r.remote_id, r.modified.isoformat() if r.modified else None] for r in records],
    }
    # orjson writes a record dataclass itself: fields in order, datetimes in ISO 8601, tuples as lists
    lines = [orjson.dumps(header), *map(orjson.dumps, records)]  # newlines in strings: \n
    try:
        store.write_bytes(b"\n".join(lines), path)  # the HTTP cache may be on a remote data dir
    except (
        OSError,
        TypeError,
    ) as exc:  # TypeError: a value orjson can't write (the page is parsed next time)
        log.warning("cannot write the page memo %s: %s", path, exc)


def _date(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _record(doc: dict[str, Any]) -> DatasetRecord:
    for name in _DATES:
        doc[name] = _date(doc[name])
    doc["keywords"], doc["themes"] = tuple(doc["keywords"]), tuple(doc["themes"])
    doc["resources"] = tuple(ResourceRef(**{**r, "modified": _date(r["modified"])}) for r in doc["resources"])
    return DatasetRecord(**doc)
