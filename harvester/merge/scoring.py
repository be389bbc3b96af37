"""Decisions: which records are one dataset, by which rule, with which score (strongest rules first)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from rapidfuzz import fuzz, process

from harvester.merge.blocking import Edge, UnionFind, index, title_blocks
from harvester.merge.lookalike import lookalike, title_key
from harvester.merge.rules import RULES, MergeRecord, claim_keys, own_keys, resource_keys

MAX_RESOURCE_SHARE = 5  # a resource URL shared by more records than this is boilerplate (a licence, a portal)


@dataclass
class Decisions:
    groups: list[list[int]]
    edges: list[Edge]
    rejected: list[Edge]  # candidates a look-alike or same-source guard refused (shown by --explain)
    # work done, no all-pairs comparison: record pairs met on a shared key, title pairs scored inside blocks
    compared: dict[str, int] = field(default_factory=dict)


def decide(
    records: list[MergeRecord], title_threshold: float, rules: tuple[str, ...] | frozenset[str] = RULES
) -> Decisions:
    """`rules`: the rules this pipeline uses (none: an identity merge, every record its own dataset)."""
    uf = UnionFind(len(records), [r.source_id for r in records])
    if not rules:
        return Decisions(uf.groups(), [], [])
    edges: list[Edge] = []
    rejected: list[Edge] = []
    owns = [own_keys(r) for r in records]
    claims = [claim_keys(r, o) for r, o in zip(records, owns, strict=True)]
    claimed = index([o + c for o, c in zip(owns, claims, strict=True)])
    claim_sets = [set(c) for c in claims]
    compared = {"identifier_pairs": sum(len(m) - 1 for m in claimed.values())}
    # 1-2. explicit provenance and shared identifiers: strong, linked whatever the sources
    for key in sorted(claimed):
        members = claimed[key]
        origins = [i for i in members if key not in claim_sets[i]]
        copies = [i for i in members if key in claim_sets[i]]
        strong: list[Edge] = []
        if origins:
            hub = origins[0]
            strong += [Edge(i, hub, "same_identifier", 1.0, key) for i in origins[1:]]
            strong += [Edge(i, hub, "harvest_provenance", 1.0, key) for i in copies]
        else:  # copies of one origin we do not have
            strong += [Edge(i, copies[0], "harvest_provenance", 1.0, key) for i in copies[1:]]
        for edge in strong:
            if edge.rule not in rules:
                continue
            if uf.find(edge.a) != uf.find(edge.b) and (
                records[edge.a].source_id == records[edge.b].source_id or uf.same_source(edge.a, edge.b)
            ):  # one portal's records are distinct datasets, whatever they share
                rejected.append(Edge(edge.a, edge.b, edge.rule, edge.score,
                                     f"{edge.key}: both sides hold a record of the same source"))  # fmt: skip
                continue
            _link(uf, edges, edge)
    # 3. shared resource URLs (boilerplate URLs left out), never two records of one source
    res = index([resource_keys(r) for r in records]) if "resource_url" in rules else {}
    compared["resource_pairs"] = sum(len(m) - 1 for m in res.values() if len(m) <= MAX_RESOURCE_SHARE)
    compared["title_pairs_scored"] = compared["title_candidates"] = 0
    for key in sorted(res):
        members = res[key]
        if len(members) > MAX_RESOURCE_SHARE:
            continue
        for i in members[1:]:
            a, b = records[i], records[members[0]]
            share = len(a.resource_urls & b.resource_urls) / max(
                1, min(len(a.resource_urls), len(b.resource_urls))
            )
            edge = Edge(i, members[0], "resource_url", round(share, 3), key)
            _weak(uf, edges, rejected, edge, partial(lookalike, a, b, strict=False), records)
    # 4. similar titles of one publisher, inside blocks
    titles = [title_key(r) for r in records]
    blocks = title_blocks([r.norm_publisher for r in records], titles) if "title_publisher" in rules else []
    for block in blocks:
        compared["title_pairs_scored"] += len(block) * (len(block) - 1) // 2
        similar = _similar([titles[k] for k in block], title_threshold)
        compared["title_candidates"] += len(similar)
        for i, j, score in similar:
            a, b = records[block[i]], records[block[j]]
            edge = Edge(
                block[j], block[i], "title_publisher", round(score / 100, 3), f"{a.title} ~ {b.title}"
            )
            _weak(uf, edges, rejected, edge, partial(lookalike, a, b, strict=True), records)
    return Decisions(uf.groups(), edges, rejected, compared)


def _similar(titles: list[str], threshold: float) -> list[tuple[int, int, float]]:
    scores = process.cdist(titles, titles, scorer=fuzz.token_sort_ratio, score_cutoff=threshold, workers=1)
    ii, jj = np.nonzero(np.triu(scores, k=1))
    return [(int(i), int(j), float(scores[i, j])) for i, j in zip(ii, jj, strict=True)]


def _link(uf: UnionFind, edges: list[Edge], edge: Edge) -> None:
    if edge.a != edge.b:
        uf.union(edge.a, edge.b)
        edges.append(edge)


def _weak(
    uf: UnionFind,
    edges: list[Edge],
    rejected: list[Edge],
    edge: Edge,
    guard: Callable[[], str | None],
    records: list[MergeRecord],
) -> None:
    """Link on a weak rule unless a guard refuses (the look-alike guard runs only when it can matter)."""
    if uf.find(edge.a) == uf.find(edge.b):
        edges.append(edge)
        return
    if records[edge.a].source_id == records[edge.b].source_id or uf.same_source(edge.a, edge.b):
        why_not: str | None = "both sides hold a record of the same source"
    else:
        why_not = guard()
    if why_not:
        rejected.append(Edge(edge.a, edge.b, edge.rule, edge.score, f"{edge.key}: {why_not}"))
        return
    _link(uf, edges, edge)
