"""SensorThings Observations → a typed, month-partitioned Parquet table, appended incrementally.

`tables/<source>/<dataset>/observations/year=YYYY/month=MM/part-<run>.parquet` (hive partitioning: DuckDB's
`read_parquet('…/**/*.parquet', hive_partitioning = true)`, `pyarrow.parquet.read_table(dir)`). The table itself
keeps the cursor: the latest phenomenonTime is read from the Parquet statistics of its parts, and the next run asks
only for `$filter=phenomenonTime gt <latest>` (ordered by phenomenonTime), so history is never downloaded twice. The
first download takes `first_window_days` before the Datastream's latest observation. Pages are read one after the
other and written in row groups of at most ROW_GROUP rows: memory stays bounded whatever the history.

The data directory may be remote (`harvester/store.py`): parts are always written in local scratch, then each is
committed into its month folder with the store's primitive (os.replace locally, one upload to an object store);
listing and footers are read through the store. A compaction commits the merged part before it removes the parts
it merged (as locally: the merged file is renamed in before the parts go): a reader in between, or a crash before
the removals end, sees the old parts and the merged one — rows duplicated (transiently; after a crash until the
leftover parts are removed by hand), never lost.
"""

from __future__ import annotations

import json
import secrets
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harvester import store
from harvester.dates import parse_datetime, to_iso
from harvester.errors import RecordError
from harvester.http import HttpClient
from harvester.layout import observations_dir
from harvester.normalise.obs_columns import TS, ObservationColumns
from harvester.normalise.pqwriter import close_writer
from harvester.paging import PageGuard

ROW_GROUP = 100_000
MAX_PARTS = 24  # parts per month folder before they are merged into one


def table_dir(data_dir: Path, table_path: str) -> Path:
    return observations_dir(data_dir, table_path)


def _parts(root: Path) -> list[Path]:
    return sorted(root.glob("year=*/month=*/*.parquet")) if root.is_dir() else []


def existing_state(root: Path) -> tuple[int, datetime | None, pa.Schema | None]:
    """(rows, latest phenomenonTime, schema) of a partitioned table, from the Parquet footers only."""
    rows, latest, schema = 0, None, None
    for part in _parts(root):
        meta = store.footer(part)
        rows += meta.num_rows
        schema = schema or store.read_schema(part)
        col = meta.schema.to_arrow_schema().get_field_index("phenomenonTime")
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(col).statistics
            if stats is not None and stats.has_min_max:
                value = stats.max
                value = value if isinstance(value, datetime) else parse_datetime(value)
                if value is not None:
                    value = value if value.tzinfo else value.replace(tzinfo=UTC)
                    latest = value if latest is None or value > latest else latest
    return rows, latest, schema


