"""A replayed CKAN portal whose real CSV resources are converted, one missing (404) and one on a closed port."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result

from harvester.cli import cli
from tests.fixture_server import FixtureServer
from tests.normalise.served import CSV_FR, Files, ckan_with_resources
from tests.portals.ckan_portal import CkanPortal


def closed_port() -> int:
    """A loopback port nobody listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Project:
    root: Path
    files: Files
    portal: CkanPortal
    dead_url: str

    @property
    def data(self) -> Path:
        return self.root / "data"

    def invoke(self, *args: str) -> Result:
        return CliRunner().invoke(
            cli, ["--config", str(self.root / "sources.yaml"), "--data-dir", str(self.data), *args]
        )

    def run_json(self, *args: str) -> dict[str, Any]:
        res = self.invoke(*args, "--json")
        assert res.exit_code in (0, 3), res.output
        doc: dict[str, Any] = json.loads(res.stdout)
        return doc


def make_project(root: Path, server: FixtureServer) -> Project:
    files = Files(server)
    dead_url = f"http://127.0.0.1:{closed_port()}/gone/stations.csv"
    resources = [
        {
            "name": "bnlc",
            "format": "CSV",
            "url": files.put("/d/bnlc.csv", (CSV_FR / "bnlc_calvados_covoiturage_utf8_bom.csv").read_bytes()),
        },
        {
            "name": "irve",
            "format": "CSV",
            "url": files.put("/d/irve.csv", (CSV_FR / "irve_schema_v2_sample.csv").read_bytes()),
        },
        {"name": "missing", "format": "CSV", "url": server.url + "/d/not-there.csv"},  # 404
        {"name": "dead", "format": "CSV", "url": dead_url},  # connection refused
    ]
    portal = ckan_with_resources(server, resources)
    root.mkdir(parents=True, exist_ok=True)
    (root / "sources.yaml").write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {
                        "id": "demo",
                        "type": "ckan",
                        "url": portal.url,
                        "http": {"max_retries": 0, "timeout": 5},
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    return Project(root, files, portal, dead_url)
