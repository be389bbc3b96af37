"""The `params` of a `csw` source: pydantic only, so that `harvester validate` reads them without lxml."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harvester.connectors.params import Params


class CswParams(Params):
    output_schema: Literal["iso19139", "dcat"] = Field(
        "iso19139",
        description="Ask for ISO 19139 records (`iso19139`, mapped here) or DCAT records converted by the server "
        "(`dcat`, GeoNetwork 4; mapped by the DCAT mapping, still keyed on the fileIdentifier when it is found).",
    )
    method: Literal["post", "get"] = Field(
        "post",
        description="GetRecords as a POST XML document (`post`) or GET key-value pairs with CQL (`get`).",
    )
    page_size: int = Field(25, ge=1, le=1000, description="maxRecords per GetRecords request.")
    types: list[str] = Field(
        default_factory=lambda: ["dataset", "series", "nonGeographicDataset"],
        description="Hierarchy levels to harvest (apiso:Type, OR-ed); empty = no filter (services included).",
    )
    incremental_filter: bool = Field(
        True,
        description="On incremental runs, ask the server for records with apiso:Modified >= the cursor (falls back "
        "to client-side filtering if the server rejects the filter).",
    )
    sort: bool = Field(True, description="Sort by apiso:Identifier so that paging is stable.")
    record_url: str | None = Field(
        None,
        description="Web page of a record, `{id}` replaced by the fileIdentifier. Default: the GeoNetwork "
        "`catalog.search#/metadata/{id}` page derived from the endpoint, else a GetRecordById URL.",
    )
    id_listing: bool = Field(
        True,
        description="On incremental runs, list every fileIdentifier (brief records) so that deletions are seen.",
    )
    id_page_size: int = Field(100, ge=1, le=1000, description="maxRecords of the brief id listing.")
    max_pages: int = Field(100_000, ge=1, description="Stop (as a failure) after this many pages.")
