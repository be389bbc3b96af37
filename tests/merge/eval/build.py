"""Build the merge evaluation set: `python -m tests.merge.eval.build` rewrites records.jsonl and pairs.csv here.

Deterministic (seeded). See README.md in this folder for what is in it and how each part was made.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import sys
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

from harvester.merge.keys import host_of, norm_publisher, norm_title
from harvester.records import DatasetRecord
from tests.merge.eval import copies as C
from tests.merge.eval.corpus import Origin, Source, origins
from tests.merge.eval.lookalikes import LOCAL_PORTALS, pairs, shifted
from tests.merge.eval.variants import (
    publisher_variant,
    renamed_publisher,
    retitle,
    strip_accents,
    title_variant,
    url_variant,
)

HERE = Path(__file__).parent
SEED = 20261202
HELDOUT_SHARE = 3  # families whose hash ends in 0..2 (of 10) are held out
SIMILAR = (
    75.0  # distinct pairs of one publisher at least this similar (token_sort_ratio) are labelled look-alikes
)


@dataclass
class Row:
    source: Source
    record: DatasetRecord
    entity: str
    family: str
    kind: str
    origin: str

    @property
    def key(self) -> str:
        return f"{self.source.id}:{self.record.remote_id}"

    def to_json(self, split: str) -> dict[str, Any]:
        r = self.record
        return {
            "key": self.key,
            "split": split,
            "entity": self.entity,
            "kind": self.kind,
            "origin": self.origin,
            "source": {"id": self.source.id, "type": self.source.type, "url": self.source.url},
            "remote_id": r.remote_id,
            "name": r.name,
            "title": r.title,
            "publisher": r.publisher,
            "landing_page": r.landing_page,
            "remote_url": r.remote_url,
            "extras": dict(sorted(r.extras.items())),
            "resources": [x.url for x in r.resources],
        }


def split_of(family: str) -> str:
    return "heldout" if int(hashlib.sha1(family.encode()).hexdigest(), 16) % 10 < HELDOUT_SHARE else "tune"


def _mirror(urls: list[str], host: str, rng: random.Random) -> list[str]:
    """The aggregator stored its own copy of the files: other URLs."""
    return [
        f"https://{host}/resources/{rng.randrange(16**8):08x}/{u.rstrip('/').rsplit('/', 1)[-1] or 'file'}"
        for u in urls
    ]


COPY_KINDS = (  # (kind, weight, target source)
    ("udata_harvest", 5, C.DGOUV),
    ("udata_legacy", 2, C.DGOUV),
    ("ckan_remote_url", 3, C.DATASUD),
    ("ckan_guid", 2, C.DATASUD),
    ("ckan_page", 1, C.DATASUD),
    ("dcat_source", 2, C.EUROPA),
    ("dcat_identifier", 2, C.EUROPA),
    ("ods_federated", 3, C.ODSFED),
    ("same_files", 3, None),
    ("retitled_files", 1, None),
    ("title_only", 2, None),
    ("unlinkable", 0.5, None),
)  # fmt: skip
AGGREGATORS = (C.DGOUV, C.DATASUD, C.EUROPA)


def _copy(kind: str, target: Source, o: Row, rng: random.Random, chain: Row | None) -> DatasetRecord | None:
    rec, src = o.record, o.source
    urls = [r.url for r in rec.resources]
    title, _ = title_variant(rng, rec.title)
    if kind in ("retitled_files", "unlinkable") or (
        kind.startswith(("udata", "ckan", "dcat")) and rng.random() < 0.2
    ):
        title, _ = retitle(rng, rec.title, rec.publisher)
    pub = publisher_variant(rng, rec.publisher)
    if kind in ("same_files", "retitled_files") and not urls or kind == "title_only" and not rec.publisher:
        return None  # nothing that kind of copy could be matched on
    if kind == "unlinkable":
        pub = renamed_publisher(rec.publisher)
    host = host_of(target.url)
    if kind in ("same_files", "retitled_files") or rng.random() < 0.5:
        files = [url_variant(rng, u) for u in urls]
    else:
        files = _mirror(urls, host, rng)
    if kind in ("title_only", "unlinkable"):
        files = _mirror(urls, host, rng)
    domain, rid, page = C.claim(src, rec)
    if chain is not None:  # data.gouv.fr harvested the DataSud copy, not the origin
        domain, rid, page = host_of(chain.source.url), chain.record.remote_id, chain.record.remote_url
    uri = rec.extras.get("uri") or page
    if kind == "udata_harvest":
        return C.udata_copy(rng, title, pub, files, (domain, rid, page))
    if kind == "udata_legacy":
        return C.udata_copy(rng, title, pub, files, (domain, rid, page), legacy=True)
    if kind == "ckan_remote_url":
        return C.ckan_copy(rng, title, pub, files, {"remote_url": page} if page else {}) if page else None
    if kind == "ckan_guid":
        return C.ckan_copy(rng, title, pub, files, {"guid": uri}) if uri and "://" in uri else None
    if kind == "ckan_page":
        return C.ckan_copy(rng, title, pub, files, {}, page=rec.landing_page) if rec.landing_page else None
    if kind == "dcat_source":
        return C.dcat_copy(rng, title, pub, files, dct_source=uri) if uri and "://" in uri else None
    if kind == "dcat_identifier":
        return C.dcat_copy(rng, title, pub, files, identifier=uri) if uri and "://" in uri else None
    if kind == "ods_federated":
        ods = rec.extras.get("ods_domain"), rec.extras.get("ods_dataset_id")
        return C.ods_federated_copy(rng, title, pub, ods[0], ods[1]) if ods[0] and ods[1] else None
    if target.type == "udata":
        return C.udata_copy(rng, title, pub, files, None)
    if target.type == "ckan":
        return C.ckan_copy(rng, title, pub, files, {})
    return C.dcat_copy(rng, title, pub, files)


def copies_of(o: Row, rng: random.Random) -> list[Row]:
    n = rng.choice((1, 1, 2, 2, 3))
    used = {o.source.id} | ({C.DGOUV.id} if o.source.type == "udata" else set())
    out: list[Row] = []
    kinds = list(COPY_KINDS)
    for _ in range(20):
        if len(out) >= n:
            break
        kind, _w, target = rng.choices(kinds, weights=[k[1] for k in kinds])[0]
        if target is None:
            free = [s for s in AGGREGATORS if s.id not in used]
            if not free:
                continue
            target = rng.choice(free)
        if target.id in used:
            continue
        datasud = next((c for c in out if c.source.id == C.DATASUD.id), None)
        chain = datasud if kind.startswith("udata") and datasud and rng.random() < 0.5 else None
        rec = _copy(kind, target, o, rng, chain)
        if rec is None:
            continue
        used.add(target.id)
        suffix = "" if chain is None else "+chain-unlinkable" if "unlinkable" in chain.kind else "+chain"
        out.append(Row(target, rec, o.entity, o.family, f"copy:{kind}{suffix}", "generated"))
    return out


def _local(source: Source, title: str, publisher: str, rng: random.Random) -> DatasetRecord:
    host = host_of(source.url)
    slug = re.sub(r"[^a-z0-9]+", "-", strip_accents(title).lower()).strip("-")
    urls = [f"https://{host}/files/{slug}.csv", f"https://{host}/files/{slug}.geojson"][: rng.choice((1, 2))]
    if source.type == "ckan":
        return C.ckan_copy(rng, title, publisher, urls, {}, source=source)
    if source.type == "opendatasoft":
        item = {
            "dataset_id": slug,
            "dataset_uid": f"da_{C.hex_id(rng, 6)}",
            "metas": {"default": {"title": title, "publisher": publisher}},
            "features": [],
            "attachments": [],
            "fields": [],
        }
        return C.map_payload(source, item)
    return C.dcat_copy(rng, title, publisher, urls, source=source)


def build() -> tuple[list[Row], list[tuple[str, str, str, str]]]:
    rng = random.Random(SEED)
    rows: list[Row] = []
    designated: list[tuple[str, str, str, str]] = []  # (a key, b key, kind, origin)
    real: list[Origin] = origins()
    for o in real:
        base = Row(o.source, o.record, o.entity, o.entity, "origin", o.file)
        rows.append(base)
        rows += copies_of(base, rng)
        sh = shifted(o.record.title, rng)
        if sh and rng.random() < 0.8:  # another dataset of the series, held by an aggregator directly
            title, kind = sh
            target = rng.choice([s for s in AGGREGATORS if s.id != o.source.id])
            urls = _mirror([r.url for r in o.record.resources] or ["x.csv"], host_of(target.url), rng)
            pub = publisher_variant(rng, o.record.publisher)
            rec = (
                C.udata_copy(rng, title, pub, urls, None)
                if target.type == "udata"
                else C.ckan_copy(rng, title, pub, urls, {})
                if target.type == "ckan"
                else C.dcat_copy(rng, title, pub, urls)
            )
            other = Row(
                target, rec, f"{o.entity}~{kind}", o.entity, f"lookalike:{kind}", f"{o.file} (title shifted)"
            )
            rows.append(other)
            designated.append((base.key, other.key, f"lookalike:{kind}", "real title, other year/number"))
    for i, (kind, publisher, ta, tb) in enumerate(pairs(rng)):
        fam = f"tpl{i}"
        a_src = rng.choice(LOCAL_PORTALS)
        b_src = rng.choice([s for s in (*LOCAL_PORTALS, *AGGREGATORS) if s.id != a_src.id])
        a = Row(a_src, _local(a_src, ta, publisher, rng), f"{fam}a", fam, "origin", "generated: template")
        if b_src.type in ("udata", "ckan") and b_src in AGGREGATORS:
            urls = _mirror([f"{ta}.csv"], host_of(b_src.url), rng)
            pub = publisher_variant(rng, publisher)
            brec = (
                C.udata_copy(rng, tb, pub, urls, None)
                if b_src.type == "udata"
                else C.ckan_copy(rng, tb, pub, urls, {})
            )
        else:
            brec = _local(b_src, tb, publisher, rng)
        b = Row(b_src, brec, f"{fam}b", fam, "origin", "generated: template")
        rows += [a, b]
        designated.append((a.key, b.key, f"lookalike:{kind}", "template"))
        rows += copies_of(a, rng)
        if rng.random() < 0.4:
            rows += copies_of(b, rng)
    return rows, designated


def labelled_pairs(rows: list[Row], designated: list[tuple[str, str, str, str]]) -> list[dict[str, str]]:
    split = {r.key: split_of(r.family) for r in rows}
    by_key = {r.key: r for r in rows}
    out: dict[tuple[str, str], dict[str, str]] = {}
    for a, b, kind, how in designated:
        if split[a] == split[b]:
            out[tuple(sorted((a, b)))] = {"label": "distinct", "kind": kind, "reach": "", "how": how}  # type: ignore[index]
    by_split: dict[str, list[Row]] = {}
    for r in rows:
        by_split.setdefault(split[r.key], []).append(r)
    for members in by_split.values():
        for x, y in combinations(members, 2):
            k = tuple(sorted((x.key, y.key)))
            if x.entity == y.entity:
                kinds = sorted({x.kind, y.kind} - {"origin"}) or ["origin"]
                reach = "none" if "unlinkable" in x.kind + y.kind else "rules"
                out[k] = {
                    "label": "duplicate",
                    "kind": "+".join(kinds),
                    "reach": reach,
                    "how": x.origin if x.kind == "origin" else y.origin,
                }  # type: ignore[index]
            elif k not in out:
                px, py = norm_publisher(x.record.publisher), norm_publisher(y.record.publisher)
                if (
                    px
                    and px == py
                    and fuzz.token_sort_ratio(norm_title(x.record.title), norm_title(y.record.title))
                    >= SIMILAR
                ):
                    out[k] = {
                        "label": "distinct",
                        "kind": "similar_title",
                        "reach": "",
                        "how": "same publisher, similar title",
                    }  # type: ignore[index]
    return [
        {
            "split": split[a],
            "a": a,
            "b": b,
            **v,
            "a_title": by_key[a].record.title,
            "b_title": by_key[b].record.title,
        }
        for (a, b), v in sorted(out.items())
    ]


def main() -> int:
    rows, designated = build()
    keys = [r.key for r in rows]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        print(f"duplicate record keys: {sorted(dupes)[:5]}", file=sys.stderr)
        return 1
    with open(HERE / "records.jsonl", "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r.to_json(split_of(r.family)), ensure_ascii=False, sort_keys=True) + "\n")
    labelled = labelled_pairs(rows, designated)
    with open(HERE / "pairs.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(
            fh, fieldnames=["split", "label", "kind", "reach", "a", "b", "a_title", "b_title", "how"]
        )
        w.writeheader()
        w.writerows(labelled)
    counts: dict[tuple[str, str], int] = {}
    for p in labelled:
        counts[(p["split"], p["label"])] = counts.get((p["split"], p["label"]), 0) + 1
    print(f"{len(rows)} records; pairs: {dict(sorted(counts.items()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
