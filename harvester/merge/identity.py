"""Stable merged keys: a merged dataset keeps its key across runs, whichever of its records wins.

A new merged dataset takes its winner's dataset key. The previous run's `provenance.parquet` (dataset key →
merged key) is the memory: a group whose records had a key keeps it, even when another record now wins or a
record joins or leaves. When a group is split, the key goes to the part holding the record it is named after,
else to the part holding most of its former records. So the same inputs give the same keys, and the CKAN
dataset published under a key stays the same dataset.

A record withdrawn at its source leaves its dataset; the dataset itself is withdrawn (a row with `withdrawn_at`)
only when every record it was made of is known withdrawn, never while one of them is merely missing (a source
that failed or was never harvested).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from harvester import store


def previous_keys(merged_dir: Path) -> dict[str, str]:
    """dataset key → merged key of the last merge (empty when there was none or its file is unreadable)."""
    path = merged_dir / "provenance.parquet"
    if not path.exists():
        return {}
    try:
        table = store.read_table(path, columns=["dataset_key", "merged_key"])
    except (OSError, ValueError):
        return {}
    keys = table.column("dataset_key").to_pylist()
    return dict(zip(keys, table.column("merged_key").to_pylist(), strict=True))


def assign_keys(groups: Sequence[Sequence[str]], previous: dict[str, str]) -> list[str]:
    """One unique merged key per group (its dataset keys, winner first)."""
    claims: list[tuple[int, int, str, int]] = []
    for gi, keys in enumerate(groups):
        counts = Counter(previous[k] for k in keys if k in previous)
        for mk, n in counts.items():
            claims.append((0 if mk in keys else 1, -n, mk, gi))
    claims.sort()
    out: list[str | None] = [None] * len(groups)
    used: set[str] = set()
    for _, _, mk, gi in claims:
        if out[gi] is None and mk not in used:
            out[gi] = mk
            used.add(mk)
    for gi, keys in enumerate(groups):
        if out[gi] is not None:
            continue
        fresh = next((k for k in keys if k not in used), None)
        n = 1
        while fresh is None:
            n += 1
            fresh = f"{keys[0]}#{n}" if f"{keys[0]}#{n}" not in used else None
        out[gi] = fresh
        used.add(fresh)
    return [k for k in out if k is not None]


def withdrawn_groups(
    withdrawn: Sequence[str], live: set[str], used: set[str], previous: dict[str, str]
) -> dict[str, list[str]]:
    """Merged key → its withdrawn records, for the datasets that every known record has left.

    `withdrawn`: dataset keys withdrawn at their source; `live`: keys of records still merged; `used`: merged
    keys of live datasets. A key whose former records include one neither live nor withdrawn (its source
    failed or is no longer read) is left out: the dataset is left as it is."""
    gone = set(withdrawn)
    members: dict[str, list[str]] = {}
    for k, mk in previous.items():
        members.setdefault(mk, []).append(k)
    out: dict[str, list[str]] = {}
    for k in withdrawn:
        mk = previous.get(k, k)
        if mk in used or k in live:
            continue
        if all(m in gone for m in members.get(mk, [k])):
            out.setdefault(mk, []).append(k)
    return {mk: sorted(ks) for mk, ks in sorted(out.items())}
