"""The state store: runs, cursors, HTTP validators, publish records, resource state, schedule and locks.

All state goes through here. `StateBackend` (protocols.py) is the type the stages use; two backends implement it:
`SqliteState` (sqlite.py, one file in the data directory, the default) and `PostgresState` (postgres.py, loaded
only when a `postgresql://` URL is given). `open_state(url_or_path)` opens the one `--state` names.

Commands that only read (`status`, `state show`) open it read-only: SQLite with `mode=ro` (no schema write, no
journal-mode change, so they work on a full disk). A writable open marks the runs left open by a dead process
`interrupted`.
"""

from harvester.state.common import lock_name, utcnow
from harvester.state.protocols import (
    Cursors,
    HttpValidators,
    Locks,
    PublishRecords,
    ResourceStates,
    Runs,
    ScheduleState,
    StateBackend,
)
from harvester.state.sqlite import SqliteState, StateStore
from harvester.state.urls import StateUrlError, open_state, parse_state_url, redact

__all__ = [
    "Cursors",
    "HttpValidators",
    "Locks",
    "PublishRecords",
    "ResourceStates",
    "Runs",
    "ScheduleState",
    "SqliteState",
    "StateBackend",
    "StateStore",
    "StateUrlError",
    "lock_name",
    "open_state",
    "parse_state_url",
    "redact",
    "utcnow",
]
