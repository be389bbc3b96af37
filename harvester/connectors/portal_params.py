"""The `params` of the `ckan`, `udata` and `opendatasoft` sources: pydantic only, so that `harvester validate`
reads them without importing the connectors (their HTTP client, paging and mapping code: ~30 ms of start-up)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from harvester.connectors.params import Params

OBJECT_ID = r"^[0-9a-f]{24}$"
ExportFormat = Literal["csv", "parquet", "json", "geojson", "xlsx", "shp", "fgb", "kml"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "parquet", "json", "geojson")


class CkanParams(Params):
    rows: int = Field(
        1000, ge=1, le=1000, description="Page size of package_search (the portal caps it, often at 1000)."
    )
    sort: str = Field(
        "id asc", description="Stable sort for paging; `metadata_modified` sorts can loop on ties."
    )
    fq: str | None = Field(None, description="Extra Solr filter query, e.g. `res_format:CSV`.")
    organizations: list[str] = Field(
        default_factory=list, description="Only datasets of these organisations (names)."
    )
    exclude_organizations: list[str] = Field(
        default_factory=list, description="Skip datasets of these organisations."
    )
    safety_margin_minutes: int = Field(
        60, ge=0, description="Incremental runs ask for datasets modified since the cursor minus this margin."
    )
    id_listing: bool = Field(
        True,
        description="On incremental runs, see deletions without a full harvest: the portal's total (rows=0) "
        "against the datasets known and new, and when they differ the ids of all datasets (fl=id).",
    )
    deletions_from_count: bool = Field(
        True,
        description="Skip the id listing when the portal's total proves that nothing was deleted; false lists "
        "the ids on every incremental run.",
    )


class UdataParams(Params):
    organizations: list[str] = Field(
        default_factory=list,
        description="Only datasets of these organisations, by id (24-hex ObjectId, the API refuses slugs); "
        "one listing per organisation.",
    )
    tags: list[str] = Field(default_factory=list, description="Only datasets with all of these tags.")
    q: str | None = Field(None, description="Full-text query.")
    page_size: int = Field(
        100, ge=1, le=1000, description="Datasets per page (data.gouv.fr fails above ~1000)."
    )
    api_path: str = Field(
        "/api/1", pattern=r"^/[\w/.-]*$", description="Path of the API v1 under the base URL."
    )

    @field_validator("organizations")
    @classmethod
    def _object_ids(cls, v: list[str]) -> list[str]:
        bad = [o for o in v if not re.match(OBJECT_ID, o)]
        if bad:
            raise ValueError(f"organisation ids must be 24-hex ObjectIds, not slugs: {bad}")
        return v


class OdsParams(Params):
    mode: Literal["explore", "dcat"] = Field(
        "explore",
        description="`explore`: the JSON catalogue API (full ODS metadata); `dcat`: the DCAT export "
        "`catalog/exports/dcat`, read by the `dcat` connector.",
    )
    page_size: int = Field(100, ge=1, le=100, description="Datasets per page (`limit`, at most 100).")
    where: str | None = Field(
        None, description='ODSQL filter on the catalogue, e.g. `publisher = "Ville de Rennes"`.'
    )
    refine: list[str] = Field(
        default_factory=list,
        description="Facet filters `facet:value`, e.g. `theme:Transports`; all must match.",
    )
    order_by: str = Field("dataset_id", description="Sort of the paged listing (stable paging).")
    exports: list[ExportFormat] = Field(
        default_factory=lambda: list(EXPORT_FORMATS),
        description="Export formats listed as resources of datasets with records (`geojson`, `shp`, `kml`, `fgb` "
        "only for geographic datasets).",
    )
    attachments: bool = Field(True, description="List the dataset attachments as resources.")
    skip_federated: bool = Field(
        False, description="Skip datasets federated from another ODS domain (harvest them at their source)."
    )
    max_quota_wait: float = Field(
        300, ge=0, description="Longest wait (seconds) for a 429 quota `reset_time`; longer fails the source."
    )

    @field_validator("refine")
    @classmethod
    def _facet_value(cls, v: list[str]) -> list[str]:
        for item in v:
            facet, sep, value = item.partition(":")
            if not sep or not facet.strip() or not value.strip():
                raise ValueError(f"{item!r}: expected `facet:value`")
        return v
