"""Full harvest of the real CKAN 2.12 testbed, next to `ckanapi dump`, while the publish bench's datasets are in it.

The CKAN harvest section serves its catalogue from a small Python server in the bench process, which answers a
`package_show` in about half a millisecond: much faster than a real CKAN, and `ckanapi dump` sends one per
dataset. Here both tools read the same real CKAN (`ckan run --threaded`, PostgreSQL search plugin), holding what
the publish section has just written: its datasets and ckanapi's copies of them. Each tool runs as a subprocess
(start-up included), REPS times, taking turns; medians.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

import pyarrow.parquet as pq
import yaml

from bench.ckan_harvest import _timed, dump_command

REPS = int(os.environ.get("BENCH_CKAN_REAL_REPS", "3"))


Logged = dict[str, int] | None  # actions by name, None when CKAN's request log is not there


@dataclass
class RealHarvest:
    harvests: list[float]
    dumps: list[float]
    requests: int  # requests of the last harvest, by its own report
    datasets: int  # in the harvester's catalogue
    dumped: int  # lines of ckanapi's dump
    dump_bytes: float  # mean bytes per line of ckanapi's dump: the package dicts as CKAN serves them
    served: tuple[Logged, Logged]  # the actions CKAN logged: last harvest, last dump

    @property
    def ratio(self) -> float:
        return median(self.dumps) / median(self.harvests)


def run_checked(
    cmd: list[str], env: dict[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """`_timed`, raising with the end of its stderr when the command fails."""
    took, proc = _timed(cmd, env)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} … {cmd[-3:]} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return took, proc


def measure(url: str, work: Path, served: Callable[[], Logged]) -> RealHarvest:
    """Both tools' full reads of the whole CKAN at `url`, taking turns. `served()` gives the actions CKAN logged
    since its last call (None without a log): called around the last repetition's runs, untimed."""
    work.mkdir(parents=True, exist_ok=True)
    cfg = work / "sources.yaml"
    cfg.write_text(
        yaml.safe_dump({"sources": [{"id": "real", "type": "ckan", "url": url, "params": {"rows": 1000}}]})
    )
    data = work / "data"
    harvest = [
        sys.executable,
        "-m",
        "harvester",
        "--config",
        str(cfg),
        "--data-dir",
        str(data),
        "harvest",
        "real",
    ]
    dump_file = work / "dump.jsonl"
    dump, env = dump_command(url, dump_file)
    harvests: list[float] = []
    dumps: list[float] = []
    report: dict[str, Any] = {}
    logged: tuple[Logged, Logged] = (None, None)
    for rep in range(REPS):
        shutil.rmtree(data, ignore_errors=True)
        last = rep == REPS - 1
        if last:
            served()
        took, proc = run_checked([*harvest, "--json"])
        harvests.append(took)
        report = json.loads(proc.stdout)["sources"][0]
        by_harvest = served() if last else None
        took, _proc = run_checked(dump, env)
        dumps.append(took)
        if last:
            logged = (by_harvest, served())
    datasets = pq.read_metadata(data / "catalog/real/datasets.parquet").num_rows
    with dump_file.open("rb") as fh:
        dumped = sum(1 for _ in fh)
    size = dump_file.stat().st_size
    shutil.rmtree(work, ignore_errors=True)
    return RealHarvest(
        harvests, dumps, int(report.get("requests") or 0), datasets, dumped, size / max(dumped, 1), logged
    )


def fmt_actions(counts: Logged) -> str:
    """Actions counted from CKAN's request log: their total, then each by name ("n/a" without the log)."""
    if counts is None:
        return "n/a"
    return f"{sum(counts.values())} ({', '.join(f'{a} {n}' for a, n in counts.items()) or 'none'})"


_HEADING = "CKAN harvest from the real CKAN 2.12 testbed"
_INTRO = (
    "Both tools read the whole testbed at {url} while the datasets above are in it (the CKAN harvest section's "
    "server is a small Python one, much faster per request than a real CKAN)."
)


def table(
    r: RealHarvest, url: str, heading: str = _HEADING, intro: str | None = None, goal: float | None = None
) -> str:
    """The section's markdown; `intro` (what was read, default: the publish section's datasets) before the runs."""
    each = lambda xs: ", ".join(f"{x:.2f}" for x in xs)  # noqa: E731
    verdict = "" if goal is None else f" (goal ≥ {goal:g}×: {'met' if r.ratio >= goal else 'NOT met'})"
    return f"""
### {heading}

{intro or _INTRO.format(url=url)} {REPS} runs each, taking turns; medians.

| run | wall time | actions CKAN served (its request log, last run) | datasets |
|---|---:|---|---:|
| `harvester harvest` (`package_search`, 1,000 per page; {r.requests} requests by its report) | {median(r.harvests):.2f} s ({each(r.harvests)}) | {fmt_actions(r.served[0])} | {r.datasets:,} |
| `ckanapi dump datasets --all -p 3` (one `package_show` per dataset) | {median(r.dumps):.2f} s ({each(r.dumps)}) | {fmt_actions(r.served[1])} | {r.dumped:,} |

harvester is **{r.ratio:.1f}×** faster than `ckanapi dump` on a real CKAN{verdict}.
"""
