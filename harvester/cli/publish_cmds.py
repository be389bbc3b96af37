"""`publish` and `run`: pushing a pipeline's catalogue into its CKAN."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from harvester import interrupt
from harvester.cli.context import Ctx, echo, finish, interactive, pass_ctx, print_json
from harvester.cli.harvest_cmds import deadline_option
from harvester.errors import EXIT_ABORTED

if TYPE_CHECKING:  # the publisher (pyarrow, the CKAN client) is imported by the commands that run it
    from harvester.pipelines import PipelineConfig
    from harvester.publish import PublishReport
    from harvester.runs import RunReport


def print_publish_summary(report: PublishReport) -> None:
    from rich.console import Console
    from rich.table import Table

    title = f"publish {report.pipeline}" + (" (dry run)" if report.dry_run else "")
    table = Table("", "datasets", title=title)
    if report.dry_run:
        for k, v in report.plan.counts().items():
            table.add_row(f"would {k}" if k in ("create", "update", "withdraw") else k, str(v))
    else:
        for k, v in report.summary().items():
            table.add_row(k, str(v))
    table.add_row("write calls", str(report.write_calls))
    table.add_row("seconds", f"{report.seconds:.1f}")
    console = Console(stderr=True, width=None if interactive() else 160)
    console.print(table)
    console.print(f"CKAN: {report.ckan_url}   run: {report.run_id}")
    if report.dry_run:
        console.print("dry run: nothing was written to CKAN")
        _print_lists(console, report)
    if report.plan.withdraw_blocked_reason:
        console.print(f"[red]withdrawals refused:[/] {report.plan.withdraw_blocked_reason}")
    for a in report.plan.refused:
        console.print(f"[yellow]refused[/] {a.dataset_key}: {a.reason}")
    for f in report.outcome.failed:
        console.print(f"[red]failed[/] {f['dataset_key']}: {f['error']} {f.get('field_errors') or ''}")
    if report.missing_sources:
        console.print(f"[yellow]never harvested, not published:[/] {', '.join(report.missing_sources)}")
    console.print(f"plan: {report.plan_path}")
    if not report.dry_run:
        console.print(f"browse: {report.browse_url}")


def print_merge_summary(report: dict[str, Any]) -> None:
    echo(
        f"merge {report['pipeline']}: {report['records']} records -> {report['merged_datasets']} datasets "
        f"({report['multi_source_datasets']} from several sources), links {report['links_by_rule']}; "
        + (f"wrote {', '.join(report['written'])}" if report["written"] else "nothing changed")
    )


def publish_with_progress(ctx: Ctx, pipeline: PipelineConfig, **kw: Any) -> PublishReport:
    """publish_pipeline, with a progress bar of the writes when stderr is a terminal."""
    from harvester.publish import publish_pipeline

    kw.setdefault("config", ctx.config)
    if not interactive():
        return publish_pipeline(pipeline, ctx.data, ctx.state, **kw)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(f"publish {pipeline.name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("writes", total=None)
        return publish_pipeline(
            pipeline,
            ctx.data,
            ctx.state,
            progress=lambda n, total: bar.update(task, completed=n, total=total),
            **kw,
        )


def _print_lists(console: Any, report: PublishReport, limit: int = 20) -> None:
    plan = report.plan
    for kind, actions in (("create", plan.create), ("update", plan.update), ("withdraw", plan.withdraw)):
        if actions:
            console.print(f"would {kind}:")
        for a in actions[:limit]:
            console.print(
                f"  {a.dataset_key} -> {a.name}" + (f" ({a.organization})" if a.organization else "")
            )
        if len(actions) > limit:
            console.print(f"  … and {len(actions) - limit} more (see the plan file)")
    if plan.unchanged:
        console.print(f"unchanged: {len(plan.unchanged)} (listed in the plan file)")


wait_option = click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0,
    metavar="SECONDS",
    help="When another process runs the same pipeline or source, wait up to this long, then skip (exit 75).",
)


@click.command()
@click.argument("pipeline")
@click.option("--dry-run", is_flag=True, help="Only print and save the plan; send no write to CKAN.")
@click.option("--json", "as_json", is_flag=True, help="Print the publish report as JSON to stdout.")
@wait_option
@pass_ctx
def publish(ctx: Ctx, pipeline: str, dry_run: bool, as_json: bool, wait: float) -> None:
    """Publish a pipeline's merged catalogue into its CKAN: create, update, withdraw; unchanged datasets cost no write.

    Reads merged/<pipeline>/, and runs the merge first when it is missing or older than the sources' catalogues
    (or the pipeline's merge settings). The plan is written to runs/<run_id>/publish-plan.json. Exit 3 when some datasets failed or were refused,
    or when withdrawals were held back by max_delete_share. Holds the pipeline's lease as `run` does (exit 75 when
    another process runs the pipeline, or after `--wait`); `--dry-run` writes nothing to CKAN and holds none.

    Example: CKAN_API_TOKEN=... harvester publish sud --dry-run
    """
    from harvester.pipelines import get_pipeline

    p = get_pipeline(ctx.config, pipeline)
    if not dry_run:
        from harvester.due import hold_pipeline

        hold_pipeline(ctx, p.name, wait, as_json)
    report = publish_with_progress(ctx, p, dry_run=dry_run)
    if as_json:
        print_json(report.to_dict())
    print_publish_summary(report)
    finish(report.exit_code)


@click.command()
@click.argument("pipeline", required=False)
@click.option(
    "--due", is_flag=True, help="Run only the pipelines and sources whose schedule says they are due."
)
@wait_option
@click.option("--full", is_flag=True, help="Harvest the whole catalogues, ignoring the cursors.")
@click.option(
    "--normalise/--no-normalise",
    default=True,
    show_default=True,
    help="Convert the tabular resources to Parquet between harvest and publish.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON to stdout.")
@deadline_option
@pass_ctx
def run(
    ctx: Ctx,
    pipeline: str | None,
    due: bool,
    wait: float,
    full: bool,
    normalise: bool,
    as_json: bool,
    deadline: float | None,
) -> None:
    """Harvest a pipeline's sources, normalise their tables, merge them, then publish them into its CKAN.

    Exit 0 when every stage is ok, 1 when every stage aborted or every source aborted in harvest (then nothing
    is normalised or published), else 3 (each stage's report has its own code).

    All the stages share one run id, so their reports land in the same runs/<run_id>/ folder. The whole run
    holds the pipeline's lease: a second `run` of it skips with exit 75, or waits with `--wait`.

    `--due` runs what the `schedule:` of pipelines and sources says is due (see README, Operations); with
    `--deadline` the clock covers the whole command: an item not started when it passes is left for the next
    `run --due` (its slot stays open).

    Example: harvester run sud --no-normalise; harvester run --due --json
    """
    if due or pipeline is None:
        from harvester.due import run_due_command

        run_due_command(
            ctx,
            pipeline,
            due=due,
            wait=wait,
            full=full,
            normalise=normalise,
            as_json=as_json,
            deadline=deadline,
        )
        return
    from harvester.cli.harvest_cmds import print_summary, run_with_progress
    from harvester.due import hold_pipeline
    from harvester.pipelines import get_pipeline
    from harvester.runs import RunReport

    p = get_pipeline(ctx.config, pipeline)
    hold_pipeline(ctx, p.name, wait, as_json)
    ctx.start_deadline(deadline)
    harvest_report = run_with_progress(ctx, list(p.sources), full)
    if not as_json:
        print_summary(harvest_report)
    run_report = RunReport(harvest_report.run_id)
    run_report.add(harvest_report)
    interrupt.check()  # a stop signal: stop between the stages
    if run_report.all_aborted("harvest"):
        # nothing was harvested: normalising or publishing would only repeat the last run's catalogue
        run_report.stopped = "every source aborted in harvest: nothing normalised or published"
        if as_json:
            print_json(run_report.to_dict())
        echo(run_report.stopped, fg="red")
        finish(run_report.exit_code)
        return
    if _deadline_passed(ctx, "normalise, merge and publish", run_report, as_json):
        return
    if normalise:
        from harvester.cli.normalise_cmds import print_summary as print_normalise
        from harvester.normalise.stage import normalise_sources

        norm = normalise_sources(
            ctx.config, list(p.sources), data_dir=ctx.data, state=ctx.state, http=ctx.http_client(),
            run_id=harvest_report.run_id,
        )  # fmt: skip
        run_report.add(norm)
        if not as_json:
            print_normalise(norm)
    interrupt.check()  # a stop signal: stop between the stages
    if _deadline_passed(ctx, "merge and publish", run_report, as_json):
        return
    from harvester.merge.stage import merge_pipeline
    from harvester.runs import write_report

    merge_outcome = merge_pipeline(ctx.config, p, ctx.data)
    run_report.add(merge_outcome)
    path = write_report(ctx.data, harvest_report.run_id, "merge-report.json", merge_outcome.to_dict())
    merge_outcome.report_path = str(path)
    merged = merge_outcome.to_dict()
    _write_quality(ctx, p.name, harvest_report.run_id)
    if not as_json:
        print_merge_summary(merged)
    interrupt.check()
    if _deadline_passed(ctx, "publish", run_report, as_json):
        return
    report = publish_with_progress(ctx, p, run_id=harvest_report.run_id)
    run_report.add(report)
    if as_json:
        print_json(run_report.to_dict())
    print_publish_summary(report)
    finish(run_report.exit_code)


def _write_quality(ctx: Ctx, pipeline: str, run_id: str) -> None:
    """The merge's MQA scores (merged/<pipeline>/quality.parquet) and their summary in the run's folder, for its
    report page; a failure here is logged, never fails the run."""
    import logging

    from harvester.quality.score import run_quality
    from harvester.runs import write_report

    try:
        write_report(ctx.data, run_id, "quality-report.json", run_quality(ctx.data, pipeline, worst=10))
    except Exception as exc:  # the scores are a report, not a stage: the publication goes on
        logging.getLogger(__name__).warning("quality of %s not computed: %s", pipeline, exc)


def _deadline_passed(ctx: Ctx, left: str, run_report: RunReport, as_json: bool) -> bool:
    """After a stage of `run`: when `--deadline` passed, say so and end (exit 1); what completed is kept."""
    if ctx.deadline is None or not ctx.deadline.passed:
        return False
    run_report.stopped = f"run --deadline of {ctx.deadline.seconds:g} s passed: {left} not started"
    if as_json:
        print_json(run_report.to_dict())
    echo(run_report.stopped, fg="red")
    finish(EXIT_ABORTED)
    return True


def register(group: click.Group) -> None:
    for cmd in (publish, run):
        group.add_command(cmd)
