"""ZIP archives: the largest table member is taken; bombs, traversal names and corrupt archives fail cleanly."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from harvester.errors import RecordError
from harvester.normalise.archive import ZipLimits, extract_table_member

URL = "http://example.invalid/archive.zip"


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_largest_table_member_is_extracted_under_our_own_name(tmp_path: Path) -> None:
    arc = _zip(
        tmp_path / "a.zip",
        {
            "LISEZMOI.pdf": b"%PDF-1.4",
            "data/petit.csv": b"a;b\n1;2\n",
            "data/communes.csv": b"code;nom\n" + b"01001;L'Abergement\n" * 100,
            "__MACOSX/data/._communes.csv": b"\x00" * 5000,
        },
    )
    work = tmp_path / "work"
    work.mkdir()
    member = extract_table_member(arc, work, ZipLimits(), url=URL)
    assert member.name == "data/communes.csv"
    assert member.path == work / "member.csv"
    assert member.path.read_bytes().startswith(b"code;nom\n01001;L'Abergement")
    assert member.others == ("data/petit.csv",)


def test_path_traversal_names_are_never_used(tmp_path: Path) -> None:
    arc = _zip(
        tmp_path / "evil.zip",
        {"../../etc/evil.csv": b"a\n" * 1000, "/abs/evil.csv": b"b\n" * 1000, "ok.csv": b"c\n1\n"},
    )
    work = tmp_path / "work"
    work.mkdir()
    member = extract_table_member(arc, work, ZipLimits(), url=URL)
    assert member.name == "ok.csv"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["evil.zip", "member.csv", "work"]


def test_zip_bomb_ratio_is_refused_before_extracting(tmp_path: Path) -> None:
    arc = tmp_path / "bomb.zip"
    with zipfile.ZipFile(arc, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("bomb.csv", "w") as fh:  # 64 MiB of zeros compress about 1000:1
            chunk = b"0" * (1 << 20)
            for _ in range(64):
                fh.write(chunk)
    assert arc.stat().st_size < 200_000
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(RecordError, match=r"compression ratio \d+:1 exceeds 200:1 \(ZIP bomb guard\)"):
        extract_table_member(arc, work, ZipLimits(), url=URL)
    assert list(work.iterdir()) == []


def test_total_uncompressed_size_limit(tmp_path: Path) -> None:
    arc = _zip(tmp_path / "big.zip", {"a.csv": b"x,y\n" * 50_000}, method=zipfile.ZIP_STORED)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(RecordError, match="expands to 200000 bytes, limit 100000"):
        extract_table_member(arc, work, ZipLimits(max_total_bytes=100_000), url=URL)


def test_member_count_limit(tmp_path: Path) -> None:
    arc = _zip(tmp_path / "many.zip", {f"f{i}.csv": b"a\n1\n" for i in range(30)})
    with pytest.raises(RecordError, match="30 members, limit 20"):
        extract_table_member(arc, tmp_path, ZipLimits(max_members=20), url=URL)


def test_truncated_archive_is_a_record_error(tmp_path: Path) -> None:
    arc = _zip(tmp_path / "t.zip", {"a.csv": b"a;b\n" + b"1;2\n" * 10_000})
    data = arc.read_bytes()
    arc.write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordError, match="not a readable ZIP archive"):
        extract_table_member(arc, tmp_path, ZipLimits(), url=URL)


def test_corrupt_member_data_is_a_record_error(tmp_path: Path) -> None:
    arc = _zip(tmp_path / "c.zip", {"a.csv": b"a;b\n" + b"1;2\n" * 10_000})
    data = bytearray(arc.read_bytes())
    start = data.index(b"a.csv") + len(b"a.csv") + 10  # inside the compressed stream of the only member
    data[start : start + 20] = b"\xff" * 20
    arc.write_bytes(bytes(data))
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(RecordError, match="ZIP member 'a.csv' can't be read"):
        extract_table_member(arc, work, ZipLimits(), url=URL)
    assert list(work.iterdir()) == []


def test_archive_without_tables(tmp_path: Path) -> None:
    arc = _zip(tmp_path / "shp.zip", {"communes.shp": b"\x00" * 100, "communes.dbf": b"\x00" * 100})
    with pytest.raises(RecordError, match=r"holds no table file \(communes.shp, communes.dbf\)"):
        extract_table_member(arc, tmp_path, ZipLimits(), url=URL)
