"""publish_pipeline: the merged catalogue of a pipeline -> its CKAN. The one entry point of publishing.

Steps: merge the pipeline's sources unless merged/<pipeline>/ is fresh; read the merge; ask CKAN who we are and what the pipeline owns there (CKAN is the source of truth, the
state store is rebuilt from it); plan; write the plan; unless it is a dry run, create missing organisations and
carry out the plan; record every successful write in the state store; write the report.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harvester import store
from harvester.config import Config
from harvester.errors import HarvesterError, NothingToPublishError, exit_code_of
from harvester.layout import catalog_dir
from harvester.pipelines import PipelineConfig
from harvester.publish.client import CkanClient
from harvester.publish.inventory import Published, existing_organizations, names_in_use, owned_datasets
from harvester.publish.licences import target_licences
from harvester.publish.mapping import Target, package_dict, pairs
from harvester.publish.matching import keys_of, match
from harvester.publish.names import fallback_name
from harvester.publish.plan import Plan, Wanted, candidate_names, make_plan
from harvester.publish.report import PublishReport
from harvester.publish.tables import Tables
from harvester.publish.units import CkanSpec
from harvester.publish.writer import Progress, Writer
from harvester.redact import redact_obj
from harvester.runreport import write_html_report
from harvester.runs import new_run_id, write_report
from harvester.runtime import RuntimeSpec
from harvester.state import StateBackend

log = logging.getLogger(__name__)


@dataclass
class Catalogue:
    """The merged catalogue, by merged key: rows, resources and provenance rows (winner first)."""

    rows: dict[str, dict[str, Any]]
    resources: dict[str, list[dict[str, Any]]]
    sources: dict[str, list[dict[str, Any]]]
    missing_sources: list[str]


def missing_sources(data_dir: Path, source_ids: list[str]) -> list[str]:
    """Sources of the pipeline that were never harvested (no catalogue)."""
    return [sid for sid in source_ids if not (catalog_dir(data_dir, sid) / "datasets.parquet").exists()]


def load_catalogue(data_dir: Path, pipeline: PipelineConfig) -> Catalogue:
    """merged/<pipeline>/: its three files, read whole (they hold no `raw` column)."""
    from harvester.merge.stage import merged_dir

    d = merged_dir(data_dir, pipeline.name)
    rows = {r["merged_key"]: r for r in store.read_table(d / "datasets.parquet").to_pylist()}
    resources: dict[str, list[dict[str, Any]]] = {}
    for r in store.read_table(d / "resources.parquet").to_pylist():
        resources.setdefault(r["merged_key"], []).append(r)
    sources: dict[str, list[dict[str, Any]]] = {}
    for r in store.read_table(d / "provenance.parquet").to_pylist():  # sorted: winner first
        sources.setdefault(r["merged_key"], []).append(r)
    return Catalogue(rows, resources, sources, missing_sources(data_dir, pipeline.sources))


def add_quality(cat: Catalogue, data_dir: Path, pipeline: str) -> None:
    """`publish.quality_extra`: the MQA score and rating as extras; a changed score changes the metadata hash."""
    from harvester.quality.score import quality_extras

    for key, extra in quality_extras(data_dir, pipeline).items():
        row = cat.rows.get(key)
        if row is None:
            continue
        kept = [(k, v) for k, v in pairs(row.get("extras")) if k not in ("quality_score", "quality_rating")]
        row["extras"] = sorted([*kept, *extra])
        stamp = f"{row.get('metadata_hash')}|{extra}".encode()
        row["metadata_hash"] = hashlib.sha256(stamp).hexdigest()[:32]


def organization_for(row: dict[str, Any], pipeline: PipelineConfig) -> str:
    orgs = pipeline.ckan.organizations
    publisher = row.get("publisher")
    if publisher and publisher in orgs.map:
        return orgs.map[publisher]
    return orgs.map.get(row["source_id"], orgs.default)


def _wanted(cat: Catalogue, pipeline: PipelineConfig) -> list[Wanted]:
    return [
        Wanted(
            dataset_key=key,
            source_id=row["source_id"],
            remote_id=row["remote_id"],
            slug=row.get("name"),
            title=row.get("title") or key,
            metadata_hash=row.get("metadata_hash"),
            organization=organization_for(row, pipeline),
            withdrawn=row.get("withdrawn_at") is not None,
            dataset_keys=tuple(row.get("dataset_keys") or [key]),
        )
        for key, row in sorted(cat.rows.items())
    ]


def make_client(pipeline: PipelineConfig, token: str | None = None) -> CkanClient:
    ckan = pipeline.ckan
    return CkanClient(
        ckan.url,
        token if token is not None else ckan.token(),
        concurrency=ckan.concurrency,
        max_writes_per_second=ckan.max_writes_per_second,
        timeout=ckan.timeout,
        max_retries=ckan.max_retries,
    )


def _rebuild_state(state: StateBackend, pipeline: str, owned: dict[str, Published]) -> int:
    """Make the state store agree with CKAN for every dataset the pipeline owns there."""
    known = state.read_publish_records(pipeline)
    n = 0
    for key, pub in owned.items():
        rec = known.get(key)
        withdrawn = pub.state != "active"
        if rec is None or (rec["ckan_id"], rec["metadata_hash"], rec["withdrawn"]) != (
            pub.ckan_id,
            pub.metadata_hash,
            withdrawn,
        ):
            state.write_publish_record(
                pipeline, key, pub.ckan_id, pub.name, pub.metadata_hash, withdrawn=withdrawn
            )
            n += 1
    return n


def plan_publication(
    pipeline: PipelineConfig,
    cat: Catalogue,
    client: CkanClient,
    state: StateBackend,
    *,
    check_names: bool = True,
) -> tuple[Plan, dict[str, Published]]:
    """Read-only: compare the catalogue with what CKAN holds (and, for what its search can't show, the state).

    `check_names` looks up every name a new dataset would take, so that the plan already shows the fallback name
    where a dataset harvester did not create holds it. A real run skips it (one search per 25 new datasets) and
    meets such a name at create time instead, which costs one refused create in that rare case.
    """
    wanted = _wanted(cat, pipeline)
    owned, duplicates = owned_datasets(client, pipeline.name)
    remembered = {
        key: (rec["ckan_id"], rec["ckan_name"])
        for key, rec in state.read_publish_records(pipeline.name).items()
        if key not in owned
    }
    matched = match(wanted, owned)
    new = [
        w
        for w in wanted
        if w.dataset_key not in matched and not any(k in remembered for k in keys_of(w)) and not w.withdrawn
    ]
    taken = names_in_use(client, candidate_names(pipeline.name, new)) if new and check_names else {}
    orgs = existing_organizations(client, {w.organization for w in wanted if not w.withdrawn})
    plan = make_plan(
        pipeline.name,
        wanted,
        owned,
        names_taken=taken,
        organizations=orgs,
        create_missing_organizations=pipeline.ckan.organizations.create_missing,
        max_delete_share=pipeline.ckan.max_delete_share,
        duplicates=duplicates,
        remembered=remembered,
    )
    return plan, owned


def _org_titles(pipeline: PipelineConfig) -> dict[str, str]:
    titles: dict[str, str] = {}
    for label, org in pipeline.ckan.organizations.map.items():
        titles.setdefault(org, label)
    return titles


def publish_pipeline(
    pipeline: PipelineConfig,
    data_dir: Path,
    state: StateBackend,
    *,
    dry_run: bool = False,
    run_id: str | None = None,
    client: CkanClient | None = None,
    progress: Progress | None = None,
    config: Config | None = None,
) -> PublishReport:
    """Publish the merged catalogue of `pipeline`'s sources into its CKAN (or, with `dry_run`, only plan it).

    The merge runs first when merged/<pipeline>/ is missing or older than the catalogues or the merge settings
    (`config` gives the sources' portals to the merge rules; the CLI passes it).

    Raises TargetError when CKAN is unreachable or refuses the token (the writes done before are recorded),
    NothingToPublishError when no source of the pipeline was ever harvested. The report is written in every case,
    and its `exit_code` is the one the CLI exits with: that of the error, else 3 when a dataset failed.
    """
    client = client or make_client(pipeline)
    run_id = run_id or new_run_id()
    t0 = time.monotonic()
    with state.lock(f"publish-{pipeline.name}"):
        report = PublishReport(
            run_id,
            pipeline.name,
            pipeline.ckan.url,
            dry_run,
            datetime.now(UTC).isoformat(),
            Plan(pipeline.name),
        )
        if not dry_run:
            state.start_run(run_id, f"pipeline:{pipeline.name}", "publish")
        try:
            _publish(pipeline, data_dir, state, client, report, progress, config)
        except BaseException as exc:  # the report must say why the process stops, and with which code
            report.error = str(exc) if isinstance(exc, HarvesterError) else f"{type(exc).__name__}: {exc}"
            report.aborted_exit_code = exit_code_of(exc)
            raise
        finally:
            report.finished_at = datetime.now(UTC).isoformat()
            report.seconds = round(time.monotonic() - t0, 3)
            report.write_calls, report.read_calls = client.write_calls, client.read_calls
            report.writes_by_action, report.retries = client.writes_by_action(), client.retries
            report.report_path = str(write_report(data_dir, run_id, "publish-report.json", report.to_dict()))
            write_html_report(data_dir, run_id)
            if not dry_run:
                state.finish_run(
                    run_id, f"pipeline:{pipeline.name}", report.run_status, redact_obj(report.to_dict())
                )
    return report


def _publish(
    pipeline: PipelineConfig,
    data_dir: Path,
    state: StateBackend,
    client: CkanClient,
    report: PublishReport,
    progress: Progress | None,
    config: Config | None,
) -> None:
    from harvester.merge.stage import ensure_merged

    t0 = time.monotonic()
    missing = missing_sources(data_dir, pipeline.sources)
    report.missing_sources = missing
    if pipeline.sources and len(missing) == len(pipeline.sources):
        raise NothingToPublishError(
            f"nothing to publish for pipeline {pipeline.name!r}: its sources were never harvested "
            f"({', '.join(missing)}); nothing was sent to CKAN",
            stage="publish",
            hint=f"run `harvester harvest {' '.join(missing)}` first "
            f"(or `harvester run {pipeline.name}` to harvest and publish)",
        )
    merged = ensure_merged(config, pipeline, data_dir)
    if merged is not None:
        log.info("merged/%s was not fresh: merged it first", pipeline.name)
        report.merge = merged.to_dict()
    cat = load_catalogue(data_dir, pipeline)
    if pipeline.publish is not None and pipeline.publish.quality_extra:
        add_quality(cat, data_dir, pipeline.name)
    user = client.whoami()
    log.info("publishing %s to %s as %s", pipeline.name, client.url, user.get("name"))
    plan, owned = plan_publication(pipeline, cat, client, state, check_names=report.dry_run)
    report.plan = plan
    report.plan_seconds = round(time.monotonic() - t0, 3)
    report.plan_path = str(
        write_report(
            data_dir, report.run_id, "publish-plan.json", {"dry_run": report.dry_run, **plan.to_dict()}
        )
    )
    if report.dry_run:
        return
    report.state_rebuilt = _rebuild_state(state, pipeline.name, owned)
    target = Target(pipeline.name, target_licences(client, pipeline.ckan.licenses))  # license_list, once
    tables = Tables(pipeline, data_dir, client, target, cat.resources, plan)  # publish.tables

    def build(key: str, name: str, organization: str) -> dict[str, Any]:
        return tables.keep(key, package_dict(
            cat.rows[key],
            cat.resources.get(key, []),
            name=name,
            organization=organization,
            target=target,
            sources=cat.sources.get(key),
        ))  # fmt: skip

    def fallback(key: str) -> str:
        row = cat.rows[key]
        return fallback_name(pipeline.name, row["source_id"], row["remote_id"], row.get("name"))

    ckan = pipeline.ckan
    spec = CkanSpec(
        client.url,
        getattr(getattr(client, "_remote", None), "apikey", None) or ckan.token(),
        concurrency=ckan.concurrency,
        max_writes_per_second=ckan.max_writes_per_second,
        timeout=getattr(client, "timeout", ckan.timeout),
        max_retries=getattr(client, "max_retries", ckan.max_retries),
        backoff=getattr(client, "backoff", 1.0),
    )
    writer = Writer(
        client,
        state,
        pipeline.name,
        build,
        concurrency=ckan.concurrency,
        fallback_name=fallback,
        progress=progress,
        spec=spec,
        runtime=RuntimeSpec.for_data_dir(data_dir, state.url),
        run_id=report.run_id,
    )
    writer.create_organizations(plan.organizations_to_create, _org_titles(pipeline), report.outcome)
    writer.run(plan, report.outcome)
    report.tables = tables.publish(state, {k for k, r in cat.rows.items() if r.get("withdrawn_at") is None})
