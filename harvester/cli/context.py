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

if TYPE_CHECKING:  # imported on use: `harvester --help` loads no more than click
    from harvester.config import Config
    from harvester.http import HttpClient
    from harvester.state import StateStore


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
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(verbose: int, log_json: bool) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    if log_json:
        level = min(level, logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_json else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
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
    _config: Config | None = field(default=None, repr=False)
    _state: StateStore | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            from harvester.config import load_config

            self._config = load_config(Path(self.config_path))
        return self._config

    @property
    def data(self) -> Path:
        return Path(self.data_dir)

    @property
    def state(self) -> StateStore:
        """The state store, writable: opening it closes the runs of dead processes and removes their leftovers."""
        if self._state is None or self._state.readonly:
            if self._state is not None:
                self._state.close()
            from harvester.leftovers import reclaim
            from harvester.state import StateStore

            reclaim(self.data)
            self._state = StateStore(state_file(self.data))
        return self._state

    @property
    def read_state(self) -> StateStore:
        """The state store for commands that only read: opened read-only (works on a full disk)."""
        if self._state is None:
            from harvester.state import StateStore

            self._state = StateStore(state_file(self.data), readonly=True)
        return self._state

    def http_client(self) -> HttpClient:
        from harvester.http import HttpClient

        return HttpClient(validators=self.state, cache_dir=http_cache_dir(self.data))


def echo(message: str = "", **kw: Any) -> None:
    """Human output goes to stderr; stdout is kept for --json."""
    click.secho(message, err=True, **kw)


def print_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def finish(code: int) -> None:
    """End the command with this exit code (0 returns normally)."""
    if code:
        click.get_current_context().exit(code)


def interactive() -> bool:
    return sys.stderr.isatty()


pass_ctx = click.make_pass_decorator(Ctx)
