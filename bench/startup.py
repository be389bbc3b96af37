"""Start-up of the console script: `harvester --help` and `harvester validate`, whole processes, next to the peer's.

Every cron line and every `--help` pays the start-up. Each command runs ROUNDS times, the commands taking turns
(the machine's load moves); the figure is the median, with the best in brackets. The peer is `ckanapi --help`
(ckanapi is a dependency, so it is installed beside us), the floor `python -c pass`. The config validated has a
source of each light type (CKAN, udata, OpenDataSoft) and a DCAT and a CSW source, whose params models live in
light modules. `tests/test_cli.py` checks which libraries these commands import; this only times them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

import yaml

ROUNDS = 11
GOAL_S = 0.35
SOURCES = [
    {"id": "ckan", "type": "ckan", "url": "https://example.org", "schedule": "0 3 * * *"},
    {"id": "udata", "type": "udata", "url": "https://example.org"},
    {"id": "ods", "type": "opendatasoft", "url": "https://example.org"},
    {"id": "dcat", "type": "dcat", "url": "https://example.org/catalog.ttl"},
    {"id": "csw", "type": "csw", "url": "https://example.org/csw"},
]


def _script(name: str) -> list[str] | None:
    """The console script installed next to this interpreter (what a cron line runs), else on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    return [found] if found else None


def _time(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-1000:]}")
    return took


def run(out_dir: Path) -> str:
    work = out_dir / "startup"
    work.mkdir(parents=True, exist_ok=True)
    cfg = work / "sources.yaml"
    cfg.write_text(yaml.safe_dump({"sources": SOURCES}))
    harvester = _script("harvester") or [sys.executable, "-m", "harvester"]
    commands: dict[str, list[str]] = {
        "`harvester --help`": [*harvester, "--help"],
        "`harvester validate` (CKAN, udata, ODS, DCAT, CSW sources)": [
            *harvester,
            "--config",
            str(cfg),
            "validate",
        ],
        "`python -c pass` (the interpreter alone)": [sys.executable, "-c", "pass"],
    }
    ckanapi = _script("ckanapi")
    if ckanapi:
        commands["peer: `ckanapi --help`"] = [*ckanapi, "--help"]
    load = os.getloadavg()[0]
    times: dict[str, list[float]] = {name: [] for name in commands}
    for cmd in commands.values():  # one warm-up each (file system caches), not counted
        _time(cmd)
    for _ in range(ROUNDS):
        for name, cmd in commands.items():
            times[name].append(_time(cmd))
    rows = []
    for name, spent in times.items():
        goal = ""
        if name.startswith("`harvester"):
            met = median(spent) < GOAL_S
            goal = f"< {GOAL_S} s: {'met' if met else '**NOT met**'}"
        rows.append(f"| {name} | {median(spent):.2f} s ({min(spent):.2f} s) | {goal} |")
    table = "\n".join(rows)
    return f"""## Start-up: the console script, whole processes

Each command {ROUNDS} times, taking turns after one warm-up; median (best). The console script is the one
installed next to this interpreter, as a cron line runs it. `make bench` runs this section first. Load average
(1 min) at the start: {load:.1f} on {os.cpu_count()} cores.

| command | wall time | goal |
|---|---:|---|
{table}
"""
