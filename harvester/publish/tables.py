"""Typed tables for CKAN consumers: each converted table as a Parquet resource beside its source resource.

`publish.tables.mode` of the pipeline says how: `upload` sends the Parquet file to CKAN's FileStore
(`resource_create` / `resource_update` with a multipart `upload`), `link` points the resource at
`base_url` + the table's path (where the data dir's `tables/` are served), `off` (the default) publishes none.

A table resource has a stable id derived from the pipeline, the merged key and the source resource, so that a
re-publication updates it in place. It records the file's sha256 (`harvester_sha256`): an unchanged table costs
no upload and no write. A table that is gone (its resource removed at the source, or no longer converted) has
its resource deleted. A dataset rewritten by `package_update` keeps the table resources CKAN holds
(`held_tables` / `kept_tables`), so that a metadata change does not cost a re-upload either.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ckanapi.errors import CKANAPIError, NotFound, ValidationError  # type: ignore[import-untyped]

from harvester import store
from harvester.layout import table_location
from harvester.pipelines import TablesConfig
from harvester.publish.mapping import Target, resource_dict
from harvester.publish.names import resource_id
from harvester.publish.units import Client, field_errors

log = logging.getLogger(__name__)

MARKER = "harvester_table_of"  # the source resource's key: says a resource is a table harvester published
SHA = "harvester_sha256"
READABLE = ("ok", "unchanged")
PARQUET_MIMETYPE = "application/vnd.apache.parquet"
MAX_COLUMNS_LISTED = 60
# the fields compared to decide whether a table resource needs a write
COMPARED = ("name", "format", "description", "rows", SHA, "harvester_schema_hash", MARKER)


@dataclass(frozen=True)
class TableResource:
    """One table as the resource it should be in CKAN, and the file it comes from."""

    dataset_key: str
    file: Path
    fields: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.fields["id"])


@dataclass
class TablesOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    uploads: int = 0
    upload_bytes: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def table_id(pipeline: str, merged_key: str, resource_key: str) -> str:
    return resource_id(pipeline, f"{merged_key}\x1ftable\x1f{resource_key}")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def describe(title: str, rows: int, columns: Sequence[tuple[str, str]]) -> str:
    """The resource's description: what it is, its row count and a markdown table of its columns."""
    lines = [
        f"Typed table converted by harvester from the resource “{title}”: {rows} rows, {len(columns)} columns.",
        "",
        "| column | type |",
        "|---|---|",
    ]
    for name, typ in columns[:MAX_COLUMNS_LISTED]:
        escaped = name.replace("|", r"\|")
        lines.append(f"| {escaped} | {typ} |")
    if len(columns) > MAX_COLUMNS_LISTED:
        lines.append(f"| … | {len(columns) - MAX_COLUMNS_LISTED} more |")
    return "\n".join(lines)


def wanted_tables(
    data_dir: Path,
    cfg: TablesConfig,
    target: Target,
    merged_key: str,
    resources: Iterable[Mapping[str, Any]],
) -> list[TableResource]:
    """The table resources a dataset should have: one per readable single-file table of its resources."""
    out: list[TableResource] = []
    for res in resources:
        path = res.get("table_path")
        if not path or res.get("table_status") not in READABLE:
            continue
        file = table_location(data_dir, path)
        if not file.is_file():  # observations are a partitioned folder: not one resource
            continue
        schema = store.read_schema(file)
        geo = b"geo" in (schema.metadata or {})
        fmt = "GeoParquet" if geo else "Parquet"
        source = resource_dict(res, target, merged_key)
        rows = int(res.get("table_rows") or store.footer(file).num_rows)
        columns = [(f.name, str(f.type)) for f in schema]
        fields: dict[str, Any] = {
            "id": table_id(target.pipeline, merged_key, res["resource_key"]),
            "name": f"{source['name']} ({fmt})",
            "format": fmt,
            "mimetype": PARQUET_MIMETYPE,
            "description": describe(source["name"], rows, columns),
            "size": file.stat().st_size,
            "rows": str(rows),
            SHA: sha256_of(file),
            "harvester_schema_hash": res.get("table_schema_hash") or "",
            MARKER: res["resource_key"],
        }
        if cfg.mode == "link":
            assert cfg.base_url is not None
            fields["url"] = f"{cfg.base_url.rstrip('/')}/{path}"
        out.append(TableResource(merged_key, file, fields))
    return out


