"""No connector module imports the registry: a connector that needs another one gets it passed in."""

from __future__ import annotations

import ast
from pathlib import Path

import harvester.connectors as package

CONNECTORS = Path(package.__file__).parent
REGISTRY_NAMES = {"REGISTRY", "Registry", "register", "get_connector_class", "build_connector"}


def _registry_imports(source: str, subpackage: bool = False) -> list[str]:
    """Imports of the registry module (`harvester.connectors` itself, not one of its submodules) in a module of
    `harvester/connectors/` (or of one of its subpackages)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name == "harvester.connectors"]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            registry = (node.level == 0 and module == "harvester.connectors") or (
                node.level == (2 if subpackage else 1) and module == ""
            )
            if registry:
                submodules = {p.stem for p in CONNECTORS.glob("*.py")} | {
                    p.name for p in CONNECTORS.iterdir()
                }
                found += [f"{module or '.'}:{a.name}" for a in node.names if a.name not in submodules]
            found += [f"{module}:{a.name}" for a in node.names if a.name in REGISTRY_NAMES]
    return found


def test_no_connector_module_imports_the_registry() -> None:
    modules = sorted(p for p in CONNECTORS.rglob("*.py") if p != CONNECTORS / "__init__.py")
    assert len(modules) > 20 and any(p.parent.name == "dcat" for p in modules)
    offenders = {
        str(p.relative_to(CONNECTORS)): imports
        for p in modules
        if (imports := _registry_imports(p.read_text("utf-8"), subpackage=p.parent != CONNECTORS))
    }
    assert offenders == {}


def test_the_check_sees_a_registry_import() -> None:
    """The rule above is not vacuous: the forms a registry import takes are all caught."""
    for line in (
        "from harvester.connectors import REGISTRY",
        "from harvester.connectors import get_connector_class as g",
        "import harvester.connectors",
        "from . import REGISTRY",
    ):
        assert _registry_imports(line), line
    assert _registry_imports("from .. import build_connector", subpackage=True)
    fine = "from harvester.connectors.base import BaseConnector\nfrom . import html_text\n"
    assert _registry_imports(fine) == []
    assert _registry_imports("from harvester.connectors.dcat import fields as F", subpackage=True) == []
