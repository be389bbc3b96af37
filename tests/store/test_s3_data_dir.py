"""A data directory on S3: harvest, normalise and merge (then status, report, quality, export) through the CLI into a real S3 API (moto's server on
127.0.0.1) give the local run's outputs cell by cell; a write that fails leaves the previous object as it was and
no temporary key; a remote data directory without `--state` is refused before any request.

s3fs reaches the server through the standard AWS variables (`AWS_ENDPOINT_URL`, dummy credentials), as a
deployment would reach its store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner

from harvester import store
from harvester.cli import cli
from harvester.normalise.sink import ParquetSink
from tests.conftest import BUCKET
from tests.fixture_server import FixtureServer
from tests.test_dask import SOURCES, write_config


def run_stages(root: Path, data: str, *extra: str) -> None:
    args = ["--config", str(root / "sources.yaml"), "--data-dir", data, *extra]
    for cmd in (["harvest", "--all"], ["normalise", "tables", "commune"], ["merge", "sud"]):
        res = CliRunner().invoke(cli, [*args, *cmd])
        assert res.exit_code == 0, (cmd, res.output, res.stderr)


def outputs(data: Path) -> dict[str, Any]:
    """What the stages wrote that does not depend on when they ran (as tests/test_dask.py, read via the store)."""
    out: dict[str, Any] = {}
    for sid in SOURCES:
        t = store.read_table(
            data / f"catalog/{sid}/datasets.parquet", columns=["dataset_key", "metadata_hash"]
        )
        out[f"catalog/{sid}"] = sorted(zip(*(c.to_pylist() for c in t.columns), strict=True))
        index = data / f"tables/{sid}/index.parquet"
        if index.exists():
            rows = store.read_table(index).to_pylist()
            out[f"index/{sid}"] = sorted(
                ({k: v for k, v in r.items() if k not in {"run_id", "normalised_at"}} for r in rows),
                key=lambda r: str(r["resource_key"]),
            )
            for r in rows:
                if r["table_path"]:
                    out[r["table_path"]] = store.read_table(data / r["table_path"]).to_pylist()
                    out[f"validation:{r['table_path']}"] = (
                        (data / r["table_path"]).parent.joinpath("validation.json").exists()
                    )
    for name in ("datasets", "resources", "provenance"):
        t = store.read_table(data / f"merged/sud/{name}.parquet")
        drop = [c for c in t.column_names if c.endswith("_at") or c == "run_id"]
        out[f"merged/{name}"] = sorted(map(repr, t.drop_columns(drop).to_pylist()))
    return out


def test_s3_data_dir_gives_the_local_outputs(s3: Any, servers: list[FixtureServer], tmp_path: Path) -> None:
    write_config(tmp_path, servers)
    run_stages(tmp_path, str(tmp_path / "local"))
    url = f"s3://{BUCKET}/remote"
    run_stages(tmp_path, url, "--state", f"sqlite:///{tmp_path / 'state.sqlite'}")
    local, remote = outputs(tmp_path / "local"), outputs(store.data_path(url))
    assert sum(1 for k in local if k.startswith("tables/")) == 4
    assert local.keys() == remote.keys()
    for key, value in local.items():
        assert remote[key] == value, key
    keys = [k.removeprefix(f"{BUCKET}/remote/") for k in s3.find(f"{BUCKET}/remote")]
    assert any(k.startswith("runs/") and k.endswith("/report.html") for k in keys)
    assert not [k for k in keys if k.split("/")[-1].startswith(".")]  # no temporary or staged key is left
    assert not [k for k in keys if k.startswith(("tmp/", "state", "locks/"))]  # scratch and state stay local
    # a second normalise on S3 finds its tables and the HTTP validators: every table is unchanged
    res = CliRunner().invoke(
        cli,
        ["--config", str(tmp_path / "sources.yaml"), "--data-dir", url, "--state",
         f"sqlite:///{tmp_path / 'state.sqlite'}", "normalise", "tables", "commune"],
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    again = outputs(store.data_path(url))
    for key in ("index/tables", "index/commune"):
        assert {r.pop("table_status") for r in again[key]} == {"unchanged"}
        assert {r.pop("table_status") for r in remote[key]} == {"ok"}
    assert again == remote
    # the readers: status, the run report page, the quality score (written beside the merged tables)
    state = ["--state", f"sqlite:///{tmp_path / 'state.sqlite'}"]
    local_status, remote_status = (
        _cli(tmp_path, data, *extra, "status", "--json")
        for data, extra in ((str(tmp_path / "local"), []), (url, state))
    )
    assert [s["datasets"] for s in json.loads(remote_status)["sources"]] == [
        s["datasets"] for s in json.loads(local_status)["sources"]
    ]
    page = _cli(tmp_path, url, *state, "report").strip().splitlines()[-1]
    assert page.startswith(url + "/runs/") and page.endswith("/report.html")
    assert "<html" in store.data_path(page).read_text(encoding="utf-8").lower()
    _cli(tmp_path, str(tmp_path / "local"), "quality", "sud")
    _cli(tmp_path, url, *state, "quality", "sud")
    scores = [
        sorted(
            map(
                repr,
                store.read_table(d / "merged/sud/quality.parquet").to_pylist(),
            )
        )
        for d in (tmp_path / "local", store.data_path(url))
    ]
    assert scores[0] and scores[0] == scores[1]
    exports = []  # DCAT-AP export reads the merged tables on S3 (its output file is local, -o)
    for data, extra in ((str(tmp_path / "local"), []), (url, state)):
        out = tmp_path / f"export-{len(exports)}.ttl"
        _cli(tmp_path, data, *extra, "export", "sud", "-o", str(out))
        exports.append(out.read_text(encoding="utf-8"))
    from rdflib import Graph
    from rdflib.compare import isomorphic

    graphs = [Graph().parse(data=text, format="turtle") for text in exports]
    assert len(graphs[0]) > 100 and isomorphic(graphs[0], graphs[1])  # equal up to blank node names


def _cli(root: Path, data: str, *args: str) -> str:
    res = CliRunner().invoke(cli, ["--config", str(root / "sources.yaml"), "--data-dir", data, *args])
    assert res.exit_code == 0, (args, res.output, res.stderr)
    return res.stdout


def test_a_failed_write_leaves_the_previous_object(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    data = store.data_path(f"s3://{BUCKET}/atomic")
    dest = data / "tables/src/d/t.parquet"
    store.write_table(pa.table({"a": [1, 2]}), dest)
    before = s3.cat_file(f"{BUCKET}/atomic/tables/src/d/t.parquet")
    schema = pa.schema([("a", pa.int64())])
    with pytest.raises(RuntimeError, match="mid-write"), ParquetSink(dest, schema) as sink:
        sink.write(pa.table({"a": [7, 8, 9]}))
        raise RuntimeError("mid-write")

    # an upload that breaks (the connection drops): the key is not replaced either
    def reset(*_a: Any, **_k: Any) -> None:
        raise OSError("connection reset")

    monkeypatch.setattr(dest.fs, "put_file", reset)  # type: ignore[attr-defined]
    with pytest.raises(OSError, match="reset"):
        store.write_table(pa.table({"a": [5]}), dest)
    monkeypatch.undo()
    assert s3.cat_file(f"{BUCKET}/atomic/tables/src/d/t.parquet") == before
    assert store.read_table(dest).column("a").to_pylist() == [1, 2]
    assert s3.find(f"{BUCKET}/atomic") == [f"{BUCKET}/atomic/tables/src/d/t.parquet"]


def test_a_remote_data_dir_needs_state(servers: list[FixtureServer], tmp_path: Path) -> None:
    write_config(tmp_path, servers)
    env = {k: v for k, v in os.environ.items() if k != "HARVESTER_STATE"}
    res = CliRunner(env=env).invoke(
        cli, ["--config", str(tmp_path / "sources.yaml"), "--data-dir", "s3://b/d", "harvest", "--all"]
    )
    assert res.exit_code == 2, res.output
    assert "a data directory on s3:// needs --state postgresql://" in res.output + res.stderr
    assert sum(s.count() for s in servers) == 0  # refused before any request


def test_local_values_stay_paths(tmp_path: Path) -> None:
    assert store.data_path(str(tmp_path)) == tmp_path
    assert store.data_path(f"file://{tmp_path}") == tmp_path
    assert isinstance(store.data_path("data"), Path) and not store.is_url("data")
    assert store.is_url("s3://b/p") and store.is_url("memory://x") and not store.is_url("file:///x")
    assert store.scratch_root(tmp_path) == tmp_path / "tmp"


@pytest.mark.dask
@pytest.mark.timeout(300)
def test_dask_workers_share_the_s3_data_dir(s3: Any, servers: list[FixtureServer], tmp_path: Path) -> None:
    """Two `dask worker` processes harvest and normalise into the same S3 prefix (the shared data directory of
    a cluster): the outputs equal the local run's."""
    from tests.dask_cluster import loopback_cluster, require_distributed

    require_distributed()
    write_config(tmp_path, servers)
    run_stages(tmp_path, str(tmp_path / "local"))
    url = f"s3://{BUCKET}/dask"
    with loopback_cluster(tmp_path / "cluster") as address:  # started after the fixture set the AWS variables
        run_stages(
            tmp_path, url, "--state", f"sqlite:///{tmp_path / 'state.sqlite'}",
            "--executor", "dask", "--scheduler", address,
        )  # fmt: skip
    local, remote = outputs(tmp_path / "local"), outputs(store.data_path(url))
    assert local.keys() == remote.keys()
    for key, value in local.items():
        assert remote[key] == value, key
    assert not [k for k in s3.find(f"{BUCKET}/dask") if k.split("/")[-1].startswith(".")]


