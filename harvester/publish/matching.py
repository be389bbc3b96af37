"""Which CKAN dataset is which merged dataset: by merged key, else by the records merged into it.

A merged dataset is found in CKAN under its merged key. Failing that (a dataset published before publishing read
the merge, keyed on its source dataset key; a group whose key changed after its memory was lost), it is the
dataset published under one of its records' keys, or listing one of them in `harvest_sources`: that dataset is
updated in place and keeps its CKAN name. CKAN datasets left over that carry a key of a record now merged into
another dataset are duplicates from before the merge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from harvester.publish.inventory import Published


class Identity(Protocol):
    @property
    def dataset_key(self) -> str: ...
    @property
    def dataset_keys(self) -> tuple[str, ...]: ...


def keys_of(w: Identity) -> tuple[str, ...]:
    return tuple(dict.fromkeys([w.dataset_key, *w.dataset_keys]))


def match(wanted: Sequence[Identity], owned: Mapping[str, Published]) -> dict[str, Published]:
    """merged key → the CKAN dataset that is it. Exact keys first, then a record's key, then a listed record."""
    out: dict[str, Published] = {}
    taken: set[str] = set()
    for w in wanted:
        pub = owned.get(w.dataset_key)
        if pub is not None:
            out[w.dataset_key] = pub
            taken.add(pub.ckan_id)
    by_record: dict[str, list[Published]] = {}
    for pub in owned.values():
        for k in pub.keys:
            by_record.setdefault(k, []).append(pub)
    for w in wanted:
        if w.dataset_key in out:
            continue
        for k in keys_of(w):
            candidates = [p for p in by_record.get(k, []) if p.ckan_id not in taken]
            # the one published under that very key first, an active one before a deleted one
            candidates.sort(key=lambda p: (p.dataset_key != k, p.state != "active", p.name))
            if candidates:
                out[w.dataset_key] = candidates[0]
                taken.add(candidates[0].ckan_id)
                break
    return out


def superseded(
    wanted: Sequence[Identity], owned: Mapping[str, Published], matched: Mapping[str, Published]
) -> list[tuple[Published, str]]:
    """Active CKAN datasets not matched that belong to a record now merged into another dataset, with its key."""
    used = {p.ckan_id for p in matched.values()}
    into: dict[str, str] = {}
    for w in wanted:
        for k in keys_of(w):
            into.setdefault(k, w.dataset_key)
    out: list[tuple[Published, str]] = []
    for _key, pub in sorted(owned.items()):
        if pub.ckan_id in used or pub.state != "active":
            continue
        target = next((into[k] for k in pub.keys if k in into), None)
        if target is not None and target in matched:
            out.append((pub, target))
    return out
