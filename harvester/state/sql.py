"""The statements the two SQL backends share, written once (`?` placeholders, turned into the backend's own).

Cursors, HTTP validators, closing a run, the last run, publish records, resource state and schedule slots are
the same SQL on SQLite and PostgreSQL (both know `INSERT … ON CONFLICT … DO UPDATE`); what differs (opening,
migrations, starting runs, interrupted runs, leases) stays in `sqlite.py` and `postgres.py`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar

from harvester.state.common import (
    PUBLISH_COLUMNS,
    RESOURCE_COLUMNS,
    aware,
    columns_json,
    publish_records,
    resource_state,
    utcnow,
)


class SqlRecords:
    """Mixed into a backend that gives `_exec(sql, args)` and `_select_runs(where, args, tail)`."""

    PARAM: ClassVar[str] = "?"  # the backend's placeholder

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _select_runs(self, where: str, args: tuple[Any, ...], tail: str = "") -> list[dict[str, Any]]:
        raise NotImplementedError

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._exec(sql if self.PARAM == "?" else sql.replace("?", self.PARAM), args)

    # --- cursors -------------------------------------------------------------------------------------------
    def read_cursor(self, source_id: str) -> datetime | None:
        rows = self._run("SELECT cursor FROM cursors WHERE source_id=?", (source_id,))
        if not rows or rows[0][0] is None:
            return None
        return datetime.fromisoformat(rows[0][0])

    def write_cursor(self, source_id: str, cursor: datetime | None) -> None:
        self._run(
            "INSERT INTO cursors(source_id, cursor, updated_at) VALUES (?,?,?) "
            "ON CONFLICT(source_id) DO UPDATE SET cursor=excluded.cursor, updated_at=excluded.updated_at",
            (source_id, cursor.isoformat() if cursor else None, utcnow().isoformat()),
        )

    def reset_cursor(self, source_id: str) -> None:
        self._run("DELETE FROM cursors WHERE source_id=?", (source_id,))

    # --- HTTP validators (harvester.http.ValidatorStore) -----------------------------------------------------
    def read_validators(self, key: str) -> dict[str, str] | None:
        rows = self._run("SELECT validators FROM http_validators WHERE key=?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def write_validators(self, key: str, validators: dict[str, str]) -> None:
        self._run(
            "INSERT INTO http_validators(key, validators, updated_at) VALUES (?,?,?) "
            "ON CONFLICT(key) DO UPDATE SET validators=excluded.validators, updated_at=excluded.updated_at",
            (key, json.dumps(validators), utcnow().isoformat()),
        )

    # --- runs ------------------------------------------------------------------------------------------------
    def finish_run(self, run_id: str, subject: str, status: str, summary: dict[str, Any]) -> None:
        self._run(
            "UPDATE runs SET finished_at=?, status=?, summary=? WHERE run_id=? AND subject=? AND finished_at IS NULL",
            (utcnow().isoformat(), status, json.dumps(summary, default=str), run_id, subject),
        )

    def last_run(self, subject: str, kind: str | None = None) -> dict[str, Any] | None:
        where, args = f"subject={self.PARAM}", [subject]
        if kind:
            where, args = where + f" AND kind={self.PARAM}", [subject, kind]
        rows = self._select_runs(where, tuple(args), "ORDER BY started_at DESC LIMIT 1")
        return rows[0] if rows else None

    # --- publish records -------------------------------------------------------------------------------------
    def read_publish_records(self, pipeline: str) -> dict[str, dict[str, Any]]:
        rows = self._run(f"SELECT {PUBLISH_COLUMNS} FROM publish_records WHERE pipeline=?", (pipeline,))
        return publish_records(rows)

    def write_publish_record(
        self,
        pipeline: str,
        dataset_key: str,
        ckan_id: str,
        ckan_name: str,
        metadata_hash: str | None,
        withdrawn: bool = False,
    ) -> None:
        self._run(
            "INSERT INTO publish_records(pipeline, dataset_key, ckan_id, ckan_name, metadata_hash, published_at, "
            "withdrawn) VALUES (?,?,?,?,?,?,?) ON CONFLICT(pipeline, dataset_key) DO UPDATE SET "
            "ckan_id=excluded.ckan_id, ckan_name=excluded.ckan_name, metadata_hash=excluded.metadata_hash, "
            "published_at=excluded.published_at, withdrawn=excluded.withdrawn",
            (
                pipeline,
                dataset_key,
                ckan_id,
                ckan_name,
                metadata_hash,
                utcnow().isoformat(),
                self._flag(withdrawn),
            ),
        )

    def _flag(self, value: bool) -> Any:
        """A boolean column's value (SQLite keeps 0/1)."""
        return value

    # --- normalised resources (validators, content hash and column types, for skips and schema drift) -----------
    def read_resource_state(self, resource_key: str) -> dict[str, Any] | None:
        """{url, etag, last_modified, sha256, columns: [[name, type], ...]} of the last normalised download."""
        rows = self._run(
            f"SELECT {RESOURCE_COLUMNS} FROM resource_state WHERE resource_key=?", (resource_key,)
        )
        return resource_state(rows[0]) if rows else None

    def write_resource_state(
        self,
        resource_key: str,
        *,
        url: str | None,
        etag: str | None,
        last_modified: str | None,
        sha256: str | None,
        columns: list[tuple[str, str]] | None,
    ) -> None:
        self._run(
            "INSERT INTO resource_state(resource_key, url, etag, last_modified, sha256, columns, updated_at) "
            "VALUES (?,?,?,?,?,?,?) ON CONFLICT(resource_key) DO UPDATE SET url=excluded.url, etag=excluded.etag, "
            "last_modified=excluded.last_modified, sha256=excluded.sha256, columns=excluded.columns, "
            "updated_at=excluded.updated_at",
            (resource_key, url, etag, last_modified, sha256, columns_json(columns), utcnow().isoformat()),
        )

    # --- schedule (`run --due`) ----------------------------------------------------------------------------------
    def last_scheduled(self, kind: str, name: str) -> datetime | None:
        rows = self._run("SELECT scheduled_at FROM schedule WHERE kind=? AND name=?", (kind, name))
        return datetime.fromisoformat(rows[0][0]) if rows else None

    def record_scheduled(self, kind: str, name: str, at: datetime) -> None:
        self._run(
            "INSERT INTO schedule(kind, name, scheduled_at) VALUES (?,?,?) "
            "ON CONFLICT(kind, name) DO UPDATE SET scheduled_at=excluded.scheduled_at",
            (kind, name, aware(at).isoformat()),
        )
