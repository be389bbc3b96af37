"""Which Table Schema a resource declares, and where its descriptor is found (offline first).

A schema is named, in order of precedence, by the resource itself (udata's resource ``schema``, kept by the
connector in the dataset extra ``resource_schemas``: resource URL -> ``{name, version, url}``), by the dataset
(DCAT ``dct:conformsTo``, extra ``schema``) or by a ``schemas:`` rule of the source in sources.yaml. The name or
URL is looked up in ``harvester/data/schemas/registry.json``; a schema missing there is "not available offline",
unless the source sets ``schema_fetch: true`` (then its URL is fetched through harvester/http.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from importlib import resources
from typing import Any

from harvester.config import SourceConfig
from harvester.http import HttpClient
from harvester.licenses import url_key

NOT_OFFLINE = "schema not available offline"
RESOURCE_SCHEMAS = "resource_schemas"  # dataset extra: JSON {resource url: {name, version, url}}
DATASET_SCHEMA = "schema"  # dataset extra: JSON {name?, url?} (dct:conformsTo)


@dataclass(frozen=True)
class SchemaRef:
    """A schema as declared: its name and/or URL, and where the declaration was read."""

    name: str | None
    url: str | None
    version: str | None
    origin: str  # udata resource schema | dct:conformsTo | sources.yaml schemas

    @property
    def label(self) -> str:
        return self.name or self.url or "?"


@lru_cache(maxsize=1)
def _registry() -> tuple[dict[str, str], dict[str, str]]:
    """(folded name or alias -> file, folded url -> file)."""
    folder = resources.files("harvester").joinpath("data/schemas")
    raw = json.loads(folder.joinpath("registry.json").read_text(encoding="utf-8"))
    by_name: dict[str, str] = {}
    by_url: dict[str, str] = {}
    for entry in raw["schemas"]:
        for name in [entry["name"], *entry.get("aliases", [])]:
            by_name[name.lower()] = entry["file"]
        for url in entry.get("urls", []):
            by_url[url_key(url)] = entry["file"]
    return by_name, by_url


@lru_cache(maxsize=8)
def _read(file: str) -> dict[str, Any]:
    text = resources.files("harvester").joinpath(f"data/schemas/{file}").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def offline_schema(ref: SchemaRef) -> dict[str, Any] | None:
    """The descriptor of a declared schema from the offline registry, or None."""
    by_name, by_url = _registry()
    file = by_name.get((ref.name or "").lower())
    if file is None and ref.url:
        file = by_url.get(url_key(ref.url))
    return _read(file) if file else None


def resolve(
    ref: SchemaRef, source: SourceConfig, http: HttpClient | None
) -> tuple[dict[str, Any] | None, str | None]:
    """(descriptor, None) or (None, why not): offline registry, then the URL if the source allows fetching."""
    found = offline_schema(ref)
    if found is not None:
        return found, None
    if not (source.schema_fetch and http is not None and ref.url):
        return None, f"{NOT_OFFLINE}: {ref.label}"
    try:
        data = http.fetch_json(ref.url, source_id=source.id)
    except Exception as exc:  # noqa: BLE001 - reported, never fatal: the table is kept
        return None, f"schema {ref.url} could not be fetched: {exc}"
    if not isinstance(data, dict) or not isinstance(data.get("fields"), list):
        return None, f"schema {ref.url} is not a Table Schema"
    return data, None


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _ref(value: Any, origin: str) -> SchemaRef | None:
    if isinstance(value, str) and value.strip():
        text = value.strip()
        is_url = text.startswith(("http://", "https://"))
        return SchemaRef(None if is_url else text, text if is_url else None, None, origin)
    if isinstance(value, dict) and (value.get("name") or value.get("url")):
        return SchemaRef(
            str(value["name"]) if value.get("name") else None,
            str(value["url"]) if value.get("url") else None,
            str(value["version"]) if value.get("version") else None,
            origin,
        )
    return None


def declared_schema(
    source: SourceConfig, dataset_key: str, extras: dict[str, str] | None, resource_url: str | None
) -> SchemaRef | None:
    """The schema a resource follows: its own declaration, its dataset's, then a sources.yaml rule."""
    extras = extras or {}
    per_resource = _json(extras.get(RESOURCE_SCHEMAS))
    if isinstance(per_resource, dict) and resource_url:
        ref = _ref(per_resource.get(resource_url), "udata resource schema")
        if ref:
            return ref
    ref = _ref(_json(extras.get(DATASET_SCHEMA)) or extras.get(DATASET_SCHEMA), "dct:conformsTo")
    if ref:
        return ref
    for rule in source.schemas:
        if any(fnmatchcase(dataset_key, p) for p in rule.datasets) or (
            resource_url and any(fnmatchcase(resource_url, p) for p in rule.resources)
        ):
            return _ref(rule.schema_, "sources.yaml schemas")
    return None
