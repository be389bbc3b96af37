"""The README's connector reference is generated from the parameter models and must stay in sync with them."""

from __future__ import annotations

import re
from pathlib import Path

from harvester.cli.config_cmds import connectors_markdown
from harvester.connectors import REGISTRY

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"<!-- connectors:start -->\n(.*?)\n<!-- connectors:end -->", re.S)


def _block() -> str:
    m = BLOCK.search(README.read_text(encoding="utf-8"))
    assert m, "README.md has no <!-- connectors:start --> … <!-- connectors:end --> block"
    return m.group(1).strip()


def test_readme_connector_reference_is_generated() -> None:
    assert _block() == connectors_markdown().strip(), (
        "README connector reference is stale: replace the block with the output of `harvester connectors --markdown`"
    )


def test_every_connector_and_param_is_documented() -> None:
    block = _block()
    for name, cls in REGISTRY.items():
        assert f"### `{name}`" in block
        for param in cls.Params.model_fields:
            assert f"| `{param}` |" in block, f"{name}.{param} missing from the README reference"


def _commands() -> list[tuple[str, object]]:
    import click

    from harvester.cli import cli

    out: list[tuple[str, object]] = []
    for name, cmd in cli.commands.items():
        out.append((name, cmd))
        if isinstance(cmd, click.Group):
            out += [(f"{name} {sub}", c) for sub, c in cmd.commands.items()]
    return out


def test_every_command_has_help_with_an_example_and_is_in_the_readme() -> None:
    readme = README.read_text(encoding="utf-8")
    for name, cmd in _commands():
        text = getattr(cmd, "help", None) or ""
        assert text.strip(), f"`harvester {name}` has no help"
        assert "Example:" in text, f"`harvester {name}` help has no Example line"
        top = name.split()[0]
        assert f"harvester {top}" in readme, f"`harvester {top}` is not documented in README.md"
