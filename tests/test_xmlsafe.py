"""Hostile XML never gets parsed: XXE, entity-expansion bombs, external DTDs, remote JSON-LD contexts."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from harvester.connectors.dcat.parse import parse_rdf
from harvester.errors import RecordError, SourceError
from harvester.xmlsafe import XML_MAX_DEPTH, check_prolog, looks_like_html, parse_xml, safe_parser
from tests.fixture_server import FixtureServer

FIXTURES = Path(__file__).parent / "fixtures"
URL = "https://catalogue.example.fr/csw"

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>
"""


def xxe(target: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "{target}">]>\n<r><t>&xxe;</t></r>'
    ).encode()


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("SECRET-MARKER-4242", encoding="utf-8")
    return path


def test_xxe_file_is_refused_and_never_read(secret: Path) -> None:
    for target in ("file:///etc/passwd", secret.as_uri()):
        with pytest.raises(SourceError) as err:
            parse_xml(xxe(target), url=URL, source_id="geoide")
        assert "declares entities" in err.value.message
        assert err.value.url == URL and err.value.source_id == "geoide"
        assert URL in str(err.value)


def test_safe_parser_alone_does_not_expand_entities(secret: Path) -> None:
    """Second line of defence: even without the prolog check, lxml neither reads files nor expands entities."""
    root = etree.fromstring(xxe(secret.as_uri()), safe_parser())
    assert "SECRET-MARKER" not in etree.tostring(root, encoding="unicode")
    assert "root:" not in etree.tostring(
        etree.fromstring(xxe("file:///etc/passwd"), safe_parser()), encoding="unicode"
    )


def test_entity_expansion_bomb_is_refused() -> None:
    with pytest.raises(SourceError, match="entity-expansion"):
        parse_xml(BOMB, url=URL)
    # the lxml parser alone never builds the billion laughs: libxml2 stops it, or the entities stay unexpanded
    try:
        root = etree.fromstring(BOMB, safe_parser())
    except etree.XMLSyntaxError as exc:
        assert "amplification" in str(exc)
    else:
        assert len(etree.tostring(root)) < 1000


def test_external_dtd_is_refused_and_never_fetched(server: FixtureServer) -> None:
    server.route("/evil.dtd", '<!ENTITY x "pwned">', content_type="application/xml-dtd")
    doc = f'<?xml version="1.0"?><!DOCTYPE r SYSTEM "{server.url}/evil.dtd"><r>&x;</r>'.encode()
    with pytest.raises(SourceError, match="external DTD"):
        parse_xml(doc, url=URL)
    root = etree.fromstring(doc, safe_parser())  # the lxml parser alone does not load the DTD either
    assert "pwned" not in etree.tostring(root, encoding="unicode")
    assert server.requests == []


def test_record_level_error_class_and_utf16_documents() -> None:
    doc = '<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>'.encode("utf-16")
    with pytest.raises(RecordError) as err:
        check_prolog(doc, url=URL, remote_id="fr-1", error=RecordError)
    assert err.value.remote_id == "fr-1"


def test_harmless_prologs_are_accepted() -> None:
    root = parse_xml(b'<?xml version="1.0"?>\n<!-- generated -->\n<!DOCTYPE r>\n<r><a>1</a></r>', url=URL)
    assert root.findtext("a") == "1"
    # a comment mentioning <!ENTITY after the root element is not a declaration
    assert parse_xml(b"<r><!-- <!ENTITY x 'y'> --></r>", url=URL).tag == "r"


def test_html_truncated_and_empty_bodies_are_clear_source_errors() -> None:
    html = b"<!DOCTYPE html>\n<html><head><title>Maintenance</title></head><body>Service indisponible</body></html>"
    assert looks_like_html(html) and looks_like_html(b"<r/>", "text/html; charset=utf-8")
    with pytest.raises(SourceError, match="HTML page"):
        parse_xml(html, url=URL)
    truncated = (FIXTURES / "csw/geopicardie/getcapabilities-truncated.xml").read_bytes()
    with pytest.raises(SourceError, match="malformed or truncated XML") as err:
        parse_xml(truncated, url=URL)
    assert err.value.url == URL
    with pytest.raises(SourceError, match="empty response"):
        parse_xml(b"  \n", url=URL)


