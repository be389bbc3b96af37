"""The harvest stage end to end against a local CKAN-like API built from real package dicts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harvester.catalog import read_catalog
from harvester.config import Config, parse_sources
from harvester.harvest import SourceResult, harvest_source, new_run_id
from harvester.http import HttpClient, HttpPolicy
from harvester.schema import TS
from harvester.state import StateStore
from tests.fixture_server import FixtureServer, Reply, Request
from tests.portals.ckan_portal import CkanPortal, build_packages, touch


def config(url: str, **extra: Any) -> Config:
    extra.setdefault("http", {"backoff": 0.01, "timeout": 2})
    return parse_sources(
        {"sources": [{"id": "demo", "type": "ckan", "url": url, "params": {"rows": 1000}, **extra}]}
    )


def run(cfg: Config, tmp_path: Path, state: StateStore, http: HttpClient, full: bool = False) -> SourceResult:
    return harvest_source(
        cfg.sources[0], data_dir=tmp_path / "data", state=state, http=http, run_id=new_run_id(), full=full
    )


def snapshot(tmp_path: Path) -> dict[str, dict[str, Any]]:
    cat = read_catalog(tmp_path / "data", "demo")
    assert cat is not None
    return {r["dataset_key"]: r for r in cat[0].to_pylist()}


def test_2500_datasets_full_unchanged_and_three_changes(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    pkgs = build_packages(2500)
    portal = CkanPortal(server, pkgs)
    cfg = config(server.url)

    first = run(cfg, tmp_path, state, http)
    assert (first.status, first.mode, first.listed, first.created) == ("ok", "full", 2500, 2500)
    datasets = pq.read_table(tmp_path / "data/catalog/demo/datasets.parquet")
    assert datasets.num_rows == 2500
    assert len(set(datasets.column("dataset_key").to_pylist())) == 2500
    assert datasets.schema.field("modified").type == TS and datasets.schema.field("issued").type == TS
    assert datasets.column("modified").null_count == 0
    by_raw = {
        r["license_raw"]: r["license_id"] for r in datasets.select(["license_raw", "license_id"]).to_pylist()
    }
    assert by_raw["lov2"] == "lov2" and by_raw["odc-odbl"] == "odc-odbl"
    assert by_raw["fr-lo"] == "lov1"  # Licence Ouverte 1.0, not 2.0
    resources = pq.read_table(tmp_path / "data/catalog/demo/resources.parquet")
    assert resources.num_rows == sum(len(p["resources"]) for p in pkgs)
    before = snapshot(tmp_path)

    # A second run with no change sends only listing requests and changes no hash.
    n0 = len(server.requests)
    second = run(cfg, tmp_path, state, http)
    new_requests = server.requests[n0:]
    assert all(r.path == "/api/3/action/package_search" for r in new_requests)
    assert (second.mode, second.created, second.updated, second.withdrawn) == ("incremental", 0, 0, 0)
    # one incremental page (only the datasets inside the safety margin), then the portal's total (rows=0): it
    # equals the datasets known, so no id was listed
    assert [(r.arg("rows"), bool(r.arg("fl"))) for r in new_requests] == [("1000", False), ("0", False)]
    assert second.listed < 20
    after = snapshot(tmp_path)
    assert {k: r["metadata_hash"] for k, r in after.items()} == {
        k: r["metadata_hash"] for k, r in before.items()
    }
    assert {k: r["harvested_at"] for k, r in after.items()} == {
        k: r["harvested_at"] for k, r in before.items()
    }

    # Three datasets change upstream: exactly those three change.
    now = datetime.now(UTC)
    changed = [pkgs[5], pkgs[1200], pkgs[2499]]
    for p in changed:
        touch(p, now, title=p["title"] + " (mis à jour)")
    third = run(cfg, tmp_path, state, http)
    assert (third.updated, third.created, third.withdrawn) == (3, 0, 0)
    final = snapshot(tmp_path)
    differing = {k for k in final if final[k]["metadata_hash"] != after[k]["metadata_hash"]}
    assert differing == {f"demo:{p['id']}" for p in changed}
    assert final[f"demo:{pkgs[5]['id']}"]["title"].endswith("(mis à jour)")
    assert portal.search_requests()[-2].arg("fq", "").startswith("metadata_modified:[")


def test_deleted_upstream_is_withdrawn_and_kept(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    pkgs = build_packages(40)
    portal = CkanPortal(server, pkgs)
    cfg = config(server.url)
    run(cfg, tmp_path, state, http)
    gone = portal.packages.pop(7)
    result = run(cfg, tmp_path, state, http)  # incremental: the id listing reveals the deletion
    assert (result.mode, result.withdrawn) == ("incremental", 1)
    snap = snapshot(tmp_path)
    assert len(snap) == 40
    assert snap[f"demo:{gone['id']}"]["withdrawn_at"] is not None
    assert sum(1 for r in snap.values() if r["withdrawn_at"] is not None) == 1
    # It comes back: restored, not duplicated.
    portal.packages.append(gone)
    back = run(cfg, tmp_path, state, http, full=True)
    assert back.restored == 1 and snapshot(tmp_path)[f"demo:{gone['id']}"]["withdrawn_at"] is None


def test_listing_failing_half_way_keeps_previous_snapshot(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    portal = CkanPortal(server, build_packages(2500))
    cfg = config(server.url)
    run(cfg, tmp_path, state, http)
    files = {p: p.read_bytes() for p in (tmp_path / "data/catalog/demo").glob("*.parquet")}
    cursor = state.read_cursor("demo")
    portal.fail[1000] = Reply(500, "<html>Internal Server Error</html>", content_type="text/html")
    result = run(cfg, tmp_path, state, http, full=True)
    assert result.status == "failed"
    assert "HTTP 500" in (result.error or "") and "start=1000" in (result.error or "")
    assert {p: p.read_bytes() for p in files} == files  # byte for byte
    assert state.read_cursor("demo") == cursor
    assert result.withdrawn == 0


def test_listing_that_shrinks_too_much_withdraws_nothing(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    portal = CkanPortal(server, build_packages(100))
    cfg = config(server.url)
    run(cfg, tmp_path, state, http)
    del portal.packages[:30]
    result = run(cfg, tmp_path, state, http, full=True)
    assert result.withdrawn == 0 and result.status == "ok"
    assert any("shrank from 100 to 70" in n for n in result.notes)
    assert all(r["withdrawn_at"] is None for r in snapshot(tmp_path).values())
    portal.packages.clear()  # a source that returns nothing never withdraws anything either
    empty = run(cfg, tmp_path, state, http, full=True)
    assert empty.withdrawn == 0 and len(snapshot(tmp_path)) == 100


def flaky(portal: CkanPortal, replies: list[Reply]) -> None:
    """The first requests get `replies`, then the portal answers normally."""
    queue = list(replies)

    def handler(req: Request) -> Reply:
        return queue.pop(0) if queue else portal.package_search(req)

    portal.server.route("/api/3/action/package_search", handler)


def test_retries_429_with_retry_after_and_503(
    server: FixtureServer, tmp_path: Path, state: StateStore
) -> None:
    portal = CkanPortal(server, build_packages(10))
    flaky(portal, [Reply(429, "slow down", headers={"Retry-After": "1"}), Reply(503, "busy")])
    slept: list[float] = []
    http = HttpClient(HttpPolicy(backoff=0.01), validators=state, sleep=slept.append)
    result = run(config(server.url), tmp_path, state, http)
    assert result.status == "ok" and result.listed == 10
    assert slept[0] == 1.0  # Retry-After honoured
    assert (
        len(slept) == 2 and 0.01 <= slept[1] <= 0.03
    )  # second attempt: 2 × backoff (0.01 s here), with jitter
    assert len(portal.search_requests()) == 3


def test_timeout_is_retried_then_gives_up(server: FixtureServer, tmp_path: Path, state: StateStore) -> None:
    portal = CkanPortal(server, build_packages(5))
    flaky(portal, [Reply(200, "{}", delay=0.6)])
    http = HttpClient(validators=state)
    cfg = config(server.url, http={"timeout": 0.3, "backoff": 0.01, "max_retries": 2})
    assert run(cfg, tmp_path, state, http).status == "ok"
    portal.fail[0] = Reply(200, "{}", delay=0.6)
    failed = run(cfg, tmp_path, state, http, full=True)
    assert failed.status == "failed" and "gave up after 3 attempts" in (failed.error or "")


def test_bad_record_does_not_stop_the_source(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    pkgs = build_packages(10)
    pkgs[3]["id"] = None
    pkgs[4]["resources"] = "not a list"
    CkanPortal(server, pkgs)
    result = run(config(server.url), tmp_path, state, http)
    assert result.status == "partial" and result.record_errors >= 1
    assert result.listed >= 8
    assert any("without an `id`" in e["message"] for e in result.errors)


def test_second_harvest_of_a_locked_source_is_refused(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    CkanPortal(server, build_packages(3))
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with state.lock("source-demo"):
            holding.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    holding.wait(5)
    try:
        result = run(config(server.url), tmp_path, state, http)
    finally:
        release.set()
        t.join()
    assert result.status == "locked" and "already being processed" in (result.error or "")
    assert run(config(server.url), tmp_path, state, http).status == "ok"


def test_snapshot_types(server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient) -> None:
    CkanPortal(server, build_packages(4))
    run(config(server.url, defaults={"publisher": "Région Sud"}), tmp_path, state, http)
    ds = pq.read_table(tmp_path / "data/catalog/demo/datasets.parquet")
    assert ds.schema.field("keywords").type == pa.list_(pa.string())
    assert ds.schema.field("withdrawn_at").type == TS
    row = ds.to_pylist()[0]
    assert row["dataset_key"] == f"demo:{row['remote_id']}" and len(row["metadata_hash"]) == 64


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("CRITICAL")


def test_token_from_the_environment_is_sent_in_the_connector_header(
    server: FixtureServer,
    tmp_path: Path,
    state: StateStore,
    http: HttpClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    CkanPortal(server, build_packages(3))
    monkeypatch.setenv("DEMO_TOKEN", "s3cret")
    cfg = config(server.url, auth={"token_env": "DEMO_TOKEN"})
    assert run(cfg, tmp_path, state, http).status == "ok"
    assert server.requests[-1].headers.get("Authorization") == "s3cret"
    custom = config(server.url, auth={"token_env": "DEMO_TOKEN", "header": "X-CKAN-API-Key"})
    run(custom, tmp_path, state, http, full=True)
    assert server.requests[-1].headers.get("X-CKAN-API-Key") == "s3cret"
    monkeypatch.delenv("DEMO_TOKEN")
    missing = run(cfg, tmp_path, state, http)
    assert missing.status == "failed" and "DEMO_TOKEN is not set" in (missing.error or "")
