"""bench/measured.py: a command's peak RSS is its own, not the size of the bench process that starts it."""

from __future__ import annotations

import sys

from bench.measured import measured


def test_peak_rss_is_the_commands_own_under_a_large_parent() -> None:
    ballast = bytearray(400 * 1024 * 1024)
    ballast[::4096] = b"\1" * len(ballast[::4096])  # touched: resident in this process
    seconds, peak_mb, proc = measured([sys.executable, "-c", "pass"])
    assert proc.returncode == 0
    assert peak_mb < 100  # a bare interpreter, not the 400 MB of its grandparent
    assert 0 < seconds < 30
    del ballast


def test_peak_rss_and_exit_code_and_output_of_a_command_are_reported() -> None:
    code = "import sys; b = bytearray(300 * 1024 * 1024); b[::4096] = bytes(len(b[::4096])); print('done'); sys.exit(3)"
    _seconds, peak_mb, proc = measured([sys.executable, "-c", code])
    assert proc.returncode == 3
    assert proc.stdout.strip() == "done"
    assert peak_mb >= 300
