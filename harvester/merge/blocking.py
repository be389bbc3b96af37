"""Union-find over key collisions: records sharing a key are linked, with no all-pairs comparison."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class Edge:
    a: int  # record indices; for harvest_provenance, `a` is the copy and `b` its origin
    b: int
    rule: str
    score: float
    key: str  # the shared key, or the two titles compared


class UnionFind:
    def __init__(self, n: int, sources: list[str]) -> None:
        self.parent = list(range(n))
        self.members: dict[int, set[str]] = {i: {s} for i, s in enumerate(sources)}

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def same_source(self, a: int, b: int) -> bool:
        """True when joining would put two records of one source in one dataset."""
        ra, rb = self.find(a), self.find(b)
        return ra != rb and bool(self.members[ra] & self.members[rb])

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra] |= self.members.pop(rb)
        return True

    def groups(self) -> list[list[int]]:
        out: dict[int, list[int]] = defaultdict(list)
        for i in range(len(self.parent)):
            out[self.find(i)].append(i)
        return sorted(out.values(), key=lambda g: g[0])


def index(keys: list[list[str]]) -> dict[str, list[int]]:
    """key → the records having it (only keys held by two records or more)."""
    inv: dict[str, list[int]] = defaultdict(list)
    for i, ks in enumerate(keys):
        for k in ks:
            inv[k].append(i)
    return {k: v for k, v in inv.items() if len(v) > 1}


def title_blocks(publishers: list[str], titles: list[str], max_block: int = 2000) -> list[list[int]]:
    """Records of one normalised publisher; a publisher with more than `max_block` is split on title words."""
    by_pub: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(publishers):
        if p and titles[i]:
            by_pub[p].append(i)
    out: list[list[int]] = []
    for _pub, members in sorted(by_pub.items()):
        if len(members) < 2:
            continue
        if len(members) <= max_block:
            out.append(members)
            continue
        sub: dict[str, list[int]] = defaultdict(list)
        for i in members:
            for w in set(titles[i].split()):
                if len(w) >= 4:
                    sub[w].append(i)
        out += [m for _, m in sorted(sub.items()) if 1 < len(m) <= max_block]
    return out
