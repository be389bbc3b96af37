"""No secret in any output: a run (harvest, normalise, publish, run, status) against hosts that refuse
connections, with credentials in URLs and keys in query strings, text and JSON logs, --json and --debug.

Every output is searched for every secret: stdout, stderr (the log), every file of the data directory
outside the catalogue (which holds what the portal published, as published), the state store read as bytes.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.faults.project import Project
from tests.fixture_server import FixtureServer
from tests.portals.ckan_portal import CkanPortal, build_packages

SECRETS = {
    "PORTALPASS1", "PORTALKEY2", "PORTALTOK3", "ENVTOKEN4", "FILEPASS5", "FILEKEY6", "FILESIG7", "FILETOK8",
    "LOCALPASS9", "CKANPASS10", "CKANKEY11", "CKANTOKEN12",
}  # fmt: skip


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def leaks(text: str) -> set[str]:
    return {s for s in SECRETS if s in text}


def test_no_secret_in_any_output(
    project: Project, server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = f"127.0.0.1:{closed_port()}"
    packages = build_packages(4)
    for i, p in enumerate(packages):
        p["resources"] = [
            {"id": f"r{i}", "format": "CSV", "name": "t",
             "url": f"http://bob:FILEPASS5@{refused}/data-{i}.csv?api_key=FILEKEY6&signature=FILESIG7"},
            {"id": f"s{i}", "format": "CSV", "name": "u",
             "url": f"http://{refused}/export-{i}.csv?access_token=FILETOK8&rows=10"},
        ]  # fmt: skip
    portal = CkanPortal(server, packages)
    monkeypatch.setenv("HARV_PORTAL_TOKEN", "ENVTOKEN4")
    monkeypatch.setenv("HARV_CKAN_TOKEN", "CKANTOKEN12")
    fast = {"backoff": 0, "max_retries": 1, "timeout": 2}
    project.sources(
        [
            {"id": "locked", "type": "ckan", "http": fast, "auth": {"token_env": "HARV_PORTAL_TOKEN"},
             "url": f"http://admin:PORTALPASS1@{refused}/?apikey=PORTALKEY2&token=PORTALTOK3"},
            {"id": "files", "type": "ckan", "http": fast, "auth": {"token_env": "HARV_PORTAL_TOKEN"},
             "url": portal.url.replace("http://", "http://user:LOCALPASS9@")},
        ]
    )  # fmt: skip
    project.pipeline(
        "sud",
        ["locked", "files"],
        {"url": f"http://ckanadmin:CKANPASS10@{refused}/?apikey=CKANKEY11", "token_env": "HARV_CKAN_TOKEN",
         "organizations": {"default": "org", "create_missing": True}, "max_retries": 1},
    )  # fmt: skip
    runs = [
        project.cli("harvest", "--all", pre=("-vv",)),
        project.cli("harvest", "--all", "--full", "--json", pre=("--log-json", "-vv")),
        project.cli("normalise", "--all", pre=("-vv",)),
        project.cli("normalise", "--all", "--force", "--json", pre=("--log-json", "-vv", "--debug")),
        project.cli("publish", "sud", pre=("-vv", "--debug")),
        project.cli("publish", "sud", "--json", pre=("--log-json", "-vv")),
        project.cli("run", "sud", "--json", pre=("--log-json", "-vv", "--debug")),
        project.cli("run", "sud", pre=("-vv",)),
        project.cli("status", "--json"),
        project.cli("status"),
        project.cli("check", "locked", pre=("-vv", "--debug")),
        project.cli("state", "show", "locked"),
    ]
    # the runs did what they should: the refused hosts failed, the reachable portal was harvested
    assert runs[0].code == 3 and runs[2].code == 3 and runs[4].code != 0 and runs[6].code != 0
    assert "Connection refused" in runs[0].stderr + runs[2].stderr
    assert "CKAN" in runs[4].stderr and (project.data / "catalog" / "files" / "datasets.parquet").exists()
    for ran in runs:
        assert not leaks(ran.stdout), ran.stdout
        assert not leaks(ran.stderr), ran.stderr
    assert "***" in runs[0].stderr + runs[2].stderr  # they were there, redacted
    searched = 0
    for path in project.data.rglob("*"):
        # catalog/ and merged/ hold the resource URLs the portal published (data, kept as served); the userinfo
        # of our source URL never reaches them (checked below)
        parts = path.relative_to(project.data).parts
        if path.is_file() and not {"catalog", "merged"} & set(parts):
            found = leaks(path.read_bytes().decode("utf-8", "replace"))
            assert not found, f"{path}: {found}"
            searched += 1
    assert searched >= 5 and (project.data / "state.sqlite").exists()
    assert list((project.data / "runs").glob("*/errors.jsonl")) and list(
        (project.data / "runs").glob("*/report.json")
    )
    # the portal's catalogue itself is what the portal published: its resource URLs are data, kept as served;
    # the credentials of our own source URL are not (remote_url, landing page and resource links lose them)
    for name in (
        "catalog/files/datasets.parquet",
        "catalog/files/resources.parquet",
        "merged/sud/datasets.parquet",
    ):
        assert "LOCALPASS9" not in str(pq.read_table(project.data / name).to_pylist()), name
    assert Path(project.data / "catalog" / "files" / "resources.parquet").exists()
