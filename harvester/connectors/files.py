"""Plain file feeds (member communes): file URLs declared in sources.yaml, one dataset per file.

Change detection follows data.gouv.fr's crawler: a HEAD request first; when the server answers it properly (a
success with an ETag, a Last-Modified or a Content-Length, and not an HTML page where a file is expected), its
headers describe the file. Otherwise (405, no headers, a soft-404 page) the file is fetched with a conditional GET
(If-None-Match / If-Modified-Since from the previous run, kept with the HTTP validators of the state store through
`HttpClient.validators`) and its size and SHA-256 are computed while it streams to a temporary file, which is
deleted at once. A 304 reuses what the previous run measured.

The record carries the ETag, Last-Modified, size and checksum in `extras` (`files:*`), so the catalogue's metadata
hash changes exactly when the file does; `modified` is the Last-Modified date when the server gives one.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harvester.connectors.base import BaseConnector, Params
from harvester.download import download
from harvester.errors import HarvesterError, RecordError, SourceError
from harvester.http import HttpPolicy, Response
from harvester.records import DatasetRecord, ResourceRef
from harvester.redact import stored_form

HTML_TYPES = ("text/html", "application/xhtml+xml")


class FileEntry(BaseModel):
    """One file of a feed: becomes one dataset with one resource."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(
        pattern=r"^https?://", description="Address of the file (CSV, XLSX, JSON, GeoJSON, ZIP…)."
    )
    title: str = Field(min_length=1, description="Title of the dataset.")
    publisher: str | None = Field(None, description="Who publishes the file (e.g. the commune).")
    license: str | None = Field(None, description="Licence id or name as published (e.g. `lov2`).")
    description: str | None = Field(None, description="Free-text description.")
    id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", description="Stable id (default: the file URL)."
    )
    format: str | None = Field(None, description="Declared format (default: the URL's extension).")
    keywords: list[str] = Field(default_factory=list, description="Keywords of the dataset.")


class FilesParams(Params):
    files: list[FileEntry] = Field(
        min_length=1,
        description="The files, each `{url, title, publisher, license, description}` (`id`, `format`, `keywords` "
        "optional).",
    )
    head: bool = Field(
        True, description="Ask HEAD first; when false, every file is fetched with a conditional GET."
    )

    @field_validator("files")
    @classmethod
    def _unique(cls, v: list[FileEntry]) -> list[FileEntry]:
        keys = [f.id or f.url for f in v]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"each file needs its own url (or id): duplicated {dupes}")
        return v


@dataclasses.dataclass
class FileState:
    etag: str | None = None
    last_modified: str | None = None
    size: int | None = None
    sha256: str | None = None
    content_type: str | None = None

    def extras(self) -> dict[str, str]:
        out = {
            "files:etag": self.etag,
            "files:last_modified": self.last_modified,
            "files:size": str(self.size) if self.size is not None else None,
            "files:sha256": self.sha256,
        }
        return {k: v for k, v in out.items() if v}

    def stored(self) -> dict[str, str]:
        """What is kept between runs with the HTTP validators (a 304 rebuilds the same state from it)."""
        keys = {"files:etag": "etag", "files:last_modified": "last_modified", "files:size": "size"}
        out = {keys.get(k, "sha256"): v for k, v in self.extras().items()}
        if self.content_type:
            out["content_type"] = self.content_type
        return out


