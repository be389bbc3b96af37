"""An NGSI-LD / NGSIv2 context broker over clones of the Smart Data Models examples, for tests and bench.

`/ngsi-ld/v1/entities` (or `/v2/entities`) filters on `type`, pages with `limit`/`offset` (Orion's cap of 1000,
or a lower `cap_limit`) and sends the total in `NGSILD-Results-Count` with `count=true` (`Fiware-Total-Count` with
`options=count`). `/types` lists the entity types. Tenants (`NGSILD-Tenant` / `Fiware-Service`) select separate
entity sets. `ignore_offset` imitates a broker that always answers the first page.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from tests.fixture_server import FixtureServer, Reply, Request
from tests.portals.util import load

PARKING_LD = "iot/ngsi/sdm_offstreetparking_ngsild_normalized.jsonld"
PARKING_V2 = "iot/ngsi/sdm_offstreetparking_ngsiv2_normalized.json"
WASTE_LD = "iot/ngsi/sdm_wastecontainer_ngsild_normalized.jsonld"
WASTE_V2 = "iot/ngsi/sdm_wastecontainer_ngsiv2_normalized.json"
WASTE_KV = "iot/ngsi/sdm_wastecontainer_ngsild_keyvalues.jsonld"
T0 = datetime(2024, 5, 1, tzinfo=UTC)


def _set_location(entity: dict[str, Any], lon: float, lat: float) -> None:
    loc = entity["location"]
    target = loc["value"] if "value" in loc else loc
    target["coordinates"] = [lon, lat]


def clone(fixture: str, n: int, *, start: int = 0) -> list[dict[str, Any]]:
    """`n` copies of a recorded entity with new ids, locations spread over Rennes and observation times."""
    base = load(fixture)
    out = []
    for i in range(start, start + n):
        e = copy.deepcopy(base)
        e["id"] = f"urn:ngsi-ld:{base['type']}:rennes-{i:06d}"
        _set_location(e, -1.75 + (i % 100) * 0.002, 48.07 + (i // 100 % 100) * 0.0008)
        when = (T0 + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        spots = e.get("availableSpotNumber")
        if isinstance(spots, dict):
            spots["value"] = i % 400
            if "observedAt" in spots:
                spots["observedAt"] = when
            if "metadata" in spots:
                spots["metadata"]["timestamp"]["value"] = when
        logged = e.get("binLoggedTime")
        if isinstance(logged, dict) and isinstance(logged.get("value"), dict):
            logged["value"]["@value"] = when
        elif isinstance(logged, dict):
            logged["value"] = when
        elif isinstance(logged, str):
            e["binLoggedTime"] = when
        out.append(e)
    return out


class NgsiPortal:
    def __init__(
        self,
        server: FixtureServer,
        entities: list[dict[str, Any]],
        *,
        flavour: str = "ngsi-ld",
        tenants: dict[str, list[dict[str, Any]]] | None = None,
        cap_limit: int = 1000,
        ignore_offset: bool = False,
    ) -> None:
        self.flavour = flavour
        self.sets: dict[str | None, list[dict[str, Any]]] = {None: entities, **(tenants or {})}
        self.cap_limit = cap_limit
        self.ignore_offset = ignore_offset
        self.url = server.url
        root = "/ngsi-ld/v1" if flavour == "ngsi-ld" else "/v2"
        server.route(f"{root}/entities", self.entities)
        server.route(f"{root}/types", self.types)

    def _tenant(self, req: Request) -> list[dict[str, Any]] | None:
        header = "NGSILD-Tenant" if self.flavour == "ngsi-ld" else "Fiware-Service"
        tenant = next((v for k, v in req.headers.items() if k.lower() == header.lower()), None)
        return self.sets.get(tenant)

    def entities(self, req: Request) -> Reply:
        rows = self._tenant(req)
        if rows is None:
            return Reply(404, json.dumps({"type": "NonExistentTenant", "title": "tenant not found"}))
        limit, offset = int(req.arg("limit") or 20), int(req.arg("offset") or 0)
        if limit > 1000:
            return Reply(400, json.dumps({"error": "BadRequest", "description": "Bad pagination limit"}))
        limit = min(limit, self.cap_limit)
        if req.arg("type"):
            rows = [e for e in rows if e["type"] == req.arg("type")]
        page = rows[:limit] if self.ignore_offset else rows[offset : offset + limit]
        headers: dict[str, str] = {}
        if self.flavour == "ngsi-ld" and req.arg("count") == "true":
            headers["NGSILD-Results-Count"] = str(len(rows))
        if self.flavour == "ngsiv2" and "count" in (req.arg("options") or ""):
            headers["Fiware-Total-Count"] = str(len(rows))
        ctype = "application/ld+json" if self.flavour == "ngsi-ld" else "application/json"
        return Reply(200, orjson.dumps(page), headers=headers, content_type=ctype)

    def types(self, req: Request) -> Reply:
        rows = self._tenant(req) or []
        names = list(dict.fromkeys(e["type"] for e in rows))
        if self.flavour == "ngsi-ld":
            body: Any = {"id": "urn:ngsi-ld:EntityTypeList:1", "type": "EntityTypeList", "typeList": names}
        elif "values" in (req.arg("options") or ""):
            body = names
        else:
            body = [{"type": n, "attrs": {}, "count": sum(1 for e in rows if e["type"] == n)} for n in names]
        return Reply(200, json.dumps(body))
