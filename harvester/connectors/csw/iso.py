"""ISO 19139 (`gmd:MD_Metadata`, Swiss `che:CHE_MD_Metadata`) and ISO 19115-3 (`mdb:MD_Metadata`) →
DatasetRecord: the mapping used by the `csw` connector. Where each field lives in either encoding: `iso_paths`.

Field choices (INSPIRE / Géo-IDE / GeoNetwork practice):
- identity: `gmd:fileIdentifier` / `mdb:metadataIdentifier` code (also kept as `extras["file_identifier"]`, the cross-source merge key);
- title / description: citation title / abstract of the first identification (data or service), HTML as text;
- issued: citation date of type publication (else creation); modified: the latest of the revision date and the
  metadata `gmd:dateStamp` (19115-3: latest `mdb:dateInfo`) (what `apiso:Modified` filters on, so incremental runs and cursors agree);
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

from harvester.connectors.csw.iso_paths import IsoPaths, paths_for
from harvester.connectors.html_text import html_to_text
from harvester.dates import parse_datetime
from harvester.licenses import match_url, normalise_license
from harvester.records import DatasetRecord, ResourceRef

ROLE_ORDER = (
    "publisher",
    "owner",
    "custodian",
    "originator",
    "distributor",
    "resourceProvider",
    "pointOfContact",
)
# A constraint that names a licence, in the languages of the European catalogues (en, fr, nl, de, es, it, pt).
_LICENCE = re.compile(
    r"licen[cs]e|licen[cz]i?a|licença|licentie|lizenz|odbl|open ?data ?commons|creative ?commons|cc[- ]?by|etalab",
    re.IGNORECASE,
)
RAW_XML_LIMIT = 64 * 1024


class IsoRecordError(Exception):
    """An ISO record that can't be mapped (missing identifier or title)."""


def _first(values: Sequence[object]) -> str | None:
    for v in values:
        text = str(v).strip()
        if text:
            return text
    return None


def _texts(values: Sequence[object]) -> list[str]:
    return [t for v in values if (t := " ".join(str(v).split()))]


def file_identifier(md: etree._Element) -> str | None:
    """`gmd:fileIdentifier` (ISO 19139) or `mdb:metadataIdentifier/mcc:MD_Identifier/mcc:code` (ISO 19115-3)."""
    return _first(paths_for(md).file_id(md))


def _dates(p: IsoPaths, parent: etree._Element, path: etree.XPath) -> dict[str, datetime]:
    out: dict[str, datetime] = {}
    for ci in path(parent):
        kind = _first(p.date_type(ci))
        when = parse_datetime(_first(p.date_value(ci)))
        if kind and when and (kind not in out or when > out[kind]):
            out[kind] = when
    return out


def _date_stamp(p: IsoPaths, md: etree._Element) -> tuple[str | None, datetime | None]:
    """The metadata date: `gmd:dateStamp`, or the latest `mdb:dateInfo` date (revision, creation…)."""
    text = _first(p.date_stamp(md))
    if text:
        return text, parse_datetime(text)
    texts = [t for ci in p.md_dates(md) if (t := _first(p.date_value(ci)))]
    dated = [(when, t) for t in texts if (when := parse_datetime(t)) is not None]
    if not dated:
        return None, None
    when, text = max(dated)
    return text, when


def _party(p: IsoPaths, md: etree._Element, ident: etree._Element) -> tuple[str | None, str | None]:
    """(organisation name, email) of the responsible party with the best role."""
    parties = [(_first(p.role(party)) or "", party) for party in p.parties(ident)]
    parties.sort(key=lambda rp: ROLE_ORDER.index(rp[0]) if rp[0] in ROLE_ORDER else len(ROLE_ORDER))
    parties += [("metadata", party) for party in p.md_contacts(md)]
    org = next((o for _r, party in parties if (o := _first(p.org(party)))), None)
    email = next((e for _r, party in parties if (e := _first(p.email(party)))), None)
    return org, email


def _licence(p: IsoPaths, ident: etree._Element) -> tuple[str | None, str | None, list[str]]:
    """(licence, the field it was read from, every constraint text). Candidates by strength: an otherConstraints
    anchor to a licence URI, then an otherConstraints text naming a known licence, then a useLimitation text
    naming one, then any constraint that looks like a licence (kept as licence_raw, unresolved)."""
    texts: list[str] = []
    best: tuple[int, str, str] | None = None
    for el in p.constraints(ident):
        text = " ".join("".join(el.itertext()).split())
        href = _first(p.href(el))
        parent = el.getparent()
        fld = etree.QName(parent).localname if parent is not None else "constraint"
        if href and href not in text:
            text = f"{text} {href}".strip()
        if not text:
            continue
        texts.append(text)
        if href and match_url(href):
            cand = (0, href, f"{fld} anchor")
        elif normalise_license(text):
            cand = (1 if fld == "otherConstraints" else 2, text, fld)
        elif _LICENCE.search(text):
            cand = (3, text, fld)
        else:
            continue
        if best is None or cand[0] < best[0]:
            best = cand
    return (best[1], best[2], texts) if best else (None, None, texts)


