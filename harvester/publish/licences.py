"""Licences on the target: map harvester licence ids to the ids the target CKAN offers (its `license_list`).

CKAN's default list has no Licence Ouverte, so `lov2` goes to `other-at` there (mapping.CKAN_LICENSES). A French
CKAN (DataSud's, configured with `licenses_group_url`) offers `lov2` itself, and Licence Ouverte must then go to
`lov2`. Each licence of the target list is recognised by the harvester's licence table (its id, else its title,
else its URL), so a target spelling `etalab-2.0` or titling an entry "Licence Ouverte Version 2.0" works as well.

For a harvester id, in order: the target licence recognised as that id; the one recognised as its unversioned
family (`cc-by-4.0` → `cc-by`); today's default-list mapping if the target offers it, else a broader one it offers
(`odc-pddl` → `other-pd` → `other-open`, never a more permissive one); `notspecified` if offered;
else `""` (CKAN accepts a dataset without licence; the raw licence stays in the `license_raw` extra).
With CKAN's default list this gives exactly the default mapping. `ckan.licenses` of the pipeline still wins.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ckanapi.errors import CKANAPIError  # type: ignore[import-untyped]

from harvester.errors import TargetError
from harvester.licenses import license_ids, normalise_license
from harvester.publish.mapping import NOT_SPECIFIED, ckan_license

log = logging.getLogger(__name__)

_VERSION = re.compile(r"-\d+(?:\.\d+)*$")
# A default-list id the target lacks -> the broader default-list id that still says as much (never more).
_BROADER = {
    "odc-pddl": "other-pd",
    "cc-zero": "other-pd",
    "other-pd": "other-open",
    "uk-ogl": "other-at",
    "cc-by": "other-at",
    "odc-by": "other-at",
    "other-at": "other-open",
}


def recognise(entry: Mapping[str, Any]) -> str | None:
    """The harvester licence id of one entry of a CKAN `license_list` (by id, then title, then URL)."""
    for field in ("id", "title", "url"):
        value = entry.get(field)
        if isinstance(value, str) and value.strip():
            lid = normalise_license(value)
            if lid:
                return lid
    return None


def offered(entries: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """harvester licence id -> target licence id, for the licences the target offers (first entry wins)."""
    out: dict[str, str] = {}
    for entry in entries:
        tid = entry.get("id")
        if not isinstance(tid, str) or not tid:
            continue
        lid = recognise(entry)
        if lid and lid not in out:
            out[lid] = tid
    return out


def map_licence(license_id: str, by_harvester_id: Mapping[str, str], target_ids: frozenset[str]) -> str:
    """The target licence id for one harvester licence id (see the module docstring for the order)."""
    for lid in (license_id, _VERSION.sub("", license_id)):
        if lid in by_harvester_id:
            return by_harvester_id[lid]
    default: str | None = ckan_license(license_id)
    while default is not None:
        if default in target_ids:
            return default
        default = _BROADER.get(default)
    return NOT_SPECIFIED if NOT_SPECIFIED in target_ids else ""


def licence_map(
    entries: list[Mapping[str, Any]], overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Every harvester licence id -> the target's id, for a target offering `entries`; overrides win."""
    by_id = offered(entries)
    target_ids = frozenset(str(e["id"]) for e in entries if e.get("id"))
    out = {lid: map_licence(lid, by_id, target_ids) for lid in license_ids()}
    out.update(overrides or {})
    return out


def target_licences(client: Any, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Read the target's `license_list` once and return the mapping for this run (as `Target.licenses`).

    A CKAN that refuses `license_list` keeps the default mapping (and the pipeline's overrides), with a warning.
    """
    try:
        entries = client.call("license_list")
    except (CKANAPIError, TargetError) as exc:
        log.warning("CKAN %s: license_list failed (%s); using the default licence mapping", client.url, exc)
        return dict(overrides or {})
    if not isinstance(entries, list) or not entries:
        log.warning("CKAN %s: license_list is empty; using the default licence mapping", client.url)
        return dict(overrides or {})
    mapping = licence_map([e for e in entries if isinstance(e, Mapping)], overrides)
    log.info(
        "CKAN %s offers %d licences; Licence Ouverte 2.0 goes to %r",
        client.url,
        len(entries),
        mapping.get("lov2"),
    )
    return mapping