def test_other_fsspec_stores_upload_beside_then_move() -> None:
    """A store that is not an object store (here fsspec's memory filesystem) gets a `.part` name, then `fs.mv`:
    the destination appears whole and no part is left."""
    data = store.data_path("memory://harvest-test/data")
    dest = data / "merged/p/datasets.parquet"
    moves: list[tuple[str, str]] = []
    fs = dest.fs  # type: ignore[attr-defined]
    real_mv = fs.mv
    fs.mv = lambda src, dst, **kw: (moves.append((src, dst)), real_mv(src, dst, **kw))[1]
    try:
        store.write_table(pa.table({"a": [1]}), dest)
        store.append_text(data / "runs/r/errors.jsonl", "one\n")
        store.append_text(data / "runs/r/errors.jsonl", "two\n")
    finally:
        fs.mv = real_mv
    assert store.read_table(dest).to_pylist() == [{"a": 1}]
    assert (data / "runs/r/errors.jsonl").read_text() == "one\ntwo\n"
    assert [(s.rsplit("/", 1)[-1].startswith(".datasets.parquet."), d) for s, d in moves[:1]] == [
        (True, "/harvest-test/data/merged/p/datasets.parquet")
    ]
    assert not [p for p in fs.find("/harvest-test") if p.endswith(".part")]
    fs.rm("/harvest-test", recursive=True)
