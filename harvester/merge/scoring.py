"""Decisions: which records are one dataset, by which rule, with which score (strongest rules first)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from harvester.merge.blocking import Edge, UnionFind, index, title_blocks
from harvester.merge.keys import digit_tokens, proper_tokens, words
from harvester.merge.rules import RULES, MergeRecord, claim_keys, own_keys, resource_keys

MAX_RESOURCE_SHARE = 5  # a resource URL shared by more records than this is boilerplate (a licence, a portal)


@dataclass
class Decisions:
    groups: list[list[int]]
    edges: list[Edge]
    rejected: list[Edge]  # candidates a look-alike or same-source guard refused (shown by --explain)


def lookalike(a: MergeRecord, b: MergeRecord, strict: bool) -> str | None:
    """Why two similar titles are different datasets: another year/number, another territory; None if not."""
    da, db = digit_tokens(a.title), digit_tokens(b.title)
    if da != db and (strict or (da and db)):
        return f"numbers differ ({' '.join(sorted(da)) or '-'} / {' '.join(sorted(db)) or '-'})"
    wa, wb = set(words(a.title)), set(words(b.title))
    pa, pb = proper_tokens(a.title) - wb, proper_tokens(b.title) - wa
    if pa or pb:
        return f"names differ ({' '.join(sorted(pa)) or '-'} / {' '.join(sorted(pb)) or '-'})"
    return None


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
    claims = [claim_keys(r) for r in records]
    claimed = index([o + c for o, c in zip(owns, claims, strict=True)])
    claim_sets = [set(c) for c in claims]
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
            _weak(uf, edges, rejected, edge, lookalike(a, b, strict=False), records)
    # 4. similar titles of one publisher, inside blocks
    titles = [r.norm_title for r in records]
    blocks = title_blocks([r.norm_publisher for r in records], titles) if "title_publisher" in rules else []
    for block in blocks:
        for i, j, score in _similar([titles[k] for k in block], title_threshold):
            a, b = records[block[i]], records[block[j]]
            edge = Edge(
                block[j], block[i], "title_publisher", round(score / 100, 3), f"{a.title} ~ {b.title}"
            )
            _weak(uf, edges, rejected, edge, lookalike(a, b, strict=True), records)
    return Decisions(uf.groups(), edges, rejected)


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
    why_not: str | None,
    records: list[MergeRecord],
) -> None:
    if uf.find(edge.a) == uf.find(edge.b):
        edges.append(edge)
        return
    if records[edge.a].source_id == records[edge.b].source_id or uf.same_source(edge.a, edge.b):
        why_not = "both sides hold a record of the same source"
    if why_not:
        rejected.append(Edge(edge.a, edge.b, edge.rule, edge.score, f"{edge.key}: {why_not}"))
        return
    _link(uf, edges, edge)
