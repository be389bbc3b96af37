"""Wall time and peak RSS of a command, measured by a small parent of its own.

Linux keeps a process's RSS high-water mark across fork and exec: a command started straight from a bench
process that holds a served catalogue reports that process's size as its own peak (a 10 MB `python -c pass`
read 844 MB under an 800 MB parent). So the command runs as the only child of a fresh interpreter, which times
it and reads RUSAGE_CHILDREN (the largest of the command and the processes it waited for).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

_PARENT = (
    "import resource, subprocess, sys, time\n"
    "t0 = time.perf_counter()\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "took = time.perf_counter() - t0\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "open(sys.argv[1], 'w').write(f'{took} {peak}')\n"
    "sys.exit(code)\n"
)


def measured(cmd: list[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """The command's wall seconds (its parent's start-up left out), its peak RSS in MB, the finished process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "measured"
        proc = subprocess.run(
            [sys.executable, "-c", _PARENT, str(out), *cmd], capture_output=True, text=True, check=False
        )
        took, peak_kb = out.read_text().split()
    return float(took), int(peak_kb) / 1024, proc
