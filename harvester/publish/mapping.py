"""Canonical catalogue rows -> a CKAN package dict (the body of package_create / package_update).

Nothing is lost: what CKAN has no field for, or would reject, goes into an extra (original keywords, raw licence,
themes, dates, a contact that is not an e-mail address...). The provenance extras say where the dataset comes
from and let a later run recognise the datasets it owns: `harvest_merged_key` is its identity, `harvest_sources`
(JSON) lists every record merged into it, `harvest_source_ids` and `harvest_remote_urls` say the same in words,
and `harvest_source_id`/`harvest_remote_id`/`harvest_remote_url` are its winning record's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from harvester.publish.names import clean_tags, resource_id

# harvester licence ids (harvester/data/licenses.json) -> ids of CKAN's default licence list
CKAN_LICENSES: dict[str, str] = {
    "lov1": "other-at",  # Licence Ouverte / Etalab 1.0: attribution, no CKAN default entry
    "lov2": "other-at",
    "etalab-1.0": "other-at",
    "etalab-2.0": "other-at",
    "odc-odbl": "odc-odbl",
    "odbl": "odc-odbl",
    "odc-by": "odc-by",
    "odc-pddl": "odc-pddl",
    "cc0-1.0": "cc-zero",
    "cc0": "cc-zero",
    "cc-by": "cc-by",
    "cc-by-sa": "cc-by-sa",
    "cc-by-nc": "cc-nc",
    "gfdl": "gfdl",
    "ogl-uk": "uk-ogl",
    "public-domain": "other-pd",
    "pd": "other-pd",
    "other-open": "other-open",
    "other-at": "other-at",
    "other-pd": "other-pd",
    "other-nc": "other-nc",
    "other-closed": "other-closed",
    "proprietary": "other-closed",
}
_LICENSE_PREFIXES = (  # versioned ids: cc-by-4.0, cc-by-sa-3.0-fr, cc-by-nc-nd-4.0...
    ("cc-by-nc", "cc-nc"),
    ("cc-by-sa", "cc-by-sa"),
    ("cc-by-nd", "other-closed"),  # no derivatives: not open in the Open Definition's sense
    ("cc-by", "cc-by"),
    ("cc0", "cc-zero"),
    ("odc-odbl", "odc-odbl"),
    ("odbl", "odc-odbl"),
    ("ogl-uk", "uk-ogl"),
    ("lov", "other-at"),
    ("etalab", "other-at"),
)
NOT_SPECIFIED = "notspecified"

# Keys of CKAN's package schema: an extra may not use them (extra_key_not_in_root_schema).
CKAN_ROOT_KEYS = frozenset(
    "id name title author author_email maintainer maintainer_email license_id notes url version state type "
    "owner_org private resources tags tag_string plugin_data extras groups metadata_modified metadata_created "
    "relationships_as_object relationships_as_subject save return_to creator_user_id num_resources num_tags "
    "organization license_title license_url isopen".split()
)
PROVENANCE_KEYS = (
    "harvest_merged_key",
    "harvest_source_id",
    "harvest_remote_id",
    "harvest_remote_url",
    "harvest_metadata_hash",
    "harvest_harvested_at",
    "harvest_pipeline",
    "harvest_sources",
    "harvest_source_ids",
    "harvest_remote_urls",
)
_EMAILISH = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def ckan_license(license_id: str | None, overrides: Mapping[str, str] | None = None) -> str:
    """CKAN licence id of a harvester licence id; 'notspecified' when unknown (the raw text stays in an extra)."""
    if not license_id:
        return NOT_SPECIFIED
    lid = license_id.strip().lower()
    if overrides and license_id in overrides:
        return overrides[license_id]
    if lid in CKAN_LICENSES:
        return CKAN_LICENSES[lid]
    for prefix, ckan_id in _LICENSE_PREFIXES:
        if lid.startswith(prefix):
            return ckan_id
    return "other-open" if "open" in lid else NOT_SPECIFIED


def ckan_datetime(value: datetime | None) -> str | None:
    """CKAN stores naive UTC timestamps ('2024-01-02T03:04:05')."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="seconds")


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _is_geojson(text: str) -> bool:
    try:
        obj = json.loads(text)
    except ValueError:
        return False
    return isinstance(obj, dict) and "type" in obj and ("coordinates" in obj or "geometries" in obj)


def pairs(value: Any) -> list[tuple[str, str]]:
    """Arrow map columns come back as lists of (key, value) tuples; accept a dict too."""
    if not value:
        return []
    items = value.items() if isinstance(value, Mapping) else value
    return [(str(k), str(v)) for k, v in items if k is not None and v is not None]


@dataclass(frozen=True)
class Target:
    """What the mapping needs to know about where a dataset goes."""

    pipeline: str
    licenses: Mapping[str, str] = field(default_factory=dict)


