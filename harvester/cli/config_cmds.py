"""`validate`, `sources` and `connectors`: configuration commands that send no request."""

from __future__ import annotations

from typing import Any

import click

from harvester.cli.context import Ctx, echo, pass_ctx, print_json
from harvester.errors import ConfigError


@click.command()
@pass_ctx
def validate(ctx: Ctx) -> None:
    """Validate sources.yaml (and pipelines/) without sending any request; exit 2 when invalid.

    Example: harvester --config sources.yaml validate
    """
    from harvester.config import check_env

    cfg = ctx.config
    problems = check_env(cfg.sources)
    try:
        from harvester.pipelines import load_pipelines  # available once publishing is installed

        pipelines = load_pipelines(cfg)
    except ImportError:  # pragma: no cover - during bootstrap only
        pipelines = {}
    if problems:
        raise ConfigError(f"{ctx.config_path}: {len(problems)} configuration error(s)", errors=problems)
    echo(f"{ctx.config_path}: {len(cfg.sources)} sources, {len(pipelines)} pipelines: OK", fg="green")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON to stdout.")
@pass_ctx
def sources(ctx: Ctx, as_json: bool) -> None:
    """List the configured sources with their last run and dataset count.

    Example: harvester sources --json
    """
    from harvester.catalog import read_snapshot_count

    rows: list[dict[str, Any]] = []
    for s in ctx.config.sources:
        last = ctx.read_state.last_run(s.id, "harvest")
        rows.append(
            {
                "id": s.id,
                "type": s.type,
                "url": s.url,
                "enabled": s.enabled,
                "schedule": s.schedule,
                "last_run": last["finished_at"] if last else None,
                "last_status": last["status"] if last else None,
                "datasets": read_snapshot_count(ctx.data, s.id),
            }
        )
    if as_json:
        print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "type", "enabled", "schedule", "last run", "status", "datasets")
    for r in rows:
        table.add_row(
            r["id"],
            r["type"],
            "yes" if r["enabled"] else "no",
            r["schedule"] or "-",
            (r["last_run"] or "never")[:19],
            r["last_status"] or "-",
            "-" if r["datasets"] is None else str(r["datasets"]),
        )
    Console(stderr=True).print(table)


def connector_docs() -> list[dict[str, Any]]:
    """Connector types and their params, generated from the params models (also used for the README)."""
    from harvester.connectors import REGISTRY

    out = []
    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        params = []
        for fname, f in cls.Params.model_fields.items():
            params.append(
                {
                    "name": fname,
                    "type": _type_name(f.annotation),
                    "default": None
                    if f.is_required()
                    else _jsonable(f.get_default(call_default_factory=True)),
                    "required": f.is_required(),
                    "description": f.description or "",
                }
            )
        out.append({"type": name, "description": cls.description, "params": params})
    return out


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "")


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return str(value)


def connectors_markdown() -> str:
    lines = []
    for c in connector_docs():
        lines.append(f"### `{c['type']}`\n\n{c['description']}\n")
        lines.append("| param | type | default | description |\n|---|---|---|---|")
        for p in c["params"]:
            default = "required" if p["required"] else f"`{p['default']}`"
            cells = (f"`{p['name']}`", p["type"], default, p["description"])
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")  # `str | None`
        lines.append("")
    return "\n".join(lines)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON to stdout.")
@click.option("--markdown", is_flag=True, help="Print the README reference (Markdown) to stdout.")
def connectors(as_json: bool, markdown: bool) -> None:
    """List connector types with their parameters and descriptions.

    Example: harvester connectors --json
    """
    if as_json:
        print_json(connector_docs())
        return
    if markdown:
        click.echo(connectors_markdown())
        return
    for c in connector_docs():
        echo(f"{c['type']}: {c['description']}", bold=True)
        for p in c["params"]:
            default = "required" if p["required"] else f"default {p['default']!r}"
            echo(f"  {p['name']} ({p['type']}, {default}): {p['description']}")


def register(group: click.Group) -> None:
    for cmd in (validate, sources, connectors):
        group.add_command(cmd)
