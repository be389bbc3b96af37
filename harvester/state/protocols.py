"""What the stages need from the state store, as small Protocols; `StateBackend` is all of them together.

Two backends implement them: `sqlite.SqliteState` (embedded, one file in the data directory, the default) and
`postgres.PostgresState` (a shared PostgreSQL database, for workers on several processes or hosts).
`open_state(url)` (harvester/state/urls.py) picks one from `--state`.

Values are plain Python: datetimes for cursors and schedule times, JSON-able dicts for runs and records, with the
same keys whichever backend stored them (the contract tests in tests/state/ check it).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol


class Runs(Protocol):
    """Runs of a stage (`kind`) on a subject (a source id or `pipeline:<name>`), with the process that owns them."""

    def start_run(self, run_id: str, subject: str, kind: str) -> None: ...

    def finish_run(self, run_id: str, subject: str, status: str, summary: dict[str, Any]) -> None: ...

    def recent_runs(self, subject: str, kinds: tuple[str, ...], limit: int = 50) -> list[dict[str, Any]]:
        """The last runs of `subject` of these kinds, newest first (`harvester status`)."""
        ...

    def close_own_runs(self, status: str, error: str) -> list[tuple[str, str]]:
        """Close the runs this process left open (it stops on a signal); (run_id, subject) of those it marked."""
        ...

    def last_run(self, subject: str, kind: str | None = None) -> dict[str, Any] | None:
        """{run_id, subject, kind, started_at, finished_at, status, summary, owner}; an open run whose owner is
        gone reads as `interrupted`, an open run whose owner lives as `running`."""
        ...

    def mark_interrupted(self) -> list[dict[str, Any]]:
        """Close the runs whose owner is gone with status `interrupted` (logged); returns them."""
        ...


class Cursors(Protocol):
    """The incremental-harvest cursor of each source."""

    def read_cursor(self, source_id: str) -> datetime | None: ...

    def write_cursor(self, source_id: str, cursor: datetime | None) -> None: ...

    def reset_cursor(self, source_id: str) -> None: ...


class HttpValidators(Protocol):
    """ETag / Last-Modified of HTTP responses (harvester.http.ValidatorStore)."""

    def read_validators(self, key: str) -> dict[str, str] | None: ...

    def write_validators(self, key: str, validators: dict[str, str]) -> None: ...


class PublishRecords(Protocol):
    """What was published to CKAN for each dataset key of a pipeline."""

    def read_publish_records(self, pipeline: str) -> dict[str, dict[str, Any]]:
        """{dataset_key: {ckan_id, ckan_name, metadata_hash, published_at, withdrawn}}"""
        ...

    def write_publish_record(
        self,
        pipeline: str,
        dataset_key: str,
        ckan_id: str,
        ckan_name: str,
        metadata_hash: str | None,
        withdrawn: bool = False,
    ) -> None: ...


class ResourceStates(Protocol):
    """Validators, content hash and column types of the last normalised download of each resource."""

    def read_resource_state(self, resource_key: str) -> dict[str, Any] | None: ...

    def write_resource_state(
        self,
        resource_key: str,
        *,
        url: str | None,
        etag: str | None,
        last_modified: str | None,
        sha256: str | None,
        columns: list[tuple[str, str]] | None,
    ) -> None: ...


class Locks(Protocol):
    """Exclusive leases per source or pipeline: owner (pid, host, process start), since, expiry renewed while held.

    A lease left by a dead owner is taken over by the next holder and logged (`event=lock_recovered`); a holder
    that is alive is never overtaken (LockedError)."""

    def lock(self, name: str) -> AbstractContextManager[None]: ...

    def read_lease(self, name: str) -> dict[str, Any] | None:
        """The recorded holder of `name` {pid, host, started, name, since, expires, ...}, None when released."""
        ...


class ScheduleState(Protocol):
    """When each scheduled job (`kind`, `name`) was last started by the scheduler (`run --due`)."""

    def last_scheduled(self, kind: str, name: str) -> datetime | None: ...

    def record_scheduled(self, kind: str, name: str, at: datetime) -> None: ...


class StateBackend(
    Runs, Cursors, HttpValidators, PublishRecords, ResourceStates, Locks, ScheduleState, Protocol
):
    """The state store the stages use, whichever backend holds it."""

    @property
    def url(self) -> str:
        """What `open_state` reopens this store from (in another process): a path or a `postgresql://` URL."""
        ...

    @property
    def readonly(self) -> bool: ...

    def close(self) -> None: ...
