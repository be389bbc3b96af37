"""ISO 19139 (`gmd:MD_Metadata`) → DatasetRecord: the mapping used by the `csw` connector.

Field choices (INSPIRE / Géo-IDE / GeoNetwork practice):
- identity: `gmd:fileIdentifier` (also kept as `extras["file_identifier"]`, the cross-source merge key);
- title / description: citation title / abstract of the first identification (data or service);
- issued: citation date of type publication (else creation); modified: the latest of the revision date and the
  metadata `gmd:dateStamp` (what `apiso:Modified` filters on, so incremental runs and cursors agree);
- publisher: the responsible party with the most specific role (publisher, owner, custodian…), else the
  metadata contact; licence: the legal-constraint text (or anchor) that names a licence;
- themes: ISO topic categories and INSPIRE theme keywords; keywords: every other keyword;
- resources: every `gmd:CI_OnlineResource` of the distribution info (download, WMS, WFS, ATOM, links), one per
  (protocol, URL, name), so that layers served by one URL stay distinct; the format is the declared protocol, else
  the distribution format for a `download` link when the record declares a single one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime

from lxml import etree

from harvester.dates import parse_datetime
from harvester.records import DatasetRecord, ResourceRef

NS = {
    "gmd": "http://www.isotc211.org/2005/gmd",
    "gco": "http://www.isotc211.org/2005/gco",
    "gmx": "http://www.isotc211.org/2005/gmx",
    "srv": "http://www.isotc211.org/2005/srv",
    "xlink": "http://www.w3.org/1999/xlink",
}
ROLE_ORDER = (
    "publisher",
    "owner",
    "custodian",
    "originator",
    "distributor",
    "resourceProvider",
    "pointOfContact",
)
_LICENCE = re.compile(
    r"licen[cs]e|odbl|open ?data ?commons|creative ?commons|cc[- ]?by|etalab", re.IGNORECASE
)
RAW_XML_LIMIT = 64 * 1024


def _x(path: str) -> etree.XPath:
    return etree.XPath(path, namespaces=NS)


_FILE_ID = _x("gmd:fileIdentifier/*/text()")
_DATESTAMP = _x("gmd:dateStamp/*/text()")
_LEVEL = _x("gmd:hierarchyLevel/gmd:MD_ScopeCode/@codeListValue")
_LANG = _x("gmd:language/gmd:LanguageCode/@codeListValue | gmd:language/gco:CharacterString/text()")
_PARENT = _x("gmd:parentIdentifier/*/text()")
_IDENT = _x("gmd:identificationInfo/*[1]")
_TITLE = _x("gmd:citation/*/gmd:title/*[self::gco:CharacterString or self::gmx:Anchor]/text()")
_ABSTRACT = _x("gmd:abstract/*[self::gco:CharacterString or self::gmx:Anchor]/text()")
_CI_DATES = _x("gmd:citation/*/gmd:date/gmd:CI_Date")
_CI_DATE_VALUE = _x("gmd:date/*/text()")
_CI_DATE_TYPE = _x(
    "gmd:dateType/gmd:CI_DateTypeCode/@codeListValue | gmd:dateType/gmd:CI_DateTypeCode/text()"
)
_RES_IDS = _x("gmd:citation/*/gmd:identifier/*/gmd:code/*/text()")
_PARTIES = _x("gmd:pointOfContact/gmd:CI_ResponsibleParty")
_MD_CONTACTS = _x("gmd:contact/gmd:CI_ResponsibleParty")
_ROLE = _x("gmd:role/gmd:CI_RoleCode/@codeListValue")
_ORG = _x("gmd:organisationName/*/text()")
_EMAIL = _x("gmd:contactInfo/*/gmd:address/*/gmd:electronicMailAddress/*/text()")
_KEYWORD_GROUPS = _x("gmd:descriptiveKeywords/gmd:MD_Keywords")
_KEYWORDS = _x("gmd:keyword/*[self::gco:CharacterString or self::gmx:Anchor]/text()")
_THESAURUS = _x("gmd:thesaurusName/*/gmd:title/*/text()")
_TOPICS = _x("gmd:topicCategory/gmd:MD_TopicCategoryCode/text()")
_CONSTRAINTS = _x(
    "gmd:resourceConstraints/*/gmd:otherConstraints/* | gmd:resourceConstraints/*/gmd:useLimitation/*"
)
_HREF = _x("@xlink:href")
_FREQUENCY = _x(
    "gmd:resourceMaintenance/*/gmd:maintenanceAndUpdateFrequency/gmd:MD_MaintenanceFrequencyCode/@codeListValue"
)
_BBOX = _x(
    "gmd:extent/*/gmd:geographicElement/gmd:EX_GeographicBoundingBox | srv:extent/*/gmd:geographicElement/gmd:EX_GeographicBoundingBox"
)
_BBOX_PARTS = {
    k: _x(f"gmd:{k}BoundLongitude/gco:Decimal/text() | gmd:{k}BoundLatitude/gco:Decimal/text()")
    for k in ("west", "east", "south", "north")
}
_ONLINE = _x("gmd:distributionInfo//gmd:CI_OnlineResource")
_LINKAGE = _x("gmd:linkage/gmd:URL/text()")
_PROTOCOL = _x("gmd:protocol/*/text()")
_OL_NAME = _x("gmd:name/*/text()")
_OL_DESC = _x("gmd:description/*/text()")
_FORMATS = _x("gmd:distributionInfo/*/gmd:distributionFormat/*/gmd:name/*/text()")
_FUNCTION = _x("gmd:function/gmd:CI_OnLineFunctionCode/@codeListValue")


class IsoRecordError(Exception):
    """An ISO record that can't be mapped (missing fileIdentifier or title)."""


