"""Publishing against the real CKAN 2.12 testbed.

One catalogue (two sources, ten datasets) is published once for the module; the tests then run in file order,
each leaving the catalogue published and consistent for the next: re-publication, dry run, update, lost state,
refused and accepted withdrawals, a dataset coming back. A dataset made by hand holds the name harvester would
have given one of the datasets, and must survive everything untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harvester.cli import main
from harvester.config import Config
from harvester.pipelines import PipelineConfig, get_pipeline
from harvester.publish import PublishReport, publish_pipeline
from harvester.publish.licences import licence_map
from harvester.publish.names import NAME_RE, dataset_name, fallback_name, resource_id
from harvester.state import StateStore
from tests.fixture_server import FixtureServer
from tests.portals.ckan_portal import CkanPortal, build_packages
from tests.publish.conftest import CkanTestbed, unique, write_project
from tests.publish.factory import T0, catalogue, rehash, write_source

pytestmark = pytest.mark.ckan


def exit_code(args: list[str]) -> int:
    """Run the CLI's entry point (which maps errors to exit codes) and return its exit code."""
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@dataclass
class Scenario:
    ckan: CkanTestbed
    root: Path
    cfg: Config
    pipeline: str
    orgs: tuple[str, str]
    sources: tuple[str, str]
    rows: dict[str, list[dict[str, Any]]]
    res: dict[str, list[dict[str, Any]]]
    state: StateStore
    hand: dict[str, Any] = field(default_factory=dict)
    first: PublishReport | None = None
    dry: PublishReport | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def pipe(self) -> PipelineConfig:
        return get_pipeline(self.cfg, self.pipeline)

    def save(self) -> None:
        for sid in self.sources:
            rehash(self.rows[sid], self.res[sid])
            write_source(self.data, sid, self.rows[sid], self.res[sid])

    def publish(self, state: StateStore | None = None, **kw: Any) -> PublishReport:
        return publish_pipeline(self.pipe(), self.data, state or self.state, client=self.ckan.client(), **kw)

    def record(self, row: dict[str, Any]) -> dict[str, Any]:
        return self.state.read_publish_records(self.pipeline)[row["dataset_key"]]

    def modified(self) -> dict[str, str]:
        return {p["name"]: p["metadata_modified"] for p in self.ckan.owned(self.pipeline)}

    def cli(self, *args: str) -> int:
        return exit_code(["--config", str(self.root / "sources.yaml"), "--data-dir", str(self.data), *args])


