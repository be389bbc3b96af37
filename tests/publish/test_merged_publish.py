"""Issue 10's "done when": three portals holding copies of each other publish each real dataset once into CKAN.

The portals are replayed locally (`tests/portals/merge_chain.py`: a commune files source, a DataSud-style CKAN,
data.gouv.fr) and `harvester run` goes through harvest → merge → publish into the real CKAN testbed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from tests.portals.merge_chain import Chain, change_origin, run_cli
from tests.publish.conftest import CKAN_URL, TOKEN_ENV, CkanTestbed, unique

pytestmark = pytest.mark.ckan

EXPECTED = {  # merged key -> its records, the winner (the origin) first
    "communes:salles-yffiniac": [
        "communes:salles-yffiniac",
        "datasud:6b1f6f0e-7d7c-4a53-9a55-2a1e7f0c9a01",
        "dgouv:66a7e2c1f0a1b2c3d4e5f601",
    ],
    "communes:antennes-cd22": ["communes:antennes-cd22", "datasud:9d7e1a52-3c1b-4f0e-8f7a-5b2c6d8e4f10"],
    "datasud:0c5ad935-272e-4d9e-b0db-cdcb1a5309b8": [
        "datasud:0c5ad935-272e-4d9e-b0db-cdcb1a5309b8",
        "dgouv:612904755f59b6818346ea4d",
    ],
    "datasud:7e4d4ef3-f452-4c35-963d-9c6e582374b3": ["datasud:7e4d4ef3-f452-4c35-963d-9c6e582374b3"],
    "dgouv:5530fbacc751df5ff937dddb": ["dgouv:5530fbacc751df5ff937dddb"],
}


def test_three_portals_publish_each_real_dataset_once_with_its_provenance(
    ckan: CkanTestbed, token_env: None, chain: Chain, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline, org = unique("chain-"), unique("org-")
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": chain.sources()}, allow_unicode=True))
    (tmp_path / "pipelines").mkdir()
    ckan_cfg = {
        "url": CKAN_URL,
        "token_env": TOKEN_ENV,
        "organizations": {"default": org, "create_missing": True},
    }
    (tmp_path / "pipelines" / f"{pipeline}.yaml").write_text(
        yaml.safe_dump(
            {"name": pipeline, "sources": ["communes", "datasud", "dgouv"], "publish": {"ckan": ckan_cfg}}
        )  # fmt: skip
    )
    try:
        code, out = run_cli(tmp_path, "run", pipeline, "--no-normalise", "--json", capsys=capsys)
        assert code == 0, out
        assert list(out) == ["harvest", "merge", "publish"]  # merge is a stage of run, between the two
        assert out["merge"]["records"] == 9 and out["merge"]["merged_datasets"] == 5
        assert out["merge"]["multi_source_datasets"] == 3
        assert Path(out["merge"]["report_path"]).name == "merge-report.json"
        assert out["publish"]["summary"]["created"] == 5 and out["publish"]["merge"] is None  # fresh already

        prov = pq.read_table(tmp_path / "data" / "merged" / pipeline / "provenance.parquet").to_pylist()
        assert {k: [p["dataset_key"] for p in prov if p["merged_key"] == k] for k in EXPECTED} == EXPECTED
        owned = ckan.owned(pipeline)
        assert len(owned) == 5  # each real dataset exactly once
        by_key: dict[str, dict[str, Any]] = {}
        for hit in owned:
            pkg = ckan.show(hit["id"])
            assert pkg is not None
            extras = {e["key"]: e["value"] for e in pkg["extras"]}
            by_key[extras["harvest_merged_key"]] = pkg
            sources = json.loads(extras["harvest_sources"])
            records = EXPECTED[extras["harvest_merged_key"]]
            assert [s["dataset_key"] for s in sources] == records and sources[0]["won"]
            assert all(s["remote_url"].startswith("http") and s["remote_id"] for s in sources)
            assert [f"{s['source_id']}:{s['remote_id']}" for s in sources] == records
            assert extras["harvest_source_ids"] == ", ".join(dict.fromkeys(r.split(":")[0] for r in records))
            assert extras["harvest_remote_urls"].split() == [s["remote_url"] for s in sources]
        assert set(by_key) == set(EXPECTED)
        salles = by_key["communes:salles-yffiniac"]
        # the origin's record wins; resources are unioned without duplicates (one file, three copies)
        assert salles["title"] == "Salles municipales d'Yffiniac" and len(salles["resources"]) == 1

        for key, records in EXPECTED.items():  # --explain gives the rule and score of every merge
            code, doc = run_cli(tmp_path, "merge", pipeline, "--explain", key, "--json", capsys=capsys)
            assert code == 0 and doc["merged_key"] == key
            assert [c["dataset_key"] for c in doc["candidates"]] == records
            linked = {e["from"] for e in doc["links"]} | {e["to"] for e in doc["links"]}
            assert linked == (set(records) if len(records) > 1 else set())
            assert all(e["rule"] and 0 < e["score"] <= 1 and e["key"] for e in doc["links"])

        code, again = run_cli(tmp_path, "run", pipeline, "--no-normalise", "--json", capsys=capsys)
        assert (
            code == 0 and again["publish"]["write_calls"] == 0 and again["publish"]["writes_by_action"] == {}
        )
        assert again["publish"]["summary"]["unchanged"] == 5

        change_origin(chain)
        before = {p["name"] for p in owned}
        code, changed = run_cli(tmp_path, "--executor", "processes", "run", pipeline, "--no-normalise", "--json",
                            capsys=capsys)  # fmt: skip
        assert code == 0, changed
        assert changed["publish"]["writes_by_action"] == {"package_update": 1}
        assert [
            a["dataset_key"] for a in json.loads(Path(changed["publish"]["plan_path"]).read_text())["update"]
        ] == ["communes:salles-yffiniac"]
        assert {p["name"] for p in ckan.owned(pipeline)} == before
    finally:
        ids = {p["id"] for p in ckan.owned(pipeline)}
        ckan.purge(ids, {org})
