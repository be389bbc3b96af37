"""Distinct datasets that look alike: one publisher, one title, another year, territory, number or word.

Templates are titles French local authorities publish; each instance is a pair of distinct datasets. The words
differ in ways a title similarity can't see (a digit, a town, one word of a long title).
"""

from __future__ import annotations

import random
import re

from tests.merge.eval.corpus import Source

LOCAL_PORTALS = (
    Source("nca-ckan", "ckan", "https://opendata.nicecotedazur.org"),
    Source("amp-ods", "opendatasoft", "https://data.ampmetropole.fr"),
    Source("var-dcat", "dcat", "https://www.var.fr/opendata/catalog.rdf"),
)
PUBLISHERS = (
    "Ville de Nice",
    "Métropole Nice Côte d'Azur",
    "Ville de Marseille",
    "Métropole Aix-Marseille-Provence",
    "Commune de Vence",
    "Département du Var",
    "Région Sud",
    "Ville de Nîmes",
    "Ville d'Antibes Juan-les-Pins",
    "Communauté d'agglomération Sophia Antipolis",
    "Commune de Saint-Laurent-du-Var",
    "Syndicat mixte des transports des Alpes-Maritimes",
)
YEAR = (
    "Budget primitif {y}",
    "Compte administratif {y}",
    "Subventions versées aux associations en {y}",
    "Délibérations du conseil municipal - {y}",
    "Résultats des élections municipales {y}",
    "Comptages vélo {y}",
    "Taxe de séjour : recettes {y}",
    "Marchés publics attribués en {y}",
    "Rapport annuel sur le prix et la qualité du service de l'eau {y}",
    "Accidents corporels de la circulation {y}",
    "Fréquentation des piscines municipales {y}",
    "Naissances enregistrées à l'état civil en {y}",
    "BP {y} - Budget principal",
    "Orthophotographie {y} à 20 cm",
)
TERRITORY = (
    "PLU de {t}",
    "Plan local d'urbanisme de {t}",
    "Cadastre de {t}",
    "Horaires des déchèteries de {t}",
    "Qualité de l'eau potable à {t}",
    "Bureaux de vote de {t}",
    "Zones de stationnement payant - {t}",
    "Points d'apport volontaire du verre {t}",
    "Arrêts de bus de la commune de {t}",
    "Défibrillateurs présents sur la commune de {t}",
)
TOWNS = (
    ("Nice", "Nîmes"),
    ("Vence", "Venelles"),
    ("Antibes", "Cannes"),
    ("Saint-Paul-de-Vence", "Saint-Paul-lès-Durance"),
    ("Aix-en-Provence", "Aix-les-Bains"),
    ("Toulon", "Toulouse"),
    ("Martigues", "Marignane"),
    ("Digne-les-Bains", "Draguignan"),
    ("Grasse", "Gréasque"),
    ("Carpentras", "Cavaillon"),
    ("Saint-Raphaël", "Saint-Tropez"),
    ("la Ciotat", "la Seyne-sur-Mer"),
    ("Cagnes-sur-Mer", "Villeneuve-Loubet"),
    ("Menton", "Monaco"),
)
NUMBER = (
    "Marché de travaux de voirie - Lot {n}",
    "Lot {n} : maintenance des ascenseurs",
    "Secteur {n} - collecte des ordures ménagères",
    "Résultats du 1er tour - circonscription {n}",
    "Marseille {n}e arrondissement - équipements sportifs",
    "Ligne {n} - horaires théoriques",
    "Zone {n} du plan de prévention des risques d'inondation",
    "Tranche {n} des travaux du tramway",
)
WORD = (
    ("Budget primitif {y}", "Compte administratif {y}"),
    ("Résultats des élections législatives {y} à Nice", "Résultats des élections présidentielles {y} à Nice"),
    ("Arrêtés temporaires de circulation", "Arrêtés permanents de circulation"),
    ("Liste des écoles publiques", "Liste des écoles privées"),
    ("Stationnement vélo", "Stationnement moto"),
    ("Naissances {y}", "Décès {y}"),
    ("Budget primitif {y} - budget principal", "Budget primitif {y} - budgets annexes"),
    ("Équipements sportifs couverts", "Équipements sportifs de plein air"),
)


def pairs(rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(kind, publisher, title A, title B) of the template look-alikes."""
    out: list[tuple[str, str, str, str]] = []
    for tpl in YEAR:
        y = rng.randrange(2012, 2024)
        out.append(("year", rng.choice(PUBLISHERS), tpl.format(y=y), tpl.format(y=y + rng.choice((1, 1, 2)))))
        out.append(("year", rng.choice(PUBLISHERS), tpl.format(y=y - 3), tpl.format(y=y - 4)))
    for tpl in TERRITORY:
        for a, b in rng.sample(TOWNS, 3):
            lower = rng.random() < 0.25  # some portals write the whole title in lower case
            ta, tb = tpl.format(t=a), tpl.format(t=b)
            out.append(
                (
                    "territory",
                    rng.choice(PUBLISHERS),
                    ta.lower() if lower else ta,
                    tb.lower() if lower else tb,
                )
            )
    for tpl in NUMBER:
        n = rng.randrange(1, 9)
        out.append(("number", rng.choice(PUBLISHERS), tpl.format(n=n), tpl.format(n=n + 1)))
        out.append(("number", rng.choice(PUBLISHERS), tpl.format(n=n + 3), tpl.format(n=n + 5)))
    for a, b in WORD:
        y = rng.randrange(2015, 2024)
        out.append(("word", rng.choice(PUBLISHERS), a.format(y=y), b.format(y=y)))
    return out


_YEAR = re.compile(r"\b(19[5-9]\d|20[0-4]\d)\b")
_NUM = re.compile(r"\b\d{1,3}\b")


def shifted(title: str, rng: random.Random) -> tuple[str, str] | None:
    """The title of another dataset of a series (another year, else another number); None when it has none."""
    if m := _YEAR.search(title):
        year = int(m.group(0)) + rng.choice((-1, 1, 2))
        return f"{title[: m.start()]}{year}{title[m.end() :]}", "year"
    if m := _NUM.search(title):
        num = int(m.group(0)) + rng.choice((1, 2))
        return f"{title[: m.start()]}{num}{title[m.end() :]}", "number"
    return None
