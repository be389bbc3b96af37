"""Loads sources.yaml and pipelines/*.yaml into validated models; reports every error with its YAML path."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harvester.connectors import REGISTRY
from harvester.connectors.params import Params
from harvester.errors import ConfigError

if TYPE_CHECKING:
    from harvester.http import HttpPolicy

SLUG = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class AuthConfig(Model):
    token_env: str = Field(
        description="Name of the environment variable holding the API token (never the token)."
    )
    header: str | None = Field(
        None,
        description="HTTP header that carries the token (default: the connector's own, e.g. Authorization for "
        "CKAN, X-API-KEY for udata, X-App-Token for Socrata).",
    )


class DefaultsConfig(Model):
    license: str | None = Field(None, description="Licence applied to datasets that declare none.")
    publisher: str | None = Field(None, description="Publisher applied to datasets that declare none.")


class HttpConfig(Model):
    rate: float | None = Field(None, gt=0, description="Maximum requests per second to this source's host.")
    concurrency: int = Field(4, ge=1, le=32, description="Maximum requests in flight to this source's host.")
    timeout: float = Field(60.0, gt=0, description="Read timeout in seconds.")
    max_retries: int = Field(4, ge=0, le=10, description="Retries on 429, 5xx and connection errors.")
    max_bytes: int = Field(512 * 1024 * 1024, gt=0, description="Largest response accepted, in bytes.")
    backoff: float = Field(
        1.0, ge=0, le=60, description="First retry delay in seconds; doubled at each retry, with jitter."
    )
    deadline: float = Field(
        600.0,
        gt=0,
        description="Total seconds for one request (connect, headers, whole body, retries), whatever the pace.",
    )
    listing_deadline: float | None = Field(
        None, gt=0, description="Total seconds for the source's whole listing (none by default)."
    )
    breaker_failures: int = Field(
        3,
        ge=1,
        le=100,
        description="Consecutive connection failures (DNS, refused, TLS, timeouts) after which a host is "
        "unreachable for the rest of the run.",
    )

    def policy(self) -> HttpPolicy:
        from harvester.http import HttpPolicy  # not on `validate`'s path (start-up)

        return HttpPolicy(
            deadline=self.deadline,
            breaker_failures=self.breaker_failures,
            read_timeout=self.timeout,
            max_retries=self.max_retries,
            max_bytes=self.max_bytes,
            backoff=self.backoff,
            rate=self.rate,
            concurrency=self.concurrency,
        )


class SchemaRule(Model):
    schema_: str = Field(alias="schema", description="Table Schema name of the offline registry, or its URL.")
    datasets: list[str] = Field(default_factory=list, description="Dataset key globs (`<source>:<id>`).")
    resources: list[str] = Field(default_factory=list, description="Resource URL globs.")


class SourceConfig(Model):
    id: str = Field(pattern=SLUG, description="Unique slug of the source.")
    type: str = Field(description="A registered connector type (see `harvester connectors`).")
    url: str = Field(
        "", description="Base URL of the portal (catalogue document for dcat/arcgis, endpoint for csw)."
    )
    params: Params = Field(
        default_factory=Params, description="Settings of the connector, validated by its model."
    )
    schedule: str | None = Field(
        None,
        description="Cron expression (UTC) for `harvester run --due`, when the source is in no scheduled pipeline.",
    )
    enabled: bool = Field(True, description="Disabled sources are skipped by --all.")
    auth: AuthConfig | None = Field(None, description="Where the API token is found.")
    defaults: DefaultsConfig = Field(
        default_factory=DefaultsConfig, description="Values for missing metadata."
    )
    http: HttpConfig = Field(default_factory=HttpConfig, description="Politeness and limits for this source.")
    schemas: list[SchemaRule] = Field(
        default_factory=list, description="Table Schemas the tables of matching datasets/resources follow."
    )
    schema_fetch: bool = Field(False, description="Fetch a Table Schema missing from the offline registry.")
    max_withdraw_share: float = Field(
        0.2,
        ge=0,
        le=1,
        description="If the listing shrinks by more than this share, it is treated as incomplete: nothing withdrawn.",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        from harvester.schedule import validate_cron

        return validate_cron(v)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not re.match(r"^https?://", v):
            raise ValueError("must start with http:// or https://")
        return v

    def token(self) -> str | None:
        return os.environ.get(self.auth.token_env) if self.auth else None


class Config(Model):
    sources: list[SourceConfig]
    path: Path | None = None

    def source(self, source_id: str) -> SourceConfig:
        for s in self.sources:
            if s.id == source_id:
                return s
        known = ", ".join(s.id for s in self.sources) or "none"
        raise ConfigError(f"unknown source {source_id!r}", hint=f"known sources: {known}")

    @property
    def pipelines_dir(self) -> Path:
        base = self.path.parent if self.path else Path.cwd()
        return base / "pipelines"


def _loc(loc: tuple[Any, ...], raw_sources: list[Any] | None = None) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
            if i == 1 and raw_sources is not None and part < len(raw_sources):
                sid = raw_sources[part].get("id") if isinstance(raw_sources[part], dict) else None
                if sid:
                    out += f" (id={sid})"
        else:
            out += ("." if out else "") + str(part)
    return out


def _hint(err: dict[str, Any]) -> str:
    t = err.get("type", "")
    if t in ("int_parsing", "float_parsing", "bool_parsing") and isinstance(err.get("input"), str):
        return " (hint: in YAML, remove quotes from numbers and booleans)"
    if t == "extra_forbidden":
        return " (unknown key)"
    return ""


def format_errors(
    exc: ValidationError, prefix: tuple[Any, ...] = (), raw: list[Any] | None = None
) -> list[str]:
    return [f"{_loc(prefix + tuple(e['loc']), raw)}: {e['msg']}{_hint(dict(e))}" for e in exc.errors()]


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"configuration file not found: {path}", hint="pass --config or run from the project folder"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc


def parse_sources(data: Any, path: Path | None = None) -> Config:
    """Validate a parsed sources.yaml completely, collecting every error before raising."""
    where = str(path) if path else "sources.yaml"
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        raise ConfigError(f"{where}: expected a mapping with a `sources:` list")
    errors: list[str] = []
    unknown_top = set(data) - {"sources"}
    errors += [f"{k}: unknown key" for k in sorted(unknown_top)]
    raw = data["sources"]
    sources: list[SourceConfig] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            errors.append(f"sources[{i}]: expected a mapping")
            continue
        params_raw = item.get("params") or {}
        envelope = {k: v for k, v in item.items() if k != "params"}
        try:
            src = SourceConfig.model_validate(envelope)
        except ValidationError as exc:
            errors += format_errors(exc, ("sources", i), raw)
            src = None
        typ = item.get("type")
        params: Params | None = None
        if typ is not None and typ not in REGISTRY:
            errors.append(
                f"{_loc(('sources', i, 'type'), raw)}: unknown connector type {typ!r}; valid types: {', '.join(sorted(REGISTRY))}"
            )
        elif typ is not None:
            try:
                params = REGISTRY.params_model(typ).model_validate(params_raw)
            except ValidationError as exc:
                errors += format_errors(exc, ("sources", i, "params"), raw)
        sid = item.get("id")
        if isinstance(sid, str):
            if sid in seen:
                errors.append(f"{_loc(('sources', i, 'id'), raw)}: duplicate source id {sid!r}")
            seen.add(sid)
        if src is not None and params is not None:
            sources.append(src.model_copy(update={"params": params}))
    if errors:
        raise ConfigError(f"{where}: {len(errors)} configuration error(s)", errors=errors)
    return Config(sources=sources, path=path)


def load_config(path: Path) -> Config:
    """Read and validate sources.yaml. No network access."""
    return parse_sources(read_yaml(path), path)


def check_env(sources: list[SourceConfig]) -> list[str]:
    """Missing environment variables named by the sources' auth blocks."""
    return [
        f"source {s.id}: environment variable {s.auth.token_env} is not set"
        for s in sources
        if s.auth and s.enabled and not os.environ.get(s.auth.token_env)
    ]
