"""A Hydra-paged DCAT catalogue served by the fixture server, built from the real datasets of a recorded export.

The dataset elements are cut, unchanged, out of a real RDF/XML catalogue (the Rennes Métropole OpenDataSoft
export by default); clones get a new slug and a later `dct:modified` so that large catalogues can be built for
benchmarks. Only the page envelope (catalogue node, Hydra view with next links) is written here.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from lxml import etree

from harvester.dates import parse_datetime
from tests.fixture_server import FixtureServer, Reply, Request

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RENNES = "dcat/ods-export/rennes-catalog-exports-dcat.rdf"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DCAT_NS = "http://www.w3.org/ns/dcat#"
DCT_NS = "http://purl.org/dc/terms/"
NSMAP_DECL = (
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:dcat="http://www.w3.org/ns/dcat#" '
    'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:foaf="http://xmlns.com/foaf/0.1/" '
    'xmlns:skos="http://www.w3.org/2004/02/skos/core#" xmlns:hydra="http://www.w3.org/ns/hydra/core#"'
)


def real_datasets(fixture: str = RENNES) -> list[str]:
    """Each dcat:Dataset element of a real RDF/XML catalogue, serialised as it was recorded."""
    root = etree.fromstring((FIXTURES / fixture).read_bytes(), etree.XMLParser(resolve_entities=False))
    out = []
    for el in root.iter(f"{{{DCAT_NS}}}Dataset"):
        out.append(etree.tostring(el, encoding="unicode", with_tail=False))
    return out


def dataset_uri(xml: str) -> str:
    m = re.search(r'rdf:about="([^"]+)"', xml)
    assert m
    return m.group(1)


def modified_of(xml: str) -> datetime | None:
    """The dataset-level dct:modified (the first one: it precedes the distributions in these exports)."""
    m = re.search(r"<dcterms:modified[^>]*>([^<]+)</dcterms:modified>", xml)
    return parse_datetime(m.group(1)) if m else None


def clone(xml: str, i: int) -> str:
    """A copy with a new slug (`<slug>-c<i>`) and a dct:modified `i` minutes after 2024-01-01."""
    m = re.search(r"/explore/dataset/([^/\"]+)/", xml)
    assert m
    slug = m.group(1)
    out = xml.replace(f"/dataset/{slug}/", f"/dataset/{slug}-c{i}/").replace(
        f"/datasets/{slug}/", f"/datasets/{slug}-c{i}/"
    )
    when = (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=i)).isoformat()
    return re.sub(r"(<dcterms:modified[^>]*>)[^<]+(</dcterms:modified>)", rf"\g<1>{when}\g<2>", out, count=1)


def build_datasets(n: int) -> list[str]:
    """n datasets: the real ones first, then clones of them."""
    base = real_datasets()
    if n <= len(base):
        return base[:n]
    return base + [clone(base[i % len(base)], i) for i in range(n - len(base))]


class DcatPortal:
    """Serves `datasets` at `path`, `per_page` per page, `?page=N` (1-based) with Hydra next links.

    `vocab="partial"` writes hydra:PartialCollectionView/hydra:next (DCAT-AP, udata), `"paged"` the legacy
    hydra:PagedCollection/hydra:nextPage as a literal (ckanext-dcat). With `conditional=True` each page is sent
    with an ETag (its body's hash) and a Last-Modified, and answered 304 to a matching If-None-Match or, without
    one, If-Modified-Since; `changed` (page numbers) counts the pages built again after `set_datasets`.
    """

    def __init__(
        self,
        server: FixtureServer,
        datasets: list[str],
        *,
        path: str = "/catalog.rdf",
        per_page: int = 10,
        vocab: str = "partial",
        ignore_page: bool = False,
        announce: int | None = None,
        conditional: bool = False,
    ) -> None:
        self.server = server
        self.datasets = datasets
        self.path = path
        self.per_page = per_page
        self.vocab = vocab
        self.ignore_page = ignore_page  # a broken server: page 1's datasets for every ?page=N, next link N+1
        self.announce = announce  # a hydra:totalItems larger than what is served
        self.pages = max(1, -(-len(datasets) // per_page))
        self.conditional = conditional
        self.not_modified = 0  # 304 answers sent
        self._cache: dict[int, bytes] = {}
        self._built_at: dict[int, datetime] = {}
        server.route(path, self.handle)

    def set_datasets(self, datasets: list[str]) -> None:
        """Serve new datasets: pages whose body changes get a new ETag and a later Last-Modified."""
        old = {n: self.page(n) for n in range(1, self.pages + 1)}
        self.datasets = datasets
        self.pages = max(1, -(-len(datasets) // self.per_page))
        self._cache = {}
        for n in range(1, self.pages + 1):
            if old.get(n) != self.page(n):
                self._built_at[n] = self._built_at.get(n, _EPOCH) + timedelta(hours=1)

    @property
    def url(self) -> str:
        return self.server.url + self.path

    def page_url(self, n: int) -> str:
        return f"{self.url}?page={n}"

    def page(self, n: int) -> bytes:
        if n not in self._cache:
            served = 1 if self.ignore_page else n
            chunk = self.datasets[(served - 1) * self.per_page : served * self.per_page]
            members = "".join(f"<dcat:dataset>{d}</dcat:dataset>\n" for d in chunk)
            nxt = ""
            total = self.announce if self.announce is not None else len(self.datasets)
            if n < self.pages or self.ignore_page:
                if self.vocab == "partial":
                    nxt = f'<hydra:next rdf:resource="{self.page_url(n + 1)}"/>'
                else:
                    nxt = f"<hydra:nextPage>{self.page_url(n + 1)}</hydra:nextPage>"
            view_type = "PartialCollectionView" if self.vocab == "partial" else "PagedCollection"
            doc = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<rdf:RDF {NSMAP_DECL}>\n'
                f'<dcat:Catalog rdf:about="{self.url}">'
                f'<rdf:type rdf:resource="http://www.w3.org/ns/hydra/core#Collection"/>'
                f"<hydra:totalItems>{total}</hydra:totalItems>"
                f'<hydra:view rdf:resource="{self.page_url(n)}"/>\n{members}</dcat:Catalog>\n'
                f'<hydra:{view_type} rdf:about="{self.page_url(n)}">{nxt}</hydra:{view_type}>\n</rdf:RDF>\n'
            )
            self._cache[n] = doc.encode("utf-8")
        return self._cache[n]

    def handle(self, req: Request) -> Reply:
        try:
            n = int(req.arg("page", "1") or "1")
        except ValueError:
            return Reply(400, "bad page", content_type="text/plain")
        if not 1 <= n <= self.pages and not self.ignore_page:
            return Reply(404, "no such page", content_type="text/plain")
        body = self.page(n)
        if not self.conditional:
            return Reply(200, body, content_type="application/rdf+xml")
        headers = {
            "ETag": f'"{hashlib.sha256(body).hexdigest()[:20]}"',
            "Last-Modified": format_datetime(self._built_at.get(n, _EPOCH), usegmt=True),
        }
        inm, ims = req.headers.get("If-None-Match"), req.headers.get("If-Modified-Since")
        if (inm == headers["ETag"]) if inm else ims == headers["Last-Modified"]:
            self.not_modified += 1
            return Reply(304, b"", headers=headers, content_type="application/rdf+xml")
        return Reply(200, body, headers=headers, content_type="application/rdf+xml")


_EPOCH = datetime(2024, 6, 1, tzinfo=UTC)
