"""The exception hierarchy, grouped by what should happen next, and the exit code of each outcome."""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_ABORTED = 1
EXIT_CONFIG = 2
EXIT_PARTIAL = 3


def exit_code_for(statuses: list[str], aborted: tuple[str, ...] = ("failed", "locked")) -> int:
    """Exit code of a run from its units' statuses: 0 all ok, 1 every unit aborted, 3 some did not succeed."""
    if not statuses:
        return EXIT_OK
    if all(s in aborted for s in statuses):
        return EXIT_ABORTED
    if any(s != "ok" for s in statuses):
        return EXIT_PARTIAL
    return EXIT_OK


def combine_exit_codes(codes: list[int]) -> int:
    """Exit code of a command made of several stages (`run`): 0 all ok, 1 every stage aborted, else 3."""
    return exit_code_for(
        ["ok" if c == EXIT_OK else "failed" if c == EXIT_ABORTED else "partial" for c in codes]
    )


def exit_code_of(exc: BaseException) -> int:
    """Exit code of a command that ended with `exc`: the one mapping used by the CLI and written in reports."""
    code = getattr(exc, "exit_code", None)  # HarvesterError, harvester.interrupt.Terminated (130, 143)
    if isinstance(code, int):
        return code
    return EXIT_ABORTED  # KeyboardInterrupt, an unexpected bug


class HarvesterError(Exception):
    """Root of every error harvester raises on purpose.

    Carries the context a user needs to find the problem: which source, which dataset, which URL, which stage.
    The message, URL and hint are redacted (harvester/redact.py): no credential or API key reaches a message.
    """

    exit_code = EXIT_ABORTED

    def __init__(
        self,
        message: str,
        *,
        source_id: str | None = None,
        remote_id: str | None = None,
        url: str | None = None,
        stage: str | None = None,
        hint: str | None = None,
    ) -> None:
        from harvester.redact import redact  # every message and URL shown goes through redaction

        message = redact(message)
        super().__init__(message)
        self.message = message
        self.source_id = source_id
        self.remote_id = remote_id
        self.url = redact(url) if url is not None else None
        self.stage = stage
        self.hint = redact(hint) if hint is not None else None

    def attrs(self) -> dict[str, Any]:
        """Structured fields, for JSON logs and reports."""
        return {
            "type": type(self).__name__,
            "message": self.message,
            "source_id": self.source_id,
            "remote_id": self.remote_id,
            "url": self.url,
            "stage": self.stage,
            "hint": self.hint,
        }

    def __str__(self) -> str:
        where = []
        if self.source_id:
            where.append(f"source {self.source_id}")
        if self.remote_id:
            where.append(f"dataset {self.remote_id}")
        if self.url:
            where.append(self.url)
        text = self.message
        if where:
            text = f"{text} [{', '.join(where)}]"
        if self.hint:
            text = f"{text}\n  hint: {self.hint}"
        return text


class ConfigError(HarvesterError):
    """Bad YAML, unknown type or key, missing environment variable: abort before any network access."""

    exit_code = EXIT_CONFIG

    def __init__(self, message: str, errors: list[str] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.errors = errors or []

    def __str__(self) -> str:
        if not self.errors:
            return super().__str__()
        return self.message + "\n" + "\n".join(f"  - {e}" for e in self.errors)


class UsageError(HarvesterError):
    """The command line itself is wrong (missing argument, conflicting options)."""

    exit_code = EXIT_CONFIG


class TransientError(HarvesterError):
    """429, 5xx, timeout, connection reset: retried by the HTTP layer; after the last retry it is a SourceError."""

    status: int | None = None  # HTTP status, when the server answered
    retry_after: str | None = None  # the Retry-After header, as sent
    body: bytes = b""  # the head of the error body (e.g. an API quota message with its reset time)


class SourceError(HarvesterError):
    """A source can't be read (4xx, not the expected API, pagination loop): abort this source, others go on."""


class RecordError(HarvesterError):
    """One dataset or resource can't be mapped, downloaded or parsed: skip it, log it, continue."""


class PublishError(HarvesterError):
    """CKAN refused one dataset (validation, authorisation): skip that dataset, log it, continue."""

    def __init__(self, message: str, field_errors: dict[str, Any] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.field_errors = field_errors or {}


class TargetError(HarvesterError):
    """The publishing target as a whole is unusable (CKAN unreachable, bad token): abort the publish."""


class LockedError(HarvesterError):
    """Another harvester process holds the lock for this source or pipeline."""


class DiskFullError(HarvesterError):
    """No space left where harvester writes (ENOSPC, or SQLite's "database or disk is full"): abort the run."""


class NothingToPublishError(HarvesterError):
    """None of a pipeline's sources has a catalogue yet: nothing was sent to CKAN."""

    exit_code = EXIT_PARTIAL
