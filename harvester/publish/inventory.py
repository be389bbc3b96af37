"""What CKAN holds: the datasets a pipeline owns (found through their provenance extras), names in use, organisations.

CKAN is the source of truth. Ownership is read from the extras `harvest_pipeline`, `harvest_source_id` and
`harvest_remote_id`; CKAN indexes extras as text, so the search only narrows the candidates and the exact values are
compared here. Deleted datasets are not in CKAN's search index: they are found through the state store or when
their name turns out to be taken.
"""

from __future__ import annotations

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

    @property
    def dataset_key(self) -> str | None:
        if self.source_id is None or self.remote_id is None:
            return None
        return f"{self.source_id}:{self.remote_id}"

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
        )


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
