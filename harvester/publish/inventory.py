"""What CKAN holds: the datasets a pipeline owns (found through their provenance extras), names in use, organisations.

CKAN is the source of truth. Ownership is read from the extras: `harvest_pipeline` and the dataset's identity,
`harvest_merged_key` (with `harvest_sources`, the records merged into it), or, for a dataset published before
publishing read the merge, `harvest_source_id` + `harvest_remote_id` (its legacy key, recognised so that it is
updated in place). CKAN indexes extras as text, so the search only narrows the candidates and the exact values are
compared here. Deleted datasets are not in CKAN's search index: they are found through the state store or when
their name turns out to be taken.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from harvester.publish.client import CkanClient

PAGE = 1000  # CKAN's default ckan.search.rows_max
_FIELDS = (
    "id",
    "name",
    "state",
    "organization",
    "extras_harvest_pipeline",
    "extras_harvest_source_id",
    "extras_harvest_remote_id",
    "extras_harvest_metadata_hash",
    "extras_harvest_merged_key",
    "extras_harvest_sources",
)


@dataclass(frozen=True)
class Published:
    """A dataset as CKAN has it, with the provenance that says who owns it."""

    ckan_id: str
    name: str
    state: str
    organization: str | None
    pipeline: str | None
    source_id: str | None
    remote_id: str | None
    metadata_hash: str | None
    merged_key: str | None = None  # None: published before publishing read the merge (legacy)
    contributors: tuple[str, ...] = ()  # dataset keys of the records merged into it

    @property
    def legacy_key(self) -> str | None:
        if self.source_id is None or self.remote_id is None:
            return None
        return f"{self.source_id}:{self.remote_id}"

    @property
    def dataset_key(self) -> str | None:
        """Its identity: the merged key, else (published by an older harvester) the source dataset key."""
        return self.merged_key or self.legacy_key

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key it answers to: its identity, then the records merged into it."""
        own = self.dataset_key
        return tuple(dict.fromkeys([own, *self.contributors] if own else self.contributors))

    def owned_by(self, pipeline: str) -> bool:
        return self.pipeline == pipeline and self.dataset_key is not None

    @classmethod
    def from_search(cls, hit: dict[str, Any]) -> Published:
        return cls(
            ckan_id=hit["id"],
            name=hit["name"],
            state=hit.get("state") or "active",
            organization=hit.get("organization"),
            pipeline=hit.get("harvest_pipeline"),
            source_id=hit.get("harvest_source_id"),
            remote_id=hit.get("harvest_remote_id"),
            metadata_hash=hit.get("harvest_metadata_hash"),
            merged_key=hit.get("harvest_merged_key") or None,
            contributors=_contributors(hit.get("harvest_sources")),
        )

    @classmethod
    def from_package(cls, pkg: dict[str, Any]) -> Published:
        extras = {e["key"]: e["value"] for e in pkg.get("extras") or []}
        org = pkg.get("organization") or {}
        return cls(
            ckan_id=pkg["id"],
            name=pkg["name"],
            state=pkg.get("state") or "active",
            organization=org.get("name") if isinstance(org, dict) else None,
            pipeline=extras.get("harvest_pipeline"),
            source_id=extras.get("harvest_source_id"),
            remote_id=extras.get("harvest_remote_id"),
            metadata_hash=extras.get("harvest_metadata_hash"),
            merged_key=extras.get("harvest_merged_key") or None,
            contributors=_contributors(extras.get("harvest_sources")),
        )


def _contributors(value: Any) -> tuple[str, ...]:
    """Dataset keys listed by the `harvest_sources` extra (a JSON list of objects); () when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return ()
    try:
        items = json.loads(value)
    except ValueError:
        return ()
    if not isinstance(items, list):
        return ()
    return tuple(str(i["dataset_key"]) for i in items if isinstance(i, dict) and i.get("dataset_key"))


def _search(client: CkanClient, fq: str, rows: int = PAGE) -> Iterator[dict[str, Any]]:
    start = 0
    while True:
        page = client.call(
            "package_search",
            {
                "fq": fq,
                "fl": list(_FIELDS),
                "rows": rows,
                "start": start,
                "sort": "name asc",
                "include_private": True,
                "include_drafts": True,
            },
        )
        results = page.get("results") or []
        yield from results
        start += len(results)
        if not results or start >= int(page.get("count") or 0):
            return


def owned_datasets(client: CkanClient, pipeline: str) -> tuple[dict[str, Published], list[Published]]:
    """The datasets `pipeline` owns, by dataset key, plus duplicates (a second dataset for one key)."""
    owned: dict[str, Published] = {}
    duplicates: list[Published] = []
    for hit in _search(client, f'extras_harvest_pipeline:"{pipeline}"'):
        pub = Published.from_search(hit)
        if not pub.owned_by(pipeline):
            continue
        key = pub.dataset_key
        assert key is not None
        if key in owned:
            # keep the active one; between two active ones, the first by name (search order)
            if owned[key].state != "active" and pub.state == "active":
                owned[key], pub = pub, owned[key]
            duplicates.append(pub)
            continue
        owned[key] = pub
    return owned, duplicates


def names_in_use(client: CkanClient, names: Iterable[str], batch: int = 50) -> dict[str, Published]:
    """Which of `names` are taken by a dataset in CKAN's search index, and by whom."""
    wanted = sorted(set(names))
    out: dict[str, Published] = {}
    for i in range(0, len(wanted), batch):
        chunk = wanted[i : i + batch]
        fq = "name:(" + " OR ".join(f'"{n}"' for n in chunk) + ")"
        for hit in _search(client, fq, rows=len(chunk)):
            out[hit["name"]] = Published.from_search(hit)
    return out


def existing_organizations(client: CkanClient, names: Iterable[str]) -> set[str]:
    wanted = sorted(set(names))
    if not wanted:
        return set()
    found = client.call(
        "organization_list", {"organizations": wanted, "all_fields": False, "limit": len(wanted)}
    )
    return {n for n in found if n in wanted}
