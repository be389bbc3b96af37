"""Publishing 1,000 new datasets into the local CKAN testbed, the unchanged re-run, and `ckanapi load datasets`.

The same 1,000 datasets (the publisher's own package dicts, written as JSON lines under other names and another
organisation) are loaded by `ckanapi load datasets` in the same run, first, so that harvester publishes into the
bigger database. Write calls are counted twice: by harvester's client, and server-side from CKAN's request log
(every action CKAN served, by name), which is also how ckanapi's writes are counted. With both copies in CKAN,
`bench/ckan_real.py` times a full harvest of the testbed next to `ckanapi dump`. Everything is purged at the end.

Needs the testbed (`make ckan-up`); BENCH_PUBLISH_DATASETS changes the number of datasets.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import requests
from ckanapi import RemoteCKAN
from ckanapi.errors import NotFound

from bench import ckan_real
from bench.ckan_harvest import ckanapi_beside
from harvester.catalog import content_hash, write_catalog
from harvester.pipelines import PipelineConfig
from harvester.publish import publish_pipeline
from harvester.publish.client import READ_ACTIONS
from harvester.publish.mapping import Target, package_dict
from harvester.publish.names import dataset_name
from harvester.publish.publisher import make_client
from harvester.schema import DATASETS, RESOURCES
from harvester.state import StateStore

N = int(os.environ.get("BENCH_PUBLISH_DATASETS", "1000"))
ROOT = Path(__file__).resolve().parents[1]
URL = os.environ.get("CKAN_URL", "http://127.0.0.1:5000").rstrip("/")
PROCESSES = 4  # ckanapi load -p, the same as the publisher's concurrency
_LOG_LINE = re.compile(r"\s(\d{3}) /api/(?:3/)?action/(\w+) render time")


def _testbed_dir() -> Path:
    return Path(os.environ.get("CKAN_TESTBED_DIR") or ROOT / ".ckan-testbed")


def _token() -> str:
    path = Path(os.environ.get("CKAN_TOKEN_FILE") or _testbed_dir() / "token.txt")
    return path.read_text().strip()


class ServerLog:
    """Counts the actions CKAN served, from its request log (absent when CKAN logs elsewhere)."""

    def __init__(self) -> None:
        self.path = _testbed_dir() / "logs" / "ckan.log"
        self.mark = self.path.stat().st_size if self.path.exists() else None

    def actions(self) -> dict[str, int] | None:
        """Every action served since the last call (or since this log was opened), by name."""
        if self.mark is None:
            return None
        time.sleep(0.5)  # let the last lines reach the file
        with self.path.open("rb") as fh:
            fh.seek(self.mark)
            text = fh.read().decode("utf-8", "replace")
        self.mark = self.path.stat().st_size
        return dict(sorted(Counter(m.group(2) for m in _LOG_LINE.finditer(text)).items()))

    def writes(self) -> dict[str, int] | None:
        counts = self.actions()
        return None if counts is None else {a: n for a, n in counts.items() if a not in READ_ACTIONS}


def _rows(source: str, n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    resources: list[dict[str, Any]] = []
    for i in range(n):
        key = f"{source}:{uuid.UUID(int=i)}"
        rid = key.split(":", 1)[1]
        row: dict[str, Any] = {
            "dataset_key": key,
            "source_id": source,
            "remote_id": rid,
            "name": f"jeu-de-donnees-{i}",
            "title": f"Jeu de données n°{i} : qualité de l'air, commune {i % 97}",
            "description": "Mesures horaires des polluants (NO2, O3, PM10) par station. " * 3,
            "landing_page": f"https://portail.example.org/datasets/{i}",
            "remote_url": f"https://portail.example.org/dataset/{rid}",
            "publisher": "Région Sud",
            "contact_email": "opendata@example.org",
            "keywords": ["qualité de l'air", "pollution", f"commune {i % 97}"],
            "themes": ["Environnement"],
            "license_raw": "Licence Ouverte v2.0",
            "license_id": "lov2",
            "issued": t0,
            "modified": t0 + timedelta(days=i % 365),
            "frequency": "hourly",
            "spatial": None,
            "extras": [("origin", "bench")],
            "harvested_at": t0,
            "withdrawn_at": None,
            "raw": None,
        }
        res = [
            {
                "dataset_key": key,
                "resource_key": f"{key}:{fmt.lower()}",
                "source_id": source,
                "remote_id": fmt.lower(),
                "url": f"https://portail.example.org/files/{i}.{fmt.lower()}",
                "title": f"Mesures ({fmt})",
                "description": None,
                "format": fmt,
                "media_type": None,
                "size_bytes": 10_000 + i,
                "modified": t0,
            }
            for fmt in ("CSV", "JSON")
        ]
        row["metadata_hash"] = content_hash(row, res)
        rows.append(row)
        resources += res
    return rows, resources


def _pipeline(name: str, source: str, org: str) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "name": name,
            "sources": [source],
            "publish": {
                "ckan": {
                    "url": URL,
                    "token_env": "BENCH_UNUSED",
                    "organizations": {"default": org, "create_missing": True},
                    "max_delete_share": 0.1,
                }
            },
        }
    )


def purge(api: RemoteCKAN, ids: list[str], orgs: list[str]) -> float:
    """Purge the datasets (4 at a time), then the organisations, skipping those already gone: seconds."""
    t0 = time.perf_counter()

    def one(ident: str) -> None:
        try:
            api.action.dataset_purge(id=ident)
        except NotFound:
            pass

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, ids))
    for org in orgs:
        try:
            api.action.organization_purge(id=org)
        except NotFound:
            pass
    return time.perf_counter() - t0


def _shape(row: dict[str, Any], resources: list[dict[str, Any]]) -> str:
    pkg = package_dict(row, resources, name="x", organization="x", target=Target("x"))
    return f"{len(pkg['resources'])} resources, {len(pkg['tags'])} tags, {len(pkg['extras'])} extras"


def ckanapi_load(jsonl: Path, token: str, processes: int = PROCESSES) -> float:
    """Seconds of `ckanapi load datasets -p PROCESSES` of a JSON-lines file of package dicts into the testbed."""
    ckanapi, env = ckanapi_beside()
    cmd = [ckanapi, "load", "datasets", "-I", str(jsonl), "-p", str(processes), "-q", "-r", URL, "-a", token]
    return ckan_real.run_checked(cmd, env)[0]


def _ckanapi_load(
    api: RemoteCKAN,
    token: str,
    work: Path,
    rows: list[dict[str, Any]],
    resources: list[dict[str, Any]],
    tag: str,
    names: list[str],
) -> tuple[float, dict[str, int] | None]:
    """`ckanapi load datasets` of the publisher's own package dicts, under another organisation and names."""
    org, pipeline = f"bench-load-{tag}", f"bench-load-{tag}"
    by_key: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        by_key.setdefault(r["dataset_key"], []).append(r)
    api.action.organization_create(name=org)
    jsonl = work / "datasets.jsonl"
    with jsonl.open("w", encoding="utf-8") as fh:
        for row in rows:
            name = dataset_name(f"load-{tag}", row["remote_id"], row["name"])
            names.append(name)
            pkg = package_dict(
                row, by_key[row["dataset_key"]], name=name, organization=org, target=Target(pipeline)
            )
            fh.write(json.dumps(pkg, ensure_ascii=False, default=str) + "\n")
    log = ServerLog()
    seconds = ckanapi_load(jsonl, token)
    return seconds, log.writes()


