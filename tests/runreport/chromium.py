"""Headless Chromium (Debian's `chromium`, installed by `make chromium`) for tests marked `browser`.

When it is missing those tests FAIL, naming the make target. A developer may opt out locally with
HARVESTER_NO_BROWSER=1 (the tests are then skipped); CI (CI=true) never does, like the `ckan` tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def opted_out() -> bool:
    return os.environ.get("HARVESTER_NO_BROWSER") == "1" and os.environ.get("CI") != "true"


@dataclass
class Chromium:
    exe: str
    profile: Path

    def _cmd(self, *args: str) -> list[str]:
        # --no-sandbox: the tests run as root on the development machines and CI
        return [
            self.exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={self.profile}",
            *args,
        ]

    def dump_dom(self, page: Path) -> str:
        done = subprocess.run(
            self._cmd("--dump-dom", page.resolve().as_uri()), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    def screenshot(self, page: Path, out: Path, size: str = "1280,1800") -> Path:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.unlink(missing_ok=True)
        done = subprocess.run(
            self._cmd(
                f"--screenshot={out}", f"--window-size={size}", "--hide-scrollbars", page.resolve().as_uri()
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0 and out.exists(), done.stderr[-2000:]
        return out


def find_chromium(tmp: Path) -> Chromium:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if opted_out():
            pytest.skip("HARVESTER_NO_BROWSER=1: headless Chromium not used")
        pytest.fail(
            "chromium is not installed: run `make chromium` (Debian's chromium package; make test does it) "
            "(a developer may set HARVESTER_NO_BROWSER=1 to skip these tests locally; CI never does)",
            pytrace=False,
        )
    return Chromium(exe, tmp / "chromium-profile")