def _first(values: Sequence[object]) -> str | None:
    for v in values:
        text = str(v).strip()
        if text:
            return text
    return None


def _texts(values: Sequence[object]) -> list[str]:
    return [t for v in values if (t := " ".join(str(v).split()))]


def file_identifier(md: etree._Element) -> str | None:
    return _first(_FILE_ID(md))


def _dates(ident: etree._Element) -> dict[str, datetime]:
    out: dict[str, datetime] = {}
    for ci in _CI_DATES(ident):
        kind = _first(_CI_DATE_TYPE(ci))
        when = parse_datetime(_first(_CI_DATE_VALUE(ci)))
        if kind and when and (kind not in out or when > out[kind]):
            out[kind] = when
    return out


def _party(md: etree._Element, ident: etree._Element) -> tuple[str | None, str | None]:
    """(organisation name, email) of the responsible party with the best role."""
    parties = [(_first(_ROLE(p)) or "", p) for p in _PARTIES(ident)]
    parties.sort(key=lambda rp: ROLE_ORDER.index(rp[0]) if rp[0] in ROLE_ORDER else len(ROLE_ORDER))
    parties += [("metadata", p) for p in _MD_CONTACTS(md)]
    org = next((o for _r, p in parties if (o := _first(_ORG(p)))), None)
    email = next((e for _r, p in parties if (e := _first(_EMAIL(p)))), None)
    return org, email


def _licence(ident: etree._Element) -> tuple[str | None, list[str]]:
    """The constraint that names a licence (its text, with the anchor URL if any), and every constraint text."""
    texts: list[str] = []
    licence = None
    for el in _CONSTRAINTS(ident):
        text = " ".join("".join(el.itertext()).split())
        href = _first(_HREF(el))
        if href and href not in text:
            text = f"{text} {href}".strip()
        if not text:
            continue
        texts.append(text)
        if licence is None and _LICENCE.search(text):
            licence = text
    return licence, texts


def _keywords(ident: etree._Element) -> tuple[tuple[str, ...], tuple[str, ...]]:
    keywords: set[str] = set()
    themes: set[str] = set(_texts(_TOPICS(ident)))
    for group in _KEYWORD_GROUPS(ident):
        thesaurus = (_first(_THESAURUS(group)) or "").lower()
        words = _texts(_KEYWORDS(group))
        (themes if "inspire" in thesaurus and "theme" in thesaurus else keywords).update(words)
    return tuple(sorted(keywords)), tuple(sorted(themes))


