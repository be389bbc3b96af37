"""The look-alike guard: similar titles of one publisher that name different datasets are not merged."""

from __future__ import annotations

import pytest

from harvester.merge.lookalike import lookalike, title_key
from harvester.merge.rules import MergeRecord


def rec(title: str, publisher: str = "Ville de Nice", source: str = "a") -> MergeRecord:
    return MergeRecord(
        key=f"{source}:{title}",
        source_id=source,
        remote_id=title,
        title=title,
        publisher=publisher,
        source_host=f"{source}.example.org",
        source_type="ckan",
        source_rank=0,
    )


@pytest.mark.parametrize(
    ("a", "b", "why"),
    [
        ("Budget primitif 2022", "Budget primitif 2023", "numbers differ"),
        ("Marché de travaux de voirie - Lot 3", "Marché de travaux de voirie - Lot 4", "numbers differ"),
        ("Budget primitif", "Budget primitif 2023", "numbers differ"),
        ("PLU de Nice", "PLU de Nîmes", "words differ"),
        (
            "points d'apport volontaire du verre grasse",
            "points d'apport volontaire du verre gréasque",
            "words differ",
        ),
        (
            "Résultats des élections législatives 2017",
            "Résultats des élections présidentielles 2017",
            "words differ",
        ),
        ("Liste des écoles publiques", "Liste des écoles privées", "words differ"),
        ("Arbres d'alignement", "Arbres d'alignement de Cannes", "words differ"),
    ],
)
def test_title_rule_refuses_lookalikes(a: str, b: str, why: str) -> None:
    reason = lookalike(rec(a), rec(b, source="b"), strict=True)
    assert reason is not None and reason.startswith(why)


@pytest.mark.parametrize(
    ("a", "b", "pub_b"),
    [
        ("Budget primitif 2022", "BUDGET PRIMITIF 2022", "Ville de Nice"),
        ("Qualité de l'eau à Nice", "Qualite de l’eau a Nice.", "Mairie de Nice"),
        ("Ville de Nice : Bureaux de vote", "Bureaux de vote", "Ville de Nice"),
        ("Bureaux de vote - Ville de Nice", "Bureaux de vote", "VILLE DE NICE"),
        ("Subventions aux associations 2019", "Subvention aux association 2019", "Ville de Nice"),
        ("PLU de Saint-Paul-de-Vence", "PLU de SaintPaul-de-Vence", "Ville de Nice"),
    ],
)
def test_title_rule_accepts_rewritten_titles(a: str, b: str, pub_b: str) -> None:
    assert lookalike(rec(a), rec(b, pub_b, source="b"), strict=True) is None


def test_shared_files_accept_a_cut_title_but_not_a_contradiction() -> None:
    full = rec("Résultats des élections législatives 2017 à Rennes Tour 2 - Dataviz", "Ville de Rennes")
    cut = rec("Résultats des élections législatives 2017 à R…", "Ville de Rennes", source="b")
    assert lookalike(full, cut, strict=False) is None
    assert (
        lookalike(full, cut, strict=True) is not None
    )  # without shared files, the title alone is not enough
    assert lookalike(
        rec("BP 2017 - budgets annexes"), rec("BP 2018 - budgets annexes", source="b"), strict=False
    )
    dept = "Département des Alpes-Maritimes"
    assert lookalike(rec("Cadastre de Nice", dept), rec("Cadastre de Cannes", dept, source="b"), strict=False)


def test_title_key_leaves_the_publisher_out() -> None:
    assert title_key(rec("Ville de Nice : Bureaux de vote")) == "bureaux vote"
    assert title_key(rec("PLU de Nîmes")) == "plu nimes"
    assert title_key(rec("Ville de Nice")) == "ville de nice"  # nothing left: the whole title
