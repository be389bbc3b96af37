"""HTTP validators written by a harvest unit are staged, not stored: the parent's `commit` stores them.

The HTTP client writes ETag / Last-Modified validators as it reads (conditional GETs, the files connector). While a
unit runs, `staging()` collects those writes for it (a context variable: units in parallel threads each have
their own) and reads see the unit's own writes first; the unit returns them in its outcome. Outside a unit the
store is used directly, so normalise and publish, which share the client, are unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from harvester.http import HttpClient, ValidatorStore

_staged: ContextVar[dict[str, dict[str, str]] | None] = ContextVar(
    "harvester_staged_validators", default=None
)
_wrap = threading.Lock()


class StagedValidators:
    """A ValidatorStore whose writes go to the running unit's stage, when there is one."""

    def __init__(self, store: ValidatorStore) -> None:
        self.store = store

    def read_validators(self, key: str) -> dict[str, str] | None:
        staged = _staged.get()
        if staged is not None and key in staged:
            return dict(staged[key])
        return self.store.read_validators(key)

    def write_validators(self, key: str, validators: dict[str, str]) -> None:
        staged = _staged.get()
        if staged is None:
            self.store.write_validators(key, validators)
        else:
            staged[key] = dict(validators)


@contextmanager
def staging(http: HttpClient) -> Iterator[dict[str, dict[str, str]]]:
    """While open, validator writes through `http` in this thread go to the yielded dict."""
    with _wrap:
        if http.validators is not None and not isinstance(http.validators, StagedValidators):
            http.validators = StagedValidators(http.validators)
    staged: dict[str, dict[str, str]] = {}
    token = _staged.set(staged)
    try:
        yield staged
    finally:
        _staged.reset(token)
