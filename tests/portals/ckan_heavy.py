"""Heavy CKAN package dicts: the real recorded packages (tests/fixtures/ckan/basic) grown the way a scheming portal's
are, to a size distribution with a mean of about 3.7 KB of JSON and a tail up to about 48 KB.

Everything is cloned from real material: the packages' own resources, extras, tags, groups and notes, and the
fields, choices and labels of DataSud's ckanext-scheming schema (tests/fixtures/ckan/scheming). Only ids, names,
titles, dates and the choice made among real values vary.
"""

from __future__ import annotations

import copy
import json
import math
import random
import statistics
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.portals.ckan_portal import LICENCES, ORGS, real_packages

SCHEMING = (
    Path(__file__).parent.parent
    / "fixtures"
    / "ckan"
    / "scheming"
    / "datasud_ckanext_scheming_ckan_dataset.json"
)
MAX_BYTES = 48_000


def _schema() -> dict[str, Any]:
    return json.loads(SCHEMING.read_text())


def _choices(fields: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {f["field_name"]: [c["value"] for c in f["choices"]] for f in fields if f.get("choices")}


def _size(value: Any) -> int:
    return len(json.dumps(value))


def _target_sizes(n: int, rnd: random.Random) -> list[int]:
    """Log-normal body (median ≈ 3.1 KB) with a Pareto tail on 2 % of the packages, capped at MAX_BYTES."""
    out = []
    for _ in range(n):
        if rnd.random() < 0.006:
            size = 10000 * rnd.paretovariate(1.0)
        else:
            size = math.exp(rnd.gauss(math.log(2200), 0.3))
        out.append(int(min(size, MAX_BYTES)))
    return out


class _Material:
    """The real pieces heavy packages are grown from."""

    def __init__(self) -> None:
        schema = _schema()
        self.packages = real_packages()
        self.ds_fields = schema["dataset_fields"]
        self.res_fields = schema["resource_fields"]
        self.ds_choices = _choices(self.ds_fields)
        self.res_choices = _choices(self.res_fields)
        self.resources = [r for p in self.packages for r in p.get("resources") or []]
        self.extras = [e for p in self.packages for e in p.get("extras") or []]
        self.tags = [t for p in self.packages for t in p.get("tags") or []]
        self.groups = [g for p in self.packages for g in p.get("groups") or []]
        # Paragraphs of notes: the packages' notes and the group descriptions, and the schema's labels as headings
        self.paragraphs = [p["notes"] for p in self.packages if p.get("notes")] + [
            g["description"] for g in self.groups if g.get("description")
        ]
        self.labels = [f["label"] for f in self.ds_fields + self.res_fields if f.get("label")]
        self.tag_words = sorted(
            {t["name"] for t in self.tags}
            | {str(v) for vs in self.ds_choices.values() for v in vs if v}
            | {str(v) for vs in self.res_choices.values() for v in vs if v}
        )


def _scheming_fields(pkg: dict[str, Any], m: _Material, rnd: random.Random, when: datetime) -> None:
    """The DataSud scheming dataset fields, with values among the schema's choices."""
    for name, values in m.ds_choices.items():
        if name == "datatype":  # multiple_checkbox
            pkg[name] = rnd.sample(values, rnd.randint(1, len(values)))
        else:
            pkg[name] = rnd.choice(values)
    day = when.date().isoformat()
    pkg["dataset_creation_date"] = day
    pkg["dataset_publication_date"] = day
    pkg["dataset_modification_date"] = day
    pkg["inspire_url"] = f"{pkg['url'] or 'https://example.org'}/inspire/{pkg['name']}"
    pkg["remote_url"] = pkg["url"] or None
    pkg["thumbnail"] = next((g["image_display_url"] for g in m.groups if g.get("image_display_url")), None)
    spatial = next((e["value"] for e in m.extras if e["key"] == "spatial"), None)
    pkg["spatial"] = spatial
    pkg["support"] = rnd.choice([v for v in m.ds_choices.get("support", [None]) if v] or [None])


def _resource(pkg: dict[str, Any], j: int, m: _Material, rnd: random.Random) -> dict[str, Any]:
    r = copy.deepcopy(m.resources[rnd.randrange(len(m.resources))])
    r["id"] = f"{pkg['id'][:8]}-res-{j}"
    r["package_id"] = pkg["id"]
    r["position"] = j
    r["url"] = f"{r['url'].rstrip('/')}/{pkg['name']}/{j}"
    for name, values in m.res_choices.items():
        r[name] = rnd.choice(values)
    r["crs"] = rnd.choice(["EPSG:2154", "EPSG:4326", "EPSG:3857"])
    if r["data_type"] == "service":  # the OGC endpoints of the scheming `api` composite, as a JSON string
        subfields = next(f["subfields"] for f in m.res_fields if f["field_name"] == "api")
        ows = "/".join(r["url"].split("/")[:3]) + "/ows"
        r["api"] = json.dumps(
            {s["field_name"]: f"{ows}?layer={pkg['name']}&{s['field_name']}" for s in subfields}
        )
    r["restricted"] = json.dumps({"level": "public", "allowed_users": ""})
    return r


def _paragraph(m: _Material, rnd: random.Random) -> str:
    return f"## {rnd.choice(m.labels)}\n\n{rnd.choice(m.paragraphs)}\n\n* {rnd.choice(m.paragraphs)}\n"


def _tag(m: _Material, rnd: random.Random, k: int) -> dict[str, Any]:
    t = copy.deepcopy(m.tags[rnd.randrange(len(m.tags))])
    word = f"{rnd.choice(m.tag_words)}-{k}"
    t.update(name=word, display_name=word, id=str(uuid.UUID(int=rnd.getrandbits(128), version=4)))
    return t


def _extra(m: _Material, rnd: random.Random, k: int) -> dict[str, Any]:
    e = copy.deepcopy(m.extras[rnd.randrange(len(m.extras))])
    e["key"] = f"{e['key']}-{k}"
    return e


def build_heavy_packages(n: int, seed: int = 13) -> list[dict[str, Any]]:
    """`n` heavy packages (see the module docstring), deterministic for a seed."""
    rnd = random.Random(seed)
    m = _Material()
    targets = _target_sizes(n, rnd)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    out = []
    for i, target in enumerate(targets):
        p = copy.deepcopy(m.packages[i % len(m.packages)])
        when = start + timedelta(minutes=7 * i)
        p["id"] = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        p["name"] = f"{p['name'][:80]}-{i}"
        p["title"] = f"{p.get('title') or p['name']} #{i}"
        p["metadata_modified"] = when.strftime("%Y-%m-%dT%H:%M:%S.%f")
        p["license_id"] = LICENCES[i % len(LICENCES)]
        org_name, org_title = ORGS[i % len(ORGS)]
        p["organization"] = {"name": org_name, "title": org_title, "id": org_name}
        _scheming_fields(p, m, rnd, when)
        p["resources"] = [_resource(p, 0, m, rnd)]
        p["tags"] = [_tag(m, rnd, k) for k in range(len(p.get("tags") or []))]
        size = _size(p)
        k = 0
        while size < target:  # grow in the proportions of a real heavy package
            step = k % 6
            if step in (0, 3):
                r = _resource(p, len(p["resources"]), m, rnd)
                p["resources"].append(r)
                size += _size(r) + 2
            elif step == 1:
                note = _paragraph(m, rnd)
                p["notes"] = (p.get("notes") or "") + "\n\n" + note
                size += _size(note)
            elif step in (2, 4):
                t = _tag(m, rnd, k)
                p["tags"].append(t)
                size += _size(t) + 2
            else:
                e = _extra(m, rnd, k)
                p.setdefault("extras", []).append(e)
                size += _size(e) + 2
            k += 1
        p["num_resources"] = len(p["resources"])
        p["num_tags"] = len(p["tags"])
        out.append(p)
    return out


def size_summary(packages: list[dict[str, Any]]) -> dict[str, float]:
    """Mean, p50, p95 and max of the packages' JSON sizes, in bytes."""
    sizes = sorted(_size(p) for p in packages)
    q = statistics.quantiles(sizes, n=100)
    return {"mean": statistics.fmean(sizes), "p50": q[49], "p95": q[94], "max": sizes[-1]}
