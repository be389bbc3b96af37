from pathlib import Path

import pytest

from tests.export.conftest import Merged


def test_smoke(merged: Merged, capsys: pytest.CaptureFixture[str]) -> None:
    out = merged.root / "out.ttl"
    code, doc = merged.cli("export", "chain", "-o", str(out), "--validate", "--json", capsys=capsys)
    print(doc)
    print(out.read_text())
    assert code == 0
