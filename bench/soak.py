"""`make soak`: `harvester run --due` every minute, as cron would, against replayed portals and the CKAN testbed,
with a CKAN outage and a portal outage in the middle; then checks that nothing is left locked, nothing is
duplicated in CKAN, and that status and reports tell what happened. Writes bench/soak.md.

    SOAK_MINUTES=10 (default) · SOAK_DIR=soak-data · CKAN_URL=http://127.0.0.1:5000 · CKAN_API_TOKEN or the
    testbed's token file (CKAN_TESTBED_DIR/token.txt)

CKAN is never stopped: the pipeline publishes through a loopback TCP proxy (bench/soak_proxy.py) that is cut.
The portal outage is the replayed CKAN portal answering 503. Each minute's run starts on time even when the
previous one still runs (as cron does), and one minute starts two at once: the second must skip.
The runs are `run --due --no-normalise`: the replayed catalogues' resources point at the real portals' file
hosts, and a soak never sends a request off this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml

from bench.soak_proxy import OutageProxy
from harvester.demo.__main__ import REPLAYS, _ckan_token, _sources
from harvester.demo.server import ReplayServer, Route

PIPELINE = "soak"
ORG = "harvester-soak"
LONE = "vanves"  # scheduled on its own, in no pipeline
DOWN_PORTAL = "demo-ckan"


@dataclass
class Tick:
    n: int
    at: str
    ckan_up: bool
    portal_up: bool
    overlap: bool
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def timeline(minutes: int) -> tuple[set[int], set[int]]:
    """Ticks with CKAN cut, and ticks with the portal down (the middle of the run, a few minutes each)."""
    if minutes < 3:
        raise SystemExit("SOAK_MINUTES must be at least 3")
    if minutes < 6:
        return {1}, {2}
    a = minutes * 3 // 10
    b = minutes * 6 // 10
    return {a, a + 1}, {b, b + 1}


def wrap_outage(route: Route, down: threading.Event) -> Route:
    def answer(q: dict[str, list[str]]) -> tuple[int, str, bytes]:
        if down.is_set():
            return (
                503,
                "text/html",
                b"<html><body>Service temporarily unavailable (maintenance)</body></html>",
            )
        return route(q)

    return answer


def write_project(root: Path, portal_url: str, ckan_url: str) -> None:
    sources = _sources(portal_url)
    for s in sources:
        s["http"] = {"max_retries": 1, "backoff": 0.2, "timeout": 15}
        if s["id"] == LONE:
            s["schedule"] = "*/2 * * * *"
    (root / "sources.yaml").write_text(
        yaml.safe_dump({"sources": sources}, allow_unicode=True, sort_keys=False)
    )
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    pipeline = {
        "name": PIPELINE,
        "sources": [s["id"] for s in sources if s["id"] != LONE],
        "schedule": "* * * * *",
        "publish": {
            "ckan": {
                "url": ckan_url,
                "token_env": "CKAN_API_TOKEN",
                "organizations": {"default": ORG, "create_missing": True},
                "max_retries": 1,
                "timeout": 20,
            }
        },
    }
    (root / "pipelines" / f"{PIPELINE}.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))


def harvester(root: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "harvester",
        "--config",
        str(root / "sources.yaml"),
        "--data-dir",
        str(root / "data"),
        *args,
    ]


def owned(ckan: str, token: str) -> list[dict[str, Any]]:
    r = requests.get(
        f"{ckan}/api/3/action/package_search",
        params={"fq": f'extras_harvest_pipeline:"{PIPELINE}"', "rows": "1000", "include_private": "true"},
        headers={"Authorization": token},
        timeout=30,
    )
    r.raise_for_status()
    return [p for p in r.json()["result"]["results"] if _extra(p, "harvest_pipeline") == PIPELINE]


def _extra(pkg: dict[str, Any], key: str) -> str | None:
    for e in pkg.get("extras") or []:
        if e.get("key") == key:
            return str(e.get("value"))
    return None


def purge(ckan: str, token: str) -> int:
    """Remove what an earlier soak published (the shared testbed keeps only what its tests leave)."""
    pkgs = owned(ckan, token)
    for p in pkgs:
        requests.post(
            f"{ckan}/api/3/action/dataset_purge",
            json={"id": p["id"]},
            headers={"Authorization": token},
            timeout=30,
        )
    return len(pkgs)


def wait_for_minute() -> None:
    now = time.time()
    time.sleep(60 - now % 60 + 1)  # one second past the minute, as cron starts


def collect(tick: Tick) -> None:
    for p in tick.procs:
        out, err = p.communicate(timeout=900)
        tick.codes.append(p.returncode)
        try:
            tick.results.append(json.loads(out))
        except ValueError:
            tick.results.append({"error": err[-2000:]})


def main() -> int:
    minutes = int(os.environ.get("SOAK_MINUTES", "10"))
    root = Path(os.environ.get("SOAK_DIR", "soak-data")).resolve()
    ckan = os.environ.get("CKAN_URL", "http://127.0.0.1:5000").rstrip("/")
    token = _ckan_token(ckan)
    if token is None:
        print(f"soak: no CKAN answers at {ckan} (start the testbed with `make ckan-up`)", file=sys.stderr)
        return 1
    os.environ["CKAN_API_TOKEN"] = token
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    print(f"soak: purged {purge(ckan, token)} datasets of an earlier soak", file=sys.stderr)
    ckan_down, portal_down = timeline(minutes)
    portal_outage = threading.Event()
    routes: dict[str, Route] = {}
    for src, r in REPLAYS:
        for path, route in r.items():
            routes[path] = wrap_outage(route, portal_outage) if src["id"] == DOWN_PORTAL else route
    u = urlsplit(ckan)
    proxy = OutageProxy((u.hostname or "127.0.0.1", u.port or 80))
    started = time.monotonic()
    ticks: list[Tick] = []
    with ReplayServer(routes) as server:
        write_project(root, server.url, proxy.url)
        print(
            f"soak: {minutes} minutes; CKAN cut at ticks {sorted(ckan_down)}, portal down at {sorted(portal_down)}"
        )
        for n in range(minutes):
            wait_for_minute()
            (proxy.cut if n in ckan_down else proxy.restore)()
            (portal_outage.set if n in portal_down else portal_outage.clear)()
            tick = Tick(
                n,
                datetime.now(UTC).isoformat(timespec="seconds"),
                proxy.up,
                not portal_outage.is_set(),
                n == 1,
            )
            for _ in range(2 if tick.overlap else 1):
                tick.procs.append(
                    subprocess.Popen(
                        harvester(root, "run", "--due", "--no-normalise", "--json"),
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                )
            threading.Thread(target=collect, args=(tick,), daemon=True).start()
            ticks.append(tick)
            print(
                f"soak: tick {n} at {tick.at}: ckan {'up' if tick.ckan_up else 'CUT'}, portal {'up' if tick.portal_up else 'DOWN'}",
                file=sys.stderr,
            )
        for t in ticks:
            for p in t.procs:
                p.wait(900)
        time.sleep(1)
        proxy.restore()
        portal_outage.clear()
    elapsed = time.monotonic() - started
    checks = verify(root, ckan, token, ticks)
    write_summary(Path(__file__).parent / "soak.md", minutes, elapsed, ticks, checks, ckan_down, portal_down)
    purge(ckan, token)
    proxy.close()
    failed = [c for c in checks if not c[1]]
    print(
        f"soak: {len(checks) - len(failed)}/{len(checks)} checks passed; summary in bench/soak.md",
        file=sys.stderr,
    )
    return 1 if failed else 0


def _items(tick: Tick, which: str) -> list[Any]:
    return [x for r in tick.results for x in r.get(which, [])]


def verify(root: Path, ckan: str, token: str, ticks: list[Tick]) -> list[tuple[str, bool, str]]:
    from harvester.state import StateStore

    checks: list[tuple[str, bool, str]] = []
    data = root / "data"
    locks = sorted((data / "locks").glob("*.lock"))
    stale = [p.name for p in locks if p.read_text().strip()]
    checks.append(("no stale lock", not stale, f"{len(locks)} lock files, held: {stale or 'none'}"))

    pkgs = owned(ckan, token)
    keys = [(_extra(p, "harvest_source_id"), _extra(p, "harvest_remote_id")) for p in pkgs]
    dups = sorted({f"{s}:{r}" for s, r in keys if keys.count((s, r)) > 1})
    st = StateStore(data / "state.sqlite", readonly=True)
    records = {k: v for k, v in st.read_publish_records(PIPELINE).items() if not v["withdrawn"]}
    checks.append(("no duplicate in CKAN", not dups, f"{len(pkgs)} datasets, duplicates: {dups or 'none'}"))
    checks.append(
        (
            "CKAN holds what the state says",
            len(pkgs) == len(records),
            f"CKAN {len(pkgs)}, state {len(records)}",
        )
    )

    overlap = next(t for t in ticks if t.overlap)
    skipped = _items(overlap, "skipped")
    checks.append(
        (
            "an overlapping run --due skipped, naming the holder",
            any(
                s["item"] == f"pipeline:{PIPELINE}" and "being processed by pid" in s["reason"]
                for s in skipped
            ),
            f"tick {overlap.n}: {[s['reason'][:90] for s in skipped]}",
        )
    )
    for t in ticks:
        failed = [f for f in _items(t, "failed") if f["item"] == f"pipeline:{PIPELINE}"]
        ran = [i for i in _items(t, "items") if i["kind"] == "pipeline" and i["action"] == "run"]
        if not t.ckan_up:
            # exit 1 when the pipeline was all that ran, 3 when a lone source was harvested beside it
            others_ok = [i for i in _items(t, "items") if i["action"] == "run" and i["exit_code"] == 0]
            expected = {3 if others_ok else 1}
            ok = (
                bool(failed)
                and all(("CKAN" in f["reason"] or "127.0.0.1" in f["reason"]) for f in failed)
                and set(t.codes) == expected
            )
            checks.append(
                (
                    f"tick {t.n}: CKAN cut → pipeline failed, exit {expected.pop()}",
                    ok,
                    f"exit {t.codes}, {[f['reason'][:100] for f in failed]}",
                )
            )
        elif not t.portal_up:
            runs = [i["run_id"] for i in ran if i.get("run_id")]
            by_run = [r for r in st.recent_runs(DOWN_PORTAL, ("harvest",), 100) if r["run_id"] in runs]
            ok = (
                bool(by_run)
                and all(
                    r["status"] == "failed" and "503" in str((r["summary"] or {}).get("error"))
                    for r in by_run
                )
                and 3 in t.codes
            )
            checks.append(
                (
                    f"tick {t.n}: portal down → {DOWN_PORTAL} failed with its 503, exit 3",
                    ok,
                    f"exit {t.codes}, runs {[r['status'] for r in by_run]}",
                )
            )
        else:
            published = [i for i in ran if i["kind"] == "pipeline" and i["exit_code"] == 0]
            # a minute whose run overran into the next: that one skips the pipeline, naming the holder
            published += [
                s
                for s in _items(t, "skipped")
                if s["item"] == f"pipeline:{PIPELINE}" and "pid" in s["reason"]
            ]
            checks.append(
                (
                    f"tick {t.n}: all up → pipeline ran (or skipped while another run held it), exit 0",
                    bool(published) and set(t.codes) <= {0},
                    f"exit {t.codes}",
                )
            )
        for i in ran:  # every run's reports were written
            if i.get("run_id"):
                rd = data / "runs" / i["run_id"]
                wanted = (
                    ("report.json", "publish-report.json") if i["kind"] == "pipeline" else ("report.json",)
                )
                present = [n for n in wanted if (rd / n).exists()]
                if len(present) < len(wanted):
                    checks.append((f"tick {t.n}: reports of run {i['run_id']}", False, f"only {present}"))
                elif not t.ckan_up and i["kind"] == "pipeline":
                    pub = json.loads((rd / "publish-report.json").read_text())
                    checks.append(
                        (
                            f"tick {t.n}: publish report says CKAN was unreachable",
                            pub["exit_code"] == 1 and bool(pub["error"]),
                            str(pub["error"])[:100],
                        )
                    )

    status = subprocess.run(harvester(root, "status", "--json"), capture_output=True, text=True, timeout=120)
    doc = json.loads(status.stdout)
    pl = next(p for p in doc["pipelines"] if p["name"] == PIPELINE)
    last_tick_ok = ticks[-1].ckan_up
    checks.append(
        (
            "status: pipeline recovered, last failure names CKAN",
            (pl["consecutive_failures"] == 0) == last_tick_ok
            and pl["last_failure"] is not None
            and pl["last_success"] is not None
            and pl["datasets"] == len(records),
            f"consecutive {pl['consecutive_failures']}, last failure {str((pl['last_failure'] or {}).get('error'))[:90]}",
        )
    )
    src = next(s for s in doc["sources"] if s["id"] == DOWN_PORTAL)
    checks.append(
        (
            f"status: {DOWN_PORTAL} failures in a row match the timeline, last failure the 503",
            (src["consecutive_failures"] == 0) == ticks[-1].portal_up
            and "503" in str((src["last_failure"] or {}).get("error")),
            f"consecutive {src['consecutive_failures']}, last failure {str((src['last_failure'] or {}).get('error'))[:90]}",
        )
    )
    lone = next(s for s in doc["sources"] if s["id"] == LONE)
    lone_runs = st.recent_runs(LONE, ("harvest",), 100)
    from harvester.schedule import slot

    expect = len(
        {slot("*/2 * * * *", datetime.fromisoformat(t.at)) for t in ticks}
    )  # the first tick: never run
    checks.append(
        (
            f"lone source {LONE} harvested once per */2 slot",
            len(lone_runs) == expect and lone["schedule"] == "*/2 * * * *",
            f"{len(lone_runs)} harvests for {expect} slots; next due {lone['next_due']}",
        )
    )
    alert = subprocess.run(
        harvester(root, "status", "--fail-after", "1"), capture_output=True, text=True, timeout=120
    )
    healthy = last_tick_ok and ticks[-1].portal_up  # the last minute had no outage: nothing fails now
    lines = [x for x in alert.stderr.splitlines() if x.startswith("FAILING")]
    checks.append(
        (
            "status --fail-after 1: exit 0 when recovered, else 1 naming what fails",
            (alert.returncode == 0) == healthy and bool(lines) != healthy,
            f"exit {alert.returncode}; {lines[:2] or 'nothing failing'}",
        )
    )
    return checks


def write_summary(
    path: Path,
    minutes: int,
    elapsed: float,
    ticks: list[Tick],
    checks: list[tuple[str, bool, str]],
    ckan_down: set[int],
    portal_down: set[int],
) -> None:
    lines = [
        "# Soak: `harvester run --due` every minute",
        "",
        f"{datetime.now(UTC).isoformat(timespec='seconds')} · {minutes} minutes ({elapsed:.0f} s) · `make soak` "
        f"(SOAK_MINUTES={minutes}) · replayed portals (harvester/demo) · CKAN testbed behind a loopback proxy · "
        f"CKAN cut at ticks {sorted(ckan_down)}, portal `{DOWN_PORTAL}` answering 503 at ticks {sorted(portal_down)}",
        "",
        "| tick | at (UTC) | CKAN | portal | processes | exit | ran | skipped | failed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in ticks:
        lines.append(
            f"| {t.n} | {t.at[11:19]} | {'up' if t.ckan_up else 'cut'} | {'up' if t.portal_up else '503'} | "
            f"{len(t.procs)} | {', '.join(map(str, t.codes))} | {', '.join(_items(t, 'run')) or '-'} | "
            f"{', '.join(s['item'] for s in _items(t, 'skipped')) or '-'} | "
            f"{', '.join(f['item'] for f in _items(t, 'failed')) or '-'} |"
        )
    lines += ["", "| check | result | detail |", "|---|---|---|"]
    for name, ok, detail in checks:
        lines.append(f"| {name} | {'PASS' if ok else 'FAIL'} | {detail.replace('|', '/')} |")
    passed = sum(1 for c in checks if c[1])
    lines += ["", f"{passed}/{len(checks)} checks passed.", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
