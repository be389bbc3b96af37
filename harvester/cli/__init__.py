"""The click group, global options and the one top-level error handler."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import click

from harvester import __version__
from harvester.cli.context import Ctx, setup_logging
from harvester.diskspace import disk_full_error, is_disk_full
from harvester.errors import HarvesterError, exit_code_of
from harvester.redact import redact

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


class HarvesterGroup(click.Group):
    """The one place where harvester errors become a message and an exit code (2 config, 1 aborted…)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
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

    @staticmethod
    def _fail(ctx: click.Context, exc: HarvesterError) -> None:
        obj = ctx.obj
        if isinstance(obj, Ctx) and obj.debug:
            logging.getLogger("harvester").exception("error")
        logging.getLogger("harvester").debug("error: %s", exc.attrs())
        click.secho(redact(f"error: {exc}"), fg="red", err=True)
        ctx.exit(exit_code_of(exc))


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
    help="Where catalogues, tables, reports and state are written.",
)
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option("--log-json", is_flag=True, help="Log JSON lines to stderr (for cron and log collectors).")
@click.option(
    "--executor",
    type=click.Choice(["local", "processes"]),
    default="local",
    show_default=True,
    help="Run the harvest's work units in threads of this process, or in separate processes.",
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
    executor: str,
) -> None:
    """Harvest French open-data portals into Parquet and publish them to CKAN.

    Example: harvester validate && harvester harvest --all
    """
    setup_logging(verbose, log_json)
    ctx.obj = Ctx(
        config_path=config_path, data_dir=data_dir, debug=debug, log_json=log_json, executor=executor
    )


def main(argv: list[str] | None = None) -> Any:
    """Console entry point."""
    return cli.main(args=argv, prog_name="harvester")


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
    from harvester.cli import quality_cmds

    quality_cmds.register(cli)


_register_commands()
