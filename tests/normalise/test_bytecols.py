"""Single-byte code pages decoded column by column (bytecols.py): the same text as Python's codec, cell by cell."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

import harvester.normalise.textcodec  # noqa: F401  (registers the harvester-keep-byte error handler)
from harvester.normalise.bytecols import to_utf8
from harvester.normalise.csv_table import convert_csv

ENCODINGS = ("cp1252", "iso8859_15", "latin_1", "cp850", "mac_roman")
cells = st.one_of(st.none(), st.binary(max_size=12).map(lambda b: b.replace(b"\x00", b"")))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(cells, min_size=1, max_size=40), st.sampled_from(ENCODINGS), st.integers(0, 3))
def test_same_text_as_the_codec(values: list[bytes | None], encoding: str, skip: int) -> None:
    arr = pa.array(values, pa.binary()).slice(min(skip, len(values) - 1))
    out, bad, nuls = to_utf8(arr, encoding)
    out.validate(full=True)
    want = [None if v is None else v.decode(encoding, "harvester-keep-byte") for v in arr.to_pylist()]
    assert out.to_pylist() == want
    undefined = sum(1 for v in arr.to_pylist() if v for b in v if b in (0x81, 0x8D, 0x8F, 0x90, 0x9D))
    assert bad == (undefined if encoding == "cp1252" else 0) and nuls == 0


def test_nuls_removed_and_counted() -> None:
    out, bad, nuls = to_utf8(
        pa.array([b"a\x00b", b"\x00", None, "é".encode("cp1252")], pa.binary()), "cp1252"
    )
    assert out.to_pylist() == ["ab", None, None, "é"] and (bad, nuls) == (0, 2)


def test_nul_bytes_after_the_head_of_a_windows_1252_file(tmp_path: Path) -> None:
    """The head has no NUL (so no streaming transcoder): a NUL far into the file is still removed, and said."""
    body = b"".join(b"%d;ligne %d\n" % (i, i) for i in range(20_000))
    src = tmp_path / "in.csv"
    src.write_bytes("n;libellé\n".encode("cp1252") + body + "20000;Orl\x00éans\n".encode("cp1252"))
    res = convert_csv(src, tmp_path / "out.parquet")
    rows = pq.read_table(res.path).to_pylist()
    assert res.detected["encoding"] == "cp1252" and rows[-1] == {"n": 20000, "libellé": "Orléans"}
    assert "1 NUL characters removed" in res.warnings
