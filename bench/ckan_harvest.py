"""Full and unchanged incremental harvest of a locally served 10,000-dataset CKAN, next to `ckanapi dump`.

Two catalogues: the heavy set (tests/portals/ckan_heavy.py: real package dicts grown as a scheming portal's are,
mean ≈ 3.7 KB, tail to ≈ 48 KB), and the corpus-shaped clones of the recorded dicts (tests/portals/ckan_portal.py,
2–4 KB), each measured BENCH_CKAN_REPS times (median reported: one sample of `ckanapi dump`, whose 10,001 requests
swing with the machine's load, was too noisy a yardstick).

BENCH_CKAN_BEFORE=DIR (a folder holding an older `harvester` package, e.g. `git archive <commit> harvester | tar -x
-C DIR`) also times that code's full and unchanged runs on the heavy set, in the same repetitions: a before/after
measured under the same load.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from tests.fixture_server import FixtureServer
from tests.portals.ckan_heavy import build_heavy_packages, size_summary
from tests.portals.ckan_portal import CkanPortal, build_packages

N = int(os.environ.get("BENCH_CKAN_DATASETS", "10000"))
REPS = int(os.environ.get("BENCH_CKAN_REPS", "3"))
BEFORE = os.environ.get("BENCH_CKAN_BEFORE")


@dataclass
class Rep:
    full_cpu: float
    inc_cpu: float
    dump_cpu: float
    full_s: float
    full_requests: int
    rows: int
    inc_s: float
    inc_requests: int
    inc_id_pages: int
    inc_report: dict[str, Any]
    dump_s: float
    dump_requests: int
    dumped: int
    before: tuple[float, float, float, float, int] | None = (
        None  # full s, full cpu, inc s, inc cpu, inc requests
    )

    @property
    def ratio(self) -> float:
        return self.dump_s / self.full_s if self.full_s else float("nan")


_CPU: list[
    float
] = []  # CPU seconds (user + system) of the last _timed command and the processes it waited for


def _timed(
    cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, cwd=cwd)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    _CPU[:] = [r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime]
    return wall, proc


def ckanapi_beside() -> tuple[str, dict[str, str]]:
    """The ckanapi installed next to this interpreter, and an environment whose PATH finds it first (its worker
    processes run `ckanapi` from PATH)."""
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": venv_bin + os.pathsep + os.environ.get("PATH", "")}
    return shutil.which("ckanapi", path=venv_bin) or "ckanapi", env


def dump_command(url: str, out: Path) -> tuple[list[str], dict[str, str]]:
    """The peer's full read of the CKAN at `url` into `out`, and its environment: `ckanapi dump datasets --all -p 3`
    (`ckanapi_beside`)."""
    ckanapi, env = ckanapi_beside()
    env["CKANAPI_MY_SITES"] = "127.0.0.1"
    return [ckanapi, "dump", "datasets", "--all", "-q", "-p", "3", "-O", str(out), "-r", url], env


def _one(work: Path, packages: list[dict[str, Any]], with_before: bool = False) -> Rep:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    server = FixtureServer().start()
    try:
        portal = CkanPortal(server, packages, frozen=True)
        # the server thread shares this process with the catalogue (millions of objects): frozen, they are out of
        # the cyclic GC's reach, so that a collection triggered while serving does not make either client wait
        gc.collect()
        gc.freeze()
        cfg = work / "sources.yaml"
        cfg.write_text(
            yaml.safe_dump(
                {"sources": [{"id": "bench", "type": "ckan", "url": portal.url, "params": {"rows": 1000}}]}
            )
        )
        exe = [sys.executable, "-m", "harvester", "--config", str(cfg), "--data-dir", str(work / "data")]

        n0 = len(server.requests)
        full_s, full = _timed([*exe, "harvest", "bench", "--json"], cwd=str(Path.cwd()))
        full_cpu = _CPU[0]
        full_requests = len(server.requests) - n0
        if full.returncode != 0:
            raise RuntimeError(f"harvest failed: {full.stderr[-2000:]}")
        rows = pq.read_metadata(work / "data/catalog/bench/datasets.parquet").num_rows

        n1 = len(server.requests)
        inc_s, inc = _timed([*exe, "harvest", "bench", "--json"], cwd=str(Path.cwd()))
        inc_cpu = _CPU[0]
        inc_requests = len(server.requests) - n1
        inc_id_pages = sum(1 for r in server.requests[n1:] if r.arg("fl"))
        inc_report = json.loads(inc.stdout)["sources"][0]
        before = _before(exe, work, server) if with_before and BEFORE else None

        n2 = len(server.requests)
        dump_s, dump = _timed(*dump_command(portal.url, work / "dump.jsonl"))
        dump_cpu = _CPU[0]
        dump_requests = len(server.requests) - n2
        if dump.returncode != 0:
            raise RuntimeError(f"ckanapi dump failed: {dump.stderr[-2000:]}")
        dumped = sum(1 for _ in (work / "dump.jsonl").open())
    finally:
        server.stop()
        gc.unfreeze()
    return Rep(
        full_cpu,
        inc_cpu,
        dump_cpu,
        full_s,
        full_requests,
        rows,
        inc_s,
        inc_requests,
        inc_id_pages,
        inc_report,
        dump_s,
        dump_requests,
        dumped,
        before,
    )


def _before(exe: list[str], work: Path, server: FixtureServer) -> tuple[float, float, float, float, int]:
    """The older code's full harvest and unchanged re-run, into a data dir of its own."""
    assert BEFORE is not None
    old = [*exe[:-1], str(work / "data-before")]
    full_s, full = _timed([*old, "harvest", "bench", "--json"], cwd=BEFORE)
    full_cpu = _CPU[0]
    if full.returncode != 0:
        raise RuntimeError(f"harvest (before) failed: {full.stderr[-2000:]}")
    n = len(server.requests)
    inc_s, _ = _timed([*old, "harvest", "bench", "--json"], cwd=BEFORE)
    return full_s, full_cpu, inc_s, _CPU[0], len(server.requests) - n


