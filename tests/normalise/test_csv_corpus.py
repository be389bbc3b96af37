"""Every real French CSV of tests/fixtures/csv_fr/ converts with the values a French reader expects.

Each test states, for one file, what a person opening it in a French spreadsheet would read, and checks the
Parquet cells (values and types), not only that the conversion ran. Provenance: tests/fixtures/csv_fr/README.md.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harvester.normalise.csv_table import TableResult, convert_csv

CORPUS = Path(__file__).parent.parent / "fixtures" / "csv_fr"


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[TableResult, pa.Table]]:
    out = tmp_path_factory.mktemp("csv_fr")
    results = {}
    for src in sorted(CORPUS.glob("*.csv")):
        res = convert_csv(src, out / f"{src.stem}.parquet")
        results[src.name] = (res, pq.read_table(res.path))
    return results


def rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist()


def types(table: pa.Table) -> dict[str, str]:
    return {f.name: str(f.type) for f in table.schema}


def test_every_corpus_file_is_covered(converted: dict[str, tuple[TableResult, pa.Table]]) -> None:
    tested = {name[len("test_") :] for name in globals() if name.startswith("test_")}
    for fname in converted:
        assert Path(fname).stem in tested, f"no test documents {fname}"


def test_bnlc_calvados_covoiturage_utf8_bom(converted: dict[str, tuple[TableResult, pa.Table]]) -> None:
    """UTF-8 with BOM, ','; the BOM is not part of the first column name; INSEE 14630 stays a code (text);
    ISO dates; true/false booleans; coordinates as floats; empty trailing fields are null."""
    res, t = converted["bnlc_calvados_covoiturage_utf8_bom.csv"]
    assert res.detected["encoding"] == "utf-8" and res.detected["bom"] is True
    assert res.detected["delimiter"] == ","
    assert t.num_rows == 37 and t.column_names[0] == "id_local"
    first = rows(t)[0]
    assert first["id_local"] == 6
    assert first["com_lieu"] == "Saint-Martin-des-Entrées"
    assert first["insee"] == "14630"
    assert first["date_maj"] == dt.date(2024, 4, 15)
    assert first["ouvert"] is True and first["lumiere"] is False
    assert first["Xlong"] == pytest.approx(-0.6514878987759956)
    assert first["Ylat"] == pytest.approx(49.25113265974201)
    assert first["nbre_pl"] == 42 and first["source"] is None
    assert first["proprio"] == "Département du Calvados"


def test_cd22_antennes_departementales(converted: dict[str, tuple[TableResult, pa.Table]]) -> None:
    """Postcode 22106 and INSEE code 22050 differ and both stay text; phones stay as written."""
    _, t = converted["cd22_antennes_departementales.csv"]
    assert t.num_rows == 4
    assert types(t)["codepostal"] == "string" and types(t)["cdinseecommune"] == "string"
    dinan = rows(t)[0]
    assert dinan["Sites"] == "Agence Technique Départementale de Dinan"
    assert (dinan["codepostal"], dinan["cdinseecommune"]) == ("22106", "22050")
    assert dinan["tel"] == "02 96 80 00 80" and dinan["cedex"] == "cédex"
    assert dinan["lat"] == pytest.approx(48.454903) and dinan["lon"] == pytest.approx(-2.057803)
    assert rows(t)[2]["CS"] is None


def test_datasud_hotels_region_sud_apidae(converted: dict[str, tuple[TableResult, pa.Table]]) -> None:
    """Multi-line quoted descriptions; the postcode 05320 lost its zero in the published file: it stays the
    text "5320" (no guess); a row published with 21 fields instead of 36 is kept (completed) and reported;
    the 11 columns without name nor value are dropped, the unnamed ones that hold values are kept."""
    res, t = converted["datasud_hotels_region_sud_apidae.csv"]
    assert t.num_rows == 1265
    first = rows(t)[0]
    assert first["Nom"] == "Hôtel des Alpes Skiers Lodge"
    assert first["Code Postal"] == "5320" and first["Code inse"] == "5063"
    assert first["Téléphone"] == "04 76 11 03 18"
    assert first["Descriptif court (Standard)"].startswith("Dans le village de La Grave")
    assert "\nExposition plein Sud" in first["Descriptif court (Standard)"]
    assert first["Longitude"] == pytest.approx(6.305444)
    assert any("line 978: 21 fields instead of 36" in w for w in res.warnings)
    assert "column_22" in t.column_names and "column_30" not in t.column_names
    assert rows(t)[-1]["Nom"] == "Yes Hôtel" and rows(t)[-1]["Code Postal"] == "84000"


def test_handwritten_dido_augmented_4_header_rows(converted: dict[str, tuple[TableResult, pa.Table]]) -> None:
    """DiDo "CSV augmenté": the header is followed by 3 rows of types, units and codes; they are not data."""
    res, t = converted["handwritten_dido_augmented_4_header_rows.csv"]
    assert t.num_rows == 5
    assert len(res.detected["extra_header_rows"]) == 3
    assert res.detected["extra_header_rows"][2][0] == "OPE"
    assert t.column_names[0] == "Nom de l'opérateur"
    first = rows(t)[0]
    assert first["Nom de l'opérateur"] == "Aé"
    assert first["Millésime des données"] == 2019
    assert first["Code de l'EPCI"] == "200036465"
    assert first["Consommation (en MWh)"] == 1039
    assert rows(t)[2]["Nom de l'opérateur"] == "ÇÀ"


def test_handwritten_dido_iso8859_15_decimal_comma(
    converted: dict[str, tuple[TableResult, pa.Table]],
) -> None:
    """ISO-8859-15 (read as Windows-1252, identical for these bytes); quoted decimal commas "0,1" are 0.1;
    "secret" (secret statistique) is no value; the IRIS code keeps its leading zero; the NAF code "28.1"
    stays a code; "2021-01" (a month) stays text."""
    res, t = converted["handwritten_dido_iso8859_15_decimal_comma.csv"]
    assert res.detected["encoding"] == "cp1252"
    r = rows(t)
    assert r[2]["STRING"] == "ééééé"
    assert [x["NUMBER"] for x in r] == [0.1, 0.2, None]
    assert [x["NUMBERSECRET"] for x in r] == [None, 0.1, 0.1]
    assert [x["IRIS"] for x in r] == ["010070000", "956800107", "110690601"]
    assert r[0]["TYPE_NAF"] == "28.1" and r[0]["MOIS"] == "2021-01"
    assert r[0]["COMMUNE"] == 84000 and r[1]["EPCI"] == "200006682"


def test_handwritten_iso8859_1_crlf(converted: dict[str, tuple[TableResult, pa.Table]]) -> None:
    """ISO-8859-1 with CRLF: accented first names read right, no stray carriage return."""
    res, t = converted["handwritten_iso8859_1_crlf.csv"]
    assert res.detected["encoding"] == "cp1252"
    assert rows(t) == [
        {"first_name": "John", "last_name": "Smith", "age": 37},
        {"first_name": "Jean", "last_name": "Christophe", "age": 33},
        {"first_name": "Hélène", "last_name": "Mahé", "age": 42},
    ]


def test_handwritten_latin1_datafair(converted: dict[str, tuple[TableResult, pa.Table]]) -> None:
    """Latin-1 addresses."""
    _, t = converted["handwritten_latin1_datafair.csv"]
    assert rows(t) == [
        {"id": "koumoul", "adr": "19 rue de la voie lactée saint avé"},
        {"id": "bidule", "adr": "première adresse inconnue"},
    ]


def test_ign_rgc2011_communes_head(converted: dict[str, tuple[TableResult, pa.Table]]) -> None:
    """IGN RGC: DEP "06" and COM "052" keep their zeros (and Corsica's "2A" is there); decimal points."""
    res, t = converted["ign_rgc2011_communes_head.csv"]
    assert res.detected["delimiter"] == ";" and t.num_rows == 14999
    first = rows(t)[0]
    assert (first["DEP"], first["COM"], first["NOM"]) == ("06", "052", "CUEBRIS")
    assert first["POPU"] == 2.0 and first["SURFACE"] == 2310.0
    assert first["XLAMB93"] == 10230 and first["ZMAX"] == 1108
    assert first["LONGI_DMS"] == "+70114"
    assert "2A" in set(t.column("DEP").to_pylist())


def test_insee_populations_legales_communes_head(converted: dict[str, tuple[TableResult, pa.Table]]) -> None:
    """DEPCOM 01001 keeps its zero; the apostrophe in "L' Abergement" is not a quote."""
    _, t = converted["insee_populations_legales_communes_head.csv"]
    assert t.num_rows == 4999
    assert rows(t)[0] == {
        "DEPCOM": "01001",
        "COM": "L' Abergement-Clémenciat",
        "PMUN": 776,
        "PCAP": 18,
        "PTOT": 794,
    }
    assert types(t)["PTOT"] == "int64"


def test_irve_consolidation_2019_head(converted: dict[str, tuple[TableResult, pa.Table]]) -> None:
    """IRVE 2019: yyyy/mm/dd dates; coordinates mixing numbers and "à définir" stay text (nothing lost);
    power mixing "22" and "22 kW" stays text; the INSEE code stays a code."""
    _, t = converted["irve_consolidation_2019_head.csv"]
    assert t.num_rows == 3984
    first = rows(t)[0]
    assert first["date_maj"] == dt.date(2019, 10, 7)
    assert first["code_insee"] == "13028" and first["id_station"] == "FR*M13*P13028*001"
    assert first["Xlongitude"] == "5.608585" and first["nbre_pdc"] == 2
    assert "à définir" in set(t.column("Xlongitude").to_pylist())
    assert "22 kW" in set(t.column("puiss_max").to_pylist())
    assert "accessibilité" in t.column_names


def test_irve_schema_v2_sample(converted: dict[str, tuple[TableResult, pa.Table]]) -> None:
    """IRVE v2: false/true booleans, ISO dates, timestamps with offsets (UTC), addresses with commas."""
    _, t = converted["irve_schema_v2_sample.csv"]
    assert t.num_rows == 100
    first = rows(t)[0]
    assert first["adresse_station"] == "93 route de Bitche, 67506 Haguenau Cedex"
    assert first["coordonneesXY"] == "[7.76269400,48.82561300]"
    assert first["prise_type_2"] is True and first["prise_type_ef"] is False
    assert first["date_mise_en_service"] == dt.date(2020, 7, 25)
    assert first["last_modified"] == dt.datetime(2026, 4, 1, 21, 0, 20, 519000, tzinfo=dt.UTC)
    assert first["puissance_nominale"] == 22.0 and first["nbre_pdc"] == 4
    assert types(t)["siren_amenageur"] == "string" and types(t)["code_insee_commune"] == "string"


def test_joconde_musees_sample(converted: dict[str, tuple[TableResult, pa.Table]]) -> None:
    """Joconde: '|' delimiter with ';' inside quoted values; inventory numbers keep their leading zero;
    oui/non booleans; "1989 déposé" stays text."""
    res, t = converted["joconde_musees_sample.csv"]
    assert res.detected["delimiter"] == "|" and t.num_rows == 100
    first = rows(t)[0]
    assert first["Reference"] == "09880004639"
    assert first["Domaine"] == "archéologie;gallo-romain;numismatique"
    assert first["Presence_image"] is False
    assert first["Date_de_depot"] == "1989 déposé"
    assert first["Date_creation"] == dt.date(1999, 10, 7)


def test_meteofrance_mn_07_sample(converted: dict[str, tuple[TableResult, pa.Table]]) -> None:
    """Météo-France: station 07005001 keeps its zero; rain 0.0 is a float; the quality code is a number."""
    _, t = converted["meteofrance_mn_07_sample.csv"]
    first = rows(t)[0]
    assert first == {
        "NUM_POSTE": "07005001",
        "NOM_USUEL": "ALBA LA ROMAINE",
        "LAT": 44.539833,
        "LON": 4.5825,
        "ALTI": 223,
        "AAAAMMJJHHMN": 202501010000,
        "RR": 0.0,
        "QRR": 9,
    }


def test_spm_ferry_passengers_trailing_seps(converted: dict[str, tuple[TableResult, pa.Table]]) -> None:
    """Every data row ends with an extra ';' (the header does not): no phantom column; "20240102 00:00:00"
    is a timestamp; the header's U+FFFD (damaged before publication) is kept as published."""
    _, t = converted["spm_ferry_passengers_trailing_seps.csv"]
    assert t.num_columns == 8 and t.num_rows == 7
    first = rows(t)[0]
    assert first["Nombre passagers"] == 1 and first["Code croisiere"] == "STP-MIQ"
    assert first["Date"] == dt.datetime(2024, 1, 2, 0, 0) and first["Heure"] == 1700
    assert "Gare d\ufffdpart" in t.column_names


def test_ssmsi_delinquance_departements_2022(converted: dict[str, tuple[TableResult, pa.Table]]) -> None:
    """SSMSI: UTF-8 BOM, ';', decimal commas with many digits; département codes "01" and "2A" stay text."""
    res, t = converted["ssmsi_delinquance_departements_2022.csv"]
    assert res.detected["bom"] is True and t.num_rows == 9898
    assert t.column_names[0] == "classe"
    first = rows(t)[0]
    assert first["Code.département"] == "01" and first["Code.région"] == "84"
    assert first["LOG"] == pytest.approx(308491.1600513844)
    assert math.isclose(first["tauxpourmille"], 2.25085170536868073)
    assert first["faits"] == 1437 and first["POP"] == 638425
    assert "2A" in set(t.column("Code.département").to_pylist())


def test_waterpermits_mojibake_replacement_chars(converted: dict[str, tuple[TableResult, pa.Table]]) -> None:
    """Decimal commas 97,4 and 1947,40; the 5 empty unnamed trailing columns are dropped; text already
    damaged into U+FFFD before publication is kept as is (nothing to repair)."""
    _, t = converted["waterpermits_mojibake_replacement_chars.csv"]
    assert t.num_columns == 6 and t.num_rows == 12
    first = rows(t)[0]
    assert first["Volume (m3)"] == 97.4 and first["Montant (?)"] == 1947.4
    assert first["D\ufffdpartement de d\ufffdpart"] == "VOSGES (88)"
    assert rows(t)[2]["Volume (m3)"] == 69.557


def test_yffiniac_salles_bom_inside_quotes(converted: dict[str, tuple[TableResult, pa.Table]]) -> None:
    """The BOM inside the first quoted header is not part of the name; "CAPACITE " keeps its published
    trailing space (its snake_case name is "capacite"); ranges "150-200" keep the column as text; the stray
    BOM on the last line is not a row."""
    res, t = converted["yffiniac_salles_bom_inside_quotes.csv"]
    assert t.column_names[:3] == ["SALLE", "LOCALISATION", "CAPACITE "]
    assert t.num_rows == 7
    assert rows(t)[1]["CAPACITE "] == "150-200" and rows(t)[0]["OPTION"] == "gazinière, four et réfrigérateur"
    meta = json.loads(res.schema.metadata[b"harvester.columns"])
    assert meta[2]["snake_name"] == "capacite"
