"""Licence hard cases: licences named only as compatible, ISO constraints read by strength, `license_rule`, and
the share of datasets with a known licence in the harvest report (CLI, local CKAN)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from lxml import etree

from harvester.catalog import Defaults, record_rows
from harvester.cli import cli
from harvester.connectors.csw.iso import map_iso
from harvester.licenses import explain_license, normalise_license
from harvester.records import DatasetRecord
from tests.fixture_server import FixtureServer
from tests.portals.ckan_portal import LICENCES, CkanPortal, build_packages

GEOIDE = Path(__file__).parent / "fixtures" / "csw" / "geoide-single" / "single-dataset.xml"
NS = {
    "gmd": "http://www.isotc211.org/2005/gmd",
    "gco": "http://www.isotc211.org/2005/gco",
    "gmx": "http://www.isotc211.org/2005/gmx",
    "xlink": "http://www.w3.org/1999/xlink",
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Licence Ouverte / Open Licence version 2.0 (compatible ODC-BY, CC-BY 2.0)", "lov2"),
        ("Licence Ouverte 1.0 (compatible CC-BY 2.0)", "lov1"),
        ("Licence Ouverte (compatible CC-BY 4.0)", "lov2"),
        ("ODbL (compatible with CC-BY-SA 4.0)", "odc-odbl"),
        ("Licence Ouverte v2.0 - compatible CC-BY 4.0", "lov2"),
        ("Open Database License, compatible avec CC-BY-SA 4.0", "odc-odbl"),
        ("compatible CC-BY 4.0", "cc-by-4.0"),  # nothing else named: the only licence there is
    ],
)
def test_a_licence_named_only_as_compatible_is_not_the_licence(raw: str, expected: str) -> None:
    assert normalise_license(raw) == expected


def test_explain_names_the_rule() -> None:
    assert explain_license("lov2") == ("lov2", "alias")
    assert explain_license("https://creativecommons.org/licenses/by/4.0/deed.fr") == ("cc-by-4.0", "url")
    assert explain_license("Données sous Licence Ouverte 2.0") == ("lov2", "text: versioned alias")
    assert explain_license('{"id": "odc-odbl"}') == ("odc-odbl", "structure: alias")
    assert explain_license("ODbL (compatible CC-BY-SA 4.0)") == (
        "odc-odbl",
        "alias without compatible clause",
    )
    assert explain_license("tous droits réservés") == (None, None)


def _geoide(extra: list[etree._Element]) -> DatasetRecord:
    md = etree.parse(str(GEOIDE)).getroot().find(".//gmd:MD_Metadata", NS)
    legal = md.find(".//gmd:MD_LegalConstraints", NS)
    for el in extra:
        legal.append(el)
    return map_iso(md, "geoide", None)


def _other(text: str, href: str | None = None) -> etree._Element:
    other = etree.Element(f"{{{NS['gmd']}}}otherConstraints", nsmap=NS)
    if href:
        child = etree.SubElement(other, f"{{{NS['gmx']}}}Anchor", {f"{{{NS['xlink']}}}href": href})
    else:
        child = etree.SubElement(other, f"{{{NS['gco']}}}CharacterString")
    child.text = text
    return other


def _licence(rec: DatasetRecord) -> tuple[str | None, str | None, str]:
    row, _ = record_rows(rec, Defaults(), datetime(2024, 1, 1, tzinfo=UTC))
    return rec.extras.get("license_field"), row["license_id"], dict(row["extras"])["license_rule"]


def test_iso_constraints_read_by_strength() -> None:
    # the record as recorded: only a useLimitation text names a licence (Licence Ouverte 1.0)
    assert _licence(_geoide([])) == ("useLimitation", "lov1", "useLimitation: text: alias")
    # an otherConstraints text naming a licence beats the useLimitation text
    text = _other("Open Database License (ODbL)")
    assert _licence(_geoide([text])) == ("otherConstraints", "odc-odbl", "otherConstraints: alias")
    # an anchor to a licence URI beats both, wherever it comes; its own label does not count
    anchor = _other("Licence Ouverte", "https://creativecommons.org/licenses/by/4.0/")
    got = _licence(_geoide([_other("Open Database License (ODbL)"), anchor]))
    assert got == ("otherConstraints anchor", "cc-by-4.0", "otherConstraints anchor: url")
    # an INSPIRE code is not a licence: the useLimitation text still decides
    code = _other(
        "No conditions apply to access and use",
        "http://inspire.ec.europa.eu/metadata-codelist/ConditionsApplyingToAccessAndUse/noConditionsApply",
    )
    assert _licence(_geoide([code]))[1:] == ("lov1", "useLimitation: text: alias")


def test_license_rule_and_known_share_in_the_harvest_report(server: FixtureServer, tmp_path: Path) -> None:
    portal = CkanPortal(server, build_packages(14))
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"id": "demo", "type": "ckan", "url": portal.url}]})
    )
    args = ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(tmp_path / "data")]
    res = CliRunner().invoke(cli, [*args, "harvest", "demo", "--json"])
    assert res.exit_code == 0, res.stderr
    licences = json.loads(res.stdout)["sources"][0]["licences"]
    # 14 packages over the 7 ids of LICENCES, two each; 'notspecified' is an id but names no licence
    assert LICENCES == ["lov2", "fr-lo", "odc-odbl", "cc-by", "other-open", "notspecified", "cc-zero"]
    assert licences["datasets"] == 14 and licences["known"] == 14 and licences["share"] == 1.0
    assert licences["by_id"] == {
        "cc-by": 2,
        "cc0-1.0": 2,
        "lov1": 2,
        "lov2": 2,
        "notspecified": 2,
        "odc-odbl": 2,
        "other-open": 2,
    }
    status = json.loads(CliRunner().invoke(cli, [*args, "status", "--json"]).stdout)
    assert status["sources"][0]["last_run"]["summary"]["licences"] == licences
    rows = pq.read_table(tmp_path / "data/catalog/demo/datasets.parquet").to_pylist()
    rules = {r["license_raw"]: dict(r["extras"])["license_rule"] for r in rows}
    assert rules["fr-lo"] == "license: alias" and rules["cc-zero"] == "license: alias"
