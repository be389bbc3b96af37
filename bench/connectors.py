"""Connector throughput: each connector lists a large catalogue built from its real payloads, served locally.

One row per scenario: `list_datasets` alone (records/s, requests), then the full harvest stage into the Parquet
catalogue (records/s) and an unchanged second harvest (incremental where the connector allows it). To add a row,
register a builder: `@builder("label", "type")` on a function `(server, n) -> (url, params)` that serves the
catalogue on the fixture server. The server runs in this process, so its JSON serialisation is part of the time.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harvester.config import parse_sources
from harvester.connectors import REGISTRY
from harvester.connectors.listing import read_listing
from harvester.harvest import harvest_source, new_run_id
from harvester.http import HttpClient, HttpPolicy
from harvester.state import StateStore
from tests.fixture_server import FixtureServer

N = int(os.environ.get("BENCH_CONNECTOR_DATASETS", "10000"))
N_FILES = int(os.environ.get("BENCH_CONNECTOR_FILES", "300"))

Builder = Callable[[FixtureServer, int], tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Row:
    label: str
    type: str
    build: Builder
    n: int


ROWS: list[Row] = []


def builder(label: str, type_name: str, n: int | None = None) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        ROWS.append(Row(label, type_name, fn, n or N))
        return fn

    return deco


# --- ckan -----------------------------------------------------------------------------------------------


@builder("ckan (package_search, 1,000 per page)", "ckan")
def _ckan(server: FixtureServer, n: int) -> tuple[str, dict[str, Any]]:
    from tests.portals.ckan_portal import CkanPortal, build_packages

    return CkanPortal(server, build_packages(n)).url, {"rows": 1000}


# --- part A builders (opendatasoft, udata, arcgis, socrata, files) -------------------------------------------


@builder("opendatasoft (paged, 100 per page)", "opendatasoft", n=min(N, 9_999))
def _ods_paged(server: FixtureServer, n: int) -> tuple[str, dict[str, Any]]:
    from tests.portals.ods_portal import OdsPortal, ods_clone, ods_records

    real = ods_records()
    return OdsPortal([ods_clone(real[i % 3], i) for i in range(n)]).install(server), {}


@builder("opendatasoft (> 10,000: catalogue export)", "opendatasoft", n=max(N, 10_050))
def _ods_export(server: FixtureServer, n: int) -> tuple[str, dict[str, Any]]:
    return _ods_paged(server, n)


@builder("udata (1,000 per page)", "udata")
def _udata(server: FixtureServer, n: int) -> tuple[str, dict[str, Any]]:
    from tests.portals.udata_portal import UdataPortal, udata_clone, udata_records

    real = udata_records()
    rows = [udata_clone(real[i % len(real)], i) for i in range(n)]
    return UdataPortal(rows).install(server), {"page_size": 1000}


@builder("arcgis (one DCAT-US document)", "arcgis")
def _arcgis(server: FixtureServer, n: int) -> tuple[str, dict[str, Any]]:
    from tests.portals.arcgis_portal import hub_feed, serve_feed

    return serve_feed(server, hub_feed(n)), {}


@builder("socrata (1,000 per page)", "socrata")
def _socrata(server: FixtureServer, n: int) -> tuple[str, dict[str, Any]]:
    from tests.portals.socrata_portal import SocrataPortal, socrata_clone, socrata_results

    real = socrata_results()
    rows = [socrata_clone(real[i % len(real)], i, "data.example.org") for i in range(min(n, 10_000))]
    return SocrataPortal(rows).install(server), {"domains": ["data.example.org"], "page_size": 1000}


def _files(server: FixtureServer, n: int, head: bool) -> tuple[str, dict[str, Any]]:
    from datetime import UTC, datetime, timedelta

    from tests.portals.files_portal import COMMUNE, FileHost, Served

    host = FileHost(server)
    bodies = [p.read_bytes() for p in sorted(COMMUNE.glob("*.csv"))]
    entries = []
    for i in range(n):
        served = Served(
            bodies[i % len(bodies)] + f"\n{i}".encode(),
            last_modified=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=i),
            head=head,
        )
        url = host.serve(f"/opendata/{i}.csv", served)
        entries.append({"url": url, "title": f"Fichier {i}", "publisher": "Commune", "license": "lov2"})
    return server.url, {"files": entries}


@builder("files (HEAD answers)", "files", n=N_FILES)
def _files_head(server: FixtureServer, n: int) -> tuple[str, dict[str, Any]]:
    return _files(server, n, head=True)


@builder("files (HEAD refused: GET + checksum)", "files", n=N_FILES)
def _files_get(server: FixtureServer, n: int) -> tuple[str, dict[str, Any]]:
    return _files(server, n, head=False)


# --- part B builders (dcat, csw) --------------------------------------------------------------------------------


@builder("dcat (Rennes ODS export datasets, RDF/XML, Hydra pages of 100)", "dcat", n=min(N, 5_000))
def _dcat(server: FixtureServer, n: int) -> tuple[str, dict[str, Any]]:
    from tests.portals.dcat_portal import DcatPortal, build_datasets

    return DcatPortal(server, build_datasets(n), per_page=100).url, {}


@builder("csw (Géo-IDE ISO 19139 records, GetRecords POST, 100 per page)", "csw", n=min(N, 5_000))
def _csw(server: FixtureServer, n: int) -> tuple[str, dict[str, Any]]:
    from tests.portals.csw_portal import CswPortal, build_records

    return CswPortal(server, build_records(n)).url, {"page_size": 100}


# --- measurement ------------------------------------------------------------------------------------------------


def _measure(row: Row, work: Path) -> dict[str, Any]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    server = FixtureServer().start()
    state = StateStore(work / "state.sqlite")
    try:
        url, params = row.build(server, row.n)
        http = HttpClient(HttpPolicy(max_retries=0), validators=state, cache_dir=work / "http-cache")
        cls = REGISTRY[row.type]
        conn = cls("bench", url, cls.Params.model_validate(params), http)
        n0 = len(server.requests)
        t0 = time.perf_counter()
        listed = len(read_listing(conn.list_datasets()).records)
        list_s = time.perf_counter() - t0
        list_requests = len(server.requests) - n0

        cfg = parse_sources(
            {
                "sources": [
                    {
                        "id": "bench",
                        "type": row.type,
                        "url": url,
                        "params": params,
                        "http": {"max_retries": 0},
                    }
                ]
            }
        )
        runs = []
        for _ in range(2):
            t0 = time.perf_counter()
            res = harvest_source(
                cfg.sources[0], data_dir=work / "data", state=state, http=http, run_id=new_run_id()
            )
            runs.append((time.perf_counter() - t0, res))
            if res.status not in ("ok", "partial"):
                raise RuntimeError(f"{row.label}: harvest {res.status}: {res.error}")
        (full_s, full), (again_s, again) = runs
        return {
            "listed": listed,
            "list_s": list_s,
            "list_requests": list_requests,
            "full_s": full_s,
            "full_listed": full.listed,
            "again_s": again_s,
            "again_mode": again.mode,
            "again_requests": again.requests,
        }
    finally:
        state.close()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def run(out_dir: Path) -> str:
    lines = [
        "## Connectors: listing and harvest throughput",
        "",
        "Each connector reads a catalogue cloned from its real recorded payloads and served on 127.0.0.1 by the "
        "in-process fixture server (so the server's work is included). *list* is `list_datasets` alone; *harvest* "
        "is the harvest stage into the Parquet catalogue; *again* is an unchanged second harvest (incremental for "
        "connectors that support it).",
        "",
        "| connector | datasets | list requests | list (s) | list records/s | harvest (s) | harvest records/s "
        "| again (s) | again mode, requests |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    measured = set()
    for row in ROWS:
        measured.add(row.type)
        try:
            m = _measure(row, out_dir / "connectors" / row.type)
        except Exception as exc:  # one broken row is reported, the others still run
            lines.append(f"| {row.label} | FAILED: {type(exc).__name__}: {exc} |||||||| ")
            continue
        lines.append(
            f"| {row.label} | {m['listed']:,} | {m['list_requests']} | {m['list_s']:.2f} | "
            f"{m['listed'] / m['list_s']:,.0f} | {m['full_s']:.2f} | {m['full_listed'] / m['full_s']:,.0f} | "
            f"{m['again_s']:.2f} | {m['again_mode']}, {m['again_requests']} |"
        )
    for type_name in sorted(set(REGISTRY) - measured):
        lines.append(f"| {type_name} | no builder in bench/connectors.py yet |||||||| ")
    return "\n".join(lines) + "\n"
