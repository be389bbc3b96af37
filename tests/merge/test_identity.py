"""Merged keys are stable across runs; a dataset is withdrawn only when every record of it is; identity merges."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml
from click.testing import CliRunner

from harvester.cli import cli
from harvester.config import load_config
from harvester.merge.identity import assign_keys
from harvester.merge.stage import is_fresh, plan_units
from harvester.pipelines import get_pipeline
from tests.publish.factory import dataset, resource, write_source

ORIGIN, COPY = "commune", "agg"


def test_assign_keys_keeps_keys_across_winner_changes_and_splits() -> None:
    prev = {"a:1": "a:1", "b:1": "a:1", "c:1": "a:1"}
    assert assign_keys([["b:1", "a:1"]], prev) == ["a:1"]  # another record wins: same key
    assert assign_keys([["b:1", "c:1"]], prev) == ["a:1"]  # the record it is named after left: same key
    # split: the part holding the record the key is named after keeps it; the other part gets its winner's key
    assert assign_keys([["b:1", "c:1"], ["a:1"]], prev) == ["b:1", "a:1"]
    assert assign_keys([["x:1", "y:1"]], {}) == ["x:1"]  # new: its winner's key
    assert assign_keys([["a:1"], ["b:1"]], {"a:1": "b:1", "b:1": "b:1"}) == ["a:1", "b:1"]  # no key twice


def _project(tmp: Path, merge: dict[str, Any] | None = None) -> None:
    sources = [{"id": ORIGIN, "type": "files", "url": "https://www.yffiniac.fr",
                "params": {"files": [{"url": "https://www.yffiniac.fr/salles.csv", "title": "Salles"}]}},
               {"id": COPY, "type": "udata", "url": "https://www.data.gouv.fr"}]  # fmt: skip
    (tmp / "sources.yaml").write_text(yaml.safe_dump({"sources": sources}))
    (tmp / "pipelines").mkdir(exist_ok=True)
    pipe: dict[str, Any] = {"name": "p", "sources": [ORIGIN, COPY]}
    if merge is not None:
        pipe["merge"] = merge
    (tmp / "pipelines" / "p.yaml").write_text(yaml.safe_dump(pipe))


def _catalogues(tmp: Path, *, origin_withdrawn: bool = False, copy_withdrawn: bool = False) -> None:
    gone = {"withdrawn_at": dataset(ORIGIN, "x")["harvested_at"]}
    origin = dataset(ORIGIN, "salles", title="Salles municipales", remote_url="https://www.yffiniac.fr/salles.csv",
                     landing_page=None, **(gone if origin_withdrawn else {}))  # fmt: skip
    copy = dataset(COPY, "5f0000000000000000000001", title="Salles municipales (Yffiniac)", landing_page=None,
                   remote_url="https://www.data.gouv.fr/datasets/salles",
                   extras=[("harvest:remote_url", "https://www.yffiniac.fr/salles.csv")],
                   **(gone if copy_withdrawn else {}))  # fmt: skip
    write_source(tmp / "data", ORIGIN, [origin], [resource(origin["dataset_key"], 0)])
    write_source(tmp / "data", COPY, [copy], [resource(copy["dataset_key"], 0, url="https://x.fr/other.csv")])


def _merge(tmp: Path) -> dict[str, Any]:
    res = CliRunner().invoke(cli, ["--config", str(tmp / "sources.yaml"), "--data-dir", str(tmp / "data"),
                                   "merge", "p", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    report: dict[str, Any] = json.loads(res.stdout)
    return report


def _datasets(tmp: Path) -> dict[str, dict[str, Any]]:
    rows = pq.read_table(tmp / "data" / "merged" / "p" / "datasets.parquet").to_pylist()
    return {r["merged_key"]: r for r in rows}


def test_a_winner_change_keeps_the_merged_key(tmp_path: Path) -> None:
    _project(tmp_path)
    _catalogues(tmp_path)
    _merge(tmp_path)
    [(key, row)] = _datasets(tmp_path).items()
    assert key == f"{ORIGIN}:salles" and row["source_id"] == ORIGIN  # the origin wins by default
    _project(tmp_path, {"precedence": [COPY]})  # now the aggregator's record wins…
    _merge(tmp_path)
    [(key, row)] = _datasets(tmp_path).items()
    assert key == f"{ORIGIN}:salles" and row["source_id"] == COPY  # …under the same key


def test_withdrawn_only_when_every_record_is(tmp_path: Path) -> None:
    _project(tmp_path)
    _catalogues(tmp_path)
    _merge(tmp_path)
    _catalogues(tmp_path, origin_withdrawn=True)  # withdrawn at the commune, data.gouv.fr still has it
    _merge(tmp_path)
    [(key, row)] = _datasets(tmp_path).items()
    assert (
        key == f"{ORIGIN}:salles"
        and row["withdrawn_at"] is None
        and row["dataset_keys"] == [f"{COPY}:5f0000000000000000000001"]
    )
    _catalogues(tmp_path, origin_withdrawn=True, copy_withdrawn=True)
    report = _merge(tmp_path)
    [(key, row)] = _datasets(tmp_path).items()
    assert key == f"{ORIGIN}:salles" and row["withdrawn_at"] is not None
    assert report["merged_datasets"] == 0 and report["withdrawn_datasets"] == 1


def test_a_missing_source_withdraws_nothing(tmp_path: Path) -> None:
    _project(tmp_path)
    _catalogues(tmp_path)
    _merge(tmp_path)
    _catalogues(tmp_path, origin_withdrawn=True)
    for f in (tmp_path / "data" / "catalog" / COPY).glob("*.parquet"):  # the aggregator's catalogue is gone
        f.unlink()
    _merge(tmp_path)
    assert _datasets(tmp_path) == {}  # left as it is (publish: orphaned, not withdrawn)


def test_identity_merge_and_freshness(tmp_path: Path) -> None:
    _project(tmp_path, {"rules": []})
    _catalogues(tmp_path)
    cfg = load_config(tmp_path / "sources.yaml")
    unit = plan_units(cfg, get_pipeline(cfg, "p"))[0]
    assert not is_fresh(tmp_path / "data", unit)
    assert _merge(tmp_path)["merged_datasets"] == 2  # no rules: every record is its own dataset
    assert is_fresh(tmp_path / "data", unit)
    path = tmp_path / "data" / "catalog" / ORIGIN / "datasets.parquet"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # a new harvest wrote it
    assert not is_fresh(tmp_path / "data", unit)
