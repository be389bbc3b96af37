"""`report`: the path of a run's report.html (the latest run by default), or open it in a browser."""

from __future__ import annotations

import click

from harvester.cli.context import Ctx, echo, pass_ctx, print_json


@click.command()
@click.argument("run_id", required=False)
@click.option("--open", "open_it", is_flag=True, help="Open the page with the desktop's web browser.")
@click.option("--json", "as_json", is_flag=True, help="Print the paths and the summary numbers as JSON.")
@pass_ctx
def report(ctx: Ctx, run_id: str | None, open_it: bool, as_json: bool) -> None:
    """Print the path of runs/RUN_ID/report.html (default: the latest run); a unique prefix of RUN_ID is enough.

    The page is self-contained (no script, nothing fetched): counts per source and stage, errors by host and
    cause, schema changes, merge and publish outcome, durations, and a chart of the last runs.

    Example: harvester report --open
    """
    from harvester.runreport.collect import load_run, summary
    from harvester.runreport.locate import report_page, resolve_run

    rid = resolve_run(ctx.data, run_id)
    page = report_page(ctx.data, rid)
    if as_json:
        view = load_run(ctx.data, rid)
        print_json(
            {
                "run_id": rid,
                "report_html": str(page),
                "run_dir": str(view.path),
                "reports": [str(view.path / f) for f in view.files],
                "summary": summary(view),
            }
        )
    else:
        click.echo(str(page))
    if open_it:
        import webbrowser  # only for --open (start-up)

        if not webbrowser.open(page.resolve().as_uri()):
            echo(f"no web browser could be started here; open {page} yourself", fg="yellow")


def register(group: click.Group) -> None:
    group.add_command(report)