class MonthWriter:
    """Rows buffered per month and flushed as row groups into `<staging>/year=Y/month=M/part-<tag>.parquet`."""

    def __init__(self, staging: Path, schema: pa.Schema, tag: str) -> None:
        self.staging, self.schema, self.tag = staging, schema, tag
        self._buffers: dict[tuple[int, int], list[pa.RecordBatch]] = {}
        self._sizes: dict[tuple[int, int], int] = {}
        self._writers: dict[tuple[int, int], pq.ParquetWriter] = {}
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        times = batch.column("phenomenonTime")
        months = pc.fill_null(pc.add(pc.multiply(pc.year(times), 100), pc.month(times)), 197001)
        keys = np.asarray(months.to_numpy(zero_copy_only=False), dtype=np.int64)
        bounds = [0, *(np.flatnonzero(np.diff(keys)) + 1).tolist(), len(keys)]
        for a, b in zip(bounds, bounds[1:], strict=False):
            if b > a:
                key = (int(keys[a]) // 100, int(keys[a]) % 100)
                self._add(key, batch.slice(a, b - a))
        self.rows += batch.num_rows

    def _add(self, key: tuple[int, int], batch: pa.RecordBatch) -> None:
        self._buffers.setdefault(key, []).append(batch)
        self._sizes[key] = self._sizes.get(key, 0) + batch.num_rows
        if self._sizes[key] >= ROW_GROUP:
            self._flush(key)

    def _flush(self, key: tuple[int, int]) -> None:
        batches = self._buffers.pop(key, [])
        self._sizes.pop(key, None)
        if not batches:
            return
        writer = self._writers.get(key)
        if writer is None:
            path = self.staging / f"year={key[0]:04d}" / f"month={key[1]:02d}" / f"part-{self.tag}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(path, self.schema, compression="zstd")
            self._writers[key] = writer
        writer.write_table(pa.Table.from_batches(batches, self.schema))

    def close(self) -> list[Path]:
        """Flush and close every month's file; each file is closed even when one of them fails (full disk)."""
        first: OSError | None = None
        try:
            for key in list(self._buffers):
                self._flush(key)
        finally:
            for w in self._writers.values():
                try:
                    close_writer(w)
                except OSError as exc:
                    first = first or exc
        if first is not None:
            raise first
        return sorted(self.staging.glob("year=*/month=*/*.parquet"))


COLUMNS = ("@iot.id", "phenomenonTime", "resultTime", "result", "resultQuality", "parameters")


def page_columns(payload: Any, url: str) -> dict[str, list[Any]]:
    """The Observations of one page as columns, from the JSON or the dataArray result format."""
    if not isinstance(payload, dict) or not isinstance(payload.get("value"), list):
        raise RecordError("not a SensorThings Observations page (no `value` list)", url=url)
    value = payload["value"]
    cols: dict[str, list[Any]] = {k: [] for k in COLUMNS}
    if value and isinstance(value[0], dict) and "dataArray" in value[0]:
        for block in value:
            comps = [("@iot.id" if c == "id" else c) for c in block.get("components") or []]
            rows = [r for r in block.get("dataArray") or [] if isinstance(r, list) and len(r) == len(comps)]
            if not rows:
                continue
            transposed = dict(zip(comps, (list(c) for c in zip(*rows, strict=True)), strict=True))
            for k in COLUMNS:
                cols[k].extend(transposed.get(k) or [None] * len(rows))
        return cols
    objects = [v for v in value if isinstance(v, dict)]
    for k in COLUMNS:
        cols[k] = [r.get(k) for r in objects]
    return cols


def first_filter(feed: dict[str, Any], latest: datetime | None) -> str | None:
    """`phenomenonTime gt <latest>` after the first run, else the first window before the latest observation."""
    if latest is not None:
        return f"phenomenonTime gt {to_iso(latest)}"
    days = feed.get("first_window_days")
    if not days:
        return None
    end = parse_datetime(feed.get("modified")) or datetime.now(UTC)
    return f"phenomenonTime ge {to_iso(end - timedelta(days=float(days)))}"


def convert_observations(unit: Any, client: HttpClient, work: Path, out: Any, feed: dict[str, Any]) -> None:
    """Append the new Observations of one Datastream to its table (`unit`: ResourceUnit, `out`: ResourceOutcome)."""
    data_dir = store.data_path(unit.data_dir)
    root = table_dir(data_dir, unit.table_path)
    rel = str(root.relative_to(data_dir))
    if unit.force and root.exists():
        rows0, latest, schema0 = 0, None, None
    else:
        rows0, latest, schema0 = existing_state(root)
    modified = parse_datetime(feed.get("modified"))
    if latest is not None and modified is not None and modified <= latest:
        _done(out, rel, rows0, schema0, "unchanged")  # the Datastream says nothing is newer: no request
        return
    cols = ObservationColumns.from_feed(feed, schema0)
    params: dict[str, Any] | None = {"$orderby": "phenomenonTime asc", "$top": feed.get("page_size", 1000)}
    flt = first_filter(feed, latest)
    if flt and params is not None:
        params["$filter"] = flt
    tag = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
    staging = work / "observations"
    writer: MonthWriter | None = None
    dropped = 0
    guard = PageGuard(unit.source_id)
    url: str | None = unit.url
    headers = dict(feed.get("headers") or {})
    while url:
        resp = client.fetch(url, params=params, headers=headers, policy=unit.policy, source_id=unit.source_id)
        first = params is not None
        guard.check(token=None if first else url, content=None if first else resp.content, url=resp.url)
        out.bytes += len(resp.content)
        if resp.content.lstrip()[:1] == b"<":
            raise RecordError("expected Observations JSON, got an HTML or XML page", url=resp.url)
        try:
            payload = orjson.loads(resp.content)
        except orjson.JSONDecodeError as exc:
            raise RecordError(f"malformed JSON: {exc}", url=resp.url) from exc
        page = page_columns(payload, resp.url)
        rows = len(page["phenomenonTime"])
        if rows:
            if writer is None:
                cols.discover(page)
                writer = MonthWriter(staging, cols.schema, tag)
            batch = cols.batch(page)
            if latest is not None:  # a server that ignores $filter must not duplicate the history
                keep = pc.fill_null(pc.greater(batch.column("phenomenonTime"), pa.scalar(latest, TS)), False)
                dropped += batch.num_rows - pc.sum(keep).as_py() if batch.num_rows else 0
                batch = batch.filter(keep)
            writer.write(batch)
        nxt = payload.get("@iot.nextLink")
        url, params = (nxt, None) if isinstance(nxt, str) and nxt and rows else (None, None)
    out.detected.update(cols.detected())
    new_parts = writer.close() if writer is not None else []
    new_rows = writer.rows if writer is not None else 0
    out.detected["observations_new"] = new_rows
    if dropped:
        out.warnings.append(
            f"the server ignored the phenomenonTime filter: {dropped} older observations dropped"
        )
    if cols.invalid:
        out.warnings.append(
            f"{cols.invalid} result(s) not of type {cols.result_type}: kept in result_invalid"
        )
    if unit.force and root.exists():
        if store.is_remote(root):
            store.remove_tree(root)
        else:
            shutil.rmtree(root)
    for part in new_parts:  # written in local scratch (`work`), committed one by one
        dest = root / part.relative_to(staging).as_posix()
        if not store.is_remote(dest):
            dest.parent.mkdir(parents=True, exist_ok=True)
        store.commit(part, dest)
        if compact_month(dest.parent, tag):
            out.detected.setdefault("compacted", []).append(str(dest.parent.relative_to(root)))
    if new_rows == 0:
        if rows0 == 0:
            out.warnings.append("no observations in the download window")
        _done(out, rel if rows0 else None, rows0, schema0, "unchanged" if rows0 else "ok")
        return
    _done(out, rel, rows0 + new_rows, schema0 or cols.schema, "ok")
    latest_new = existing_state(root)[1]
    out.detected["last_phenomenonTime"] = to_iso(latest_new)


def compact_month(month: Path, tag: str, max_parts: int | None = None) -> bool:
    """Merge the parts of a month folder into one when appends have left more than `max_parts` (a source run
    every hour adds one part a run). Streams part by part; the merged file is renamed in before the parts go."""
    parts = sorted(month.glob("*.parquet"))
    if len(parts) <= (MAX_PARTS if max_parts is None else max_parts):
        return False
    dest = month / f"part-{tag}-compacted.parquet"
    tmp = store.tmp_or(month / f".compact-{tag}.tmp", dest)  # local scratch for a remote store
    schema = store.read_schema(parts[0])
    try:
        writer = pq.ParquetWriter(tmp, schema, compression="zstd")
        try:
            for part in parts:
                pf = store.parquet_file(part)
                try:
                    writer.write_table(pf.read())
                finally:
                    pf.close()
        finally:
            close_writer(writer)
        store.commit(tmp, dest)  # the merged part is in place before any old part goes
    finally:
        tmp.unlink(missing_ok=True)
    for part in parts:
        part.unlink()
    return True


def _done(out: Any, rel: str | None, rows: int, schema: pa.Schema | None, status: str) -> None:
    from harvester.normalise.resource import schema_hash

    out.status = status
    out.table_path, out.rows = rel, rows
    if schema is not None:
        out.columns = [(f.name, str(f.type)) for f in schema]
        out.schema_hash = schema_hash(out.columns)


def feed_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