def _keywords(p: IsoPaths, ident: etree._Element) -> tuple[tuple[str, ...], tuple[str, ...]]:
    keywords: set[str] = set()
    themes: set[str] = set(_texts(p.topics(ident)))
    for group in p.keyword_groups(ident):
        thesaurus = (_first(p.thesaurus(group)) or "").lower()
        words = _texts(p.keywords(group))
        (themes if "inspire" in thesaurus and "theme" in thesaurus else keywords).update(words)
    return tuple(sorted(keywords)), tuple(sorted(themes))


def _bbox(p: IsoPaths, ident: etree._Element) -> str | None:
    for box in p.bbox(ident):
        try:
            w, e, s, n = (
                float(_first(p.bbox_parts[k](box)) or "x") for k in ("west", "east", "south", "north")
            )
        except ValueError:
            continue
        ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
        return json.dumps({"type": "Polygon", "coordinates": [ring]}, separators=(",", ":"))
    return None


def _resources(p: IsoPaths, md: etree._Element) -> tuple[ResourceRef, ...]:
    formats = sorted(set(_texts(p.formats(md))))
    fallback_format = formats[0] if len(formats) == 1 else None
    out: dict[str, ResourceRef] = {}
    for ol in p.online(md):
        url = _first(p.linkage(ol))
        if not url or not re.match(r"^(https?|ftp)://", url, re.IGNORECASE):
            continue
        protocol = _first(p.protocol(ol))
        name = _first(p.ol_name(ol))
        key = f"{protocol or ''}|{url}|{name or ''}"
        # the declared distribution format only describes downloads, not service endpoints or web pages
        fmt = protocol or (fallback_format if _first(p.function(ol)) == "download" else None)
        out.setdefault(
            key,
            ResourceRef(
                url=url,
                remote_id=key,
                title=name,
                description=_first(p.ol_desc(ol)),
                format=fmt,
            ),
        )
    return tuple(sorted(out.values(), key=lambda r: r.remote_id or ""))


def map_iso(md: etree._Element, source_id: str, record_url: str | None) -> DatasetRecord:
    """Map one ISO 19139 / ISO 19115-3 record; raises IsoRecordError when it has no identity or title."""
    p = paths_for(md)
    kind, id_path = (
        ("ISO", "gmd:fileIdentifier") if p.name == "ISO 19139" else (p.name, "mdb:metadataIdentifier")
    )
    fid = _first(p.file_id(md))
    if not fid:
        raise IsoRecordError(f"{kind} record without {id_path}")
    idents = p.ident(md)
    if not idents:
        raise IsoRecordError(f"{kind} record without identificationInfo")
    ident = idents[0]
    title = _first(p.title(ident))
    if not title:
        raise IsoRecordError(f"{kind} record without a citation title")
    dates = _dates(p, ident, p.ci_dates)
    stamp_text, stamp = _date_stamp(p, md)
    modified = max((d for d in (dates.get("revision"), stamp) if d is not None), default=None)
    publisher, email = _party(p, md, ident)
    licence, licence_field, constraints = _licence(p, ident)
    keywords, themes = _keywords(p, ident)
    extras = {"file_identifier": fid}
    for key, value in (
        ("metadata_standard", p.name if p.name != "ISO 19139" else None),
        ("hierarchy_level", _first(p.level(md))),
        ("language", _first(p.language(md))),
        ("parent_identifier", _first(p.parent(md))),
        ("resource_identifier", _first(p.res_ids(ident))),
        ("metadata_date", stamp.isoformat() if stamp else None),
        ("revision_date", dates["revision"].isoformat() if "revision" in dates else None),
        ("constraints", " | ".join(constraints)[:2000] if constraints else None),
        ("license_field", licence_field),
    ):
        if value:
            extras[key] = value
    xml = etree.tostring(md, encoding="unicode")
    raw: dict[str, object] = {"file_identifier": fid, "title": title, "date_stamp": stamp_text}
    if len(xml) <= RAW_XML_LIMIT:
        raw["xml"] = xml
    abstract = _first(p.abstract(ident))
    return DatasetRecord(
        source_id=source_id,
        remote_id=fid,
        title=" ".join(title.split()),
        description=html_to_text(abstract) or None if abstract else None,
        landing_page=record_url,
        remote_url=record_url,
        publisher=publisher,
        contact_email=email,
        keywords=keywords,
        themes=themes,
        license_raw=licence,
        issued=dates.get("publication") or dates.get("creation"),
        modified=modified,
        frequency=_first(p.frequency(ident)),
        spatial=_bbox(p, ident),
        resources=_resources(p, md),
        extras=extras,
        raw=raw,
    )
