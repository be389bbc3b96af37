"""The raw record's values are ordered by their repr; the shortcut for expanded distributions gives that order."""

from __future__ import annotations

import random
from typing import Any

from harvester.connectors.dcat.rdf_terms import _sort_by_repr

IRIS = [
    "http://x/d/1",
    "http://x/d/10",
    "http://x/d/1!",
    "http://x/d/1'",
    'http://x/d/1"',
    "http://x/d/1'\"",
    "http://x/d/\\1",
    "http://x/d/é",
    "http://x/d/1 ",
    "http://x/d/",
]


def _expanded(iri: str, n: int) -> dict[str, Any]:
    return {"@id": iri, "dcat:accessURL": [f"{iri}/{n}"], "dct:title": [{"@value": "T", "@language": "de"}]}


def test_distributions_order_is_the_repr_order() -> None:
    rnd = random.Random(13)
    for _ in range(200):
        values = [_expanded(iri, rnd.randrange(3)) for iri in rnd.sample(IRIS, rnd.randint(2, len(IRIS)))]
        expected = sorted(values, key=repr)
        _sort_by_repr(values)
        assert values == expected and [v["@id"] for v in values] == [v["@id"] for v in expected]


def test_mixed_or_repeated_values_fall_back_to_the_whole_repr() -> None:
    mixed: list[Any] = [
        _expanded("http://x/b", 0),
        "http://x/a",
        {"@bnode": True},
        {"@value": "v", "@language": "fr"},
    ]
    twice = [_expanded("http://x/a", 2), _expanded("http://x/a", 1), _expanded("http://x/a", 0)]
    for values in (mixed, twice):
        expected = sorted(values, key=repr)
        _sort_by_repr(values)
        assert values == expected
