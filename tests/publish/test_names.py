"""CKAN names and tags: valid, deterministic, stable, collision-safe."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harvester.publish.names import (
    NAME_RE,
    clean_tag,
    clean_tags,
    dataset_name,
    fallback_name,
    resource_id,
    slugify,
)


def test_readable_and_deterministic() -> None:
    name = dataset_name("datasud", "5c3e0f1a-uuid", "Qualité de l’Air à Nice")
    assert name.startswith("datasud-qualite-de-l-air-a-nice-") and NAME_RE.match(name)
    assert name == dataset_name("datasud", "5c3e0f1a-uuid", "Qualité de l’Air à Nice")


def test_slugs_that_clean_alike_still_differ() -> None:
    # same readable part, different identities: the hash suffix keeps them apart
    assert dataset_name("a", "X_1") != dataset_name("a", "x_1")
    assert dataset_name("a", "b-c") != dataset_name("a-b", "c")
    assert dataset_name("s", "1", "même") != dataset_name("s", "2", "même")


def test_fallback_differs_and_depends_on_pipeline() -> None:
    assert fallback_name("sud", "s", "1") != dataset_name("s", "1")
    assert fallback_name("sud", "s", "1") != fallback_name("nord", "s", "1")
    assert NAME_RE.match(fallback_name("sud", "s", "1" * 300))


def test_long_and_empty_inputs() -> None:
    long = dataset_name("source", "x" * 500)
    assert len(long) == 100 and NAME_RE.match(long)
    assert NAME_RE.match(dataset_name("s", "???", "!!!"))
    assert slugify("  --Été 2024 / Données--  ") == "ete-2024-donnees"


@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=300), st.none() | st.text(max_size=200))
def test_always_a_valid_ckan_name(source: str, remote: str, slug: str | None) -> None:
    assert NAME_RE.match(dataset_name(source, remote, slug))
    assert NAME_RE.match(fallback_name("p", source, remote, slug))


def test_tags_are_cleaned_to_what_ckan_accepts() -> None:
    assert clean_tag("Qualité de l'air") == "Qualité de l air"
    assert clean_tag("pollution/ozone (O3)") == "pollution ozone O3"
    assert clean_tag("x") is None and clean_tag("  !! ") is None
    assert clean_tag("a" * 150) == "a" * 100
    assert clean_tags(["Eau", "eau", "EAU potable", "", "é"]) == ["Eau", "EAU potable"]


@given(st.text(max_size=200))
def test_any_keyword_gives_a_valid_tag_or_none(keyword: str) -> None:
    import re

    tag = clean_tag(keyword)
    assert tag is None or (2 <= len(tag) <= 100 and re.fullmatch(r"[\w \-.]*", tag))


def test_resource_ids_are_stable_uuids() -> None:
    a = resource_id("sud", "datasud:1:r1")
    assert a == resource_id("sud", "datasud:1:r1") and len(a) == 36
    assert a != resource_id("nord", "datasud:1:r1") and a != resource_id("sud", "datasud:1:r2")
