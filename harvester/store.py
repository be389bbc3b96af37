"""The data directory's filesystem: a local folder, or any fsspec URL that every worker can reach.

`--data-dir` (or `HARVESTER_DATA_DIR`) is a plain path, a `file://` URL (both local: a `pathlib.Path`), or
another fsspec URL such as `s3://bucket/prefix` (a `upath.UPath`, built with the storage options of the JSON
object in `HARVESTER_STORAGE_OPTIONS`; credentials and endpoints otherwise come from the store's own
environment variables, e.g. `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`). `layout.py` builds every path with `/`
on either kind; reads use the pathlib API (`exists`, `open`, `read_text`, `iterdir`) or the Parquet readers
below. A remote path is typed as `Path` for the rest of the code: it has the pathlib methods the stages use,
and the os-level operations (rename, fsync, Parquet writers on a path) go through this module.

What is atomic, per store (a reader sees the old file or the new one, never a part):
- local (and NFS): the file is written to a temporary name in the destination's folder, fsynced, then
  `os.replace`d onto its name (an atomic rename on one filesystem).
- object stores (s3, gcs, azure): the file is finished in local scratch, then uploaded to its key in one PUT
  (a completed multipart upload for large files); an object store shows a key only once its upload is
  complete, so no temporary key is needed and none is ever visible.
- other fsspec stores (sftp, webdav, …): upload to a temporary name beside the destination, then `fs.mv`;
  atomic only where that server renames atomically.

Scratch (downloads in flight, conversion temp files, half-written Parquet) is always local: `<data>/tmp` for
a local data dir, `HARVESTER_WORK_DIR` or the system temp folder for a remote one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from harvester.errors import UsageError
from harvester.layout import TMP

OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"})
STORAGE_OPTIONS_ENV = "HARVESTER_STORAGE_OPTIONS"
WORK_DIR_ENV = "HARVESTER_WORK_DIR"

if (
    TYPE_CHECKING
):  # pyarrow is imported on use: `harvester --help` and `validate` parse the data-dir value too
    import pyarrow as pa
    import pyarrow.parquet as pq


def _protocol(value: str) -> str | None:
    head, sep, _ = value.partition("://")
    return head.lower() if sep and head.isidentifier() else None


def is_url(value: str) -> bool:
    """A remote data-dir value (any fsspec URL but `file://`)."""
    return _protocol(value) not in (None, "file", "local")


def storage_options() -> dict[str, Any]:
    raw = os.environ.get(STORAGE_OPTIONS_ENV)
    if not raw:
        return {}
    try:
        opts = json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"{STORAGE_OPTIONS_ENV} is not JSON: {exc}") from exc
    if not isinstance(opts, dict):
        raise UsageError(f"{STORAGE_OPTIONS_ENV} must be a JSON object")
    return opts


def normalise_location(value: str) -> str:
    """The canonical form of a data-dir value: an absolute local path, or the URL without a trailing slash."""
    if is_url(value):
        return value.rstrip("/")
    if _protocol(value) in ("file", "local"):
        value = value.partition("://")[2]
    return str(Path(value).resolve())


def data_path(value: str) -> Path:
    """The data directory: a `Path` for a local one, a `UPath` (typed as `Path`) for a remote one."""
    if not is_url(value):
        if _protocol(value) in ("file", "local"):
            value = value.partition("://")[2]
        return Path(value)
    try:
        from upath import UPath

        opts = storage_options()
        if _protocol(value) in OBJECT_STORES:  # other workers write too: never answer from a stale listing
            opts.setdefault("use_listings_cache", False)
        return cast(Path, UPath(value.rstrip("/"), **opts))
    except ImportError as exc:  # e.g. `s3://` without s3fs
        raise UsageError(f"data directory {value}: {exc} (install harvester[s3] for s3://)") from exc


def is_remote(path: Any) -> bool:
    """A path on a remote fsspec store (a local Path, a str or a file object is not)."""
    return not isinstance(path, Path | str) and hasattr(path, "fs")


def _fs(path: Path) -> Any:
    return cast(Any, path).fs


def _key(path: Path) -> str:
    return str(cast(Any, path).path)


def _protocol_of(path: Path) -> str:
    proto = cast(Any, path).protocol
    return str(proto[0] if isinstance(proto, tuple | list) else proto)


# --- scratch ------------------------------------------------------------------------------------------------


def scratch_root(data_dir: Path) -> Path:
    """Local scratch of this data dir: `<data>/tmp` (local), else `$HARVESTER_WORK_DIR` or the system temp."""
    if not is_remote(data_dir):
        return data_dir / TMP
    base = Path(os.environ.get(WORK_DIR_ENV) or tempfile.gettempdir())
    return base / f"harvester-{hashlib.sha1(str(data_dir).encode()).hexdigest()[:12]}"


def tmp_for(dest: Path, suffix: str = "tmp") -> Path:
    """Where to write `dest` before `commit`: `.<name>.<pid>.<suffix>` beside it (local), local scratch (remote).

    The parent folder exists on return."""
    if not is_remote(dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        return dest.with_name(f".{dest.name}.{os.getpid()}.{suffix}")
    root = Path(os.environ.get(WORK_DIR_ENV) or tempfile.gettempdir()) / "harvester-commits"
    root.mkdir(parents=True, exist_ok=True)
    return root / f"{uuid.uuid4().hex}-{dest.name}.{suffix}"


def tmp_or(beside: Path, dest: Path) -> Path:
    """`beside` (a writer's own temporary name next to `dest`) for a local store, local scratch for a remote one."""
    return tmp_for(dest) if is_remote(dest) else beside


def commit(local_tmp: Path, dest: Path) -> None:
    """Put the finished local file `local_tmp` in place at `dest`, atomically for the store (see the module)."""
    if not is_remote(dest):
        os.replace(local_tmp, dest)
        return
    try:
        upload(local_tmp, dest)
    finally:
        local_tmp.unlink(missing_ok=True)


def upload(local: Path, dest: Path) -> None:
    fs = _fs(dest)
    if _protocol_of(dest) in OBJECT_STORES:
        fs.put_file(str(local), _key(dest))  # one PUT / completed multipart upload: all or nothing
        return
    fs.makedirs(_key(dest.parent), exist_ok=True)
    part = f"{_key(dest.parent)}/.{dest.name}.{uuid.uuid4().hex[:8]}.part"
    try:
        fs.put_file(str(local), part)
        fs.mv(part, _key(dest))
    finally:
        if fs.exists(part):
            fs.rm(part)


def write_bytes(data: bytes, dest: Path, *, fsync: bool = False) -> None:
    """Write `data` to `dest` atomically."""
    tmp = tmp_for(dest)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        commit(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(text: str, dest: Path) -> None:
    write_bytes(text.encode("utf-8"), dest)


def append_text(path: Path, text: str) -> None:
    """Append to a text file: in place locally; on a remote store (no appends) the whole file is rewritten."""
    if not is_remote(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)
        return
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    write_text(old + text, path)


def write_table(table: pa.Table, dest: Path, **kwargs: Any) -> None:
    """Write Parquet atomically (fsynced before the rename on a local store)."""
    import pyarrow.parquet as pq

    tmp = tmp_for(dest)
    try:
        pq.write_table(table, tmp, **kwargs)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        commit(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def rename(src: Path, dest: Path) -> None:
    """Move a finished file onto `dest` within the store (os.replace; on S3 a server-side copy then delete)."""
    if not is_remote(dest):
        os.replace(src, dest)
    else:
        _fs(dest).mv(_key(src), _key(dest))


def remove_tree(path: Path) -> None:
    if not is_remote(path):
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        _fs(path).rm(_key(path), recursive=True)


# --- Parquet readers ------------------------------------------------------------------------------------------


def read_table(path: Path, **kwargs: Any) -> pa.Table:
    import pyarrow.parquet as pq

    if not is_remote(path):
        if set(kwargs) <= {"columns"} and path.is_file():
            # ParquetFile, not pq.read_table: read_table imports pandas (0.3 s an unchanged run would pay for nothing)
            return pq.ParquetFile(path).read(columns=kwargs.get("columns"))
        return pq.read_table(path, **kwargs)
    return pq.read_table(_key(path), filesystem=_fs(path), **kwargs)


def read_schema(path: Path) -> pa.Schema:
    import pyarrow.parquet as pq

    if not is_remote(path):
        return pq.read_schema(path)
    with path.open("rb") as fh:
        return pq.read_schema(fh)


def parquet_file(path: Path) -> pq.ParquetFile:
    """A ParquetFile (its metadata, schema and batches); remote ones are read from an open fsspec file."""
    import pyarrow.parquet as pq

    if not is_remote(path):
        return pq.ParquetFile(path)
    return pq.ParquetFile(path.open("rb"))


def footer(path: Path) -> pq.FileMetaData:
    """The Parquet footer (rows, row groups, statistics, key-value metadata); the file is closed again."""
    pf = parquet_file(path)
    try:
        return pf.metadata
    finally:
        pf.close()
