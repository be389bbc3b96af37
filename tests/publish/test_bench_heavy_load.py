"""The bench's heavy CKAN set loaded into the real testbed (bench/ckan_real_heavy.py) stays the heavy set: every
scheming field comes back as an extra with its value, and CKAN serves package dicts as large as the generated ones."""

from __future__ import annotations

import json
from pathlib import Path

from bench import ckan_real_heavy
from tests.portals.ckan_heavy import build_heavy_packages
from tests.publish.conftest import CKAN_URL, CkanTestbed, unique


def test_the_heavy_set_keeps_every_field_once_loaded_into_a_vanilla_ckan(
    ckan: CkanTestbed, tmp_path: Path
) -> None:
    assert ckan_real_heavy.URL == CKAN_URL
    built = build_heavy_packages(200)
    packages = (
        built[:3] + sorted(built, key=lambda p: len(json.dumps(p)))[-3:]
    )  # the heaviest of the tail too
    org, suffix = unique("bench-heavy-"), unique("h")
    names: list[str] = []
    try:
        ckan_real_heavy.load(packages, org, suffix, tmp_path, ckan.token, names)
        assert len(names) == len(packages)
        for pkg, name in zip(packages, names, strict=True):
            shown = ckan.api.action.package_show(id=name)
            extras = {e["key"]: e["value"] for e in shown["extras"]}
            own = {e["key"] for e in pkg.get("extras") or []}
            for field in (
                "datatype",
                "frequency",
                "granularity",
                "support",
                "inspire_url",
                "dataset_creation_date",
            ):
                want = pkg[field] if isinstance(pkg[field], str) else json.dumps(pkg[field])
                assert extras[field] == want, field
            for field in ("geocover", "remote_url", "spatial", "thumbnail", "license_url"):
                if pkg.get(field) is not None and field not in own:
                    assert extras[field] == pkg[field], field
            for e in pkg.get("extras") or []:
                assert extras[e["key"]] == e["value"]
            assert shown["notes"] == pkg["notes"]
            assert [r["url"] for r in shown["resources"]] == [r["url"] for r in pkg["resources"]]
            assert sorted(t["name"] for t in shown["tags"]) == sorted(t["name"] for t in pkg["tags"])
            assert shown["organization"]["name"] == org
            # as heavy as generated: CKAN adds its own keys, and drops nothing of weight
            assert len(json.dumps(shown)) >= 0.9 * len(json.dumps(pkg))
        assert max(len(p["resources"]) for p in packages) > 1
    finally:
        ckan.purge(set(names), {org})