def _stored_url(res: Mapping[str, Any]) -> str:
    """What to send back as the URL of a resource CKAN holds: an upload's file name, else its URL."""
    url = str(res.get("url") or "")
    return url.rsplit("/", 1)[-1] if res.get("url_type") == "upload" else url


def kept_tables(held: Sequence[Mapping[str, Any]], wanted_ids: set[str]) -> list[dict[str, Any]]:
    """The table resources CKAN holds that are still wanted, as a package_update must send them to keep them."""
    keep = ("id", "name", "format", "mimetype", "description", "size", "url_type", *COMPARED)
    out = []
    for r in held:
        if r.get(MARKER) and r.get("id") in wanted_ids:
            d = {k: r[k] for k in keep if r.get(k) not in (None, "")}
            d["url"] = _stored_url(r)
            out.append(d)
    return out


def held_tables(client: Client, ckan_ids: Mapping[str, str]) -> dict[str, list[dict[str, Any]]]:
    """The table resources CKAN holds for each dataset (dataset key -> ckan id), read before it is rewritten."""
    out: dict[str, list[dict[str, Any]]] = {}
    for key, ckan_id in ckan_ids.items():
        try:
            pkg = client.call("package_show", {"id": ckan_id})
        except NotFound:
            continue
        out[key] = [r for r in pkg.get("resources") or [] if r.get(MARKER)]
    return out


