"""`check`, `harvest`, `status` and `state`: reading sources into the catalogue."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from harvester.cli.context import Ctx, echo, finish, interactive, pass_ctx, print_json
from harvester.errors import ConfigError, SourceError, UsageError

if TYPE_CHECKING:  # the harvest machinery (pyarrow…) is imported by the commands that run it
    from harvester.harvest import HarvestReport
    from harvester.pipelines import PipelineConfig


@click.command()
@click.argument("source_id")
@click.option("--json", "as_json", is_flag=True, help="Print the record read as JSON to stdout.")
@pass_ctx
def check(ctx: Ctx, source_id: str, as_json: bool) -> None:
    """Reach a source's portal and read one dataset record.

    Example: harvester check datasud
    """
    from harvester.harvest import make_connector

    source = ctx.config.source(source_id)
    connector = make_connector(source, ctx.http_client())
    record = connector.check()
    if record is None:
        raise SourceError("the portal answered but listed no dataset", source_id=source_id, url=source.url)
    if as_json:
        print_json(
            {
                "source_id": source_id,
                "remote_id": record.remote_id,
                "title": record.title,
                "modified": record.modified,
                "resources": len(record.resources),
            }
        )
    else:
        echo(f"{source_id}: OK — first dataset {record.remote_id!r}: {record.title}", fg="green")


def select_sources(ctx: Ctx, source_ids: tuple[str, ...], all_: bool) -> list[str]:
    """SOURCE... or --all (enabled sources); unknown ids are a usage error listing the known ones."""
    if all_ and source_ids:
        raise UsageError("give SOURCE ids or --all, not both")
    if all_:
        return [s.id for s in ctx.config.sources if s.enabled]
    if not source_ids:
        raise UsageError("give at least one SOURCE id, or --all")
    for sid in source_ids:
        ctx.config.source(sid)
    return list(source_ids)


deadline_option = click.option(
    "--deadline",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Deadline of the whole run: requests still running then are cut, what completed is kept, exit non-zero.",
)


@click.command()
@click.argument("source_ids", nargs=-1, metavar="SOURCE...")
@click.option("--all", "all_", is_flag=True, help="Harvest every enabled source.")
@click.option(
    "--full", is_flag=True, help="Ignore the cursor: list the whole catalogue (also detects deletions)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON to stdout.")
@deadline_option
@pass_ctx
def harvest(
    ctx: Ctx, source_ids: tuple[str, ...], all_: bool, full: bool, as_json: bool, deadline: float | None
) -> None:
    """Harvest sources into catalog/<source>/datasets.parquet and resources.parquet.

    Incremental by default (only datasets changed since the last run are listed in full); a source that fails
    keeps its previous snapshot. Exit 3 when some sources or records failed.

    Example: harvester harvest datasud --full
    """
    ids = select_sources(ctx, source_ids, all_)
    ctx.start_deadline(deadline)
    report = run_with_progress(ctx, ids, full)
    if as_json:
        print_json(report.to_dict())
    else:
        print_summary(report)
    finish(report.exit_code)


def run_with_progress(ctx: Ctx, ids: list[str], full: bool) -> HarvestReport:
    from harvester.harvest import harvest_sources

    kwargs: dict[str, Any] = {
        "data_dir": ctx.data,
        "state": ctx.state,
        "http": ctx.http_client(),
        "full": full,
        "executor": ctx.executor,
    }
    if not interactive():
        return harvest_sources(ctx.config, ids, **kwargs)
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed} datasets"),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        tasks = {sid: bar.add_task(sid, total=None) for sid in ids}
        return harvest_sources(
            ctx.config, ids, progress=lambda sid, n: bar.update(tasks[sid], completed=n), **kwargs
        )


def print_summary(report: HarvestReport) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from harvester.redact import redact

    table = Table(
        "source",
        "status",
        "mode",
        "listed",
        "new",
        "changed",
        "same",
        "withdrawn",
        "errors",
        "requests",
        "seconds",
        title=f"harvest run {report.run_id}",
    )
    colours = {"ok": "green", "partial": "yellow", "failed": "red", "locked": "red"}
    for s in report.sources:
        table.add_row(
            s.source_id,
            f"[{colours.get(s.status, 'white')}]{s.status}[/]",
            s.mode,
            str(s.listed),
            str(s.created),
            str(s.updated),
            str(s.unchanged),
            str(s.withdrawn),
            str(s.record_errors),
            str(s.requests),
            f"{s.seconds:.1f}",
        )
    console = Console(stderr=True, width=None if interactive() else 160)
    console.print(table)
    for s in report.sources:
        for note in s.notes:
            console.print(escape(redact(f"  {s.source_id}: {note}")))
        if s.error:
            console.print(f"  [red]{escape(redact(f'{s.source_id}: {s.error}'))}[/]")
    for h in report.unreachable_hosts:
        console.print(
            escape(f"  host {h['host']} unreachable since {h['unreachable_since']}: {h['last_error']}")
        )
    console.print(f"report: {report.report_path}")


def _when(run: dict[str, Any] | None) -> str:
    if not run:
        return "never run"
    at = run["finished_at"] or run["started_at"]
    return f"{run['status']} at {str(at)[:19]}"


def _pipelines(ctx: Ctx) -> list[PipelineConfig]:
    from harvester.pipelines import load_pipelines

    try:
        return list(load_pipelines(ctx.config, check_env=False).values())
    except ConfigError as exc:
        echo(f"pipelines not shown: {exc}", fg="yellow")
        return []


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON to stdout.")
@click.option(
    "--fail-after",
    type=click.IntRange(min=1),
    metavar="N",
    help="Exit 1, naming them, when a source or pipeline has failed N times in a row (for monitoring).",
)
@pass_ctx
def status(ctx: Ctx, as_json: bool, fail_after: int | None) -> None:
    """Show each source and pipeline: last success, last failure and its error, failures in a row, dataset
    counts, created/updated/withdrawn/unchanged, duration and next due time.

    Read-only (works on a full disk). A run whose process died (killed, crashed) shows as `interrupted`.

    Example: harvester status --json --fail-after 3
    """
    from harvester.state import utcnow
    from harvester.status import failing, pipeline_status, source_status

    st, now = ctx.read_state, utcnow()
    pls = _pipelines(ctx)
    runs_with = {sid: p.name for p in pls if p.schedule for sid in p.sources}
    sources = [source_status(st, ctx.data, s, now, runs_with.get(s.id)) for s in ctx.config.sources]
    pipelines = [pipeline_status(st, p, now) for p in pls]
    if as_json:
        print_json({"sources": sources, "pipelines": pipelines})
    else:
        for r in sources:
            cursor = r["cursor"]
            echo(
                f"{r['id']:<24} harvest: {_when(r['runs']['harvest']):<36} "
                f"normalise: {_when(r['runs']['normalise']):<36} "
                f"datasets={r['datasets'] if r['datasets'] is not None else '-'} "
                f"cursor={cursor.isoformat() if isinstance(cursor, datetime) else '-'}"
            )
            _print_health(r)
        for pl in pipelines:
            echo(f"pipeline {pl['name']:<15} publish: {_when(pl['last_run'])} datasets={pl['datasets']}")
            _print_health(pl)
    if fail_after is not None:
        alerts = failing(sources, "source", "id", fail_after) + failing(
            pipelines, "pipeline", "name", fail_after
        )
        for line in alerts:
            echo(f"FAILING: {line}", fg="red")
        finish(1 if alerts else 0)


def _print_health(r: dict[str, Any]) -> None:
    counts = r["counts"] or {}
    parts = [f"{k}={v}" for k, v in counts.items() if v is not None]
    if r["duration_seconds"] is not None:
        parts.append(f"{r['duration_seconds']:.1f}s")
    if r["consecutive_failures"]:
        error = (r["last_failure"] or {}).get("error") or "-"
        parts.append(f"failed {r['consecutive_failures']}x in a row, last: {error}")
    if r.get("runs_with"):
        parts.append(f"scheduled with pipeline {r['runs_with']}")
    elif r.get("schedule"):
        parts.append(f"schedule '{r['schedule']}', next due {'now' if r['due_now'] else r['next_due'][:16]}")
    if parts:
        echo("    " + ", ".join(parts))


@click.group()
def state() -> None:
    """Inspect or reset incremental state (cursors).

    Example: harvester state show datasud
    """


@state.command("show")
@click.argument("source_id")
@pass_ctx
def state_show(ctx: Ctx, source_id: str) -> None:
    """Print a source's cursor and last run as JSON.

    Example: harvester state show datasud
    """
    ctx.config.source(source_id)
    print_json(
        {
            "source_id": source_id,
            "cursor": ctx.read_state.read_cursor(source_id),
            "last_run": ctx.read_state.last_run(source_id, "harvest"),
        }
    )


@state.command("reset")
@click.argument("source_id")
@pass_ctx
def state_reset(ctx: Ctx, source_id: str) -> None:
    """Forget a source's cursor: its next harvest is a full one.

    Example: harvester state reset datasud
    """
    ctx.config.source(source_id)
    ctx.state.reset_cursor(source_id)
    echo(f"{source_id}: cursor reset; the next harvest lists the whole catalogue")


def register(group: click.Group) -> None:
    for cmd in (check, harvest, status, state):
        group.add_command(cmd)
