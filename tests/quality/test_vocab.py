"""The raw-record properties and vocabularies the MQA score reads."""

from __future__ import annotations

from harvester.quality.vocab import access_right_code, format_known, media_type_known, raw_properties


def test_raw_properties_of_ckan_udata_and_dcat_records() -> None:
    ckan = {"extras": [{"key": "temporal_start", "value": "2020-01-01"}, {"key": "spatial", "value": ""}],
            "maintainer_email": "x@y.fr"}  # fmt: skip
    assert raw_properties(ckan) == {"temporal": ["2020-01-01"], "contact_point": ["x@y.fr"]}
    udata = {"temporal_coverage": {"start": "2019-01-01", "end": None}, "spatial": None}
    assert set(raw_properties(udata)) == {"temporal"}
    dcat = {"dct:accessRights": ["http://publications.europa.eu/resource/authority/access-right/PUBLIC"],
            "dct:rights": [{"@bnode": True, "rdfs:label": ["Licence Ouverte"]}], "dct:temporal": [{"@bnode": True}]}  # fmt: skip
    props = raw_properties(dcat)
    assert set(props) == {"access_rights", "rights"}  # an empty node is no temporal coverage
    assert access_right_code(props["access_rights"][0]) == "PUBLIC"


def test_vocabularies() -> None:
    assert access_right_code("non-public") == "NON_PUBLIC" and access_right_code("libre") is None
    assert format_known("geojson") and not format_known("FOO")
    assert media_type_known("text/csv; charset=utf-8") and media_type_known("application/vnd.foo+json")
    assert media_type_known("https://www.iana.org/assignments/media-types/text/csv")
    assert not media_type_known("csv")
