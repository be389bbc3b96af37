"""What every command receives: paths, flags, and lazily loaded config, state and HTTP client."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from harvester.layout import http_cache_dir, state_file
from harvester.redact import RedactFilter, redact, redact_obj

if TYPE_CHECKING:  # imported on use: `harvester --help` loads no more than click
    from harvester.config import Config
    from harvester.http import HttpClient
    from harvester.http_deadline import Deadline
    from harvester.state import StateBackend


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("source_id", "remote_id", "url", "run_id", "stage", "event"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(redact_obj(out), ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`LEVEL logger: message`, redacted (the filter already redacted the message; tracebacks too)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(verbose: int, log_json: bool) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    if log_json:
        level = min(level, logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_json else TextFormatter("%(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RedactFilter())  # no secret in a log line, whatever the caller passed
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


@dataclass
class Ctx:
    config_path: str
    data_dir: str
    debug: bool = False
    log_json: bool = False
    executor: str = "local"  # local (threads) | processes: how work units run (see harvester/runner.py)
    state_url: str | None = None  # --state: a path or URL (harvester/state/urls.py); None: data/state.sqlite
    _config: Config | None = field(default=None, repr=False)
    _state: StateBackend | None = field(default=None, repr=False)
    deadline: Deadline | None = None  # `--deadline` of harvest / normalise / run
    _http: HttpClient | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            from harvester.config import load_config

            self._config = load_config(Path(self.config_path))
        return self._config

    @property
    def data(self) -> Path:
        """The data directory: a local Path, or a remote fsspec path (harvester/store.py)."""
        from harvester.store import data_path

        return data_path(self.data_dir)

    @property
    def state_target(self) -> str:
        """Where the state is: `--state`, or state.sqlite in the data dir."""
        return self.state_url or str(state_file(self.data))

    @property
    def state(self) -> StateBackend:
        """The state store, writable: opening it closes the runs of dead processes and removes their leftovers."""
        if self._state is None or self._state.readonly:
            if self._state is not None:
                self._state.close()
            from harvester.leftovers import reclaim
            from harvester.state import open_state

            reclaim(self.data)
            self._state = open_state(self.state_target)
        return self._state

    @property
    def read_state(self) -> StateBackend:
        """The state store for commands that only read: opened read-only (works on a full disk)."""
        if self._state is None:
            from harvester.state import open_state

            self._state = open_state(self.state_target, readonly=True)
        return self._state

    def http_client(self) -> HttpClient:
        """The command's HTTP client: one per command, so that `run`'s stages share host gates and breakers."""
        if self._http is None:
            from harvester.http import HttpClient

            self._http = HttpClient(
                validators=self.state, cache_dir=http_cache_dir(self.data), deadline=self.deadline
            )
        return self._http

    def start_deadline(self, seconds: float | None) -> None:
        """`--deadline SECONDS`: no request of this command goes past it (the clock starts now)."""
        if seconds is not None:
            from harvester.http_deadline import Deadline

            self.deadline = Deadline.start("run --deadline", seconds)
            if self._http is not None:
                self._http.run_deadline = self.deadline


def echo(message: str = "", **kw: Any) -> None:
    """Human output goes to stderr; stdout is kept for --json."""
    click.secho(redact(message), err=True, **kw)


def print_json(obj: Any) -> None:
    click.echo(json.dumps(redact_obj(_plain(obj)), ensure_ascii=False, indent=2, default=str))


def _plain(obj: Any) -> Any:
    """`obj` made of JSON types (so that every string in it can be redacted)."""
    return json.loads(json.dumps(obj, default=str))


def finish(code: int) -> None:
    """End the command with this exit code (0 returns normally)."""
    if code:
        click.get_current_context().exit(code)


def interactive() -> bool:
    return sys.stderr.isatty()


pass_ctx = click.make_pass_decorator(Ctx)
