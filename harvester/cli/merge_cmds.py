"""`merge`: one record per real dataset across a pipeline's sources, with provenance."""

from __future__ import annotations

import click

from harvester.cli.context import Ctx, echo, pass_ctx, print_json
from harvester.cli.publish_cmds import wait_option


@click.command()
@click.argument("pipeline_name", metavar="PIPELINE")
@click.option("--json", "as_json", is_flag=True, help="Print the report (or the explanation) as JSON.")
@click.option("--explain", "explain_key", metavar="KEY", help="Why the records of one dataset were merged.")
@wait_option
@pass_ctx
def merge(ctx: Ctx, pipeline_name: str, as_json: bool, explain_key: str | None, wait: float) -> None:
    """Merge the catalogues of a pipeline's sources into merged/<pipeline>/*.parquet.

    Rules, strongest first: harvest provenance (udata harvest.*, CKAN harvest_*/remote_url/guid, DCAT dct:source,
    ODS federation), the same URI or identifier, shared resource URLs, then a similar title of one publisher.
    Files are rewritten only when their content changes. `--explain KEY` (a merged key or a dataset key) prints
    the candidates, rules and scores of one dataset and writes nothing. A merge holds the pipeline's lease as `run`
    does (exit 75 when another process runs the pipeline, or after `--wait`); `--explain` holds none.

    Example: harvester merge sud --explain datasud:0c5ad935-272e-4d9e-b0db-cdcb1a5309b8
    """
    from harvester.merge.stage import merge_pipeline
    from harvester.pipelines import get_pipeline

    pipeline = get_pipeline(ctx.config, pipeline_name)
    if explain_key:
        from harvester.merge.explain import explain, render
        from harvester.merge.identity import previous_keys
        from harvester.merge.scoring import decide
        from harvester.merge.stage import load_inputs, merged_dir, plan_units

        unit = plan_units(ctx.config, pipeline)[0]
        inputs = load_inputs(ctx.data, unit.sources)
        decisions = decide(inputs.records, unit.title_threshold, unit.rules)
        previous = previous_keys(merged_dir(ctx.data, pipeline.name))
        doc = explain(explain_key, inputs.records, decisions, list(unit.precedence), previous)
        if as_json:
            print_json(doc)
        else:
            click.echo(render(doc))
        return
    from harvester.due import hold_pipeline

    hold_pipeline(ctx, pipeline.name, wait, as_json)
    outcome = merge_pipeline(ctx.config, pipeline, ctx.data)
    report = outcome.to_dict()
    if as_json:
        print_json(report)
        return
    from harvester.cli.publish_cmds import print_merge_summary

    print_merge_summary(report)
    if report["rejected_candidates"]:
        echo(f"  {report['rejected_candidates']} candidates refused (see --explain KEY)")
    for sid, c in report["sources"].items():
        if c["withdrawn"] or c["our_copies"]:
            echo(
                f"  {sid}: {c['withdrawn']} withdrawn and {c['our_copies']} copies of our own publications left out"
            )


def register(group: click.Group) -> None:
    group.add_command(merge)
