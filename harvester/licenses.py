"""Licence normalisation: map the licence spellings found on portals to a small set of canonical ids.

The table lives in ``harvester/data/licenses.json`` (ids, titles, urls, aliases and the policy notes).
``normalise_license`` accepts ids, titles, URLs, free text, HTML blobs (ArcGIS Hub) and JSON-ish dicts
passed as text; it returns ``None`` when nothing known is named (the caller keeps ``license_raw``).
"""

from __future__ import annotations

import ast
import html
import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

_URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"'\]\[|]+", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]*>")
_HREF_RE = re.compile(r"""\bhref\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_DICT_KEYS: tuple[str, ...] = (
    "id",
    "license_id",
    "identifier",
    "@id",
    "url",
    "href",
    "uri",
    "license_url",
    "title",
    "name",
    "label",
    "license_title",
    "license",
)
# "… (compatible ODC-BY, CC-BY 2.0)", "… - compatible with CC-BY-SA 4.0": licences named only as compatible
_COMPATIBLE = re.compile(
    r"\(\s*(?:compatibles?|compatibility)\b[^)]*\)|[\s,;:–—-]*\b(?:compatibles?|compatibility)\b[^()]*$",
    re.IGNORECASE,
)
_URL_SUFFIXES = re.compile(r"/(legalcode(\.[a-z-]+)?|deed(\.[a-z-]+)?|summary|index\.html?)$")
# word spellings folded to one form before comparing (after accents and case are folded). The European portals
# name licences in their own languages: licence/license (en, fr), licentie (nl), Lizenz (de), licencia (es),
# licenza (it), licença (pt), licencja (pl), licens (sv, da, no), lisenssi (fi); CC terms likewise
# (Namensnennung, Naamsvermelding, Reconocimiento, Atribución, Attribuzione, Atribuição, Erkännande).
_WORD_FOLDS = (
    (
        re.compile(
            r"\b(?:licen[cs]es?|licenties?|lizenz(?:en)?|licencias?|licenzas?|licenze|licencas?|licencj[ae]"
            r"|licens(?:en|er)?|lisenssi)\b"
        ),
        "license",
    ),
    (
        re.compile(
            r"\b(?:namensnennung|naamsvermelding|reconocimiento|atribucion|attribuzione|atribuicao"
            r"|erkannande|nimea)\b"
        ),
        "attribution",
    ),
    (
        re.compile(
            r"\b(?:weitergabe unter gleichen bedingungen|gelijk delen|compartir ?igual|condividi allo stesso"
            r" modo|compartilha ?igual|dela lika)\b"
        ),
        "sharealike",
    ),
    (re.compile(r"\bshare\s+alike\b"), "sharealike"),
    (re.compile(r"\bno\s*deriv(?:ative)?s\b|\bnoderivatives\b"), "noderivs"),
    (re.compile(r"\bnon\s*commercial\b"), "noncommercial"),
)


@dataclass(frozen=True)
class LicenseTable:
    """The parsed table: metadata by id, and the three lookup indexes."""

    info: dict[str, dict[str, str | None]]
    by_alias: dict[str, str]  # text key -> id
    by_url: dict[str, str]  # url key -> id
    searchable: list[tuple[str, str]] = field(default_factory=list)  # (text key, id), longest first


def text_key(value: str) -> str:
    """Fold a licence spelling: case, accents, punctuation, licence/license, version spellings."""
    text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii").lower()
    text = re.sub(r"\bv(?:ersion)?\s*\.?\s*(?=\d)", " ", text)  # v2, v.2, version 2 -> 2
    text = re.sub(r"(\d+)[.,]0\b", r"\1", text)  # 2.0 -> 2 (2.5 stays 2.5)
    text = re.sub(r"(\d)[.,](\d)", r"\1.\2", text)
    text = re.sub(r"[^a-z0-9.]+", " ", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)
    for pattern, repl in _WORD_FOLDS:
        text = pattern.sub(repl, text)
    return " ".join(text.split())


def url_key(value: str) -> str:
    """Fold a URL: no scheme, no ``www.``, no query or fragment, no trailing ``/`` or ``.``, lower case."""
    url = value.strip().lower()
    url = re.sub(r"^[a-z][a-z0-9+.-]*://", "", url)
    url = re.sub(r"^www\.", "", url)
    url = re.split(r"[?#]", url, maxsplit=1)[0]
    url = url.rstrip("/.,;:)")
    while True:
        shorter = _URL_SUFFIXES.sub("", url).rstrip("/")
        if shorter == url:
            return url
        url = shorter


@lru_cache(maxsize=1)
def load_table() -> LicenseTable:
    """Read and index ``harvester/data/licenses.json`` (cached). Raises ValueError on a conflicting alias."""
    raw = json.loads(resources.files("harvester").joinpath("data/licenses.json").read_text(encoding="utf-8"))
    info: dict[str, dict[str, str | None]] = {}
    by_alias: dict[str, str] = {}
    by_url: dict[str, str] = {}
    searchable: list[tuple[str, str]] = []
    for entry in raw["licenses"]:
        lid = entry["id"]
        info[lid] = {"id": lid, "title": entry["title"], "url": entry.get("url")}
        for alias in [lid, entry["title"], *entry.get("aliases", [])]:
            _index(by_alias, text_key(alias), lid, alias)
            if not entry.get("generic") and len(text_key(alias)) >= 3:
                searchable.append((text_key(alias), lid))
        for url in [entry.get("url"), *entry.get("urls", [])]:
            if url:
                _index(by_url, url_key(url), lid, url)
    searchable = sorted(set(searchable), key=lambda item: -len(item[0]))
    return LicenseTable(info=info, by_alias=by_alias, by_url=by_url, searchable=searchable)


def _index(index: dict[str, str], key: str, lid: str, spelling: str) -> None:
    if index.get(key, lid) != lid:
        raise ValueError(f"licenses.json: {spelling!r} maps to both {index[key]!r} and {lid!r}")
    index[key] = lid


def license_ids() -> list[str]:
    """All canonical ids, in table order."""
    return list(load_table().info)


def license_info(license_id: str) -> dict[str, str | None]:
    """``{"id", "title", "url"}`` of a canonical id. Raises KeyError for an id not in the table."""
    info = load_table().info.get(license_id)
    if info is None:
        raise KeyError(f"unknown licence id {license_id!r}")
    return dict(info)


def match_url(url: str) -> str | None:
    """The id of a licence URL, trying the URL then each shorter path prefix (``/1.0/``, ``/fr/``...)."""
    table = load_table()
    key = url_key(url)
    while key:
        if key in table.by_url:
            return table.by_url[key]
        if "/" not in key:
            return None
        key = key.rsplit("/", 1)[0]
    return None


def normalise_license(raw: str | None) -> str | None:
    """Canonical licence id for a raw licence string, or None when no known licence is named."""
    return explain_license(raw)[0]


@lru_cache(maxsize=4096)  # licences repeat across records: memoised on the input (the result is a tuple)
def explain_license(raw: str | None) -> tuple[str | None, str | None]:
    """(canonical id, the rule that matched) for a raw licence string; (None, None) when nothing known is named.

    Rules: ``alias`` (the whole string is a known spelling), ``url`` (a licence URL), ``text: versioned alias``,
    ``text: url``, ``text: alias`` (found inside free text), ``structure: <rule>`` (JSON/dict text); ``… without
    compatible clause`` when a licence named only as compatible ("(compatible ODC-BY)") was set aside."""
    if raw is None:
        return None, None
    text = raw.strip()
    if not text:
        return None, None
    if text[0] in "{[" and text[-1] in "}]":
        parsed = _parse_dictish(text)
        if parsed is not None:
            found, rule = _from_structure(parsed)
            return found, f"structure: {rule}" if found else None
    if "<" in text and ">" in text:  # HTML (ArcGIS Hub): keep the text and the link targets
        hrefs = " ".join(_HREF_RE.findall(text))
        text = " ".join(html.unescape(_TAG_RE.sub(" ", text) + " " + hrefs).split())
    else:
        text = html.unescape(text)
    own = _COMPATIBLE.sub(" ", text).strip()
    if own and own != text:
        found, rule = _from_text(own)
        if found:
            return found, f"{rule} without compatible clause"
    return _from_text(text)


def _parse_dictish(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _from_structure(value: Any) -> tuple[str | None, str | None]:
    if isinstance(value, str):
        return explain_license(value)
    if isinstance(value, list):
        for item in value:
            found = _from_structure(item)
            if found[0]:
                return found
    if isinstance(value, dict):
        for key in _DICT_KEYS:
            if key in value:
                found = _from_structure(value[key])
                if found[0]:
                    return found
    return None, None


def _from_text(text: str) -> tuple[str | None, str | None]:
    table = load_table()
    key = text_key(text)
    if key in table.by_alias:
        return table.by_alias[key], "alias"
    if _URL_RE.fullmatch(text) or re.fullmatch(r"[a-z0-9.-]+\.[a-z]{2,}/\S*", text, re.IGNORECASE):
        found = match_url(text)
        return found, "url" if found else None
    urls = [m.group(0) for m in _URL_RE.finditer(text)]
    rest = text_key(_URL_RE.sub(" ", text))
    whole = table.by_alias.get(rest)  # the text around the URLs is itself a known spelling
    if whole and any(ch.isdigit() for ch in rest):
        return whole, "text: alias"
    versioned, unversioned = _aliases_inside(rest, table)
    if versioned:
        return versioned, "text: versioned alias"
    for url in urls:
        found = match_url(url)
        if found:
            return found, "text: url"
    found = whole or unversioned
    return found, "text: alias" if found else None


def _aliases_inside(key: str, table: LicenseTable) -> tuple[str | None, str | None]:
    """Longest alias naming a version, and longest alias without one, found as whole words in ``key``."""
    padded = f" {key} "
    versioned: str | None = None
    unversioned: str | None = None
    for alias, lid in table.searchable:  # longest first
        if f" {alias} " not in padded:
            continue
        if any(ch.isdigit() for ch in alias):
            versioned = versioned or lid
        else:
            unversioned = unversioned or lid
        if versioned and unversioned:
            break
    return versioned, unversioned
