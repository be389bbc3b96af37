"""`export`: the merged catalogue of a pipeline as DCAT-AP 3 (Turtle, RDF/XML, JSON-LD), optionally validated."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harvester.cli.context import Ctx, echo, pass_ctx, print_json


@click.command()
@click.argument("pipeline_name", metavar="PIPELINE")
@click.option("--format", "fmt", type=click.Choice(["dcat"]), default="dcat", show_default=True)
@click.option(
    "--rdf-format", type=click.Choice(["turtle", "xml", "jsonld"]), default="turtle", show_default=True
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="The file to write (default: stdout).")
@click.option(
    "--page-size", type=click.IntRange(min=1), help="Datasets per file: -o out.ttl writes out-1.ttl…"
)
@click.option(
    "--base-uri", help="Base of the IRIs minted for datasets, distributions, agents (urn:harvester:…)."
)
@click.option(
    "--validate", is_flag=True, help="Check the files with the DCAT-AP 3 SHACL shapes; exit 1 if not."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_ctx
def export(
    ctx: Ctx,
    pipeline_name: str,
    fmt: str,
    rdf_format: str,
    output: str | None,
    page_size: int | None,
    base_uri: str | None,
    validate: bool,
    as_json: bool,
) -> None:
    """Write merged/<PIPELINE>/ as a DCAT-AP 3 catalogue, dataset by dataset.

    Datasets carry their merged key as dct:identifier, and dct:source / prov:wasDerivedFrom the remote URL of
    every record they were merged from. With --page-size, pages are linked by a Hydra PartialCollectionView.
    --validate checks the written files with the official DCAT-AP 3.0.1 SHACL shapes (needs -o).

    Example: harvester export sud -o sud.ttl --validate
    """
    from harvester.errors import UsageError
    from harvester.export.writer import export_dcat
    from harvester.pipelines import get_pipeline

    pipeline = get_pipeline(ctx.config, pipeline_name)
    if validate and not output:
        raise UsageError("--validate reads the written files: give -o FILE")
    if output:
        report = export_dcat(ctx.data, pipeline.name, Path(output), rdf_format=rdf_format, page_size=page_size,
                             base=base_uri)  # fmt: skip
    else:
        report = export_dcat(ctx.data, pipeline.name, sys.stdout, rdf_format=rdf_format, page_size=page_size,
                             base=base_uri)  # fmt: skip
    doc = report.to_dict()
    violations = []
    if validate:
        from harvester.export.shacl import validate_files

        violations = validate_files([Path(f) for f in report.files], rdf_format)
        doc["violations"] = len(violations)
        doc["first_violations"] = [v.to_dict() for v in violations[:10]]
    if as_json:
        print_json(doc)
    elif output:
        echo(f"{pipeline.name}: {report.datasets} datasets, {report.distributions} distributions, "
             f"{report.triples} triples → {', '.join(report.files)}")  # fmt: skip
        if validate:
            echo(f"  {len(violations)} SHACL violations (DCAT-AP 3.0.1)", fg="red" if violations else "green")
            for v in violations[:10]:
                echo(f"  - {v.focus} {v.path or ''}: {v.message}")
    if violations:
        click.get_current_context().exit(1)


def register(group: click.Group) -> None:
    group.add_command(export)
