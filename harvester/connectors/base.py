"""The connector protocol and the base model of connector params (unknown keys forbidden)."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from harvester.http import HttpClient, HttpPolicy
from harvester.records import DatasetRecord


class Params(BaseModel):
    """Base of every connector's params model: unknown keys are an error, every field is described."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Alias used inside classes whose `Params` attribute shadows the module-level name.
ParamsModel = Params


class RecordIssue(Exception):
    """Carried inside a listing for a record that could not be mapped (see `Listing.issues`)."""


@runtime_checkable
class Connector(Protocol):
    """Knows one portal type: lists its datasets as DatasetRecords. No I/O in the constructor; no state."""

    type: ClassVar[str]
    Params: ClassVar[builtins.type[ParamsModel]]
    description: ClassVar[str]

    def list_datasets(self, since: datetime | None = None) -> Iterator[DatasetRecord]:
        """Lazily yield one DatasetRecord per remote dataset; `since` is a hint (server- or client-side filter).

        A record that can't be mapped is reported through `on_record_error`, not raised: one bad record never
        stops its source. A failure of the listing itself raises SourceError.
        """
        ...


class BaseConnector:
    """A few shared lines: stores its arguments, offers the record-error hook and the default `check()`."""

    type: ClassVar[str] = ""
    Params: ClassVar[builtins.type[ParamsModel]] = ParamsModel
    description: ClassVar[str] = ""
    # Whether `since` is applied by the server (True) or only by client-side filtering (False).
    incremental: ClassVar[bool] = False
    # Header that carries the API token when sources.yaml names none (auth.header).
    auth_header: ClassVar[str] = "Authorization"

    def __init__(
        self,
        source_id: str,
        url: str,
        params: ParamsModel,
        http: HttpClient,
        *,
        policy: HttpPolicy | None = None,
        auth: dict[str, str] | None = None,
    ) -> None:
        self.source_id = source_id
        self.url = url.rstrip("/") if url else url
        self.params = params
        self.http = http
        self.policy = policy
        self.auth = auth or {}
        self.record_errors: list[dict[str, Any]] = []
        # Set by a connector when its listing was partial without failing (e.g. a skipped page), so that the
        # harvest does not treat missing datasets as withdrawn.
        self.listing_complete = True

    def on_record_error(self, remote_id: str | None, message: str, url: str | None = None) -> None:
        """Note a record that could not be mapped; the harvest writes it to errors and goes on."""
        self.record_errors.append(
            {"source_id": self.source_id, "remote_id": remote_id, "message": message, "url": url}
        )

    def _headers(self) -> dict[str, str]:
        """The auth header, when the source has a token."""
        token = self.auth.get("token")
        return {self.auth.get("header") or self.auth_header: token} if token else {}

    def list_datasets(self, since: datetime | None = None) -> Iterator[DatasetRecord]:
        raise NotImplementedError

    def list_ids(self) -> set[str]:
        """Optional: the remote ids of every dataset currently listed, cheaply, so that incremental runs see
        deletions. Connectors that can't do it better than a full listing leave this unimplemented."""
        raise NotImplementedError

    def check(self) -> DatasetRecord | None:
        """Reach the portal and read one record (`harvester check`)."""
        for record in self.list_datasets():
            return record
        return None
