"""The CKAN harvest of the issue's shape, 10,000 heavy package dicts, served by the real CKAN 2.12 testbed.

The `ckan_harvest` section serves the heavy set from a small Python server in the bench process: it answers a
`package_show` in about half a millisecond, so `ckanapi dump`, which sends one per dataset, is measured against a
server far quicker than any CKAN. Here the same heavy set (tests/portals/ckan_heavy.py) is loaded into the testbed
with `ckanapi load datasets` (untimed setup). Vanilla CKAN keeps no top-level field that its schema does not know,
so DataSud's ckanext-scheming fields become extras with the same values, as on a portal without scheming; the
package dicts CKAN serves stay as heavy (their mean size is in the table). Then both tools read the whole testbed
(`bench/ckan_real.py`), and everything loaded is purged.

Needs the testbed (`make ckan-up`); BENCH_CKAN_REAL_HEAVY_DATASETS changes the number of datasets.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import requests
from ckanapi import RemoteCKAN

from bench import ckan_real
from bench.publish import URL, ServerLog, ckanapi_load, purge, start
from tests.portals.ckan_heavy import build_heavy_packages, size_summary

N = int(os.environ.get("BENCH_CKAN_REAL_HEAVY_DATASETS", "10000"))

# what package_create takes as is; everything else CKAN computes (ids, dates, counts) or drops
_CORE = {
    "author",
    "author_email",
    "license_id",
    "maintainer",
    "maintainer_email",
    "name",
    "notes",
    "title",
    "url",
    "version",
}
_COMPUTED = {
    "id",
    "revision_id",
    "creator_user_id",
    "metadata_created",
    "metadata_modified",
    "organization",
    "owner_org",
    "groups",  # the recorded portals' groups do not exist in the testbed
    "num_resources",
    "num_tags",
    "isopen",
    "license_title",
    "relationships_as_object",
    "relationships_as_subject",
    "state",
    "type",
    "private",
}
# url_type "upload" would make CKAN serve its own download URL instead of the resource's
_RESOURCE_COMPUTED = {
    "id",
    "package_id",
    "position",
    "revision_id",
    "created",
    "metadata_modified",
    "state",
    "url_type",
}


def create_dict(pkg: dict[str, Any], org: str, suffix: str) -> dict[str, Any]:
    """A heavy package dict as `package_create` input for a CKAN without ckanext-scheming: the core fields, the
    resources and tags as they are, and each other field (scheming's) as an extra, JSON-encoded unless a string.
    `suffix` keeps the names apart from another run's."""
    out: dict[str, Any] = {k: pkg[k] for k in _CORE if k in pkg}
    out["name"] = f"{pkg['name'][: 100 - len(suffix) - 1]}-{suffix}"
    out.update(owner_org=org, private=False)
    extras = [{"key": e["key"], "value": e["value"]} for e in pkg.get("extras") or []]
    taken = {e["key"] for e in extras}
    for key, value in pkg.items():
        if key in _CORE or key in _COMPUTED or key in {"extras", "resources", "tags"} or key in taken:
            continue
        if value is not None:
            extras.append({"key": key, "value": value if isinstance(value, str) else json.dumps(value)})
    out["extras"] = extras
    out["resources"] = [
        {k: v for k, v in r.items() if k not in _RESOURCE_COMPUTED} for r in pkg.get("resources") or []
    ]
    out["tags"] = [{"name": t["name"]} for t in pkg.get("tags") or []]
    return out


def load(
    packages: list[dict[str, Any]], org: str, suffix: str, work: Path, token: str, names: list[str]
) -> float:
    """Create `org` and the packages in it with `ckanapi load datasets`: seconds. Their names are appended to
    `names` before anything is created, so that a load that fails half-way is still purged."""
    jsonl = work / "heavy.jsonl"
    with jsonl.open("w", encoding="utf-8") as fh:
        for pkg in packages:
            d = create_dict(pkg, org, suffix)
            names.append(d["name"])
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    RemoteCKAN(URL, apikey=token).action.organization_create(name=org)
    seconds = ckanapi_load(jsonl, token)
    jsonl.unlink()
    return seconds


def _count(owner_org: str) -> int:
    """Datasets in the organisation of id `owner_org`, by CKAN's search."""
    r = requests.get(
        f"{URL}/api/3/action/package_search", params={"fq": f"owner_org:{owner_org}", "rows": 0}, timeout=30
    )
    r.raise_for_status()
    return int(r.json()["result"]["count"])


def run(out_dir: Path) -> str:
    token, work, tag = start(out_dir, "ckan_real_heavy")
    org = f"bench-heavy-{tag}"
    packages = build_heavy_packages(N)
    sizes = size_summary(packages)
    api = RemoteCKAN(URL, apikey=token)
    names: list[str] = []
    try:
        load_s = load(packages, org, tag, work, token, names)
        org_id = api.action.organization_show(id=org)["id"]
        loaded = _count(org_id)
        if loaded != N:
            raise RuntimeError(f"ckanapi load created {loaded} of {N} datasets in {org}")
        real = ckan_real.measure(URL, work / "real", ServerLog().actions)
    finally:
        purge_s = purge(api, names, [org])
        shutil.rmtree(work, ignore_errors=True)
    heading = f"CKAN harvest of {N:,} heavy package dicts from the real CKAN 2.12 testbed"
    intro = (
        f"The heavy set of the `ckan_harvest` section (generated mean {sizes['mean'] / 1000:.1f} KB of JSON, "
        f"p95 {sizes['p95'] / 1000:.1f} KB, max {sizes['max'] / 1000:.0f} KB), scheming fields as extras, loaded "
        f"into the testbed at {URL} by `ckanapi load datasets -p 4` in {load_s:.0f} s (setup, untimed); CKAN "
        f"serves it at a mean of {real.dump_bytes / 1000:.1f} KB per package dict (`ckanapi dump`'s lines). Both "
        f"tools read the whole testbed; then the {len(names):,} datasets are purged ({purge_s:.0f} s)."
    )
    return f"## ckan_real_heavy: {N:,} heavy datasets in a real CKAN\n" + ckan_real.table(
        real, URL, heading, intro, goal=5.0
    )