def contributors_of(
    row: Mapping[str, Any], sources: Sequence[Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    """The records merged into a dataset (provenance rows), winner first; the row itself when none are given."""
    if not sources:
        sources = [{**row, "dataset_key": row.get("dataset_key") or f"{row['source_id']}:{row['remote_id']}",
                    "rule": "single", "won": True}]  # fmt: skip
    return [
        {
            "source_id": s["source_id"],
            "remote_id": s["remote_id"],
            "remote_url": s.get("remote_url") or "",
            "dataset_key": s["dataset_key"],
            "rule": s.get("rule") or "single",
            "won": bool(s.get("won")),
        }
        for s in sources
    ]


def extras_of(
    row: Mapping[str, Any], target: Target, sources: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, str]:
    """Every extra of a dataset: provenance first, then what CKAN has no field for, then the portal's extras."""
    contributors = contributors_of(row, sources)
    merged_key = row.get("merged_key") or contributors[0]["dataset_key"]
    extras: dict[str, str] = {
        "harvest_merged_key": merged_key,
        "harvest_source_id": row["source_id"],
        "harvest_remote_id": row["remote_id"],
        "harvest_remote_url": row.get("remote_url") or "",
        "harvest_metadata_hash": row.get("metadata_hash") or "",
        "harvest_harvested_at": _iso(row.get("harvested_at")) or "",
        "harvest_pipeline": target.pipeline,
        "harvest_sources": json.dumps(contributors, ensure_ascii=False, separators=(",", ":")),
        "harvest_source_ids": ", ".join(dict.fromkeys(c["source_id"] for c in contributors)),
        "harvest_remote_urls": " ".join(c["remote_url"] for c in contributors if c["remote_url"]),
    }
    keywords = list(row.get("keywords") or [])
    if keywords:
        extras["keywords"] = json.dumps(keywords, ensure_ascii=False)
    themes = list(row.get("themes") or [])
    if themes:
        extras["themes"] = json.dumps(themes, ensure_ascii=False)
    optional = {
        "license_raw": row.get("license_raw"),
        "license_harvester_id": row.get("license_id"),
        "issued": _iso(row.get("issued")),
        "modified": _iso(row.get("modified")),
        "frequency": row.get("frequency"),
        "publisher": row.get("publisher"),
    }
    email = row.get("contact_email")
    if email and not _EMAILISH.match(email.strip()):
        optional["contact"] = email
    spatial = row.get("spatial")
    if spatial:
        # ckanext-spatial reads `spatial` as GeoJSON and rejects anything else
        optional["spatial" if _is_geojson(spatial) else "spatial_text"] = spatial
    extras.update({k: str(v) for k, v in optional.items() if v not in (None, "")})
    for key, value in pairs(row.get("extras")):
        if key in CKAN_ROOT_KEYS or key in extras or key.startswith("harvest_"):
            key = f"source_{key}"
        if key not in extras and value != "":
            extras[key] = value
    return extras


def resource_dict(res: Mapping[str, Any], target: Target, merged_key: str | None = None) -> dict[str, Any]:
    """A resource of the dataset published under `merged_key`. The resources of the record the key is named
    after keep the ids they had before the merge; those of the other records get ids of this dataset's own
    (CKAN refuses a resource id held by another dataset, even a deleted one, such as a record's old copy)."""
    url = (res.get("url") or "").strip()
    name = res.get("title") or unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]) or url
    key = res["resource_key"]
    if merged_key and res.get("dataset_key") not in (None, merged_key):
        key = f"{merged_key}\x1f{key}"
    out: dict[str, Any] = {
        "id": resource_id(target.pipeline, key),
        "url": url,
        "name": name,
        "format": res.get("format") or "",
        "description": res.get("description") or "",
        "mimetype": res.get("media_type"),
        "size": res.get("size_bytes"),
        "last_modified": ckan_datetime(res.get("modified")),
        "harvest_resource_key": res["resource_key"],
    }
    return {k: v for k, v in out.items() if v is not None}


def package_dict(
    row: Mapping[str, Any],
    resources: Sequence[Mapping[str, Any]],
    *,
    name: str,
    organization: str,
    target: Target,
    sources: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The CKAN package for one merged row, its resources and its provenance rows (`sources`)."""
    email = (row.get("contact_email") or "").strip()
    pkg: dict[str, Any] = {
        "name": name,
        "title": row.get("title") or row.get("name") or row["remote_id"],
        "notes": row.get("description") or "",
        "owner_org": organization,
        "private": False,
        "url": row.get("landing_page") or row.get("remote_url") or "",
        "license_id": ckan_license(row.get("license_id"), target.licenses),
        "author": row.get("publisher") or "",
        "maintainer_email": email if _EMAILISH.match(email) else "",
        "tags": [{"name": t} for t in clean_tags(row.get("keywords") or [])],
        "extras": [{"key": k, "value": v} for k, v in extras_of(row, target, sources).items()],
        "resources": [resource_dict(r, target, row.get("merged_key")) for r in resources],
    }
    seen: set[str] = set()
    for r in pkg["resources"]:  # two resources with one key would share an id; CKAN refuses that
        if r["id"] in seen:
            del r["id"]
        seen.add(r.get("id", ""))
    return pkg
