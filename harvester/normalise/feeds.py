"""Resources that are live API feeds rather than files: SensorThings Observations and NGSI entities.

The normalise stage asks `feed_options` for the settings of such a resource (from the source's params and the
dataset's extras, which the connector filled) and hands the unit to `convert_feed` instead of downloading a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harvester.config import SourceConfig
from harvester.http import HttpClient

FEED_KINDS = frozenset({"sensorthings", "ngsi"})


def _auth_headers(source: SourceConfig) -> dict[str, str]:
    from harvester.connectors import get_connector_class

    token = source.token()
    if not token or source.auth is None:
        return {}
    return {source.auth.header or get_connector_class(source.type).auth_header: token}


def feed_options(
    kind: str, source: SourceConfig, dataset: dict[str, Any] | None, resource: dict[str, Any]
) -> dict[str, Any] | None:
    """The picklable settings of a feed resource, or None for a file resource."""
    if kind not in FEED_KINDS:
        return None
    extras = dict((dataset or {}).get("extras") or [])
    params = source.params
    modified = resource.get("modified")
    opts: dict[str, Any] = {
        "kind": kind,
        "headers": _auth_headers(source),
        "modified": modified.isoformat() if modified is not None else None,
    }
    if kind == "sensorthings":
        multi = extras.get("sta:multiObservationDataTypes")
        opts.update(
            observation_type=extras.get("sta:observationType"),
            multi_types=json.loads(multi) if multi else None,
            units=json.loads(extras.get("sta:unitOfMeasurement") or "[]"),
            first_window_days=getattr(params, "first_window_days", None),
            page_size=getattr(params, "observations_page_size", 1000),
        )
    else:
        from harvester.connectors.ngsi_query import feed_headers

        opts["headers"].update(feed_headers(params, extras.get("ngsi:tenant")))
        opts.update(
            flavour=extras.get("ngsi:flavour"),
            page_size=getattr(params, "page_size", 100),
            entity_type=extras.get("ngsi:type"),
        )
    return opts


def convert_feed(unit: Any, client: HttpClient, work: Path, out: Any) -> None:
    """Read a feed resource into its table (`unit`: ResourceUnit, `out`: ResourceOutcome)."""
    feed = unit.feed or {}
    out.detected["kind"] = feed.get("kind")
    if feed.get("kind") == "sensorthings":
        from harvester.normalise.observations import convert_observations

        convert_observations(unit, client, work, out, feed)
    else:
        from harvester.normalise.entities import convert_entities

        convert_entities(unit, client, work, out, feed)
