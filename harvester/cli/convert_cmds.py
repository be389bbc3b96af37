"""`convert`: one local file or URL → typed Parquet, with the normalise stage's detection, nothing harvested."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import click

from harvester.cli.context import echo, print_json
from harvester.errors import UsageError


def _is_url(text: str) -> bool:
    return urlsplit(text).scheme in ("http", "https")


def _name_of(source: str) -> str:
    """The file name a source stands for (the last segment of a URL's path)."""
    if _is_url(source):
        return PurePosixPath(unquote(urlsplit(source).path)).name or "table"
    return Path(source).name


def _fetch(url: str, dest: Path, max_bytes: int | None) -> dict[str, Any]:
    """Download through the project's HTTP layer (retries, size limit, clear errors)."""
    from dataclasses import replace

    from harvester.download import download
    from harvester.http import HttpClient, HttpPolicy

    client = HttpClient()
    policy = replace(HttpPolicy(), max_bytes=max_bytes) if max_bytes else client.policy
    dl = download(client, url, dest, policy=policy)
    return {"http_status": dl.status, "bytes": dl.size, "content_type": dl.headers.get("Content-Type")}


def describe(columns: list[tuple[str, str]], metadata: dict[bytes, bytes] | None) -> list[dict[str, Any]]:
    """Columns with their Parquet type and, where the CSV/JSON reader typed them, how (decimal mark, date
    formats, why a column stayed text)."""
    how: dict[str, dict[str, Any]] = {}
    raw = (metadata or {}).get(b"harvester.columns")
    if raw:
        for entry in json.loads(raw):
            how[entry.get("name")] = {k: v for k, v in entry.items() if k not in ("name", "kind")}
    out = []
    for name, typ in columns:
        extra = dict(how.get(name, {}))
        if typ != "double":
            extra.pop("decimal", None)
        out.append({"name": name, "type": typ, **extra})
    return out


@click.command()
@click.argument("source", metavar="FILE_OR_URL")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Parquet file to write (default: the source's name with .parquet, in the current folder).",
)
@click.option("--max-bytes", type=click.IntRange(1), default=None, help="Largest file accepted, in bytes.")
@click.option("--json", "as_json", is_flag=True, help="Print what was detected as JSON to stdout.")
def convert(source: str, output: str | None, max_bytes: int | None, as_json: bool) -> None:
    """Convert one file or URL (CSV, XLSX, ODS, JSON, GeoJSON, ZIP) into typed Parquet and print the detected
    dialect and schema. Same detection as `harvester normalise`; needs no sources.yaml and harvests nothing.

    Example: harvester convert communes.csv -o communes.parquet
    """
    from harvester.normalise.resource import convert_file

    name = _name_of(source)
    dest = Path(output) if output else Path(Path(name).stem + ".parquet")
    if dest.suffix.lower() != ".parquet":
        raise UsageError(f"the output must be a .parquet file, not {dest.name!r}")
    from harvester.normalise.sniff import resource_kind

    kind = resource_kind(None, source if _is_url(source) else name) or "csv"
    import tempfile

    fetched: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="harvester-convert-") as tmp:
        work = Path(tmp)
        if _is_url(source):
            src = work / "download"
            fetched = _fetch(source, src, max_bytes)
        else:
            src = Path(source)
            if not src.is_file():
                raise UsageError(f"{source}: no such file")
        outcome = convert_file(src, dest, work, kind=kind, url=source, max_bytes=max_bytes)
    import pyarrow.parquet as pq

    schema = pq.read_schema(dest)
    report = {
        "source": source,
        "output": str(dest),
        "rows": outcome.rows,
        **({"download": fetched} if fetched else {}),
        "detected": _dialect(outcome.detected, describe(outcome.columns or [], schema.metadata)),
        "columns": describe(outcome.columns or [], schema.metadata),
        "warnings": outcome.warnings,
    }
    if as_json:
        print_json(report)
        return
    _print(report)


def _dialect(detected: dict[str, Any], columns: list[dict[str, Any]]) -> dict[str, Any]:
    """What was detected, plus the decimal marks of the number columns (a per-column fact, summed up here)."""
    out = dict(detected)
    marks = sorted({c["decimal"] for c in columns if c["type"] == "double" and "decimal" in c})
    if marks or any(c["type"] == "double" for c in columns):
        out["decimal"] = marks[0] if len(marks) == 1 else marks or "."
    return out


def _print(report: dict[str, Any]) -> None:
    det = report["detected"]
    echo(f"{report['source']} → {report['output']}: {report['rows']:,} rows", fg="green", bold=True)
    shown = (
        "kind",
        "encoding",
        "delimiter",
        "quotechar",
        "has_header",
        "decimal",
        "archive_member",
        "geometry",
    )
    for key in shown:
        if key in det:
            echo(f"  {key}: {det[key]!r}" if key == "delimiter" else f"  {key}: {det[key]}")
    echo("columns:")
    width = max((len(c["name"]) for c in report["columns"]), default=0)
    for c in report["columns"]:
        notes = [f"{k}={v}" for k, v in c.items() if k not in ("name", "type", "snake_name") and v]
        echo(f"  {c['name']:<{width}}  {c['type']}" + (f"  ({', '.join(notes)})" if notes else ""))
    for w in report["warnings"]:
        echo(f"warning: {w}", fg="yellow")


def register(group: click.Group) -> None:
    group.add_command(convert)
