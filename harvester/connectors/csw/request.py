"""OGC CSW 2.0.2 GetRecords requests (POST XML or GET KVP) and the parts of a response the connector reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from harvester.dates import to_iso
from harvester.errors import SourceError

CSW = "http://www.opengis.net/cat/csw/2.0.2"
OGC = "http://www.opengis.net/ogc"
GMD = "http://www.isotc211.org/2005/gmd"
DCAT = "http://www.w3.org/ns/dcat#"
OWS_NAMESPACES = (
    "http://www.opengis.net/ows",
    "http://www.opengis.net/ows/1.1",
    "http://www.opengis.net/ows/2.0",
)
ISO_RECORDS = ("MD_Metadata", "MI_Metadata", "CHE_MD_Metadata")  # gmd, gmi, Swiss che; mdb (19115-3)


@dataclass(frozen=True)
class Query:
    start: int  # 1-based startPosition
    size: int  # maxRecords
    types: tuple[str, ...] = ()  # hierarchy levels (apiso:Type), OR-ed; empty = no type filter
    modified_since: datetime | None = None  # apiso:Modified >= …
    element_set: str = "full"
    output_schema: str = GMD  # ISO 19139, or DCAT (GeoNetwork 4 converts server-side)
    sort: bool = True  # ogc:SortBy apiso:Identifier ASC, for stable paging


def post_body(q: Query) -> bytes:
    """The GetRecords XML document (built with lxml: values are escaped, never pasted into markup)."""
    E = etree.Element
    root = E(
        f"{{{CSW}}}GetRecords",
        nsmap={"csw": CSW, "ogc": OGC, "gmd": GMD, "apiso": "http://www.opengis.net/cat/csw/apiso/1.0"},
        service="CSW",
        version="2.0.2",
        resultType="results",
        startPosition=str(q.start),
        maxRecords=str(q.size),
        outputFormat="application/xml",
        outputSchema=q.output_schema,
    )
    query = etree.SubElement(root, f"{{{CSW}}}Query", typeNames="gmd:MD_Metadata")
    etree.SubElement(query, f"{{{CSW}}}ElementSetName").text = q.element_set
    clauses: list[etree._Element] = []
    if q.types:
        ors = [_compare("PropertyIsEqualTo", "apiso:Type", t) for t in q.types]
        if len(ors) == 1:
            clauses.append(ors[0])
        else:
            or_el = E(f"{{{OGC}}}Or")
            or_el.extend(ors)
            clauses.append(or_el)
    if q.modified_since is not None:
        clauses.append(
            _compare("PropertyIsGreaterThanOrEqualTo", "apiso:Modified", to_iso(q.modified_since) or "")
        )
    if clauses:
        constraint = etree.SubElement(query, f"{{{CSW}}}Constraint", version="1.1.0")
        flt = etree.SubElement(constraint, f"{{{OGC}}}Filter")
        if len(clauses) == 1:
            flt.append(clauses[0])
        else:
            and_el = etree.SubElement(flt, f"{{{OGC}}}And")
            and_el.extend(clauses)
    if q.sort:
        sort = etree.SubElement(query, f"{{{OGC}}}SortBy")
        prop = etree.SubElement(sort, f"{{{OGC}}}SortProperty")
        etree.SubElement(prop, f"{{{OGC}}}PropertyName").text = "apiso:Identifier"
        etree.SubElement(prop, f"{{{OGC}}}SortOrder").text = "ASC"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _compare(op: str, prop: str, literal: str) -> etree._Element:
    el = etree.Element(f"{{{OGC}}}{op}")
    etree.SubElement(el, f"{{{OGC}}}PropertyName").text = prop
    etree.SubElement(el, f"{{{OGC}}}Literal").text = literal
    return el


def _cql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def kvp_params(q: Query) -> dict[str, str]:
    """The same request as GET key-value pairs, with a CQL_TEXT constraint."""
    params = {
        "service": "CSW",
        "version": "2.0.2",
        "request": "GetRecords",
        "typeNames": "gmd:MD_Metadata",
        "namespace": f"xmlns(gmd={GMD})",
        "resultType": "results",
        "elementSetName": q.element_set,
        "outputSchema": q.output_schema,
        "outputFormat": "application/xml",
        "startPosition": str(q.start),
        "maxRecords": str(q.size),
    }
    clauses = []
    if q.types:
        clauses.append("(" + " OR ".join(f"Type = {_cql_literal(t)}" for t in q.types) + ")")
    if q.modified_since is not None:
        clauses.append(f"Modified >= {_cql_literal(to_iso(q.modified_since) or '')}")
    if clauses:
        params["constraintLanguage"] = "CQL_TEXT"
        params["constraint_language_version"] = "1.1.0"
        params["constraint"] = " AND ".join(clauses)
    if q.sort:
        params["sortBy"] = "Identifier:A"
    return params


@dataclass(frozen=True)
class Page:
    matched: int | None
    returned: int | None
    next_record: int | None
    records: list[etree._Element]  # children of csw:SearchResults


def exception_text(root: etree._Element) -> str | None:
    """The message of an OWS ExceptionReport (sent by many servers with HTTP 200), or None."""
    if etree.QName(root).localname != "ExceptionReport":
        return None
    parts = []
    for exc in root.iter():
        if not isinstance(exc.tag, str) or etree.QName(exc).localname != "Exception":
            continue
        code = exc.get("exceptionCode") or ""
        locator = exc.get("locator")
        texts = [
            " ".join("".join(t.itertext()).split())
            for t in exc
            if etree.QName(t).localname == "ExceptionText"
        ]
        parts.append(" ".join(x for x in (code, f"({locator})" if locator else "", *texts) if x))
    return "; ".join(parts) or "ExceptionReport without details"


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def read_page(root: etree._Element, url: str, source_id: str | None) -> Page:
    """Check the response is a GetRecordsResponse and read its counters and records."""
    message = exception_text(root)
    if message is not None:
        raise SourceError(
            f"CSW server answered with an ExceptionReport: {message}", url=url, source_id=source_id
        )
    if etree.QName(root).localname != "GetRecordsResponse":
        raise SourceError(
            f"expected a CSW GetRecordsResponse, got <{etree.QName(root).localname}>",
            url=url,
            source_id=source_id,
            hint="check that the source url is the CSW endpoint (…/csw)",
        )
    results = next(
        (el for el in root if isinstance(el.tag, str) and etree.QName(el).localname == "SearchResults"), None
    )
    if results is None:
        raise SourceError("GetRecordsResponse without csw:SearchResults", url=url, source_id=source_id)
    return Page(
        matched=_int(results.get("numberOfRecordsMatched")),
        returned=_int(results.get("numberOfRecordsReturned")),
        next_record=_int(results.get("nextRecord")),
        records=[el for el in results if isinstance(el.tag, str)],
    )
