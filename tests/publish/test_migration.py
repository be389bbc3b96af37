"""Datasets published before publishing read the merge keep their CKAN names (the real CKAN testbed).

CKAN is seeded the way the previous publisher left it: one package per source record, named from its source
dataset key and carrying only the old provenance extras (`harvest_pipeline`, `harvest_source_id`,
`harvest_remote_id`, `harvest_metadata_hash`…). Publishing with the merge then recognises every one of them: a
merged dataset is updated in place under the name its origin's package had, the aggregator's old copy of it is
withdrawn (merged into the other, never purged), nothing is created or renamed, and the next run writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harvester.cli import main
from harvester.publish.mapping import Target, package_dict
from harvester.publish.names import dataset_name
from tests.publish.conftest import CkanTestbed, unique, write_project
from tests.publish.factory import dataset, resource, write_source

pytestmark = pytest.mark.ckan
NEW_EXTRAS = {"harvest_merged_key", "harvest_sources", "harvest_source_ids", "harvest_remote_urls"}


def old_shape(row: dict[str, Any], res: list[dict[str, Any]], pipeline: str, org: str) -> dict[str, Any]:
    """The package the publisher of before the merge sent for one source record."""
    pkg = package_dict(row, res, name=dataset_name(row["source_id"], row["remote_id"], row["name"]),
                       organization=org, target=Target(pipeline))  # fmt: skip
    pkg["extras"] = [e for e in pkg["extras"] if e["key"] not in NEW_EXTRAS]
    return pkg


def test_datasets_published_before_the_merge_keep_their_names(
    ckan: CkanTestbed, token_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline, org, origin, copy = unique("mig-"), unique("org-"), unique("orig"), unique("agg")
    write_project(tmp_path, pipeline=pipeline, sources=[origin, copy], org=org, max_delete_share=0.6)
    data = tmp_path / "data"
    rows_o = [dataset(origin, f"d{i}", landing_page=f"https://{origin}.example.org/d{i}",
                      remote_url=f"https://{origin}.example.org/dataset/d{i}") for i in range(3)]  # fmt: skip
    res_o = [resource(r["dataset_key"], 0) for r in rows_o]
    # the aggregator harvested the origin's three datasets (udata's harvest extras) and has one of its own
    rows_c = [dataset(copy, f"x{i}", landing_page=None, remote_url=f"https://{copy}.example.org/x{i}",
                      extras=[("harvest:domain", f"{origin}.example.org"), ("harvest:remote_id", f"d{i}")])
              for i in range(3)]  # fmt: skip
    rows_c.append(dataset(copy, "own", title="Bornes de recharge de Nice", landing_page=None,
                          remote_url=f"https://{copy}.example.org/own", publisher="Ville de Nice"))  # fmt: skip
    res_c = [
        resource(r["dataset_key"], 0, url=f"https://{copy}.example.org/f/{r['remote_id']}.csv")
        for r in rows_c
    ]
    write_source(data, origin, rows_o, res_o)
    write_source(data, copy, rows_c, res_c)

    ckan.api.action.organization_create(name=org)
    seeded: dict[str, dict[str, Any]] = {}  # source dataset key -> the package the old publisher made
    for row in rows_o + rows_c:
        mine = [r for r in res_o + res_c if r["dataset_key"] == row["dataset_key"]]
        seeded[row["dataset_key"]] = ckan.api.action.package_create(**old_shape(row, mine, pipeline, org))
    base = ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(data)]
    try:
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            main([*base, "publish", pipeline, "--json"])
        report = json.loads(capsys.readouterr().out)
        assert info.value.code == 0, report
        assert report["merge"]["merged_datasets"] == 4  # publish merged first: merged/ did not exist
        assert "package_create" not in report["writes_by_action"]
        assert report["summary"]["updated"] == 4 and report["summary"]["withdrawn"] == 3
        plan = json.loads(Path(report["plan_path"]).read_text())
        assert sorted(a["name"] for a in plan["withdraw"]) == sorted(
            seeded[r["dataset_key"]]["name"] for r in rows_c[:3]
        )
        assert all(a["reason"].startswith("merged into ") for a in plan["withdraw"])

        owned = {p["name"]: p for p in ckan.owned(pipeline)}
        survivors = [seeded[r["dataset_key"]] for r in rows_o] + [seeded[rows_c[3]["dataset_key"]]]
        assert set(owned) == {p["name"] for p in survivors}  # no new name, no duplicate
        for old in survivors:
            pkg = ckan.show(old["id"])
            assert pkg is not None and pkg["name"] == old["name"] and pkg["state"] == "active"
            extras = {e["key"]: e["value"] for e in pkg["extras"]}
            assert (
                extras["harvest_merged_key"] == f"{extras['harvest_source_id']}:{extras['harvest_remote_id']}"
            )
        merged = ckan.show(seeded[rows_o[0]["dataset_key"]]["id"])
        assert merged is not None
        sources = json.loads({e["key"]: e["value"] for e in merged["extras"]}["harvest_sources"])
        assert [s["dataset_key"] for s in sources] == [rows_o[0]["dataset_key"], rows_c[0]["dataset_key"]]
        for r in rows_c[:3]:  # the aggregator's old copies: withdrawn, not purged
            gone = ckan.show(seeded[r["dataset_key"]]["id"])
            assert gone is not None and gone["state"] == "deleted"

        with pytest.raises(SystemExit) as info:
            main([*base, "publish", pipeline, "--json"])
        again = json.loads(capsys.readouterr().out)
        assert info.value.code == 0 and again["write_calls"] == 0 and again["summary"]["unchanged"] == 4
    finally:
        ckan.purge({p["id"] for p in seeded.values()}, {org})
