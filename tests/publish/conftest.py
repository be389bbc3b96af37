"""The real CKAN testbed for publishing tests, and small projects (sources.yaml + pipelines/) to publish from.

Tests marked `ckan` need the testbed that `make test` starts (`make ckan-up`). When it can't be reached they FAIL.
A developer may opt out locally with HARVESTER_NO_CKAN=1 (they are then skipped); CI (CI=true) never does.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from ckanapi import RemoteCKAN
from ckanapi.errors import NotFound

from harvester.config import Config, load_config
from harvester.pipelines import PipelineConfig, get_pipeline
from harvester.publish.client import CkanClient

ROOT = Path(__file__).resolve().parents[2]
CKAN_URL = os.environ.get("CKAN_URL", "http://127.0.0.1:5000").rstrip("/")
TOKEN_ENV = "HARVESTER_TEST_CKAN_TOKEN"


def token_file() -> Path:
    if os.environ.get("CKAN_TOKEN_FILE"):
        return Path(os.environ["CKAN_TOKEN_FILE"])
    return Path(os.environ.get("CKAN_TESTBED_DIR") or ROOT / ".ckan-testbed") / "token.txt"


def opted_out() -> bool:
    return os.environ.get("HARVESTER_NO_CKAN") == "1" and os.environ.get("CI") != "true"


@dataclass
class CkanTestbed:
    url: str
    token: str
    api: RemoteCKAN  # for setting up and checking; its calls are not counted by the publisher
    orgs: set[str] = field(default_factory=set)

    def client(self, **kw: Any) -> CkanClient:
        kw.setdefault("backoff", 0.05)
        return CkanClient(self.url, self.token, **kw)

    def show(self, name_or_id: str) -> dict[str, Any] | None:
        try:
            pkg: dict[str, Any] = self.api.action.package_show(id=name_or_id)
            return pkg
        except NotFound:
            return None

    def owned(self, pipeline: str) -> list[dict[str, Any]]:
        """Active datasets whose harvest_pipeline extra is exactly `pipeline` (fl: fields from the index)."""
        out = []
        start = 0
        while True:
            page = self.api.action.package_search(
                fq=f'extras_harvest_pipeline:"{pipeline}"',
                fl="id,name,state,metadata_modified,extras_harvest_pipeline,extras_harvest_remote_id",
                rows=1000,
                start=start,
                include_private=True,
            )
            out += [r for r in page["results"] if r.get("harvest_pipeline") == pipeline]
            start += len(page["results"])
            if not page["results"] or start >= page["count"]:
                return out

    def purge(self, ids: set[str], orgs: set[str]) -> None:
        for ident in ids:
            try:
                self.api.action.dataset_purge(id=ident)
            except NotFound:
                pass
        for org in orgs:
            try:
                self.api.action.organization_purge(id=org)
            except NotFound:
                pass


@pytest.fixture(scope="session")
def ckan() -> CkanTestbed:
    problem = None
    token = ""
    try:
        token = token_file().read_text().strip()
        r = requests.get(f"{CKAN_URL}/api/3/action/status_show", timeout=5)
        r.raise_for_status()
        if not token:
            problem = f"empty token file {token_file()}"
    except (OSError, requests.RequestException) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        if opted_out():
            pytest.skip(f"HARVESTER_NO_CKAN=1: CKAN testbed not used ({problem})")
        pytest.fail(
            f"the CKAN testbed at {CKAN_URL} is not usable: {problem}. Start it with `make ckan-up` "
            "(a developer may set HARVESTER_NO_CKAN=1 to skip these tests locally; CI never does)",
            pytrace=False,
        )
    return CkanTestbed(CKAN_URL, token, RemoteCKAN(CKAN_URL, apikey=token))


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def write_project(
    root: Path,
    *,
    pipeline: str,
    sources: list[str],
    org: str,
    url: str = CKAN_URL,
    org_map: dict[str, str] | None = None,
    source_urls: dict[str, str] | None = None,
    merge: dict[str, Any] | None = None,
    tables: dict[str, Any] | None = None,
    quality_extra: bool = False,
    **ckan_options: Any,
) -> Config:
    """sources.yaml + pipelines/<pipeline>.yaml under `root`, loaded through the real config code."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "sources.yaml").write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {"id": s, "type": "ckan", "url": (source_urls or {}).get(s, f"https://{s}.example.org")}
                    for s in sources
                ]
            }
        ),
        encoding="utf-8",
    )
    ckan_cfg: dict[str, Any] = {
        "url": url,
        "token_env": TOKEN_ENV,
        "organizations": {"default": org, "map": org_map or {}, "create_missing": True},
        **ckan_options,
    }
    (root / "pipelines").mkdir(exist_ok=True)
    (root / "pipelines" / f"{pipeline}.yaml").write_text(
        yaml.safe_dump(
            {
                "name": pipeline,
                "sources": sources,
                "publish": {"ckan": ckan_cfg}
                | ({"tables": tables} if tables is not None else {})
                | ({"quality_extra": True} if quality_extra else {}),
            }
            | ({"merge": merge} if merge is not None else {})
        ),
        encoding="utf-8",
    )
    return load_config(root / "sources.yaml")


@pytest.fixture(scope="module")
def token_env(ckan: CkanTestbed) -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    mp.setenv(TOKEN_ENV, ckan.token)
    yield
    mp.undo()


def pipeline_of(cfg: Config, name: str) -> PipelineConfig:
    return get_pipeline(cfg, name)