def test_rdfxml_goes_through_the_same_checks(secret: Path) -> None:
    doc = (
        '<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [<!ENTITY xxe SYSTEM "'
        + secret.as_uri()
        + '">]>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:dct="http://purl.org/dc/terms/"><rdf:Description rdf:about="http://x/d">'
        "<dct:title>&xxe;</dct:title></rdf:Description></rdf:RDF>"
    ).encode()
    with pytest.raises(SourceError, match="declares entities"):
        parse_rdf(doc, "application/rdf+xml", "https://data.example.fr/catalog.rdf")
    with pytest.raises(SourceError, match="entity-expansion"):
        parse_rdf(BOMB, "application/rdf+xml", "https://data.example.fr/catalog.rdf")


def test_remote_jsonld_context_is_never_fetched(server: FixtureServer) -> None:
    server.route("/context.jsonld", '{"@context": {"title": "http://purl.org/dc/terms/title"}}')
    doc = f'{{"@context": "{server.url}/context.jsonld", "@id": "http://x/d", "title": "T"}}'.encode()
    with pytest.raises(SourceError, match="remote @context") as err:
        parse_rdf(doc, "application/ld+json", "https://data.example.fr/catalog.jsonld")
    assert err.value.url == "https://data.example.fr/catalog.jsonld"
    assert server.requests == []


def _reset_peak_rss() -> None:
    """Linux: writing 5 to clear_refs resets the process's peak RSS (VmHWM)."""
    Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/self/status")


def _nested(levels: int) -> bytes:
    return b'<?xml version="1.0"?>' + b"<a>" * levels + b"x" + b"</a>" * levels


def test_depth_limit_is_named_and_applies_before_any_tree() -> None:
    """libxml2's own limit (256 without huge_tree) is reported as such, for lxml and for the rdflib path."""
    _reset_peak_rss()  # the peak of this test, not of the tests that ran before it in this process
    assert parse_xml(_nested(XML_MAX_DEPTH), url=URL).tag == "a"
    check_prolog(_nested(XML_MAX_DEPTH), url=URL)
    # +2: libxml2 counts one level more when it builds no tree (check_depth) than when it does (parse_xml)
    for levels in (XML_MAX_DEPTH + 2, 1_000_000):  # 1,000,000 levels: 7 MB
        with pytest.raises(SourceError, match=f"XML nested deeper than {XML_MAX_DEPTH} levels") as err:
            parse_xml(_nested(levels), url=URL, source_id="geoide")
        assert err.value.url == URL and err.value.source_id == "geoide"
        with pytest.raises(RecordError, match=f"XML nested deeper than {XML_MAX_DEPTH} levels"):
            check_prolog(_nested(levels), url=URL, error=RecordError)
    assert _peak_rss_kb() < 1024**2  # the process stayed under 1 GB while parsing


def test_deep_rdfxml_never_reaches_expat() -> None:
    """expat (rdflib's RDF/XML parser) has no depth limit: check_prolog refuses the body first."""
    rdf = (
        b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        b'xmlns:ex="http://example.org/"><rdf:Description rdf:about="http://example.org/d">'
        + b"<ex:p><rdf:Description>" * 200_000
        + b"</rdf:Description></ex:p>" * 200_000
        + b"</rdf:Description></rdf:RDF>"
    )
    with pytest.raises(SourceError, match="XML nested deeper than"):
        parse_rdf(rdf, "application/rdf+xml", URL, source_id="s")


def test_billion_laughs_without_entities_is_bounded_too() -> None:
    """A flat document of many elements is parsed (no limit is hit) in memory proportional to its size."""
    doc = b"<r>" + b"<lol>lol</lol>" * 200_000 + b"</r>"
    assert len(parse_xml(doc, url=URL)) == 200_000
