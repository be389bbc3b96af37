"""The end of a `harvester` process without the interpreter's teardown.

When a command is done, CPython frees every object and module one by one before the process ends: 0.1 s for the
modules a harvest imports (pyarrow, numpy, pydantic, requests), 0.15-0.2 s after a CKAN harvest of 10,000
datasets, paid by every cron line. The operating system reclaims all of it anyway. So the console script ends
as the interpreter would, minus that teardown: it waits for the threads the interpreter would wait for (when
any is still running it exits the normal way), runs the atexit handlers (logging's flush and close among them),
flushes stdout and stderr, then calls `os._exit` with the command's exit code.

Files are written and closed explicitly by the code that writes them (atomic renames, store.py), so no data
waits for a finaliser at teardown. Only the console entry point ends this way; `harvester.cli.main` called
in-process (tests, other programs) raises SystemExit as click does.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn


def exit_code(code: str | int | None) -> int:
    """The process exit status for a SystemExit code, as the interpreter computes it."""
    if code is None:
        return 0
    if isinstance(code, int):  # bool included: True is 1
        return code & 0xFF
    print(code, file=sys.stderr)  # sys.exit("message"): printed, status 1
    return 1


def exit_now(code: str | int | None = 0) -> NoReturn:
    """End the process with `code`: atexit handlers run and the standard streams are flushed, the teardown is
    skipped. With a non-daemon thread still alive, the normal exit (which waits for it) is taken instead."""
    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        sys.exit(code)
    status = exit_code(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: the normal exit would fail to flush too
            status = status or 120
    os._exit(status)
