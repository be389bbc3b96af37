"""What moves between stages: DatasetRecord and ResourceRef, as yielded by connectors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ResourceRef:
    """A file or URL belonging to a dataset, as the portal describes it."""

    url: str
    remote_id: str | None = None
    title: str | None = None
    description: str | None = None
    format: str | None = None  # as declared by the portal; normalised later
    media_type: str | None = None
    size_bytes: int | None = None
    modified: datetime | None = None


@dataclass(frozen=True)
class DatasetRecord:
    """One catalogue entry of one source, mapped to canonical (DCAT-AP aligned) fields by its connector."""

    source_id: str
    remote_id: str
    title: str
    name: str | None = None
    description: str | None = None
    landing_page: str | None = None
    remote_url: str | None = None  # where a human sees this dataset on the portal
    publisher: str | None = None
    contact_email: str | None = None
    keywords: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    license_raw: str | None = None
    issued: datetime | None = None
    modified: datetime | None = None
    frequency: str | None = None
    spatial: str | None = None
    resources: tuple[ResourceRef, ...] = ()
    extras: dict[str, str] = field(default_factory=dict)  # portal specifics worth keeping (harvest origin…)
    raw: dict[str, Any] | None = None  # the portal's own record, for provenance and debugging

    @property
    def dataset_key(self) -> str:
        return f"{self.source_id}:{self.remote_id}"
