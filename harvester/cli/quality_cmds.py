"""`quality`: the MQA score of every merged dataset of a pipeline (merged/<pipeline>/quality.parquet)."""

from __future__ import annotations

import click

from harvester.cli.context import Ctx, echo, pass_ctx, print_json


@click.command()
@click.argument("pipeline_name", metavar="PIPELINE")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--worst", type=click.IntRange(min=0), default=10, show_default=True, help="Worst datasets listed."
)
@pass_ctx
def quality(ctx: Ctx, pipeline_name: str, as_json: bool, worst: int) -> None:
    """Score each merged dataset with data.europa.eu's MQA indicators (405 points) into quality.parquet.

    Reads merged/<pipeline>/ and the normalise stage's index (reachability); makes no HTTP request.
    Ratings: excellent >= 351, good 221-350, sufficient 121-220, bad < 121.

    Example: harvester quality sud --worst 5
    """
    from harvester.pipelines import get_pipeline
    from harvester.quality.score import run_quality

    pipeline = get_pipeline(ctx.config, pipeline_name)
    doc = run_quality(ctx.data, pipeline.name, worst)
    if as_json:
        print_json(doc)
        return
    if not doc["datasets"]:
        echo(f"{pipeline.name}: no dataset to score")
        return
    r = doc["ratings"]
    echo(f"{pipeline.name}: {doc['datasets']} datasets, mean {doc['mean']}/{doc['max_score']} "
         f"(median {doc['median']}, min {doc['min']}, max {doc['max']}) → {doc['path']}")  # fmt: skip
    echo("  " + ", ".join(f"{name} {n}" for name, n in r.items()))
    for sid, s in doc["sources"].items():
        bands = ", ".join(f"{name} {n}" for name, n in s["ratings"].items() if n)
        echo(f"  {sid}: {s['datasets']} datasets, mean {s['mean']} ({bands})")
    if doc["worst"]:
        echo("worst:")
    for w in doc["worst"]:
        echo(f"  {w['total']:>3} {w['rating']:<10} {w['merged_key']}  {w['title'] or ''}")
        missing = sorted(w["missing"].items())
        echo(
            "      missing: "
            + "; ".join(f"{n} ({why})" for n, why in missing[:8])
            + (" …" if len(missing) > 8 else "")
        )


def register(group: click.Group) -> None:
    group.add_command(quality)
