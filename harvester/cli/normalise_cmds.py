"""`normalise`: tabular resources of harvested catalogues → typed (Geo)Parquet tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from harvester.cli.context import Ctx, finish, interactive, pass_ctx, print_json
from harvester.cli.harvest_cmds import deadline_option, select_sources
from harvester.redact import redact

if TYPE_CHECKING:  # pyarrow and the readers are imported by the command that runs them
    from harvester.normalise.stage import NormaliseReport


@click.command()
@click.argument("source_ids", nargs=-1, metavar="SOURCE...")
@click.option("--all", "all_", is_flag=True, help="Normalise every enabled source.")
@click.option("--force", is_flag=True, help="Download and convert again, even resources that did not change.")
@click.option(
    "--workers", type=click.IntRange(1, 32), default=4, show_default=True, help="Resources converted at once."
)
@click.option(
    "--max-bytes",
    type=click.IntRange(1),
    default=None,
    help="Largest download, in bytes (default: the source's http.max_bytes).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON to stdout.")
@deadline_option
@pass_ctx
def normalise(
    ctx: Ctx,
    source_ids: tuple[str, ...],
    all_: bool,
    force: bool,
    workers: int,
    max_bytes: int | None,
    as_json: bool,
    deadline: float | None,
) -> None:
    """Convert the tabular resources of harvested sources into tables/<source>/<dataset>/<resource>.parquet
    (listed in tables/<source>/index.parquet).

    CSV/TSV/TXT, XLSX/XLS/ODS, JSON arrays, GeoJSON and ZIP archives holding them become typed Parquet (zstd);
    lat/lon, WKT and GeoJSON geometries become GeoParquet. Unchanged resources are skipped (conditional requests).
    Exit 3 when some resources failed.

    Example: harvester normalise datasud --workers 8
    """
    from harvester.normalise.stage import normalise_sources

    ids = select_sources(ctx, source_ids, all_)
    ctx.start_deadline(deadline)
    kwargs: dict[str, Any] = {
        "data_dir": ctx.data,
        "state": ctx.state,
        "http": ctx.http_client(),
        "force": force,
        "workers": workers,
        "max_bytes": max_bytes,
    }
    if interactive():
        report = _with_progress(ctx, ids, kwargs)
    else:
        report = normalise_sources(ctx.config, ids, **kwargs)
    if as_json:
        print_json(report.to_dict())
    else:
        print_summary(report)
    finish(report.exit_code)


def _with_progress(ctx: Ctx, ids: list[str], kwargs: dict[str, Any]) -> NormaliseReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from harvester.normalise.stage import normalise_sources

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def on_start(sid: str, total: int) -> None:
            tasks[sid] = bar.add_task(sid, total=total)

        def on_done(sid: str, _outcome: object) -> None:
            bar.advance(tasks[sid])

        return normalise_sources(ctx.config, ids, on_start=on_start, on_done=on_done, **kwargs)


def print_summary(report: NormaliseReport) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        "source",
        "status",
        "converted",
        "same",
        "failed",
        "skipped",
        "rows",
        "drift",
        "MB",
        "s",
        title=f"normalise run {report.run_id}",
    )
    colours = {"ok": "green", "partial": "yellow"}
    for s in report.sources:
        table.add_row(
            s.source_id,
            f"[{colours.get(s.status, 'red')}]{s.status}[/]",
            str(s.converted),
            str(s.unchanged),
            str(s.failed),
            str(s.skipped),
            str(s.rows),
            str(s.schema_changes),
            f"{s.bytes / 1e6:.1f}",
            f"{s.seconds:.1f}",
        )
    console = Console(stderr=True)
    console.print(table)
    for s in report.sources:
        if s.error:
            console.print(f"  [red]{s.source_id}: {escape(s.error)}[/]", soft_wrap=True)
        for o in s.resources:
            if o.status == "failed":
                console.print(
                    f"  [red]{escape(o.resource_key)}[/]: {escape(o.error or '')} ({escape(redact(o.url))})",
                    highlight=False,
                    soft_wrap=True,
                )
            for c in o.schema_changes:
                was = f" (was {c['old_column']})" if c.get("old_column") else ""
                console.print(
                    escape(f"  drift {o.resource_key}: {c['change']} {c['column']}{was}"),
                    highlight=False,
                    soft_wrap=True,
                )
    print_hosts(console, report.to_dict())
    console.print(f"report: {report.report_path}")


def print_hosts(console: Any, report: dict[str, Any]) -> None:
    """Failures grouped by host, and the hosts the circuit breaker found unreachable."""
    from rich.markup import escape

    groups = report.get("errors_by_host") or {}
    if len(groups) > 1 or report.get("unreachable_hosts"):
        for host, g in groups.items():
            causes = "; ".join(f"{n} × {c}" for c, n in g["causes"].items())
            console.print(
                escape(f"  {host}: {g['count']} failed ({causes})"), highlight=False, soft_wrap=True
            )
    for h in report.get("unreachable_hosts") or []:
        console.print(
            escape(f"  host {h['host']} unreachable since {h['unreachable_since']}: {h['last_error']}"),
            highlight=False,
            soft_wrap=True,
        )


def register(group: click.Group) -> None:
    group.add_command(normalise)