def beside(resources: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """`resources` with each table resource moved right after the source resource it was converted from."""
    tables: dict[str, list[Mapping[str, Any]]] = {}
    for r in resources:
        if r.get(MARKER):
            tables.setdefault(str(r[MARKER]), []).append(r)
    out: list[Mapping[str, Any]] = []
    for r in resources:
        if not r.get(MARKER):
            out += [r, *tables.pop(str(r.get("harvest_resource_key")), [])]
    return out + [t for ts in tables.values() for t in ts]  # tables whose source is not there: at the end


def _same(have: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    if any(str(have.get(k) or "") != str(want.get(k) or "") for k in COMPARED):
        return False
    return "url" not in want or have.get("url") == want["url"]


class TablePublisher:
    """Brings the table resources of published datasets in line with the tables of the data dir."""

    def __init__(self, client: Client, cfg: TablesConfig) -> None:
        self.client, self.cfg = client, cfg
        self.outcome = TablesOutcome()

    def sync(self, ckan_id: str, wanted: list[TableResource]) -> None:
        """One dataset: create or update what differs, delete table resources no longer wanted."""
        try:
            pkg = self.client.call("package_show", {"id": ckan_id})
        except NotFound:
            return
        have = {r["id"]: r for r in pkg.get("resources") or [] if r.get(MARKER)}
        created = self.outcome.created
        for t in wanted:
            try:
                self._one(ckan_id, t, have.get(t.id))
            except (ValidationError, CKANAPIError) as exc:
                errors = field_errors(exc) if isinstance(exc, ValidationError) else str(exc)
                self.outcome.failed.append({"dataset_key": t.dataset_key, "resource_id": t.id,
                                            "file": t.file.name, "error": errors})  # fmt: skip
                log.warning("table %s of %s not published: %s", t.file.name, t.dataset_key, errors)
        wanted_ids = {t.id for t in wanted}
        for rid in sorted(set(have) - wanted_ids):
            try:
                self.client.call("resource_delete", {"id": rid})
            except NotFound:
                continue
            self.outcome.deleted += 1
        if self.outcome.created > created:  # resource_create appends: put the new tables beside their sources
            self._reorder(ckan_id)

    def _reorder(self, ckan_id: str) -> None:
        resources = self.client.call("package_show", {"id": ckan_id}).get("resources") or []
        order = [r["id"] for r in beside(resources)]
        if order != [r["id"] for r in resources]:
            self.client.call("package_resource_reorder", {"id": ckan_id, "order": order})

    def _one(self, ckan_id: str, t: TableResource, have: Mapping[str, Any] | None) -> None:
        data = {**t.fields, "package_id": ckan_id}
        if have is not None and _same(have, t.fields):
            self.outcome.unchanged += 1
            return
        action = "resource_create" if have is None else "resource_update"
        upload = self.cfg.mode == "upload" and (have is None or have.get(SHA) != t.fields[SHA])
        if upload:
            data["url"] = t.file.name
            self.client.call(action, data, files={"upload": t.file})  # type: ignore[call-arg]
            self.outcome.uploads += 1
            self.outcome.upload_bytes += int(t.fields["size"])
        else:
            if self.cfg.mode == "upload":  # same file, other metadata: keep the uploaded file
                assert have is not None
                data |= {"url": _stored_url(have), "url_type": "upload"}
            self.client.call(action, data)
        if have is None:
            self.outcome.created += 1
        else:
            self.outcome.updated += 1


def publish_tables(
    client: Client,
    cfg: TablesConfig,
    data_dir: Path,
    target: Target,
    resources: Mapping[str, list[dict[str, Any]]],
    published: Mapping[str, str],
) -> TablesOutcome:
    """For every published dataset (merged key -> ckan id) that has or had a table, sync its table resources."""
    pub = TablePublisher(client, cfg)
    for key, ckan_id in sorted(published.items()):
        res = resources.get(key) or []
        if not any(r.get("table_path") for r in res):
            continue  # never converted: no table resource to add or remove
        pub.sync(ckan_id, wanted_tables(data_dir, cfg, target, key, res))
    return pub.outcome


class Tables:
    """The table step of one publication: what `package_update` must keep, then the sync after the writes."""

    def __init__(
        self,
        pipeline: Any,
        data_dir: Path,
        client: Client,
        target: Target,
        resources: Mapping[str, list[dict[str, Any]]],
        plan: Any,
    ) -> None:
        publish = getattr(pipeline, "publish", None)
        self.cfg: TablesConfig = publish.tables if publish is not None else TablesConfig()
        self.pipeline, self.data_dir, self.client, self.target = pipeline.name, data_dir, client, target
        self.resources = resources
        updated = {a.dataset_key: a.ckan_id for a in plan.update if a.ckan_id}
        self.held = held_tables(client, updated) if self.on and updated else {}

    @property
    def on(self) -> bool:
        return self.cfg.mode != "off"

    def keep(self, key: str, pkg: dict[str, Any]) -> dict[str, Any]:
        """`pkg` with the table resources CKAN holds for it that are still wanted (a package_update drops the
        resources it is not sent)."""
        held = self.held.get(key)
        if held:
            res = self.resources.get(key) or []
            ids = {
                table_id(self.pipeline, key, r["resource_key"])
                for r in res
                if r.get("table_status") in READABLE
            }
            pkg["resources"] = beside([*pkg["resources"], *kept_tables(held, ids)])
        return pkg

    def publish(self, state: Any, active: set[str]) -> dict[str, Any] | None:
        """Sync the table resources of every active dataset the state store says is published."""
        if not self.on:
            return None
        records = state.read_publish_records(self.pipeline)
        published = {k: r["ckan_id"] for k, r in records.items() if k in active and not r["withdrawn"]}
        return publish_tables(
            self.client, self.cfg, self.data_dir, self.target, self.resources, published
        ).to_dict()
