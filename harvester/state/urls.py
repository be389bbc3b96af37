"""`--state`: which backend holds the state, from a path or a URL; checked before any request is sent.

- a plain path, or `sqlite:///relative/path` / `sqlite:////absolute/path`: the embedded SQLite file;
- `postgresql://user:password@host:port/dbname` (or `postgres://`): a PostgreSQL database (psycopg 3).

This module imports no database driver: the CLI validates `--state` without loading psycopg.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from harvester.state.protocols import StateBackend

POSTGRES_SCHEMES = ("postgresql", "postgres")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class StateUrlError(ValueError):
    """A `--state` value that names no backend harvester knows."""


def parse_state_url(value: str) -> tuple[Literal["sqlite", "postgresql"], str]:
    """(backend, target): the SQLite file path, or the PostgreSQL URL as given. StateUrlError when unusable."""
    value = value.strip()
    if not value:
        raise StateUrlError("empty: give a path to a SQLite file or a postgresql:// URL")
    match = _SCHEME.match(value)
    if match is None:
        return "sqlite", _sqlite_path(value, value)
    scheme = match.group(1).lower()
    if scheme == "sqlite":
        if not value.startswith("sqlite:///"):
            raise StateUrlError(
                f"{value!r}: write sqlite:///relative/path or sqlite:////absolute/path (three slashes, then the path)"
            )
        return "sqlite", _sqlite_path(value[len("sqlite:///") :], value)
    if scheme in POSTGRES_SCHEMES:
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 - raises ValueError on a port that is not a number
        except ValueError:
            raise StateUrlError(f"{redact(value)}: the port is not a number") from None
        return "postgresql", value
    raise StateUrlError(
        f"{redact(value)}: unknown scheme {scheme!r} (use a path, sqlite:///path or postgresql://host/dbname)"
    )


def _sqlite_path(path: str, given: str) -> str:
    if not path:
        raise StateUrlError(f"{given!r}: no file path")
    if Path(path).is_dir():
        raise StateUrlError(
            f"{given!r} is a directory: give the SQLite file, e.g. {Path(path) / 'state.sqlite'}"
        )
    return path


def redact(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def open_state(url_or_path: str | Path, *, readonly: bool = False) -> StateBackend:
    """The state store named by a path or URL (see the module doc), opened for this process."""
    backend, target = parse_state_url(str(url_or_path))
    if backend == "postgresql":
        from harvester.state.postgres import PostgresState

        return PostgresState(target, readonly=readonly)
    from harvester.state.sqlite import SqliteState

    return SqliteState(Path(target), readonly=readonly)
