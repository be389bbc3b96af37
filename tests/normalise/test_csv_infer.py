"""The French type inference as a function (used for XLSX/ODS/JSON values) and column-name normalisation."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from harvester.normalise.infer import ColumnPlan, infer_and_cast, infer_column, snake_case


@pytest.mark.parametrize(
    ("name", "snake"),
    [
        ("Code.département", "code_departement"),
        ("Montant (€)", "montant"),
        ("nbPlaces", "nb_places"),
        ("CAPACITE ", "capacite"),
        ("\ufeffSALLE", "salle"),
        ("Cœur de ville", "coeur_de_ville"),
        ("2019", "_2019"),
        ("", "column"),
        ("Nom de l'opérateur", "nom_de_l_operateur"),
        ("AAAAMMJJHHMN", "aaaammjjhhmn"),
    ],
)
def test_snake_case(name: str, snake: str) -> None:
    assert snake_case(name) == snake


def test_infer_and_cast_types_text_columns_and_keeps_others() -> None:
    table = pa.table(
        {
            "code": ["01001", "2A004", None],
            "montant": ["1 234,5", "12", "NA"],
            "date": ["01/02/2020", "2020-03-04", ""],
            "ok": ["Oui", "non", None],
            "déjà": pa.array([1.5, 2.5, None]),
            "libre": ["texte", "12", "1,5"],
        }
    )
    out = infer_and_cast(table)
    assert {f.name: str(f.type) for f in out.schema} == {
        "code": "string",
        "montant": "double",
        "date": "date32[day]",
        "ok": "bool",
        "déjà": "double",
        "libre": "string",
    }
    assert out.column("montant").to_pylist() == [1234.5, 12.0, None]
    assert out.column("date").to_pylist() == [dt.date(2020, 2, 1), dt.date(2020, 3, 4), None]
    assert out.column("ok").to_pylist() == [True, False, None]
    assert out.column("code").to_pylist() == ["01001", "2A004", None]
    meta = json.loads(out.schema.metadata[b"harvester.columns"])
    assert [m["snake_name"] for m in meta] == ["code", "montant", "date", "ok", "deja", "libre"]
    assert meta[1]["kind"] == "float" and meta[1]["decimal"] == ","


def test_infer_and_cast_keeps_text_when_a_cell_does_not_fit() -> None:
    table = pa.table({"n": ["1", "2", "31/04/2020"], "d": ["31/04/2020", "01/01/2020", None]})
    out = infer_and_cast(table)
    assert out.column("n").to_pylist() == ["1", "2", "31/04/2020"]
    assert out.column("d").to_pylist() == ["31/04/2020", "01/01/2020", None]


@pytest.mark.parametrize(
    ("values", "plan"),
    [
        (["1", "2", "-3"], ColumnPlan("int")),
        (["1 000", "12"], ColumnPlan("int", thousands=" \u00a0\u202f")),
        (["1.234.567", "12"], ColumnPlan("int", thousands=".")),
        (["0,5", "1 234,25"], ColumnPlan("float", decimal=",", thousands=" \u00a0\u202f")),
        (["48.454903", "-2.05"], ColumnPlan("float", decimal=".")),
        (["0.250", "1.500"], ColumnPlan("float", decimal=".")),  # 0.250 is never a thousands grouping
        (["oui", "non"], ColumnPlan("bool")),
        (["O", "N"], ColumnPlan("bool")),
        (["01/02/2020", "2020-02-01"], ColumnPlan("date", formats=("%d/%m/%Y", "ISO"))),
    ],
)
def test_infer_column(values: list[str], plan: ColumnPlan) -> None:
    assert infer_column(pa.array(values)) == plan


@pytest.mark.parametrize(
    ("values", "name", "reason"),
    [
        (["01000", "75001"], "x", "leading zeros"),
        (["75056", "13055"], "code_commune", "code column (name)"),
        (["552100554", "732829320"], "x", "SIREN/SIRET"),
        (["12345678901234567890"], "x", "too long for an integer"),
        (["1,5", "2.5"], "x", "mixed decimal marks"),
    ],
)
def test_codes_and_ambiguities_stay_text(values: list[str], name: str, reason: str) -> None:
    plan = infer_column(pa.array(values), name)
    assert plan.kind == "string" and plan.reason == reason