class FilesConnector(BaseConnector):
    type = "files"
    Params = FilesParams
    description = (
        "Files published at fixed URLs (CSV, XLSX, JSON, GeoJSON, ZIP), declared in `params.files`: one dataset "
        "per file; changes seen through HEAD and conditional GET (ETag, Last-Modified), then size, then checksum."
    )
    incremental = False

    params: FilesParams

    def records(self, since: datetime | None = None) -> Iterator[DatasetRecord]:
        for entry in self.params.files:
            self.outcomes.listed += 1
            remote_id = entry.id or entry.url
            try:
                state = self.probe(entry)
            except HarvesterError as exc:
                # The file is unreachable or not what was declared: report it, keep its previous snapshot.
                self.mark_incomplete(f"file {remote_id} not read: {exc.message}", url=exc.url or entry.url)
                self.on_record_error(remote_id, exc.message, exc.url or entry.url, skipped="unreachable")
                continue
            record = self.map_file(entry, state)
            if since is not None and record.modified is not None and record.modified < since:
                self.outcomes.skip("not modified since the cursor")
                continue
            yield self.keep(record)

    # -- change detection -----------------------------------------------------------------------------------
    def _key(self, entry: FileEntry) -> str:
        return stored_form(f"files {self.source_id} {entry.url}")  # kept in the state store: no secret

    def _previous(self, entry: FileEntry) -> dict[str, str]:
        store = self.http.validators
        return (store.read_validators(self._key(entry)) or {}) if store is not None else {}

    def probe(self, entry: FileEntry) -> FileState:
        previous = self._previous(entry)
        if self.params.head:
            head = self._head(entry)
            if head is not None:
                state = _from_headers(head.headers)
                same = (state.etag or state.last_modified or state.size) and all(
                    previous.get(k) == v for k, v in state.stored().items()
                )
                if same and previous.get("sha256"):
                    state.sha256 = previous["sha256"]  # measured by an earlier GET of the same version
                return state
        return self._get(entry, previous)

    def _head(self, entry: FileEntry) -> Response | None:
        """The HEAD response when it is usable, else None (then a GET decides)."""
        pol = self.policy or self.http.policy
        try:
            # a HEAD has no body: the declared length is metadata here, the size limit applies to the GET
            resp = self.http.fetch(
                entry.url,
                method="HEAD",
                policy=dataclasses.replace(pol, max_bytes=1 << 62),
                source_id=self.source_id,
            )
        except SourceError:
            return None
        h = resp.headers
        if not (h.get("ETag") or h.get("Last-Modified") or h.get("Content-Length")):
            return None
        if _is_html(h.get("Content-Type")) and not _declares_html(entry):
            return None  # a soft 404 or a login page: the GET will tell
        return resp

    def _get(self, entry: FileEntry, previous: dict[str, str]) -> FileState:
        validators = {k: previous[k] for k in ("etag", "last_modified") if previous.get(k)}
        pol: HttpPolicy = self.policy or self.http.policy
        with tempfile.TemporaryDirectory(prefix="harvester-files-") as tmp:
            got = download(
                self.http,
                entry.url,
                Path(tmp) / "body",
                validators=validators if previous.get("sha256") else None,
                policy=pol,
                source_id=self.source_id,
            )
        if got.not_modified:
            return FileState(
                etag=previous.get("etag"),
                last_modified=previous.get("last_modified"),
                size=int(previous["size"]) if previous.get("size", "").isdigit() else None,
                sha256=previous.get("sha256"),
                content_type=previous.get("content_type"),
            )
        content_type = got.headers.get("Content-Type")
        if _is_html(content_type) and not _declares_html(entry):
            raise RecordError(
                f"expected a {_format(entry) or 'data'} file but the server sent an HTML page "
                "(a missing file, a login wall or the site's home page)",
                source_id=self.source_id,
                remote_id=entry.id or entry.url,
                url=got.url,
            )
        state = _from_headers(got.headers)
        state.size, state.sha256 = got.size, got.sha256
        if self.http.validators is not None:
            self.http.validators.write_validators(self._key(entry), state.stored())
        return state

    # -- mapping --------------------------------------------------------------------------------------------
    def map_file(self, entry: FileEntry, state: FileState) -> DatasetRecord:
        remote_id = entry.id or entry.url
        modified = _http_date(state.last_modified)
        resource = ResourceRef(
            url=entry.url,
            remote_id=remote_id,
            title=entry.title,
            description=entry.description,
            format=_format(entry),
            media_type=(state.content_type or "").split(";")[0].strip() or None,
            size_bytes=state.size,
            modified=modified,
        )
        return DatasetRecord(
            source_id=self.source_id,
            remote_id=remote_id,
            name=entry.id,
            title=entry.title,
            description=entry.description,
            landing_page=None,
            remote_url=entry.url,
            publisher=entry.publisher,
            keywords=tuple(entry.keywords),
            license_raw=entry.license,
            modified=modified,
            resources=(resource,),
            extras=state.extras(),
            raw=_raw(entry, state),
        )


def _from_headers(h: Any) -> FileState:
    length = h.get("Content-Length")
    return FileState(
        etag=h.get("ETag") or None,
        last_modified=h.get("Last-Modified") or None,
        size=int(length) if length and length.isdigit() else None,
        content_type=h.get("Content-Type") or None,
    )


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _is_html(content_type: str | None) -> bool:
    return bool(content_type) and content_type.split(";")[0].strip().lower() in HTML_TYPES  # type: ignore[union-attr]


def _format(entry: FileEntry) -> str | None:
    if entry.format:
        return entry.format
    suffix = PurePosixPath(unquote(urlsplit(entry.url).path)).suffix.lstrip(".").lower()
    return suffix if suffix.isalnum() and len(suffix) <= 8 else None


def _declares_html(entry: FileEntry) -> bool:
    return (_format(entry) or "").lower() in ("html", "htm")


def _raw(entry: FileEntry, state: FileState) -> dict[str, Any]:
    return {"entry": entry.model_dump(exclude_none=True), "http": dataclasses.asdict(state)}
