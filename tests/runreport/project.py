"""A replayed CKAN portal whose real CSV resources are converted, one missing (404) and one on a closed port."""

from __future__ import annotations

import csv
import io
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result

from harvester.cli import cli
from harvester.config import load_config
from harvester.http import HttpClient
from harvester.normalise.stage import normalise_sources
from harvester.state import StateStore
from tests.fixture_server import FixtureServer, Reply
from tests.normalise.served import CSV_FR, Files, ckan_with_resources
from tests.portals.ckan_portal import CkanPortal

BROKEN_BODY = "<script>alert('not escaped')</script>"
# the real CSV of the first run, with one column renamed and one dropped (schema drift in the second run)
BNLC = (CSV_FR / "bnlc_calvados_covoiturage_utf8_bom.csv").read_bytes()


def drifted_bnlc() -> bytes:
    """The first column renamed (`id_local` -> `ID_LOCAL_NUMERO`) and the last one (`comm`) dropped."""
    rows = list(csv.reader(io.StringIO(BNLC.decode("utf-8-sig"))))
    rows[0][0] = "ID_LOCAL_NUMERO"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(r[:-1] for r in rows)
    return out.getvalue().encode()


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

    def harvest_and_normalise(self) -> str:
        """`harvester harvest demo`, then normalise under the same run id (as `harvester run` does)."""
        res = self.invoke("harvest", "demo", "--json")
        assert res.exit_code == 0, res.output
        run_id: str = json.loads(res.stdout)["run_id"]
        cfg = load_config(self.root / "sources.yaml")
        state = StateStore(self.data / "state.sqlite")
        try:
            http = HttpClient(validators=state, cache_dir=self.data / "http-cache")
            normalise_sources(cfg, ["demo"], data_dir=self.data, state=state, http=http, run_id=run_id)
        finally:
            state.close()
        return run_id

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
            "url": files.put("/d/bnlc.csv", BNLC),
        },
        {
            "name": "irve",
            "format": "CSV",
            "url": files.put("/d/irve.csv", (CSV_FR / "irve_schema_v2_sample.csv").read_bytes()),
        },
        {
            "name": "missing",
            "format": "CSV",
            "url": server.url + "/d/not-there.csv",
        },  # 404, markup in its body
        {"name": "dead", "format": "CSV", "url": dead_url},  # connection refused
        {"name": "broken", "format": "CSV", "url": server.url + "/d/broken.csv"},  # 500
    ]
    server.route("/d/broken.csv", Reply(500, "Internal Server Error", content_type="text/plain"))
    server.route("/d/not-there.csv", Reply(404, BROKEN_BODY, content_type="text/html"))
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
