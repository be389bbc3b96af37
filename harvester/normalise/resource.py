"""One work unit of the normalise stage: download a resource, read it whatever it is, write typed (Geo)Parquet."""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import requests

from harvester import store
from harvester.diskspace import disk_full_error, is_disk_full
from harvester.download import download
from harvester.errors import DiskFullError, HarvesterError, RecordError
from harvester.http import HttpClient, HttpPolicy
from harvester.layout import table_location, tmp_root
from harvester.normalise.archive import ZipLimits, extract_table_member
from harvester.normalise.geo import write_with_geometry
from harvester.normalise.sink import ParquetSink
from harvester.normalise.sniff import EXTENSION_KINDS, sniff_kind
from harvester.redact import stored_form

log = logging.getLogger(__name__)
JSON_INFER_MAX_ROWS = 500_000  # JSON text columns are typed (French numbers, dates) up to this many rows


@dataclass(frozen=True)
class Previous:
    """What the last successful run left for a resource (state store + catalogue)."""

    url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None
    columns: tuple[tuple[str, str], ...] | None = None
    table_path: str | None = None
    table_rows: int | None = None
    table_schema_hash: str | None = None


@dataclass(frozen=True)
class ResourceUnit:
    """Everything needed to normalise one resource; picklable, so an executor can run it anywhere."""

    source_id: str
    dataset_key: str
    resource_key: str
    url: str
    kind: str  # csv | spreadsheet | json | geojson | zip | sensorthings | ngsi (catalogue's format or URL)
    table_path: str  # relative to data_dir
    data_dir: str
    policy: HttpPolicy
    previous: Previous = field(default_factory=Previous)
    force: bool = False
    zip_limits: ZipLimits = field(default_factory=ZipLimits)
    work_dir: str | None = None  # the run's scratch directory (default: <data_dir>/tmp)
    feed: dict[str, Any] | None = None  # settings of a live API feed (harvester/normalise/feeds.py)


@dataclass
class ResourceOutcome:
    resource_key: str
    dataset_key: str
    url: str
    status: str  # ok | unchanged | failed
    table_path: str | None = None
    rows: int | None = None
    schema_hash: str | None = None
    columns: list[tuple[str, str]] | None = None
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None
    http_status: int | None = None
    bytes: int = 0
    seconds: float = 0.0
    detected: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    schema_changes: list[dict[str, Any]] = field(default_factory=list)
    table_schema: str | None = None  # declared Table Schema (harvester/tableschema.py)
    schema_valid: bool | None = None  # None: no schema declared, or not available
    schema_errors: int = 0
    disk_full: bool = False  # failed for want of space: the stage stops (every next write would fail too)


def schema_hash(columns: list[tuple[str, str]]) -> str:
    text = "\n".join(f"{n}\t{t}" for n, t in columns)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_columns(path: Path) -> list[tuple[str, str]]:
    return [(f.name, str(f.type)) for f in pq.read_schema(path)]


def _unchanged(unit: ResourceUnit, out: ResourceOutcome) -> ResourceOutcome:
    p = unit.previous
    out.status = "unchanged"
    out.table_path, out.rows, out.schema_hash = p.table_path, p.table_rows, p.table_schema_hash
    out.columns = list(p.columns) if p.columns else None
    return out


def normalise_resource(unit: ResourceUnit, client: HttpClient) -> ResourceOutcome:
    """Download and convert one resource. Never raises: a failure is an outcome with status `failed`."""
    out = ResourceOutcome(unit.resource_key, unit.dataset_key, unit.url, "failed")
    t0 = time.monotonic()
    data_dir = store.data_path(unit.data_dir)
    try:
        work_root = Path(unit.work_dir) if unit.work_dir else tmp_root(data_dir)
        work_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work_root, prefix="normalise-") as work:
            _run(unit, client, Path(work), out)
    except HarvesterError as exc:
        out.status, out.error = "failed", exc.message
        out.disk_full = isinstance(exc, DiskFullError)
    except requests.RequestException as exc:  # e.g. a body shorter than its Content-Length
        out.status, out.error = (
            "failed",
            f"download interrupted (truncated response?): {type(exc).__name__}: {exc}",
        )
    except Exception as exc:  # a bug or an unexpected file must fail this resource only
        if is_disk_full(exc):  # name the table being written (Arrow's message has no file name)
            target = data_dir / unit.table_path
            out.status, out.error = "failed", disk_full_error(exc, target, "normalise").message
            out.disk_full = True
            return out
        log.exception(
            "resource %s failed", unit.resource_key, extra={"source_id": unit.source_id, "url": unit.url}
        )
        out.status, out.error = "failed", f"unexpected {type(exc).__name__}: {exc}"
    out.seconds = round(time.monotonic() - t0, 3)
    if out.status == "failed":
        log.info(
            "%s failed: %s [%s]", unit.resource_key, out.error, unit.url, extra={"source_id": unit.source_id}
        )
    return out


