"""Controlled vocabularies of the MQA score: formats, media types, non-proprietary and machine-readable formats,
access rights (harvester/data/mqa.json, with its provenance), and the raw-record properties the catalogue has
no column for (temporal coverage, access rights, rights, contact point)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

# IANA's top-level media types (https://www.iana.org/assignments/media-types/): a well-formed type/subtype under
# one of them counts as the controlled vocabulary (the registry itself is not shipped).
_IANA_TOP = ("application", "audio", "font", "image", "message", "model", "multipart", "text", "video")
_MEDIA = re.compile(rf"^(?:{'|'.join(_IANA_TOP)})/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_MEDIA_PREFIX = re.compile(r"^https?://www\.iana\.org/assignments/media-types/", re.I)
ACCESS_RIGHT_URI = "publications.europa.eu/resource/authority/access-right/"


@dataclass(frozen=True)
class Vocab:
    formats: frozenset[str]  # canonical names of harvester/data/formats.json
    media_types: frozenset[str]  # every media type formats.json names
    non_proprietary: frozenset[str]
    machine_readable: frozenset[str]
    access_rights: frozenset[str]
    service_formats: frozenset[str]


@lru_cache(maxsize=1)
def vocab() -> Vocab:
    pkg = resources.files("harvester") / "data"
    formats = json.loads((pkg / "formats.json").read_text(encoding="utf-8"))["formats"]
    mqa = json.loads((pkg / "mqa.json").read_text(encoding="utf-8"))
    media = {
        m.lower() for f in formats.values() for m in [f.get("media_type"), *f.get("media_types", [])] if m
    }
    return Vocab(
        formats=frozenset(formats),
        media_types=frozenset(media),
        non_proprietary=frozenset(mqa["non_proprietary"]),
        machine_readable=frozenset(mqa["machine_readable"]),
        access_rights=frozenset(mqa["access_rights"]),
        service_formats=frozenset(mqa["service_formats"]),
    )


def media_key(media_type: str) -> str:
    return _MEDIA_PREFIX.sub("", media_type.split(";", 1)[0].strip()).lower()


def format_known(fmt: str | None) -> bool:
    return bool(fmt) and fmt.strip().upper() in vocab().formats  # type: ignore[union-attr]


def media_type_known(media_type: str | None) -> bool:
    if not media_type:
        return False
    key = media_key(media_type)
    return key in vocab().media_types or bool(_MEDIA.match(key))


def access_right_code(value: str) -> str | None:
    """The EU access-right code a value names ('…/access-right/PUBLIC', 'public', DCAT-US 'non-public'), or None."""
    text = value.strip()
    if ACCESS_RIGHT_URI in text:
        text = text.rsplit("/", 1)[-1]
    code = re.sub(r"[\s-]+", "_", text).upper()
    return code if code in vocab().access_rights else None


# Properties read from the records' raw JSON (every contributing record), by key spelling: the key is compared
# lower-cased, without its namespace prefix ('dct:temporal') and without '_' / '-'.
RAW_KEYS: dict[str, frozenset[str]] = {
    "temporal": frozenset({"temporal", "temporalcoverage", "temporalstart", "temporalend", "phenomenontime"}),
    "spatial": frozenset({"spatial", "spatialcoverage"}),
    "access_rights": frozenset({"accessrights", "accesslevel"}),
    "rights": frozenset({"rights"}),
    "contact_point": frozenset({"contactpoint", "contactpoints", "maintaineremail", "authoremail"}),
}
_BY_KEY = {k: prop for prop, keys in RAW_KEYS.items() for k in keys}


def _norm_key(key: str) -> str:
    return key.rsplit(":", 1)[-1].replace("_", "").replace("-", "").lower()


def _filled(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_filled(v) for k, v in value.items() if not k.startswith("@")) or "@id" in value
    if isinstance(value, list):
        return any(_filled(v) for v in value)
    return value is not None and str(value).strip() != ""


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() if k in ("@id", "@value", "value") for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [str(value)] if value is not None and str(value).strip() else []


def raw_properties(raw: Any, depth: int = 4) -> dict[str, list[str]]:
    """The RAW_KEYS properties a raw record fills: property → its string values (may be empty for a node).
    CKAN's `extras` lists ({key, value}) are read like keys."""
    found: dict[str, list[str]] = {}

    def walk(node: Any, level: int) -> None:
        if level > depth:
            return
        if isinstance(node, list):
            for item in node:
                walk(item, level + 1)
            return
        if not isinstance(node, dict):
            return
        if isinstance(node.get("key"), str) and "value" in node:
            prop = _BY_KEY.get(_norm_key(node["key"]))
            if prop and _filled(node["value"]):
                found.setdefault(prop, []).extend(_strings(node["value"]))
        for key, value in node.items():
            prop = _BY_KEY.get(_norm_key(str(key)))
            if prop and _filled(value):
                found.setdefault(prop, []).extend(_strings(value))
            elif isinstance(value, dict | list):
                walk(value, level + 1)

    walk(raw, 0)
    return found