def _bbox(ident: etree._Element) -> str | None:
    for box in _BBOX(ident):
        try:
            w, e, s, n = (
                float(_first(_BBOX_PARTS[k](box)) or "x") for k in ("west", "east", "south", "north")
            )
        except ValueError:
            continue
        ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
        return json.dumps({"type": "Polygon", "coordinates": [ring]}, separators=(",", ":"))
    return None


def _resources(md: etree._Element) -> tuple[ResourceRef, ...]:
    formats = sorted(set(_texts(_FORMATS(md))))
    fallback_format = formats[0] if len(formats) == 1 else None
    out: dict[str, ResourceRef] = {}
    for ol in _ONLINE(md):
        url = _first(_LINKAGE(ol))
        if not url or not re.match(r"^(https?|ftp)://", url, re.IGNORECASE):
            continue
        protocol = _first(_PROTOCOL(ol))
        name = _first(_OL_NAME(ol))
        key = f"{protocol or ''}|{url}|{name or ''}"
        # the declared distribution format only describes downloads, not service endpoints or web pages
        fmt = protocol or (fallback_format if _first(_FUNCTION(ol)) == "download" else None)
        out.setdefault(
            key,
            ResourceRef(
                url=url,
                remote_id=key,
                title=name,
                description=_first(_OL_DESC(ol)),
                format=fmt,
            ),
        )
    return tuple(sorted(out.values(), key=lambda r: r.remote_id or ""))


def map_iso(md: etree._Element, source_id: str, record_url: str | None) -> DatasetRecord:
    """Map one `gmd:MD_Metadata` element; raises IsoRecordError when it has no identity or title."""
    fid = file_identifier(md)
    if not fid:
        raise IsoRecordError("ISO record without gmd:fileIdentifier")
    idents = _IDENT(md)
    if not idents:
        raise IsoRecordError("ISO record without gmd:identificationInfo")
    ident = idents[0]
    title = _first(_TITLE(ident))
    if not title:
        raise IsoRecordError("ISO record without a citation title")
    dates = _dates(ident)
    stamp = parse_datetime(_first(_DATESTAMP(md)))
    modified = max((d for d in (dates.get("revision"), stamp) if d is not None), default=None)
    publisher, email = _party(md, ident)
    licence, constraints = _licence(ident)
    keywords, themes = _keywords(ident)
    extras = {"file_identifier": fid}
    for key, value in (
        ("hierarchy_level", _first(_LEVEL(md))),
        ("language", _first(_LANG(md))),
        ("parent_identifier", _first(_PARENT(md))),
        ("resource_identifier", _first(_RES_IDS(ident))),
        ("metadata_date", stamp.isoformat() if stamp else None),
        ("revision_date", dates["revision"].isoformat() if "revision" in dates else None),
        ("constraints", " | ".join(constraints)[:2000] if constraints else None),
    ):
        if value:
            extras[key] = value
    xml = etree.tostring(md, encoding="unicode")
    raw: dict[str, object] = {"file_identifier": fid, "title": title, "date_stamp": _first(_DATESTAMP(md))}
    if len(xml) <= RAW_XML_LIMIT:
        raw["xml"] = xml
    return DatasetRecord(
        source_id=source_id,
        remote_id=fid,
        title=" ".join(title.split()),
        description=_first(_ABSTRACT(ident)),
        landing_page=record_url,
        remote_url=record_url,
        publisher=publisher,
        contact_email=email,
        keywords=keywords,
        themes=themes,
        license_raw=licence,
        issued=dates.get("publication") or dates.get("creation"),
        modified=modified,
        frequency=_first(_FREQUENCY(ident)),
        spatial=_bbox(ident),
        resources=_resources(md),
        extras=extras,
        raw=raw,
    )
