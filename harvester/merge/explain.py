"""`--explain KEY`: the records of one merged dataset, the rules and scores that linked them, what was refused."""

from __future__ import annotations

from typing import Any

from harvester.errors import ConfigError
from harvester.merge.identity import assign_keys
from harvester.merge.precedence import rank
from harvester.merge.scoring import Decisions


def explain(
    key: str,
    records: list[Any],
    decisions: Decisions,
    precedence: list[str],
    previous: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`key` is a merged key or the dataset_key of any contributing record (`previous`: the last merge's keys)."""
    previous = previous or {}
    idx = next((i for i, r in enumerate(records) if r.key == key), None)
    if idx is None:
        idx = next((i for i, r in enumerate(records) if previous.get(r.key) == key), None)
    if idx is None:
        raise ConfigError(f"no record {key!r} in the merge inputs", hint="give a merged_key or a dataset_key")
    group = next(g for g in decisions.groups if idx in g)
    members = set(group)
    edges = [e for e in decisions.edges if e.a in members]
    ranked = rank(group, records, edges, precedence)
    touching = [e for e in decisions.rejected if e.a in members or e.b in members]

    def edge(e: Any) -> dict[str, Any]:
        return {
            "from": records[e.a].key,
            "to": records[e.b].key,
            "rule": e.rule,
            "score": e.score,
            "key": e.key,
        }

    return {
        "merged_key": assign_keys([[records[i].key for i in ranked]], previous)[0],
        "candidates": [
            {
                "dataset_key": records[i].key,
                "source_id": records[i].source_id,
                "title": records[i].title,
                "publisher": records[i].publisher,
                "won": i == ranked[0],
            }
            for i in ranked
        ],
        "links": [edge(e) for e in edges],
        "rejected": [edge(e) for e in touching],
    }


def render(doc: dict[str, Any]) -> str:
    lines = [f"merged dataset {doc['merged_key']}: {len(doc['candidates'])} record(s)"]
    for c in doc["candidates"]:
        mark = "winner " if c["won"] else "       "
        lines.append(
            f"  {mark}{c['dataset_key']}  [{c['source_id']}] {c['title']!r} ({c['publisher'] or '-'})"
        )
    if doc["links"]:
        lines.append("links:")
    for e in doc["links"]:
        lines.append(f"  {e['from']} -> {e['to']}: {e['rule']} score {e['score']:.3f} on {e['key']}")
    if doc["rejected"]:
        lines.append("refused candidates:")
    for e in doc["rejected"]:
        lines.append(f"  {e['from']} x {e['to']}: {e['rule']} score {e['score']:.3f}: {e['key']}")
    return "\n".join(lines)
