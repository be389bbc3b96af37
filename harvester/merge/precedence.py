"""Which record of a merged dataset wins, and how the others fill what it lacks.

With `merge.precedence` (source ids), listed sources win in that order. Otherwise, and for sources not listed,
the origin wins: a record another record says it was harvested from ranks before its copies, and local
portals rank before aggregators (udata, data.gouv.fr); then the pipeline's order of sources.
"""

from __future__ import annotations

from typing import Any

from harvester.merge.blocking import Edge
from harvester.merge.keys import norm_url
from harvester.merge.rules import MergeRecord

FILLED = (
    "description",
    "landing_page",
    "publisher",
    "contact_email",
    "license_raw",
    "license_id",
    "issued",
    "modified",
    "frequency",
    "spatial",
)
LISTS = ("keywords", "themes")


def rank(group: list[int], records: list[MergeRecord], edges: list[Edge], precedence: list[str]) -> list[int]:
    """The group's records, the winner first."""
    copies = {e.a for e in edges if e.rule == "harvest_provenance"}
    order = {s: i for i, s in enumerate(precedence)}

    def sort_key(i: int) -> tuple[int, int, int, int, str]:
        r = records[i]
        return (
            order.get(r.source_id, len(order)),
            int(i in copies),
            int(r.aggregator),
            r.source_rank,
            r.key,
        )

    return sorted(group, key=sort_key)


def fill(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The winner's row (first), its empty fields taken from the next records that have them."""
    out = dict(rows[0])
    filled: dict[str, str] = {}
    for f in FILLED:
        if out.get(f) in (None, ""):
            donor = next((r for r in rows[1:] if r.get(f) not in (None, "")), None)
            if donor is not None:
                out[f] = donor[f]
                filled[f] = donor["dataset_key"]
    for f in LISTS:
        seen = {str(v).casefold() for v in out.get(f) or []}
        merged = list(out.get(f) or [])
        for r in rows[1:]:
            for v in r.get(f) or []:
                if str(v).casefold() not in seen:
                    seen.add(str(v).casefold())
                    merged.append(v)
        out[f] = merged
    out["filled_from"] = sorted(filled.items())
    return out


def union_resources(ranked_resources: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Resources of every record (the winner's first), one per normalised URL."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for resources in ranked_resources:
        for r in resources:
            u = norm_url(r.get("url")) or r["resource_key"]
            if u in seen:
                continue
            seen.add(u)
            out.append(r)
    return out
