"""Loads pipelines/<name>.yaml: which sources a pipeline publishes, and where (a CKAN instance).

Validated like sources.yaml: unknown keys, unknown sources, bad values and missing environment variables are all
collected and reported with the file and the YAML path, before any request is sent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, ValidationError, field_validator, model_validator

from harvester.config import SLUG, Config, Model, format_errors, read_yaml
from harvester.errors import ConfigError

CKAN_NAME = r"^[a-z0-9_-]{2,100}$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class OrganizationsConfig(Model):
    default: str = Field(
        pattern=CKAN_NAME, description="CKAN organisation of datasets that no `map` entry matches."
    )
    map: dict[str, str] = Field(
        default_factory=dict,
        description="Publisher name (or source id) -> CKAN organisation name. The publisher is tried first.",
    )
    create_missing: bool = Field(False, description="Create organisations that do not exist yet in CKAN.")

    @field_validator("map")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        import re

        bad = [f"{k!r} -> {n!r}" for k, n in v.items() if not re.match(CKAN_NAME, n)]
        if bad:
            raise ValueError(
                "organisation names must be 2-100 characters of a-z, 0-9, '-' or '_': " + ", ".join(bad)
            )
        return v


class CkanTargetConfig(Model):
    url: str = Field(description="Base URL of the CKAN instance, e.g. https://data.example.org")
    token_env: str = Field(
        pattern=ENV_NAME, description="Environment variable holding the API token (never the token)."
    )
    organizations: OrganizationsConfig = Field(description="Which CKAN organisation each dataset goes to.")
    max_delete_share: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Withdraw nothing when a run would delete more than this share of the pipeline's datasets.",
    )
    concurrency: int = Field(4, ge=1, le=32, description="Write calls in flight at once.")
    max_writes_per_second: float = Field(
        50.0, gt=0, description="Write-rate limit (CKAN and its proxies reject bursts)."
    )
    timeout: float = Field(60.0, gt=0, description="Read timeout of one API call, in seconds.")
    max_retries: int = Field(
        4, ge=0, le=10, description="Retries of an API call on 429, 5xx and connection errors."
    )
    licenses: dict[str, str] = Field(
        default_factory=dict,
        description="Overrides of the licence mapping: harvester licence id -> this CKAN's licence id.",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    def token(self) -> str | None:
        return os.environ.get(self.token_env) or None


class TablesConfig(Model):
    mode: Literal["off", "upload", "link"] = Field(
        "off",
        description="Publish each converted table as a Parquet resource: `upload` to CKAN's FileStore, "
        "`link` to `base_url` + its table path, or `off`.",
    )
    base_url: str | None = Field(
        None,
        description="Where the data dir's `tables/` are served (mode `link`), e.g. https://files.example.org/",
    )

    @model_validator(mode="after")
    def _base_url(self) -> TablesConfig:
        if self.mode == "link" and not self.base_url:
            raise ValueError("mode `link` needs `base_url` (where the tables are served)")
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return self


class PublishConfig(Model):
    ckan: CkanTargetConfig = Field(description="The CKAN instance the pipeline publishes into.")
    tables: TablesConfig = Field(
        default_factory=TablesConfig, description="Converted tables as resources of their CKAN datasets."
    )
    quality_extra: bool = Field(
        default=False,
        description="Add `quality_score` (points of 405) and `quality_rating` extras from `harvester quality`.",
    )


MergeRule = Literal["harvest_provenance", "same_identifier", "resource_url", "title_publisher"]
MERGE_RULES: tuple[MergeRule, ...] = get_args(MergeRule)


class MergeConfig(Model):
    precedence: list[str] = Field(
        default_factory=list,
        description="Source ids whose record wins a merged dataset, in this order; then the origin rule.",
    )
    title_threshold: float = Field(
        92.0, ge=80, le=100, description="Title similarity (0-100) above which one publisher's records match."
    )
    rules: list[MergeRule] = Field(
        default_factory=lambda: list(MERGE_RULES),
        description="The matching rules used; `[]` is an identity merge (every record published on its own).",
    )


class PipelineConfig(Model):
    name: str = Field(
        pattern=SLUG, description="The pipeline's name; also the file name (pipelines/<name>.yaml)."
    )
    sources: list[str] = Field(
        min_length=1, description="Ids of the sources (sources.yaml) the pipeline publishes."
    )
    publish: PublishConfig | None = Field(None, description="Where the catalogue is published.")
    merge: MergeConfig = Field(
        default_factory=MergeConfig, description="How `harvester merge` joins sources."
    )
    schedule: str | None = Field(
        None, description="Cron expression (UTC): when `harvester run --due` runs the pipeline's stages."
    )
    path: Path | None = Field(None, exclude=True)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        from harvester.schedule import validate_cron

        return validate_cron(v)

    @property
    def ckan(self) -> CkanTargetConfig:
        if self.publish is None:
            raise ConfigError(
                f"pipeline {self.name} has no publish target",
                hint=f"add a `publish: ckan:` block to {self.path or 'its YAML file'}",
            )
        return self.publish.ckan


def parse_pipeline(data: Any, path: Path, known_sources: set[str]) -> tuple[PipelineConfig | None, list[str]]:
    """Validate one parsed pipeline file; returns the model (or None) and every error, prefixed with the path."""
    where = str(path)
    if not isinstance(data, dict):
        return None, [f"{where}: expected a mapping (name, sources, publish)"]
    errors: list[str] = []
    if "path" in data:
        errors.append(f"{where}: path: unknown key")
        data = {k: v for k, v in data.items() if k != "path"}
    model: PipelineConfig | None = None
    try:
        model = PipelineConfig.model_validate(data).model_copy(update={"path": path})
    except ValidationError as exc:
        errors += [f"{where}: {e}" for e in format_errors(exc)]
    name = data.get("name")
    if isinstance(name, str) and name != path.stem:
        errors.append(f"{where}: name: {name!r} differs from the file name {path.stem!r}")
    raw_sources = data.get("sources")
    if isinstance(raw_sources, list):
        known = ", ".join(sorted(known_sources)) or "none"
        seen: set[str] = set()
        for i, sid in enumerate(raw_sources):
            if isinstance(sid, str) and sid not in known_sources:
                errors.append(f"{where}: sources[{i}]: unknown source {sid!r} (known: {known})")
            if isinstance(sid, str) and sid in seen:
                errors.append(f"{where}: sources[{i}]: {sid!r} is listed twice")
            seen.add(str(sid))
        merge = data.get("merge")
        for i, sid in enumerate(merge.get("precedence") or [] if isinstance(merge, dict) else []):
            if isinstance(sid, str) and sid not in raw_sources:
                errors.append(f"{where}: merge.precedence[{i}]: {sid!r} is not a source of this pipeline")
    return (model if not errors else None), errors


def check_pipeline_env(pipelines: list[PipelineConfig]) -> list[str]:
    """Missing environment variables named by the pipelines' publish targets."""
    out = []
    for p in pipelines:
        if p.publish is not None and not p.publish.ckan.token():
            out.append(
                f"{p.path or p.name}: publish.ckan.token_env: environment variable {p.publish.ckan.token_env} is not set"
            )
    return out


