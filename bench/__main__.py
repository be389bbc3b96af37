"""Run the benchmarks and write bench/report.md: `python -m bench [NAME...]`."""

from __future__ import annotations

import importlib
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

# Each name is a module bench/<name>.py with `run(out_dir: Path) -> str`. Add one line per benchmark.
# start-up first: right after a CPU-heavy section the load average's tail is what a 0.3 s command would measure
BENCHES: tuple[str, ...] = (
    "startup",
    "ckan_harvest",
    "dcat_harvest",
    "normalise_stage",
    "connectors",
    "publish",
    "ckan_real_heavy",
    "tables",
    "iot",
    "merge",
    "executors",
    "host_limits",
)


def main(argv: list[str]) -> int:
    names = argv or list(BENCHES)
    unknown = sorted(set(names) - set(BENCHES))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    here = Path(__file__).parent
    out_dir = here / "out"
    out_dir.mkdir(exist_ok=True)
    sections = [
        "# harvester benchmark report\n",
        f"Run {datetime.now(UTC).isoformat(timespec='seconds')} on {platform.machine()}, "
        f"Python {platform.python_version()}, {_cpus()} cores. Every figure below was measured in this run.\n",
    ]
    failed = 0
    for name in names:
        t0 = time.monotonic()
        print(f"bench: {name}…", file=sys.stderr, flush=True)
        try:
            body = importlib.import_module(f"bench.{name}").run(out_dir)
        except Exception as exc:  # a broken benchmark is reported, the others still run
            failed += 1
            body = f"## {name}\n\nFAILED: {type(exc).__name__}: {exc}\n"
        sections.append(body.rstrip() + f"\n\n_({name}: {time.monotonic() - t0:.0f} s)_\n")
    report = here / ("report.md" if names == list(BENCHES) else f"report-{'-'.join(names)}.md")
    report.write_text("\n".join(sections), encoding="utf-8")
    print(f"bench: report written to {report}", file=sys.stderr)
    return 1 if failed else 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