@pytest.fixture(scope="module")
def s(ckan: CkanTestbed, token_env: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    pipeline, org, nice, hand_org = unique("t-"), unique("org-"), unique("nice-"), unique("hand-")
    sa, sb = unique("sa"), unique("sb")
    root = tmp_path_factory.mktemp("publish")
    # an identity merge (no merge rules): the two sources' look-alike test datasets stay ten datasets
    cfg = write_project(root, pipeline=pipeline, sources=[sa, sb], org=org, org_map={"Ville de Nice": nice},
                        merge={"rules": []})  # fmt: skip
    rows_a, res_a = catalogue(sa, 6)
    rows_b, res_b = catalogue(sb, 4)
    for r in rows_b:
        r["publisher"] = "Ville de Nice"
    rows_a[2]["keywords"] = ["Qualité de l'air", "pollution/ozone", "x", "qualité de l'air", "a" * 150]
    rows_a[2]["extras"] = [("title", "Titre du portail"), ("harvest_pipeline", "spoof"), ("theme", "air")]
    scen = Scenario(
        ckan,
        root,
        cfg,
        pipeline,
        (org, nice),
        (sa, sb),
        {sa: rows_a, sb: rows_b},
        {sa: res_a, sb: res_b},
        StateStore(root / "data" / "state.sqlite"),
    )
    scen.save()
    # A person made a dataset by hand that holds the name harvester would give rows_a[0], then edited it.
    hand_name = dataset_name(sa, rows_a[0]["remote_id"], rows_a[0]["name"])
    ckan.api.action.organization_create(name=hand_org)
    ckan.api.action.package_create(
        name=hand_name, title="Made by hand", notes="first version", owner_org=hand_org
    )
    scen.hand = ckan.api.action.package_patch(id=hand_name, notes="edited by hand")
    scen.dry = scen.publish(dry_run=True)
    scen.first = scen.publish()
    yield scen
    ids = {p["id"] for p in ckan.owned(pipeline)} | {scen.hand["id"]}
    ids |= {r["ckan_id"] for r in scen.state.read_publish_records(pipeline).values()}
    ckan.purge(ids, {org, nice, hand_org})
    scen.state.close()


def test_first_publication(s: Scenario) -> None:
    assert s.first is not None
    rep = s.first
    assert rep.summary()["created"] == 10 and rep.outcome.failed == [] and rep.exit_code == 0
    assert sorted(rep.outcome.organizations_created) == sorted(s.orgs)
    # 11 creates: the name of rows_a[0] is held by a dataset made by hand; CKAN refuses that create, the fallback
    # name is used (a dry run checks names beforehand, a real run meets them at create time)
    assert rep.writes_by_action == {"organization_create": 2, "package_create": 11}
    owned = s.ckan.owned(s.pipeline)
    assert len(owned) == 10 and all(NAME_RE.match(p["name"]) for p in owned)
    records = s.state.read_publish_records(s.pipeline)
    assert {r["ckan_id"] for r in records.values()} == {p["id"] for p in owned}
    assert json.loads(Path(rep.plan_path or "").read_text())["counts"]["create"] == 10

    row = s.rows[s.sources[0]][2]
    pkg = s.ckan.show(s.record(row)["ckan_id"])
    assert pkg is not None
    assert pkg["name"] == dataset_name(row["source_id"], row["remote_id"], row["name"])
    assert pkg["title"] == row["title"] and pkg["notes"] == row["description"]
    lov2 = licence_map(s.ckan.api.action.license_list())[
        "lov2"
    ]  # other-at (default list), lov2 (French list)
    assert pkg["url"] == row["landing_page"] and pkg["license_id"] == lov2
    assert pkg["organization"]["name"] == s.orgs[0] and pkg["author"] == "Région Sud"
    assert pkg["maintainer_email"] == "opendata@example.org"
    assert sorted(t["name"] for t in pkg["tags"]) == sorted(
        ["Qualité de l air", "pollution ozone", "a" * 100]
    )
    extras = {e["key"]: e["value"] for e in pkg["extras"]}
    assert extras["harvest_source_id"] == row["source_id"] and extras["harvest_remote_id"] == row["remote_id"]
    assert extras["harvest_remote_url"] == row["remote_url"] and extras["harvest_pipeline"] == s.pipeline
    assert extras["harvest_metadata_hash"] == row["metadata_hash"]
    assert extras["harvest_harvested_at"] == "2024-03-01T12:00:00Z"
    assert json.loads(extras["keywords"]) == row["keywords"]  # nothing lost
    assert extras["license_raw"] == "Licence Ouverte v2.0" and json.loads(extras["themes"]) == [
        "Environnement"
    ]
    assert extras["source_title"] == "Titre du portail" and extras["source_harvest_pipeline"] == "spoof"
    assert extras["theme"] == "air"
    res = sorted(pkg["resources"], key=lambda r: r["name"])
    assert [r["id"] for r in res] == [
        resource_id(s.pipeline, r["resource_key"]) for r in s.res[s.sources[0]][4:6]
    ]
    assert res[0]["url"] == s.res[s.sources[0]][4]["url"] and res[0]["format"] == "CSV"
    assert res[0]["size"] == 1234 and res[0]["last_modified"] == "2024-03-01T12:00:00"
    assert res[0]["description"] == "Données brutes" and res[0]["mimetype"] == "text/csv"

    nice_pkg = s.ckan.show(s.record(s.rows[s.sources[1]][0])["ckan_id"])
    assert nice_pkg is not None and nice_pkg["organization"]["name"] == s.orgs[1]


def test_dataset_made_by_hand_is_left_alone(s: Scenario) -> None:
    row = s.rows[s.sources[0]][0]
    ours = s.record(row)
    assert ours["ckan_name"] == fallback_name(s.pipeline, row["source_id"], row["remote_id"], row["name"])
    assert (
        s.dry is not None and s.dry.write_calls == 0
    )  # the dry run before the first publication saw it coming
    [planned] = [a for a in s.dry.plan.create if a.dataset_key == row["dataset_key"]]
    assert planned.name == ours["ckan_name"]
    hand = s.ckan.show(s.hand["id"])
    assert hand is not None and hand["name"] == dataset_name(row["source_id"], row["remote_id"], row["name"])
    assert hand["title"] == "Made by hand" and hand["notes"] == "edited by hand"
    assert hand["metadata_modified"] == s.hand["metadata_modified"] and hand["extras"] == []


def test_unchanged_republication_sends_no_write(s: Scenario) -> None:
    before = s.modified()
    rep = s.publish()
    assert rep.write_calls == 0 and rep.writes_by_action == {}
    assert rep.summary() == {
        "created": 0, "updated": 0, "withdrawn": 0, "unchanged": 10,
        "refused": 0, "failed": 0, "withdraw_blocked": 0, "orphaned": 0,
    }  # fmt: skip
    assert s.modified() == before
    assert rep.read_calls <= 5 and rep.seconds < 5


def test_dry_run_prints_the_plan_and_writes_nothing(s: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    row = s.rows[s.sources[0]][1]
    row["title"] = "Nouveau titre"
    s.save()
    before = s.modified()
    capsys.readouterr()
    assert s.cli("publish", s.pipeline, "--dry-run", "--json") == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert "would update:" in captured.err and row["dataset_key"] in captured.err
    assert out["dry_run"] is True and out["write_calls"] == 0
    assert out["planned"]["update"] == 1 and out["planned"]["unchanged"] == 9
    plan = json.loads(Path(out["plan_path"]).read_text())
    assert [a["dataset_key"] for a in plan["update"]] == [row["dataset_key"]]
    assert s.modified() == before
    pkg = s.ckan.show(s.record(row)["ckan_id"])
    assert pkg is not None and pkg["title"] != "Nouveau titre"


def test_update_changes_only_the_changed_dataset(s: Scenario) -> None:
    row = s.rows[s.sources[0]][1]  # changed by the dry-run test
    before = s.modified()
    old = s.ckan.show(s.record(row)["ckan_id"])
    assert old is not None
    rep = s.publish()
    assert rep.writes_by_action == {"package_update": 1} and rep.summary()["updated"] == 1
    new = s.ckan.show(old["id"])
    assert new is not None
    assert new["title"] == "Nouveau titre" and new["name"] == old["name"]
    assert sorted(r["id"] for r in new["resources"]) == sorted(r["id"] for r in old["resources"])
    assert {e["key"]: e["value"] for e in new["extras"]}["harvest_metadata_hash"] == row["metadata_hash"]
    after = s.modified()
    assert {n for n in after if after[n] != before[n]} == {old["name"]}


def test_lost_state_store_is_rebuilt_from_ckan(s: Scenario, tmp_path: Path) -> None:
    fresh = StateStore(tmp_path / "state.sqlite")
    rep = s.publish(state=fresh)
    assert rep.write_calls == 0 and rep.summary()["unchanged"] == 10 and rep.state_rebuilt == 10
    assert len(s.ckan.owned(s.pipeline)) == 10  # no duplicate
    rebuilt = fresh.read_publish_records(s.pipeline)
    known = s.state.read_publish_records(s.pipeline)
    assert {k: r["ckan_id"] for k, r in rebuilt.items()} == {k: r["ckan_id"] for k, r in known.items()}
    fresh.close()


def test_withdrawals_beyond_max_delete_share_are_refused(
    s: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    for row in s.rows[s.sources[1]][:3]:
        row["withdrawn_at"] = T0
    s.save()
    capsys.readouterr()
    assert s.cli("publish", s.pipeline) == 3
    err = capsys.readouterr().err
    assert "max_delete_share" in err and "nothing is withdrawn" in err
    assert len(s.ckan.owned(s.pipeline)) == 10
    for row in s.rows[s.sources[1]][:3]:
        row["withdrawn_at"] = None
    s.save()


def test_withdrawal_deletes_without_purging(s: Scenario) -> None:
    row = s.rows[s.sources[1]][3]
    row["withdrawn_at"] = T0  # 1 of 10: within max_delete_share 0.1
    s.save()
    rep = s.publish()
    assert rep.writes_by_action == {"package_delete": 1} and rep.summary()["withdrawn"] == 1
    pkg = s.ckan.show(s.record(row)["ckan_id"])
    assert pkg is not None and pkg["state"] == "deleted"
    assert len(s.ckan.owned(s.pipeline)) == 9 and s.record(row)["withdrawn"] is True
    assert s.publish().write_calls == 0


def test_withdrawn_dataset_that_comes_back_is_restored(s: Scenario) -> None:
    row = s.rows[s.sources[1]][3]
    ckan_id = s.record(row)["ckan_id"]
    row["withdrawn_at"] = None
    s.save()
    rep = s.publish()
    assert rep.writes_by_action == {"package_update": 1}
    pkg = s.ckan.show(ckan_id)
    assert pkg is not None and pkg["state"] == "active" and len(s.ckan.owned(s.pipeline)) == 10
    test_dataset_made_by_hand_is_left_alone(s)


def test_one_invalid_dataset_among_many(
    ckan: CkanTestbed, token_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline, org, sid = unique("t-"), unique("org-"), unique("sc")
    write_project(tmp_path, pipeline=pipeline, sources=[sid], org=org)
    rows, res = catalogue(sid, 5, resources_per_dataset=1)
    rows[2]["contact_email"] = "contact@ville..fr"  # looks like an address; CKAN's validator refuses it
    rehash(rows, res)
    write_source(tmp_path / "data", sid, rows, res)
    try:
        capsys.readouterr()
        code = exit_code(
            [
                "--config",
                str(tmp_path / "sources.yaml"),
                "--data-dir",
                str(tmp_path / "data"),
                "publish",
                pipeline,
                "--json",
            ]
        )
        out = json.loads(capsys.readouterr().out)
        assert code == 3
        assert out["summary"]["created"] == 4 and out["summary"]["failed"] == 1
        [failed] = out["failed"]
        assert (
            failed["dataset_key"] == rows[2]["dataset_key"] and "maintainer_email" in failed["field_errors"]
        )
        assert len(ckan.owned(pipeline)) == 4
    finally:
        state = StateStore(tmp_path / "data" / "state.sqlite")
        ckan.purge({r["ckan_id"] for r in state.read_publish_records(pipeline).values()}, {org})
        state.close()


def test_run_harvests_then_publishes(
    ckan: CkanTestbed,
    token_env: None,
    tmp_path: Path,
    server: FixtureServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    packages = build_packages(6)
    for i, pkg in enumerate(packages):  # resources served locally, so that --normalise can fetch them
        pkg["resources"] = [
            {"id": f"r{i}", "url": f"{server.url}/files/{i}.csv", "format": "CSV", "name": "mesures"}
        ]
        server.route(f"/files/{i}.csv", "station;no2\nNice;12\nToulon;9\n", content_type="text/csv")
    portal = CkanPortal(server, packages)
    pipeline, org, nice, sid = unique("t-"), unique("org-"), unique("nice-"), unique("sr")
    write_project(tmp_path, pipeline=pipeline, sources=[sid], org=org, org_map={"Ville de Nice": nice},
                  source_urls={sid: portal.url})  # fmt: skip
    args = ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(tmp_path / "data")]
    args += ["run", pipeline, "--normalise", "--json"]
    try:
        capsys.readouterr()
        assert exit_code(args) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["harvest"]["sources"][0]["created"] == 6 and out["normalise"]["exit_code"] == 0
        assert len(list((tmp_path / "data" / "tables" / sid).glob("*/*.parquet"))) == 6  # not the index
        assert out["publish"]["summary"]["created"] == 6 and out["publish"]["exit_code"] == 0
        assert out["publish"]["run_id"] == out["harvest"]["run_id"]
        orgs = {ckan.show(p["id"])["organization"]["name"] for p in ckan.owned(pipeline)}  # type: ignore[index]
        assert orgs == {org, nice}  # "Ville de Nice" mapped, the other publishers to the default
        assert exit_code(args) == 0
        again = json.loads(capsys.readouterr().out)
        assert again["publish"]["write_calls"] == 0 and again["publish"]["summary"]["unchanged"] == 6
    finally:
        state = StateStore(tmp_path / "data" / "state.sqlite")
        ckan.purge({r["ckan_id"] for r in state.read_publish_records(pipeline).values()}, {org, nice})
        state.close()