def _median(reps: list[Rep], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in reps)


def _rows(label: str, reps: list[Rep]) -> str:
    last = reps[-1]
    full_s, inc_s, dump_s, ratio = (_median(reps, a) for a in ("full_s", "inc_s", "dump_s", "ratio"))
    spread = lambda attr: ", ".join(f"{getattr(r, attr):.2f}" for r in reps)  # noqa: E731
    cpu = lambda attr: f"{_median(reps, attr):.2f} s"  # noqa: E731
    return (
        f"| {label}: full harvest | {full_s:.2f} s ({spread('full_s')}) | {cpu('full_cpu')} | {last.full_requests} "
        f"| {last.rows:,} | **{ratio:.1f}×** `ckanapi dump` (goal ≥ 5×: {'met' if ratio >= 5 else 'NOT met'}) |\n"
        f"| {label}: unchanged re-run | {inc_s:.2f} s ({spread('inc_s')}) | {cpu('inc_cpu')} | {last.inc_requests} "
        f"({last.inc_id_pages} `fl=id`) | listed {last.inc_report['listed']}, changed {last.inc_report['updated']} "
        f"| < 1.5 s: {'met' if inc_s < 1.5 else 'NOT met'} |\n"
        f"| {label}: `ckanapi dump datasets --all -p 3` | {dump_s:.2f} s ({spread('dump_s')}) | {cpu('dump_cpu')} "
        f"| {last.dump_requests} | {last.dumped:,} | — |\n"
    )


def _before_table(reps: list[Rep]) -> str:
    if not BEFORE or any(r.before is None for r in reps):
        return ""
    b = [r.before for r in reps if r.before is not None]
    med = [statistics.median(x[i] for x in b) for i in range(5)]
    dump = _median(reps, "dump_s")
    return f"""
Before/after on the heavy set, in the same repetitions (before: the `harvester` package in `BENCH_CKAN_BEFORE`):

| heavy set | before | after |
|---|---:|---:|
| full harvest, wall (median) | {med[0]:.2f} s ({dump / med[0]:.1f}× dump) | {_median(reps, "full_s"):.2f} s ({dump / _median(reps, "full_s"):.1f}× dump) |
| full harvest, CPU | {med[1]:.2f} s | {_median(reps, "full_cpu"):.2f} s |
| unchanged re-run, wall | {med[2]:.2f} s | {_median(reps, "inc_s"):.2f} s |
| unchanged re-run, CPU | {med[3]:.2f} s | {_median(reps, "inc_cpu"):.2f} s |
| unchanged re-run, requests | {int(med[4])} | {reps[-1].inc_requests} |
"""


def run(out_dir: Path) -> str:
    heavy = build_heavy_packages(N)
    sizes = size_summary(heavy)
    load = os.getloadavg()[0]
    heavy_reps = [_one(out_dir / "ckan_harvest", heavy, with_before=True) for _ in range(REPS)]
    basic = build_packages(N)
    basic_reps = [_one(out_dir / "ckan_harvest", basic) for _ in range(REPS)]
    return f"""## CKAN harvest: {N:,} datasets served locally

Two catalogues, both built from real recorded CKAN package dicts and served by a local CKAN-like API
(`package_search`, `package_list`, `package_show`). Each tool runs as a subprocess (start-up included) against
the same server in the same run. Times: median of the repetitions, each repetition in brackets; CPU is user +
system time of the process and the processes it waited for (ckanapi's workers), steadier than wall time on a
loaded machine. Load average (1 min) at the start: {load:.1f} on {os.cpu_count()} cores.

- **heavy set** (`tests/portals/ckan_heavy.py`): the recorded dicts grown as a scheming portal's are, with their
  own resources, extras, tags and notes cloned and DataSud's ckanext-scheming fields added. JSON size per dataset:
  mean {sizes["mean"] / 1000:.2f} KB, p50 {sizes["p50"] / 1000:.2f} KB, p95 {sizes["p95"] / 1000:.2f} KB,
  max {sizes["max"] / 1000:.1f} KB. {len(heavy_reps)} repetition(s).
- **corpus-shaped set** (`tests/portals/ckan_portal.py`): the recorded dicts cloned with new ids (2–4 KB).
  {len(basic_reps)} repetition(s).

| run | wall time | CPU | HTTP requests | datasets | goal |
|---|---:|---:|---:|---:|---|
{_rows("heavy", heavy_reps)}{_rows("corpus-shaped", basic_reps)}{_before_table(heavy_reps)}
The unchanged re-run asks for the datasets modified since the cursor and for the portal's total (`rows=0`); when
the total equals the datasets known plus the new ones, nothing was deleted and the id listing (`fl=id`) is skipped.
"""
