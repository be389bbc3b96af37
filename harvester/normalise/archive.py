"""ZIP archives: bomb guards (member count, total size, compression ratio), no path traversal, one table member."""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harvester.errors import RecordError

TABLE_EXTENSIONS = (".csv", ".tsv", ".txt", ".xlsx", ".xls", ".ods", ".json", ".geojson")
RATIO_FLOOR = 10 * 1024 * 1024  # ratios are only checked above this many uncompressed bytes


@dataclass(frozen=True)
class ZipLimits:
    """Limits applied before and while extracting; an archive past any of them fails its resource."""

    max_members: int = 10_000
    max_total_bytes: int = 2 * 1024**3  # uncompressed, whole archive
    max_ratio: float = 200.0  # uncompressed / compressed, per member and for the archive


@dataclass(frozen=True)
class Member:
    name: str  # the name inside the archive
    path: Path  # where it was extracted (a name of ours, never the archive's)
    size: int
    others: tuple[str, ...]  # other table members that were not converted


def _usable(info: zipfile.ZipInfo) -> bool:
    p = PurePosixPath(info.filename.replace("\\", "/"))
    if info.is_dir() or p.is_absolute() or ".." in p.parts:
        return False
    if p.parts and (p.parts[0] == "__MACOSX" or p.name.startswith(".")):
        return False
    if info.flag_bits & 0x1:  # encrypted
        return False
    return p.suffix.lower() in TABLE_EXTENSIONS


def _check(infos: list[zipfile.ZipInfo], limits: ZipLimits, url: str) -> None:
    if len(infos) > limits.max_members:
        raise RecordError(f"ZIP archive has {len(infos)} members, limit {limits.max_members}", url=url)
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if total > limits.max_total_bytes:
        raise RecordError(
            f"ZIP archive expands to {total} bytes, limit {limits.max_total_bytes} (ZIP bomb guard)", url=url
        )
    if total > RATIO_FLOOR and total > limits.max_ratio * max(packed, 1):
        raise RecordError(
            f"ZIP archive compression ratio {total / max(packed, 1):.0f}:1 exceeds {limits.max_ratio:.0f}:1 (ZIP bomb guard)",
            url=url,
        )
    for i in infos:
        if i.file_size > RATIO_FLOOR and i.file_size > limits.max_ratio * max(i.compress_size, 1):
            raise RecordError(
                f"ZIP member {i.filename!r} compression ratio {i.file_size / max(i.compress_size, 1):.0f}:1 "
                f"exceeds {limits.max_ratio:.0f}:1 (ZIP bomb guard)",
                url=url,
            )


def extract_table_member(archive: Path, workdir: Path, limits: ZipLimits, *, url: str) -> Member:
    """Extract the largest table member of `archive` into `workdir`, checking sizes while it streams.

    Only members with a table extension are considered; directories, hidden files, encrypted members and names
    that would escape the folder are ignored. Nested archives are not opened.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise RecordError(f"not a readable ZIP archive (truncated or corrupt): {exc}", url=url) from exc
    with zf:
        infos = zf.infolist()
        _check(infos, limits, url)
        tables = sorted((i for i in infos if _usable(i)), key=lambda i: (-i.file_size, i.filename))
        if not tables:
            names = ", ".join(i.filename for i in infos[:10]) or "empty"
            raise RecordError(f"ZIP archive holds no table file ({names})", url=url)
        chosen = tables[0]
        suffix = PurePosixPath(chosen.filename).suffix.lower()
        dest = workdir / f"member{suffix}"
        budget = min(chosen.file_size, limits.max_total_bytes)
        written = 0
        try:
            with zf.open(chosen) as src, dest.open("wb") as out:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > budget:
                        raise RecordError(
                            f"ZIP member {chosen.filename!r} expands past its declared size {chosen.file_size} (ZIP bomb guard)",
                            url=url,
                        )
                    out.write(chunk)
        except (
            zipfile.BadZipFile,
            zlib.error,
            EOFError,
            OSError,
            ValueError,
        ) as exc:  # CRC error, truncated data, bad method
            dest.unlink(missing_ok=True)
            raise RecordError(f"ZIP member {chosen.filename!r} can't be read: {exc}", url=url) from exc
        except RecordError:
            dest.unlink(missing_ok=True)
            raise
        return Member(chosen.filename, dest, written, tuple(i.filename for i in tables[1:]))