def _run(unit: ResourceUnit, client: HttpClient, work: Path, out: ResourceOutcome) -> None:
    if unit.feed is not None:  # an API feed (SensorThings, NGSI), not a file
        from harvester.normalise.feeds import convert_feed

        convert_feed(unit, client, work, out)
        return
    data_dir = store.data_path(unit.data_dir)
    prev = unit.previous
    have_table = bool(prev.table_path) and table_location(data_dir, str(prev.table_path)).exists()
    reuse = have_table and not unit.force and prev.url in (unit.url, stored_form(unit.url))
    validators = (
        {k: v for k, v in (("etag", prev.etag), ("last_modified", prev.last_modified)) if v}
        if reuse
        else None
    )
    raw = work / "download"
    dl = download(
        client, unit.url, raw, validators=validators or None, policy=unit.policy, source_id=unit.source_id
    )
    out.http_status = dl.status
    if dl.not_modified:
        out.etag, out.last_modified, out.sha256 = prev.etag, prev.last_modified, prev.sha256
        _unchanged(unit, out)
        return
    out.etag = dl.headers.get("ETag")
    out.last_modified = dl.headers.get("Last-Modified")
    out.sha256, out.bytes = dl.sha256, dl.size
    if reuse and dl.sha256 == prev.sha256:
        _unchanged(unit, out)
        return
    dest = table_location(data_dir, unit.table_path)
    remote = store.is_remote(dest)  # converted in local scratch, then uploaded whole (harvester/store.py)
    convert_file(
        raw,
        work / "converted.parquet" if remote else dest,
        work,
        kind=unit.kind,
        url=unit.url,
        max_bytes=unit.policy.max_bytes,
        zip_limits=unit.zip_limits,
        out=out,
    )
    if remote:
        store.commit(work / "converted.parquet", dest)
    out.table_path, out.schema_hash = unit.table_path, schema_hash(out.columns or [])
    out.status = "ok"


def convert_file(
    src: Path,
    dest: Path,
    work: Path,
    *,
    kind: str,
    url: str,
    max_bytes: int | None = None,
    zip_limits: ZipLimits | None = None,
    out: ResourceOutcome | None = None,
) -> ResourceOutcome:
    """Read one file whatever it is (CSV/TSV, XLSX/XLS/ODS, JSON, GeoJSON, a ZIP holding one) into typed
    (Geo)Parquet at ``dest``; ``kind`` is the declared kind (the bytes decide), ``work`` a scratch folder.
    Fills (and returns) ``out``: rows, columns, what was detected, warnings. Raises RecordError."""
    out = out or ResourceOutcome(dest.stem, "", url, "failed")
    path, kind = src, sniff_kind(src, kind, url=url)
    if kind == "zip":
        member = extract_table_member(src, work, zip_limits or ZipLimits(), url=url)
        out.detected["archive_member"] = member.name
        if member.others:
            out.warnings.append(
                f"ZIP: converted {member.name!r} (largest table); not converted: {', '.join(member.others)}"
            )
        path = member.path
        kind = sniff_kind(path, EXTENSION_KINDS.get(path.suffix, "csv"), url=url)
        if kind == "zip":
            raise RecordError(f"ZIP member {member.name!r} is itself an archive (not opened)", url=url)
    out.detected["kind"] = kind
    staged = work / "table.parquet"
    _convert(kind, path, staged, url, max_bytes, out)
    rows, plan = write_with_geometry(staged, dest)
    if plan is not None:
        out.detected["geometry"] = plan.describe()
    out.columns = file_columns(dest)
    out.rows = rows
    return out


def _convert(
    kind: str, path: Path, staged: Path, url: str, max_bytes: int | None, out: ResourceOutcome
) -> None:
    if kind == "csv":
        from harvester.normalise.csv_table import convert_csv

        res = convert_csv(path, staged, max_bytes=max_bytes)
        out.warnings.extend(res.warnings)
        out.detected.update({k: v for k, v in dict(res.detected).items() if k != "kind"})
    elif kind == "spreadsheet":
        from harvester.normalise.infer import infer_and_cast
        from harvester.normalise.spreadsheet import read_spreadsheet

        table, warnings = read_spreadsheet(path, url=url)
        out.warnings.extend(warnings)
        _write(infer_and_cast(table), staged)
    elif kind in ("json", "geojson"):
        _convert_json(path, staged, url, out)
    else:
        raise RecordError(f"no reader for {kind!r}", url=url)


def _write(table: pa.Table, staged: Path, *, geometry: str | None = None, crs_known: bool = True) -> None:
    with ParquetSink(staged, table.schema, geometry_column=geometry, crs_known=crs_known) as sink:
        sink.write(table)
        sink.close()


def _convert_json(path: Path, staged: Path, url: str, out: ResourceOutcome) -> None:
    from harvester.normalise.jsontable import GEOMETRY, iter_json_batches, json_schema, scan_json

    layout = scan_json(path, url=url)
    out.detected["records"] = layout.prefix
    schema = json_schema(layout)
    geometry = GEOMETRY if layout.geojson else None
    with ParquetSink(staged, schema, geometry_column=geometry, crs_known=layout.crs_known) as sink:
        for batch in iter_json_batches(path, layout, url=url):
            sink.write(batch)
        sink.close()
    has_text = any(pa.types.is_string(f.type) for f in schema)
    if not has_text:
        return
    if layout.rows > JSON_INFER_MAX_ROWS:
        out.warnings.append(
            f"{layout.rows} records: text columns kept as text (typed up to {JSON_INFER_MAX_ROWS})"
        )
        return
    from harvester.normalise.infer import infer_and_cast

    table = pq.read_table(staged)
    typed = infer_and_cast(table)
    if typed.schema.equals(table.schema):
        return
    _write(typed, staged, geometry=geometry, crs_known=layout.crs_known)


def with_policy(policy: HttpPolicy, max_bytes: int | None) -> HttpPolicy:
    return replace(policy, max_bytes=max_bytes) if max_bytes else policy