def pipeline_files(cfg: Config) -> list[Path]:
    d = cfg.pipelines_dir
    if not d.is_dir():
        return []
    return sorted([*d.glob("*.yaml"), *d.glob("*.yml")])


def load_pipelines(cfg: Config, check_env: bool = True) -> dict[str, PipelineConfig]:
    """Read and validate every pipelines/*.yaml beside the sources file. No network access.

    With `check_env`, a missing token environment variable is an error too (what `harvester validate` wants);
    `harvester publish` loads with `check_env=False` and checks only the pipeline it runs.
    """
    known = {s.id for s in cfg.sources}
    out: dict[str, PipelineConfig] = {}
    errors: list[str] = []
    for path in pipeline_files(cfg):
        try:
            data = read_yaml(path)
        except ConfigError as exc:
            errors.append(exc.message)
            continue
        model, errs = parse_pipeline(data, path, known)
        errors += errs
        if model is None:
            continue
        if model.name in out:
            errors.append(f"{path}: name: pipeline {model.name!r} is also defined in {out[model.name].path}")
            continue
        out[model.name] = model
    if check_env:
        errors += check_pipeline_env(list(out.values()))
    if errors:
        raise ConfigError(
            f"{cfg.pipelines_dir}: {len(errors)} pipeline configuration error(s)", errors=errors
        )
    return out


def get_pipeline(cfg: Config, name: str) -> PipelineConfig:
    """One pipeline by name, with its token variable checked (the others may lack theirs)."""
    pipelines = load_pipelines(cfg, check_env=False)
    if name not in pipelines:
        known = ", ".join(sorted(pipelines)) or "none"
        raise ConfigError(
            f"unknown pipeline {name!r}", hint=f"known pipelines in {cfg.pipelines_dir}: {known}"
        )
    pipeline = pipelines[name]
    problems = check_pipeline_env([pipeline])
    if problems:
        raise ConfigError(f"pipeline {name}: configuration error", errors=problems)
    return pipeline
