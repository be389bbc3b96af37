"""The click group, global options and the one top-level error handler."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any, NoReturn

import click

from harvester import __version__
from harvester.cli.context import Ctx, setup_logging
from harvester.diskspace import disk_full_error, is_disk_full
from harvester.errors import HarvesterError, exit_code_of
from harvester.interrupt import Terminated
from harvester.interrupt import check as check_stop
from harvester.redact import redact

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


class HarvesterGroup(click.Group):
    """The one place where harvester errors become a message and an exit code (2 config, 1 aborted…)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            out = super().invoke(ctx)
            check_stop()  # a stop signal during the last write: the command completed, and still says so
            return out
        except (OSError, sqlite3.OperationalError) as exc:
            data = Path(ctx.obj.data_dir) if isinstance(ctx.obj, Ctx) else Path.cwd()
            if not is_disk_full(exc, data):
                raise
            self._fail(ctx, disk_full_error(exc, data))
        except HarvesterError as exc:
            self._fail(ctx, exc)
        except KeyboardInterrupt as exc:
            click.echo("interrupted", err=True)
            ctx.exit(exit_code_of(exc))
        except Terminated as exc:
            self._stopped(ctx, exc)

    @staticmethod
    def _stopped(ctx: click.Context, exc: Terminated) -> None:
        """A stop signal ended the command at a safe point: close its runs as `interrupted`, say so, exit 130/143."""
        obj = ctx.obj
        closed: list[tuple[str, str]] = []
        if isinstance(obj, Ctx) and obj._state is not None and not obj._state.readonly:
            closed = obj._state.close_own_runs("interrupted", f"{exc}: stopped before it finished")
        what = ", ".join(f"{subject} ({run_id})" for run_id, subject in closed) or "nothing was under way"
        click.secho(
            f"{exc}: the writes under way were finished and what completed is kept; marked interrupted: {what}. "
            "The next run resumes from there.",
            fg="yellow",
            err=True,
        )
        ctx.exit(exc.exit_code)

    @staticmethod
    def _fail(ctx: click.Context, exc: HarvesterError) -> None:
        obj = ctx.obj
        if isinstance(obj, Ctx) and obj.debug:
            logging.getLogger("harvester").exception("error")
        logging.getLogger("harvester").debug("error: %s", exc.attrs())
        click.secho(redact(f"error: {exc}"), fg="red", err=True)
        ctx.exit(exit_code_of(exc))


def _check_state(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """`--state` is checked before any command runs (so before any request is sent)."""
    if value is None:
        return None
    from harvester.state.urls import StateUrlError, parse_state_url

    try:
        parse_state_url(value)
    except StateUrlError as exc:
        raise click.BadParameter(f"{exc} (from --state or HARVESTER_STATE)") from None
    return value


@click.group(cls=HarvesterGroup, context_settings=CONTEXT_SETTINGS)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="HARVESTER_CONFIG",
    default="sources.yaml",
    show_default=True,
    help="The sources file; pipelines/ is read beside it.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    envvar="HARVESTER_DATA_DIR",
    default="data",
    show_default=True,
    help="Where catalogues, tables, reports and state are written: a path, or an fsspec URL that every "
    "worker can reach (s3://bucket/prefix; needs --state).",
)
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option("--log-json", is_flag=True, help="Log JSON lines to stderr (for cron and log collectors).")
@click.option(
    "--state",
    "state_url",
    envvar="HARVESTER_STATE",
    default=None,
    metavar="URL",
    callback=_check_state,
    help="Where runs, cursors and locks are kept: a SQLite file path (sqlite:///path) or "
    "postgresql://user:password@host:port/dbname.  [default: DATA_DIR/state.sqlite]",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "processes", "dask"]),
    default="local",
    show_default=True,
    help="Run the work units of every stage in threads of this process, in separate processes, or on a Dask cluster.",
)
@click.option(
    "--scheduler",
    envvar="HARVESTER_DASK_SCHEDULER",
    default=None,
    metavar="tcp://HOST:8786",
    help="The Dask scheduler of --executor dask.",
)
@click.version_option(__version__, prog_name="harvester")
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: str,
    data_dir: str,
    verbose: int,
    debug: bool,
    log_json: bool,
    state_url: str | None,
    executor: str,
    scheduler: str | None,
) -> None:
    """Harvest French open-data portals into Parquet and publish them to CKAN.

    Example: harvester validate && harvester harvest --all
    """
    setup_logging(verbose, log_json)
    from harvester.dask_executor import set_scheduler
    from harvester.runner import set_default_executor

    if executor == "dask" and not scheduler:
        raise click.UsageError(
            "--executor dask needs --scheduler tcp://HOST:8786 (or HARVESTER_DASK_SCHEDULER)"
        )
    from harvester.store import is_url, normalise_location

    if is_url(data_dir) and not state_url:
        raise click.UsageError(
            f"a data directory on {data_dir.partition('://')[0]}:// needs --state postgresql://… "
            "or a local sqlite path (the state is not kept in a remote data directory)"
        )
    if executor == "dask":  # workers run in their own directories: every path they are given is absolute
        config_path, data_dir = str(Path(config_path).resolve()), normalise_location(data_dir)
    set_scheduler(scheduler)
    set_default_executor(executor)  # type: ignore[arg-type]
    ctx.obj = Ctx(
        config_path=config_path,
        data_dir=data_dir,
        debug=debug,
        log_json=log_json,
        executor=executor,
        state_url=state_url,
    )


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: SIGTERM and Ctrl-C stop at the next safe point (harvester/interrupt.py)."""
    from harvester import interrupt

    interrupt.install()
    return cli.main(args=argv, prog_name="harvester")


def run() -> NoReturn:
    """The console script and `python -m harvester`: `main`, then the process ends without the interpreter's
    teardown (harvester/fastexit.py: 0.1-0.2 s of every run)."""
    from harvester.fastexit import exit_now

    try:
        main()
    except SystemExit as exc:
        exit_now(exc.code)
    exit_now(0)


def _register_commands() -> None:
    # Command modules: one line each.
    from harvester.cli import config_cmds

    config_cmds.register(cli)
    from harvester.cli import harvest_cmds

    harvest_cmds.register(cli)
    from harvester.cli import normalise_cmds

    normalise_cmds.register(cli)
    from harvester.cli import publish_cmds

    publish_cmds.register(cli)
    from harvester.cli import convert_cmds

    convert_cmds.register(cli)
    from harvester.cli import merge_cmds

    merge_cmds.register(cli)
    from harvester.cli import report_cmds

    report_cmds.register(cli)
    from harvester.cli import export_cmds

    export_cmds.register(cli)
    from harvester.cli import quality_cmds

    quality_cmds.register(cli)


_register_commands()
