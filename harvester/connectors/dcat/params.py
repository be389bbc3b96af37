"""The `params` of a `dcat` source: pydantic only, so that `harvester validate` reads them without rdflib."""

from __future__ import annotations

from typing import Literal as Lit

from pydantic import Field

from harvester.connectors.params import Params


class DcatParams(Params):
    identity: Lit["auto", "uri", "identifier", "ods"] = Field(
        "auto",
        description="Remote id of a dataset: `uri` = the dataset URI, else dct:identifier (blank nodes); "
        "`identifier` = dct:identifier first, else the URI (udata's rule); `ods` = the OpenDataSoft dataset_id "
        "(slug of `/explore/dataset/<id>/`); `auto` = `ods` for an OpenDataSoft catalogue export URL, else `uri`.",
    )
    modified_since_param: str | None = Field(
        None,
        description="Query parameter the server filters on for incremental runs (ckanext-dcat: `modified_since`); "
        "without it, `since` is applied to dct:modified after reading the catalogue.",
    )
    max_pages: int = Field(10_000, ge=1, description="Stop (as a failure) after this many Hydra pages.")
