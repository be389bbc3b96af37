"""SHACL validation of an exported catalogue against the official DCAT-AP 3.0.1 shapes (harvester/data/shacl/)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rdflib import Graph, Namespace
from rdflib.term import Node

SH = Namespace("http://www.w3.org/ns/shacl#")
SHAPES = "dcat-ap-3.0.1_dcat-ap-SHACL.ttl"
_RDF_FORMATS = {".ttl": "turtle", ".rdf": "xml", ".xml": "xml", ".jsonld": "json-ld", ".json": "json-ld"}


@dataclass(frozen=True)
class Violation:
    focus: str
    path: str | None
    severity: str
    message: str
    shape: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"focus": self.focus, "path": self.path, "severity": self.severity, "message": self.message,
                "shape": self.shape}  # fmt: skip


def shapes_graph() -> Graph:
    text = resources.files("harvester").joinpath("data", "shacl", SHAPES).read_text(encoding="utf-8")
    return Graph().parse(data=text, format="turtle")


def _text(node: Node | None) -> str | None:
    return None if node is None else str(node)


def validate_graph(data: Graph, shapes: Graph | None = None) -> list[Violation]:
    """Every sh:Violation result of the shapes on `data` (warnings and infos are not counted)."""
    from pyshacl import validate  # lazy: pyshacl loads a lot

    _conforms, results, _text_report = validate(data, shacl_graph=shapes or shapes_graph(), inference="none")
    out: list[Violation] = []
    assert isinstance(results, Graph)
    for r in results.subjects(SH.resultSeverity, SH.Violation):
        out.append(
            Violation(
                focus=str(results.value(r, SH.focusNode)),
                path=_text(results.value(r, SH.resultPath)),
                severity="Violation",
                message=str(results.value(r, SH.resultMessage) or ""),
                shape=_text(results.value(r, SH.sourceShape)),
            )
        )
    return sorted(out, key=lambda v: (v.focus, v.path or "", v.message))


def validate_files(
    paths: list[Path], rdf_format: str | None = None, shapes: Graph | None = None
) -> list[Violation]:
    """Validate each exported file (each page is a document of its own); the syntax from the name by default."""
    shapes = shapes or shapes_graph()
    out: list[Violation] = []
    for path in paths:
        syntax = {"jsonld": "json-ld"}.get(rdf_format or "", rdf_format)
        g = Graph().parse(path, format=syntax or _RDF_FORMATS.get(path.suffix.lower(), "turtle"))
        out += validate_graph(g, shapes)
    return out
