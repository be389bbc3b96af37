"""IoT feeds: SensorThings Observations and NGSI entities ingested into Parquet, beside a plain `requests` loop
that only downloads and parses the same pages from the same local server (no typing, no Parquet)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import requests

from harvester.config import parse_sources
from harvester.harvest import harvest_source, new_run_id
from harvester.http import HttpClient
from harvester.normalise.stage import normalise_sources
from harvester.state import StateStore
from tests.fixture_server import FixtureServer

STREAMS = int(os.environ.get("BENCH_IOT_STREAMS", "50"))
PER_STREAM = int(os.environ.get("BENCH_IOT_OBS_PER_STREAM", "4000"))
PAGE = int(os.environ.get("BENCH_IOT_PAGE", "1000"))
ENTITIES = int(os.environ.get("BENCH_IOT_ENTITIES", "20000"))


def _requests_loop_sta(urls: list[str]) -> tuple[int, float]:
    t0 = time.monotonic()
    n = 0
    with requests.Session() as s:
        for url in urls:
            next_url: str | None = url
            params: dict[str, Any] | None = {"$orderby": "phenomenonTime asc", "$top": PAGE}
            while next_url:
                body = s.get(next_url, params=params, timeout=60).json()
                for block in body["value"]:
                    n += len(block["dataArray"]) if "dataArray" in block else 1
                next_url, params = body.get("@iot.nextLink"), None
    return n, time.monotonic() - t0


def _requests_loop_ngsi(url: str, types: list[str]) -> tuple[int, float]:
    t0 = time.monotonic()
    n = 0
    with requests.Session() as s:
        for t in types:
            offset = 0
            while True:
                r = s.get(
                    url, params={"type": t, "limit": 1000, "offset": offset, "count": "true"}, timeout=60
                )
                page = r.json()
                n += len(page)
                offset += len(page)
                if not page or offset >= int(r.headers["NGSILD-Results-Count"]):
                    break
    return n, time.monotonic() - t0


def _run_source(cfg: Any, sid: str, data: Path) -> tuple[float, float, int]:
    state = StateStore(data / "state.sqlite")
    http = HttpClient(validators=state)
    t0 = time.monotonic()
    res = harvest_source(cfg.source(sid), data_dir=data, state=state, http=http, run_id=new_run_id())
    assert res.status in ("ok", "partial"), res.error
    t1 = time.monotonic()
    rep = normalise_sources(cfg, [sid], data_dir=data, state=state, http=http, workers=4)
    t2 = time.monotonic()
    src = rep.sources[0]
    assert src.failed == 0, [o.error for o in src.resources if o.error]
    new = sum(int(o.detected.get("observations_new", o.rows or 0)) for o in src.resources if o.status == "ok")
    state.close()
    return t1 - t0, t2 - t1, new


def run(out_dir: Path) -> str:
    from tests.portals.ngsi_portal import PARKING_LD, WASTE_LD, NgsiPortal, clone
    from tests.portals.sensorthings_portal import StaPortal, bgs_datastreams

    data = out_dir / "iot-data"
    shutil.rmtree(data, ignore_errors=True)
    server = FixtureServer().start()
    try:
        sta = StaPortal(server, bgs_datastreams()[:STREAMS])
        sta.add_observations(PER_STREAM)
        total = STREAMS * PER_STREAM
        ngsi = NgsiPortal(server, clone(WASTE_LD, ENTITIES // 2) + clone(PARKING_LD, ENTITIES // 2))
        cfg = parse_sources(
            {
                "sources": [
                    {
                        "id": "sta",
                        "type": "sensorthings",
                        "url": sta.url,
                        "params": {"observations_page_size": PAGE, "first_window_days": None},
                    },
                    {"id": "ngsi", "type": "ngsi", "url": ngsi.url, "params": {"page_size": 1000}},
                ]
            }
        )
        h1, n1, got1 = _run_source(cfg, "sta", data)
        urls = [
            f"{sta.url}/Datastreams({s.iot_id})/Observations?$resultFormat=dataArray" for s in sta.streams
        ]
        loop_n, loop_s = _requests_loop_sta(urls)
        sta.add_observations(PER_STREAM // 100)
        h2, n2, got2 = _run_source(cfg, "sta", data)
        hn, nn, ents = _run_source(cfg, "ngsi", data)
        eloop_n, eloop_s = _requests_loop_ngsi(
            f"{ngsi.url}/ngsi-ld/v1/entities", ["WasteContainer", "OffStreetParking"]
        )
    finally:
        server.stop()
    assert got1 == total == loop_n, (got1, total, loop_n)
    assert got2 == STREAMS * (PER_STREAM // 100)
    assert ents == eloop_n == ENTITIES
    rows = [
        "## iot\n",
        f"SensorThings replay of {STREAMS} BGS Datastreams × {PER_STREAM:,} observations (dataArray, pages of "
        f"{PAGE:,}); NGSI-LD replay of {ENTITIES:,} entities (two Smart Data Models types, pages of 1,000). The "
        "server runs in this process: its JSON encoding is part of every figure.\n",
        "| what | harvester | plain `requests` loop (download + `json()` only) |",
        "|---|---|---|",
        f"| first download, {total:,} observations → typed month-partitioned Parquet | "
        f"{total / n1:,.0f} obs/s ({n1:.2f} s; harvest of the Datastreams {h1:.2f} s) | "
        f"{loop_n / loop_s:,.0f} obs/s ({loop_s:.2f} s) |",
        f"| incremental run, {got2:,} new observations appended | {n2:.2f} s normalise, {h2:.2f} s harvest | — |",
        f"| {ENTITIES:,} NGSI-LD entities → GeoParquet (harvest listing + normalise) | "
        f"{ENTITIES / nn:,.0f} entities/s normalise ({nn:.2f} s; harvest {hn:.2f} s) | "
        f"{eloop_n / eloop_s:,.0f} entities/s ({eloop_s:.2f} s) |",
    ]
    shutil.rmtree(data, ignore_errors=True)
    return "\n".join(rows) + "\n"
