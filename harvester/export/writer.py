"""Write merged/<pipeline>/ as DCAT-AP files, dataset by dataset: Turtle, RDF/XML or JSON-LD, optionally paged.

Each dataset is a small rdflib graph serialised on its own; the chunks are joined under one header (Turtle's
prefixes, the rdf:RDF element, the JSON-LD context and @graph array), so memory holds one dataset at a time plus
the resources and provenance rows of the pipeline. With `page_size`, `out.ttl` becomes `out-1.ttl`, `out-2.ttl`…,
each page holding the catalogue with a Hydra `PartialCollectionView` (first, last, previous, next: the file
names of the other pages, relative IRIs) and `hydra:totalItems`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rdflib import Graph, URIRef

from harvester import store
from harvester.errors import ConfigError, UsageError
from harvester.export.dcat import PREFIXES, catalog_graph, dataset_graph, default_base
from harvester.layout import merged_dir

EXTENSIONS = {"turtle": ".ttl", "xml": ".rdf", "jsonld": ".jsonld"}
MEDIA_TYPES = {"turtle": "text/turtle", "xml": "application/rdf+xml", "jsonld": "application/ld+json"}
_RESOURCE_COLUMNS = ["merged_key", "resource_key", "url", "title", "description", "format", "media_type",
                     "size_bytes", "modified"]  # fmt: skip
_PROVENANCE_COLUMNS = ["merged_key", "dataset_key", "remote_url", "won"]


@dataclass
class ExportReport:
    pipeline: str
    rdf_format: str
    datasets: int = 0
    distributions: int = 0
    triples: int = 0
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline, "rdf_format": self.rdf_format, "datasets": self.datasets,
                "distributions": self.distributions, "triples": self.triples, "files": self.files}  # fmt: skip


class _Sink:
    """One output document: a header, chunks, a footer, in the chosen RDF syntax."""

    def __init__(self, fh: IO[str], rdf_format: str) -> None:
        self.fh, self.fmt, self.first = fh, rdf_format, True
        if rdf_format == "turtle":
            fh.write("".join(f"@prefix {p}: <{ns}> .\n" for p, ns in PREFIXES.items()) + "\n")
        elif rdf_format == "xml":
            decl = "".join(f'\n   xmlns:{p}="{ns}"' for p, ns in PREFIXES.items())
            fh.write(f'<?xml version="1.0" encoding="utf-8"?>\n<rdf:RDF{decl}\n>\n')
        else:
            context = json.dumps({p: str(ns) for p, ns in PREFIXES.items()}, ensure_ascii=False)
            fh.write(f'{{"@context": {context},\n "@graph": [\n')

    def add(self, g: Graph) -> None:
        if self.fmt == "turtle":
            text = g.serialize(format="turtle")
            self.fh.write(
                "".join(ln for ln in text.splitlines(keepends=True) if not ln.startswith("@prefix"))
            )
        elif self.fmt == "xml":
            text = g.serialize(format="xml")
            start = text.index(">", text.index("<rdf:RDF")) + 1
            self.fh.write(text[start : text.rindex("</rdf:RDF>")].strip("\n") + "\n")
        else:
            doc = json.loads(
                g.serialize(format="json-ld", context={p: str(ns) for p, ns in PREFIXES.items()})
            )
            nodes = doc.get("@graph", [doc]) if isinstance(doc, dict) else doc
            for node in nodes:
                if isinstance(node, dict):
                    node.pop("@context", None)
                self.fh.write(("" if self.first else ",\n") + json.dumps(node, ensure_ascii=False))
                self.first = False

    def close(self) -> None:
        if self.fmt == "xml":
            self.fh.write("</rdf:RDF>\n")
        elif self.fmt == "jsonld":
            self.fh.write("\n]}\n")


def _grouped(path: Path, columns: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    if not path.exists():
        return out
    for batch in store.parquet_file(path).iter_batches(batch_size=10_000, columns=columns):
        for row in batch.to_pylist():
            out.setdefault(row["merged_key"], []).append(row)
    return out


def live_datasets(data_dir: Path, pipeline: str) -> Iterator[dict[str, Any]]:
    """Rows of merged/<pipeline>/datasets.parquet not withdrawn, batch by batch."""
    path = merged_dir(data_dir, pipeline) / "datasets.parquet"
    if not path.exists():
        raise ConfigError(
            f"pipeline {pipeline}: nothing merged yet ({path.name} missing: run `harvester merge`)"
        )
    for batch in store.parquet_file(path).iter_batches(batch_size=1_000):
        for row in batch.to_pylist():
            if row.get("withdrawn_at") is None:
                yield row


def _count(data_dir: Path, pipeline: str) -> int:
    path = merged_dir(data_dir, pipeline) / "datasets.parquet"
    return int(store.read_table(path, columns=["withdrawn_at"]).column("withdrawn_at").null_count)


def page_paths(output: Path, pages: int) -> list[Path]:
    return [output.with_name(f"{output.stem}-{i}{output.suffix}") for i in range(1, pages + 1)]


def export_dcat(
    data_dir: Path,
    pipeline: str,
    out: Path | IO[str],
    *,
    rdf_format: str = "turtle",
    page_size: int | None = None,
    base: str | None = None,
    title: str | None = None,
    publisher: str = "harvester",
) -> ExportReport:
    """Write the pipeline's merged catalogue to `out` (a path, or an open text stream when not paged)."""
    if rdf_format not in EXTENSIONS:
        raise ConfigError(f"unknown RDF format {rdf_format!r} (turtle, xml, jsonld)")
    base = base or default_base(pipeline)
    catalog = URIRef(f"{base}catalog")
    title = title or f"harvester catalogue {pipeline}"
    report = ExportReport(pipeline, rdf_format)
    total = _count(data_dir, pipeline)
    resources = _grouped(merged_dir(data_dir, pipeline) / "resources.parquet", _RESOURCE_COLUMNS)
    provenance = _grouped(merged_dir(data_dir, pipeline) / "provenance.parquet", _PROVENANCE_COLUMNS)
    if page_size is not None:
        if not isinstance(out, Path):
            raise UsageError("--page-size needs an output file (-o out.ttl writes out-1.ttl, out-2.ttl…)")
        paths = page_paths(out, max(1, -(-total // page_size)))
    else:
        paths = [out] if isinstance(out, Path) else []
    rows = live_datasets(data_dir, pipeline)
    if not paths:  # a stream
        assert not isinstance(out, Path)
        _write_page(out, rdf_format, catalog, base, title, publisher, total, None, rows, resources, provenance,
                    report)  # fmt: skip
        return report
    for i, path in enumerate(paths):
        page = None
        if page_size is not None:
            names = [p.name for p in paths]
            page = {"iri": names[i], "first": names[0], "last": names[-1],
                    "next": names[i + 1] if i + 1 < len(names) else None,
                    "previous": names[i - 1] if i > 0 else None}  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                chunk = _take(rows, page_size) if page_size is not None else rows
                _write_page(fh, rdf_format, catalog, base, title, publisher, total, page, chunk, resources,
                            provenance, report)  # fmt: skip
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        report.files.append(str(path))
    return report


def _take(rows: Iterator[dict[str, Any]], n: int) -> Iterator[dict[str, Any]]:
    for _ in range(n):
        row = next(rows, None)
        if row is None:
            return
        yield row


def _write_page(
    fh: IO[str],
    rdf_format: str,
    catalog: URIRef,
    base: str,
    title: str,
    publisher: str,
    total: int,
    page: dict[str, Any] | None,
    rows: Iterator[dict[str, Any]],
    resources: dict[str, list[dict[str, Any]]],
    provenance: dict[str, list[dict[str, Any]]],
    report: ExportReport,
) -> None:
    sink = _Sink(fh, rdf_format)
    head = catalog_graph(catalog, base, title, publisher, total, page)
    sink.add(head)
    report.triples += len(head)
    for row in rows:
        res = resources.get(row["merged_key"], [])
        g = dataset_graph(catalog, base, row, res, provenance.get(row["merged_key"], []))
        sink.add(g)
        report.datasets += 1
        report.distributions += sum(1 for r in res if r.get("url"))
        report.triples += len(g)
    sink.close()
