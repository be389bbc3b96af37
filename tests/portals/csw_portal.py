"""A CSW 2.0.2 GetRecords endpoint served by the fixture server, over real ISO 19139 records.

The `gmd:MD_Metadata` records are cut, unchanged, out of the recorded Géo-IDE GetRecords pages; clones get a new
fileIdentifier and a later dateStamp so that large catalogues can be built for benchmarks. The portal reads
POST (XML) and GET (KVP + CQL) requests like GeoNetwork: startPosition, maxRecords, ElementSetName, the
apiso:Type filter, the apiso:Modified >= filter and SortBy identifier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lxml import etree

from harvester.dates import parse_datetime
from tests.fixture_server import FixtureServer, Reply, Request

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GEOIDE_PAGES = (
    "csw/geoide-iso19139/page-1.xml",
    "csw/geoide-iso19139/page-2.xml",
    "csw/geoide-iso19139/page-3-last.xml",
)
NS = {
    "csw": "http://www.opengis.net/cat/csw/2.0.2",
    "gmd": "http://www.isotc211.org/2005/gmd",
    "gco": "http://www.isotc211.org/2005/gco",
    "ogc": "http://www.opengis.net/ogc",
}


@dataclass
class IsoRecord:
    xml: str
    file_identifier: str
    date_stamp: datetime
    level: str


def _record(xml: str) -> IsoRecord:
    el = etree.fromstring(xml.encode(), etree.XMLParser(resolve_entities=False))
    fid = el.findtext("gmd:fileIdentifier/gco:CharacterString", namespaces=NS) or ""
    stamp = parse_datetime(el.xpath("string(gmd:dateStamp/*)", namespaces=NS))
    assert stamp is not None
    level = el.xpath("string(gmd:hierarchyLevel/gmd:MD_ScopeCode/@codeListValue)", namespaces=NS)
    return IsoRecord(xml, fid.strip(), stamp, level)


def real_records(pages: tuple[str, ...] = GEOIDE_PAGES) -> list[IsoRecord]:
    """Every gmd:MD_Metadata of the recorded pages, serialised as recorded (in page order)."""
    out = []
    for rel in pages:
        root = etree.fromstring((FIXTURES / rel).read_bytes(), etree.XMLParser(resolve_entities=False))
        for md in root.iterfind(".//gmd:MD_Metadata", NS):
            out.append(_record(etree.tostring(md, encoding="unicode", with_tail=False)))
    return out


def clone(rec: IsoRecord, i: int) -> IsoRecord:
    """A copy with fileIdentifier `<id>-c<i>` and a dateStamp `i` minutes after 2024-01-01."""
    fid = f"{rec.file_identifier}-c{i}"
    when = (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=i)).isoformat()
    xml = rec.xml.replace(rec.file_identifier, fid, 1)
    xml = re.sub(r"(<gmd:dateStamp>\s*<gco:DateTime>)[^<]+", rf"\g<1>{when}", xml, count=1)
    return _record(xml)


def build_records(n: int) -> list[IsoRecord]:
    base = real_records()
    if n <= len(base):
        return base[:n]
    return base + [clone(base[i % len(base)], i) for i in range(n - len(base))]


class CswPortal:
    """Answers GetRecords at `path` from `records`. `reject_filter=True` mimics servers without apiso:Modified."""

    def __init__(
        self,
        server: FixtureServer,
        records: list[IsoRecord],
        *,
        path: str = "/geonetwork/srv/fre/csw",
        reject_filter: bool = False,
        ignore_start: bool = False,
        announce: int | None = None,
    ) -> None:
        self.server = server
        self.records = records
        self.path = path
        self.reject_filter = reject_filter
        self.ignore_start = ignore_start  # a broken server: the first records for every startPosition
        self.announce = announce  # a numberOfRecordsMatched larger than what is served
        self.queries: list[dict[str, object]] = []
        server.route(path, self.handle)

    @property
    def url(self) -> str:
        return self.server.url + self.path

    def handle(self, req: Request) -> Reply:
        q = self._post(req) if req.method == "POST" else self._get(req)
        self.queries.append(q)
        if q["since"] is not None and self.reject_filter:
            return Reply(
                200,
                _exception("InvalidParameterValue", "Unknown queryable: Modified"),
                content_type="text/xml",
            )
        recs = [r for r in self.records if not q["types"] or r.level in q["types"]]
        since = q["since"]
        if isinstance(since, datetime):
            recs = [r for r in recs if r.date_stamp >= since]
        if q["sort"]:
            recs = sorted(recs, key=lambda r: r.file_identifier)
        start, size = int(str(q["start"])), int(str(q["size"]))
        first = 1 if self.ignore_start else start
        chunk = recs[first - 1 : first - 1 + size]
        nxt = start + len(chunk) if start - 1 + size < len(recs) else 0
        matched = self.announce if self.announce is not None else len(recs)
        stamp = f"2024-03-19T08:13:{len(self.queries) % 60:02d}Z"
        body = "".join(r.xml if q["element_set"] != "brief" else _brief(r) for r in chunk)
        doc = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<csw:GetRecordsResponse xmlns:csw="{NS["csw"]}"><csw:SearchStatus timestamp="{stamp}"/>'
            f'<csw:SearchResults numberOfRecordsMatched="{matched}" numberOfRecordsReturned="{len(chunk)}" '
            f'elementSet="{q["element_set"]}" nextRecord="{nxt}">{body}</csw:SearchResults></csw:GetRecordsResponse>'
        )
        return Reply(200, doc.encode("utf-8"), content_type="application/xml")

    def _post(self, req: Request) -> dict[str, object]:
        root = etree.fromstring(req.body, etree.XMLParser(resolve_entities=False, no_network=True))
        literal = root.xpath(
            "string(//ogc:PropertyIsGreaterThanOrEqualTo[contains(ogc:PropertyName, 'Modified')]/ogc:Literal)",
            namespaces=NS,
        )
        return {
            "start": root.get("startPosition", "1"),
            "size": root.get("maxRecords", "10"),
            "element_set": root.xpath("string(//csw:ElementSetName)", namespaces=NS) or "summary",
            "types": set(
                root.xpath(
                    "//ogc:PropertyIsEqualTo[contains(ogc:PropertyName, 'Type')]/ogc:Literal/text()",
                    namespaces=NS,
                )
            ),
            "since": parse_datetime(literal) if literal else None,
            "sort": bool(root.xpath("//ogc:SortBy", namespaces=NS)),
        }

    def _get(self, req: Request) -> dict[str, object]:
        cql = req.arg("constraint") or ""
        m = re.search(r"Modified >= '([^']+)'", cql)
        return {
            "start": req.arg("startPosition", "1"),
            "size": req.arg("maxRecords", "10"),
            "element_set": req.arg("elementSetName", "summary"),
            "types": set(re.findall(r"Type = '([^']+)'", cql)),
            "since": parse_datetime(m.group(1)) if m else None,
            "sort": bool(req.arg("sortBy")),
        }


def _brief(r: IsoRecord) -> str:
    return (
        f'<gmd:MD_Metadata xmlns:gmd="{NS["gmd"]}" xmlns:gco="{NS["gco"]}"><gmd:fileIdentifier>'
        f"<gco:CharacterString>{r.file_identifier}</gco:CharacterString></gmd:fileIdentifier></gmd:MD_Metadata>"
    )


def _exception(code: str, text: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows" '
        f'version="1.2.0"><ows:Exception exceptionCode="{code}" locator="constraint">'
        f"<ows:ExceptionText>{text}</ows:ExceptionText></ows:Exception></ows:ExceptionReport>"
    ).encode()
