"""Licence normalisation: every licence string of the recorded corpus, the DataSud table, tricky spellings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harvester.licenses import (
    LicenseTable,
    license_ids,
    license_info,
    load_table,
    normalise_license,
    text_key,
    url_key,
)

FIXTURES = Path(__file__).parent / "fixtures" / "licenses"
CORPUS_CASES = json.loads((FIXTURES / "corpus_licenses.json").read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize(
    "case", CORPUS_CASES, ids=[f"{c['file'].split('/')[-1]}:{c['raw'][:40]}" for c in CORPUS_CASES]
)
def test_every_corpus_licence_string(case: dict[str, str | None]) -> None:
    assert normalise_license(case["raw"]) == case["expected"]


def test_corpus_cases_cover_every_kind_and_known_ids() -> None:
    kinds = {c["file"].split("/")[0] for c in CORPUS_CASES}
    assert {"ckan", "ods", "udata", "dcat", "csw", "arcgis"} <= kinds
    ids = set(license_ids())
    assert {c["expected"] for c in CORPUS_CASES if c["expected"]} <= ids


def _datasud_table() -> list[dict]:
    return json.loads((FIXTURES / "datasud_idgo_licenses.json").read_text(encoding="utf-8"))


def test_datasud_odbl_alternate_title_is_not_cc_by() -> None:
    """DataSud lists 'Open Database License (ODbL)' and 'ODBL' under cc-by: a data error we do not follow."""
    cc_by = next(e for e in _datasud_table() if e["pk"] == "cc-by")
    alternates = json.loads(cc_by["fields"]["alternate_titles"])
    assert alternates == ["Open Database License (ODbL)", "ODBL"]
    assert [normalise_license(t) for t in alternates] == ["odc-odbl", "odc-odbl"]
    assert normalise_license(cc_by["fields"]["title"]) == "cc-by"


# DataSud pk -> our id; the alternate titles we read differently from DataSud (documented in licenses.json)
DATASUD_IDS = {"cc-by": "cc-by", "cc-by-sa": "cc-by-sa", "cc-zero": "cc0-1.0", "lov2": "lov2"}
DATASUD_IDS |= {"odc-by": "odc-by", "odc-odbl": "odc-odbl", "other-open": "other-open"}
DATASUD_EXCEPTIONS = {
    "Open Database License (ODbL)": "odc-odbl",
    "ODBL": "odc-odbl",
    "Licence Ouverte / Open Licence": "lov1",
    "LO/OL": "lov1",
}


def test_datasud_table_maps_to_the_ids_datasud_meant() -> None:
    checked = 0
    for entry in _datasud_table():
        expected = DATASUD_IDS.get(entry["pk"])
        if expected is None:  # other-at, titled 'Autre Licence (spécifique)'
            assert normalise_license(entry["pk"]) == "other-at"
            assert normalise_license(entry["fields"]["title"]) is None
            continue
        fields = entry["fields"]
        spellings = [entry["pk"], fields["title"], *json.loads(fields["alternate_titles"])]
        spellings += [u for u in [fields["url"], *json.loads(fields["alternate_urls"])] if u]
        for spelling in spellings:
            assert normalise_license(spelling) == DATASUD_EXCEPTIONS.get(spelling, expected), spelling
            checked += 1
    assert checked > 40


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Licence Ouverte 1.0 vs 2.0
        ("fr-lo", "lov1"),
        ("lov2", "lov2"),
        ("etalab-2.0", "lov2"),
        ("Licence Ouverte / Open Licence", "lov1"),
        ("Licence Ouverte / Open Licence version 2.0", "lov2"),
        ("Licence Ouverte 1.0", "lov1"),
        ("licence ouverte v1", "lov1"),
        ("Licence Ouverte 2", "lov2"),
        ("LICENCE OUVERTE V2.0", "lov2"),
        ("Licence  Ouverte\u00a0/\u00a0Open   Licence  2.0 ", "lov2"),
        ("License Etalab", "lov2"),
        ("Licence Ouverte (Etalab)", "lov2"),
        ("Licence Ouverte 1.0 https://www.etalab.gouv.fr/licence-ouverte-open-licence", "lov1"),
        (
            "Licence Ouverte / Open Licence https://www.etalab.gouv.fr/wp-content/uploads/2017/04/ETALAB-Licence-Ouverte-v2.0.pdf",
            "lov2",
        ),
        ("https://www.etalab.gouv.fr/licence-ouverte-open-licence", "lov2"),
        ("http://etalab.gouv.fr/licence-ouverte-open-licence/", "lov2"),
        ("https://www.etalab.gouv.fr/wp-content/uploads/2017/04/ETALAB-Licence-Ouverte-v2.0.pdf", "lov2"),
        ("https://www.etalab.gouv.fr/wp-content/uploads/2014/05/Licence_Ouverte.pdf", "lov1"),
        ("http://www.data.gouv.fr/Licence-Ouverte-Open-Licence", "lov1"),
        ("Données publiées sous licence ouverte v2.0 d'Etalab.", "lov2"),
        # ODbL and Open Data Commons
        ("http://opendatacommons.org/licenses/odbl/1.0/", "odc-odbl"),
        ("https://opendatacommons.org/licenses/odbl/1-0/", "odc-odbl"),
        ("ODbL", "odc-odbl"),
        ("Open Database License (ODbL)", "odc-odbl"),
        ("ODbL-1.0", "odc-odbl"),
        ("Licence ODbL", "odc-odbl"),
        ("Les données sont sous licence ODbL.", "odc-odbl"),
        ("http://opendatacommons.org/licenses/pddl/1.0/", "odc-pddl"),
        ("ODC-By", "odc-by"),
        # Creative Commons: a version when one is named, the family otherwise
        ("CC-BY 4.0", "cc-by-4.0"),
        ("CC BY 4.0", "cc-by-4.0"),
        ("cc-by-4.0", "cc-by-4.0"),
        ("Creative Commons Attribution 4.0 International", "cc-by-4.0"),
        ("https://creativecommons.org/licenses/by/4.0/legalcode.fr", "cc-by-4.0"),
        ("https://creativecommons.org/licenses/by/4.0/deed.fr", "cc-by-4.0"),
        ("http://creativecommons.org/licenses/by/3.0/fr/", "cc-by-3.0"),
        ("https://creativecommons.org/licenses/by/1.0/", "cc-by"),
        ("cc-by", "cc-by"),
        ("CC-BY", "cc-by"),
        ("cc-by-sa", "cc-by-sa"),
        ("CC BY-SA 4.0", "cc-by-sa-4.0"),
        ("Creative Commons Attribution-ShareAlike 3.0 Unported", "cc-by-sa-3.0"),
        ("CC BY-SA 2.5", "cc-by-sa"),
        ("CC-BY-NC-ND 4.0", "cc-by-nc-nd-4.0"),
        ("Creative Commons Attribution-NoDerivs 3.0", "cc-by-nd-3.0"),
        ("CC0", "cc0-1.0"),
        ("cc-zero", "cc0-1.0"),
        ("https://creativecommons.org/publicdomain/zero/1.0/", "cc0-1.0"),
        ("https://creativecommons.org/publicdomain/zero/1.0/deed.fr", "cc0-1.0"),
        # the languages of the European portals (nl, de, es, it, pt) and the EU / DCAT-AP.de licence URIs
        ("Creative Commons Naamsvermelding 4.0 Internationaal licentie", "cc-by-4.0"),
        ("Creative Commons Namensnennung 4.0 International Lizenz", "cc-by-4.0"),
        (
            "Creative Commons Namensnennung - Weitergabe unter gleichen Bedingungen 4.0 International",
            "cc-by-sa-4.0",
        ),
        ("Licencia Creative Commons Reconocimiento 4.0", "cc-by-4.0"),
        ("Licenza Creative Commons Attribuzione 4.0 Internazionale", "cc-by-4.0"),
        ("Licença Creative Commons Atribuição 4.0 Internacional", "cc-by-4.0"),
        ("Licencia Open Database License (ODbL)", "odc-odbl"),
        ("Lizenz", None),
        ("http://publications.europa.eu/resource/authority/licence/CC_BY_4_0", "cc-by-4.0"),
        ("http://publications.europa.eu/resource/authority/licence/CC0", "cc0-1.0"),
        ("http://publications.europa.eu/resource/authority/licence/ODBL", "odc-odbl"),
        ("http://publications.europa.eu/resource/authority/licence/COM_REUSE", None),
        ("http://dcat-ap.de/def/licenses/cc-zero", "cc0-1.0"),
        ("http://dcat-ap.de/def/licenses/cc-by/4.0", "cc-by-4.0"),
        ("http://dcat-ap.de/def/licenses/dl-by-de/2.0", None),
        # generic CKAN / udata ids
        ("other-open", "other-open"),
        ("Other (Open)", "other-open"),
        ("notspecified", "notspecified"),
        ("License Not Specified", "notspecified"),
        ("Licence non spécifiée", "notspecified"),
        ("Other (Not Open)", "other-closed"),
        ("uk-ogl", "ogl-uk"),
        # empty, garbage, things that are not licences
        (None, None),
        ("", None),
        ("   ", None),
        ("garbage", None),
        ("Licence", None),
        ("Open", None),
        ("none", None),
        ("©", None),
        ("Tous droits réservés", None),
        ("https://example.org/licence", None),
        ("This dataset is in the public domain of knowledge except where noted", None),
    ],
)
def test_tricky_spellings(raw: str | None, expected: str | None) -> None:
    assert normalise_license(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            '<div><p>Licence&nbsp;: <a href="https://www.etalab.gouv.fr/licence-ouverte-open-licence">LO</a></p></div>',
            "lov2",
        ),
        ("<p>Licence <b>ODbL</b></p>", "odc-odbl"),
        ('<span style="font-size:large;">Data provided for information purposes only.</span>', None),
        ('{"id": "lov2", "title": "Licence Ouverte / Open Licence version 2.0"}', "lov2"),
        ('{"title": "Open Database License (ODbL)", "url": null}', "odc-odbl"),
        ("{'name': 'CC BY 4.0', 'url': 'https://creativecommons.org/licenses/by/4.0/'}", "cc-by-4.0"),
        ('{"@id": "http://creativecommons.org/publicdomain/zero/1.0/"}', "cc0-1.0"),
        ('{"name": "Copyright Opendatasoft"}', None),
        ("{not json", None),
    ],
)
def test_html_and_dict_blobs(raw: str, expected: str | None) -> None:
    assert normalise_license(raw) == expected


def test_license_info() -> None:
    assert license_info("lov2") == {
        "id": "lov2",
        "title": "Licence Ouverte / Open Licence version 2.0 (Etalab, 2017)",
        "url": "https://www.etalab.gouv.fr/licence-ouverte-open-licence",
    }
    assert license_info("notspecified")["url"] is None
    assert license_info("lov1")["url"] != license_info("lov2")["url"]
    with pytest.raises(KeyError):
        license_info("gpl-3.0")


def test_every_id_title_and_url_maps_back_to_itself() -> None:
    for lid in license_ids():
        info = license_info(lid)
        assert normalise_license(lid) == lid
        assert normalise_license(info["title"]) == lid
        if info["url"]:
            assert normalise_license(info["url"]) == lid


def test_keys() -> None:
    assert text_key("Licence Ouverte / Open Licence v2.0") == "license ouverte open license 2"
    assert text_key("Paternité 2.5") == "paternite 2.5"
    assert url_key("HTTPS://www.Example.org/a/b/?x=1#f") == "example.org/a/b"
    assert (
        url_key("https://creativecommons.org/licenses/by/4.0/legalcode")
        == "creativecommons.org/licenses/by/4.0"
    )


def test_table_is_cached_and_rejects_conflicting_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_table() is load_table()
    table = load_table()
    assert isinstance(table, LicenseTable)
    from harvester import licenses

    with pytest.raises(ValueError, match="maps to both"):
        licenses._index({"odbl": "odc-odbl"}, "odbl", "cc-by", "ODBL")


def test_readme_lists_every_canonical_id() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Licences and formats", 1)[1].split("\n## ", 1)[0]
    listed = {line.split("`")[1] for line in section.splitlines() if line.startswith("| `")}
    assert listed == set(license_ids())