def start(out_dir: Path, name: str) -> tuple[str, Path, str]:
    """For a section on the testbed: its token once CKAN answers, an empty work folder `out_dir/name`, and a new
    tag that keeps this run's names apart from another's."""
    token = _token()
    requests.get(f"{URL}/api/3/action/status_show", timeout=5).raise_for_status()
    work = out_dir / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return token, work, uuid.uuid4().hex[:6]


def run(out_dir: Path) -> str:
    token, work, tag = start(out_dir, "publish")
    source, pipeline, org = f"bench-{tag}", f"bench-{tag}", f"bench-org-{tag}"
    api = RemoteCKAN(URL, apikey=token)
    rows, resources = _rows(source, N)
    data = work / "data"
    write_catalog(
        data,
        source,
        pa.Table.from_pylist(rows, schema=DATASETS),
        pa.Table.from_pylist(resources, schema=RESOURCES),
    )
    state = StateStore(data / "state.sqlite")
    loaded_names: list[str] = []
    harvester_first = os.environ.get("BENCH_PUBLISH_ORDER") == "harvester-first"
    p = _pipeline(pipeline, source, org)
    try:
        if not harvester_first:
            load_s, load_writes = _ckanapi_load(api, token, work, rows, resources, tag, loaded_names)
        log = ServerLog()
        first = publish_pipeline(p, data, state, client=make_client(p, token))
        first_server = log.writes()
        again = publish_pipeline(p, data, state, client=make_client(p, token))
        again_server = log.writes()
        if first.outcome.failed or first.summary()["created"] != N:
            raise RuntimeError(
                f"publish did not create {N} datasets: {first.summary()} {first.outcome.failed[:3]}"
            )
        if harvester_first:
            load_s, load_writes = _ckanapi_load(api, token, work, rows, resources, tag, loaded_names)
        real = ckan_real.measure(URL, work / "real", ServerLog().actions)  # both copies are in CKAN now
    finally:
        ids = [r["ckan_id"] for r in state.read_publish_records(pipeline).values()] + loaded_names
        purge_s = purge(api, ids, [org, f"bench-load-{tag}"])
        state.close()

    first_rate = N / first.seconds
    load_rate = N / load_s
    met = "met" if first_rate >= load_rate else "NOT met"
    again_ok = "met" if again.write_calls == 0 and again.seconds < 5 else "NOT met"
    order = "harvester first, then ckanapi" if harvester_first else "ckanapi first, then harvester"
    lines = [
        "## publish: 1,000 datasets into the local CKAN 2.12",
        "",
        f"{N} new datasets ({_shape(rows[0], resources[:2])} each) published into the testbed at {URL} "
        f"(`ckan run --threaded`, PostgreSQL search plugin). harvester: concurrency "
        f"{p.ckan.concurrency}, at most {p.ckan.max_writes_per_second:g} writes/s. ckanapi: `ckanapi load datasets "
        f"-p {PROCESSES}` on a JSON-lines file of the same package dicts (other names and organisation); "
        f"order: {order}.",
        "",
        "| run | seconds | datasets/s | write calls (client) | write calls (CKAN's request log, all clients) |",
        "|---|---:|---:|---|---|",
        f"| harvester publish, first publication | {first.seconds:.1f} | {first_rate:.1f} | "
        f"{first.write_calls} ({', '.join(f'{a} {n}' for a, n in first.writes_by_action.items())}) | "
        f"{ckan_real.fmt_actions(first_server)} |",
        f"| harvester publish, unchanged re-run | {again.seconds:.2f} | — | {again.write_calls} | "
        f"{ckan_real.fmt_actions(again_server)} |",
        f"| `ckanapi load datasets -p {PROCESSES}` | {load_s:.1f} | {load_rate:.1f} | — | {ckan_real.fmt_actions(load_writes)} |",
        "",
        f'- Goal "unchanged re-run: zero writes, under 5 s": **{again_ok}** ({again.write_calls} writes, '
        f"{again.read_calls} read calls, {again.seconds:.2f} s).",
        f'- Goal "first publication at least as fast as ckanapi load": **{met}** ({first_rate:.1f} against '
        f"{load_rate:.1f} datasets/s).",
        f"- First publication: {first.plan_seconds:.1f} s of reading CKAN and planning, then the writes; "
        f"{first.retries} retries. Purging the {len(ids)} datasets afterwards: {purge_s:.1f} s.",
        "- CKAN's request log counts every write the server answered during each run, whichever client sent it: "
        "it equals the client's count when nothing else writes to the testbed.",
    ]
    return "\n".join(lines) + "\n" + ckan_real.table(real, URL)
