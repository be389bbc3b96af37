"""A FROST-Server-like SensorThings API over the real BGS Datastreams, for tests and bench.

The service root lists the entity sets (and, for 1.1, the dataArray conformance class). `Datastreams` pages with
`$top` and keyset `$skipFilter=(id gt N)` next links (as FROST does), honours `$count`, `$expand`, `$select=id` and
`$filter=phenomenonTime ge <t>` (a Datastream whose latest observation is at or after t). Each Datastream's
`Observations` are generated in the shape of the recorded BGS page (same keys, resultQuality, links), ordered by
phenomenonTime, paged with `$top`/`$skip` next links, filtered with `phenomenonTime gt|ge <t>`, and served as
`$resultFormat=dataArray` when asked. `cap_top` imitates a server that caps `$top`; `loop` a server whose next link
points back at the same page.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson

from tests.fixture_server import FixtureServer, Reply, Request
from tests.portals.util import load

DATASTREAMS = "iot/sensorthings/bgs_frost_v1.1_datastreams_by_feature.json"
OBS_PAGE = "iot/sensorthings/bgs_frost_v1.1_observations_page.json"
DATA_ARRAY = "http://www.opengis.net/spec/iot_sensing/1.1/req/data-array/data-array"
T0 = datetime(2023, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)
_FILTER_TIME = re.compile(r"phenomenonTime (ge|gt) (\S+?)\)?$")
_SKIP_ID = re.compile(r"^\(id gt (\d+)\)$")


def bgs_datastreams() -> list[dict[str, Any]]:
    """The 102 real BGS Datastreams (unique ids), in id order."""
    by_id: dict[int, dict[str, Any]] = {}
    for group in load(DATASTREAMS).values():
        for ds in group:
            by_id.setdefault(ds["@iot.id"], ds)
    return [by_id[k] for k in sorted(by_id)]


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class Stream:
    """One Datastream and its generated observations (times in epoch seconds, ascending)."""

    entity: dict[str, Any]
    times: list[float] = field(default_factory=list)
    kind: str = "Datastreams"

    @property
    def iot_id(self) -> int:
        return int(self.entity["@iot.id"])


class StaPortal:
    def __init__(
        self,
        server: FixtureServer,
        datastreams: list[dict[str, Any]],
        *,
        version: str = "v1.1",
        data_array: bool = True,
        cap_top: int | None = None,
        multidatastreams: bool = False,
        prefix: str = "/FROST-Server",
    ) -> None:
        self.server = server
        self.base_path = f"{prefix}/{version}"
        self.url = server.url + self.base_path
        self.version = version
        self.data_array = data_array
        self.cap_top = cap_top
        self.multidatastreams = multidatastreams
        self.loop = False
        self.refuse_time_filter = False  # a server that cannot filter Datastreams on phenomenonTime
        self.obs_served = 0  # observations sent (the incremental tests count them)
        self.template = load(OBS_PAGE)["value"][0]
        self.streams = [Stream(self._expand(copy.deepcopy(ds))) for ds in datastreams]
        self.multi_streams: list[Stream] = []
        server.route(self.base_path, self.root)
        server.route(f"{self.base_path}/Datastreams", self.datastreams)
        if multidatastreams:
            server.route(f"{self.base_path}/MultiDatastreams", self.multi)
        for s in self.streams:
            server.route(f"{self.base_path}/Datastreams({s.iot_id})/Observations", self._observations(s))

    def add_multi(self, entity: dict[str, Any], observations: int) -> Stream:
        """A MultiDatastream (FROST's MultiDatastream extension) whose results are [float, int] pairs."""
        stream = Stream(entity, kind="MultiDatastreams")
        start = T0.timestamp()
        stream.times = [start + k * STEP.total_seconds() for k in range(observations)]
        self.multi_streams.append(stream)
        self.server.route(
            f"{self.base_path}/MultiDatastreams({stream.iot_id})/Observations", self._observations(stream)
        )
        return stream

    # --- data -----------------------------------------------------------------------------------------------
    def _expand(self, ds: dict[str, Any]) -> dict[str, Any]:
        """Thing (with its Location) from the FeatureOfInterest; Sensor and ObservedProperty from the name."""
        foi = ds.pop("FeatureOfInterest", None) or {}
        base = f"{self.url}/Datastreams({ds['@iot.id']})"
        for nav in ("Sensor", "ObservedProperty", "Thing", "Observations"):
            ds[f"{nav}@iot.navigationLink"] = f"{base}/{nav}"
        ds["@iot.selfLink"] = base
        name = ds["name"].split(" ", 1)
        ds["Thing"] = {
            "@iot.id": foi.get("@iot.id", 0),
            "name": foi.get("name", "Thing"),
            "description": foi.get("description", ""),
            "properties": {k: v for k, v in (foi.get("properties") or {}).items() if k != "sen_id"},
            "Locations": [
                {
                    "@iot.id": foi.get("@iot.id", 0),
                    "name": foi.get("name", "Location"),
                    "encodingType": "application/geo+json",
                    "location": foi.get("feature") or ds.get("observedArea"),
                }
            ],
        }
        ds["Sensor"] = {
            "@iot.id": ds["@iot.id"],
            "name": f"{name[0]} logger",
            "description": f"Groundwater logger channel {name[0]}",
            "encodingType": "application/pdf",
            "metadata": "BGS groundwater logger",
        }
        prop = name[1] if len(name) > 1 else ds["name"]
        ds["ObservedProperty"] = {
            "@iot.id": abs(hash(prop)) % 10_000,
            "name": prop,
            "definition": f"https://sensors.bgs.ac.uk/def/{prop.replace(' ', '')}",
            "description": prop,
        }
        return ds

    def add_observations(self, per_stream: int, streams: list[int] | None = None) -> int:
        """Append `per_stream` observations (15 min apart, after the last one) to some or all Datastreams."""
        added = 0
        for i, s in enumerate(self.streams):
            if streams is not None and i not in streams:
                continue
            start = s.times[-1] + STEP.total_seconds() if s.times else T0.timestamp() + i * 60
            s.times.extend(start + k * STEP.total_seconds() for k in range(per_stream))
            added += per_stream
        return added

    def _entity(self, s: Stream, expand: bool) -> dict[str, Any]:
        ds = dict(s.entity)
        if s.times:
            ds["phenomenonTime"] = ds["resultTime"] = (
                f"{iso(datetime.fromtimestamp(s.times[0], UTC))}/{iso(datetime.fromtimestamp(s.times[-1], UTC))}"
            )
        else:
            ds.pop("phenomenonTime", None)
            ds.pop("resultTime", None)
        if not expand:
            for key in ("Thing", "Sensor", "ObservedProperty", "ObservedProperties"):
                ds.pop(key, None)
        return ds

    # --- routes -----------------------------------------------------------------------------------------------
    def root(self, req: Request) -> Reply:
        names = ["Things", "Locations", "Datastreams", "Sensors", "ObservedProperties", "Observations"]
        names += ["FeaturesOfInterest"] + (["MultiDatastreams"] if self.multidatastreams else [])
        body: dict[str, Any] = {"value": [{"name": n, "url": f"{self.url}/{n}"} for n in names]}
        if self.version == "v1.1":
            conf = ["http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel"]
            body["serverSettings"] = {"conformance": conf + ([DATA_ARRAY] if self.data_array else [])}
        return Reply(200, json.dumps(body))

    def _top(self, req: Request, default: int) -> int:
        top = int(req.arg("$top") or default)
        return min(top, self.cap_top) if self.cap_top else top

    def datastreams(self, req: Request) -> Reply:
        streams = self.streams
        flt = req.arg("$filter")
        if flt:
            m = _FILTER_TIME.search(flt)
            if not m or self.refuse_time_filter:
                return Reply(400, json.dumps({"code": 400, "type": "error", "message": "Unknown filter"}))
            t = _epoch(m.group(2))
            streams = [s for s in streams if s.times and s.times[-1] >= t]
        after = -1
        skip = req.arg("$skipFilter")
        if skip:
            m2 = _SKIP_ID.match(skip)
            if not m2:
                return Reply(400, json.dumps({"message": "bad $skipFilter"}))
            after = int(m2.group(1))
        rest = [s for s in streams if s.iot_id > after]
        top = self._top(req, 100)
        page = rest[:top]
        expand = bool(req.arg("$expand"))
        if req.arg("$select") == "id":
            value: list[dict[str, Any]] = [{"@iot.id": s.iot_id} for s in page]
        else:
            value = [self._entity(s, expand) for s in page]
        body: dict[str, Any] = {}
        if req.arg("$count") == "true":
            body["@iot.count"] = len(streams)
        if len(rest) > len(page) and page:
            query = {k: v[0] for k, v in req.query.items() if k != "$skipFilter"}
            query["$skipFilter"] = f"(id gt {page[-1].iot_id})"
            body["@iot.nextLink"] = f"{self.url}/Datastreams?{urlencode(query)}"
        if self.loop:
            body["@iot.nextLink"] = f"{self.url}/Datastreams?$top={top}&$skip=0"
        body["value"] = value
        return Reply(200, orjson.dumps(body))

    def multi(self, req: Request) -> Reply:
        value = [self._entity(s, bool(req.arg("$expand"))) for s in self.multi_streams]
        return Reply(200, json.dumps({"@iot.count": len(value), "value": value}))

    def _observations(self, s: Stream) -> Any:
        def handler(req: Request) -> Reply:
            times = s.times
            lo = 0
            flt = req.arg("$filter")
            if flt:
                m = _FILTER_TIME.search(flt)
                if not m:
                    return Reply(400, json.dumps({"message": "Unknown filter"}))
                t = _epoch(m.group(2))
                import bisect

                lo = bisect.bisect_right(times, t) if m.group(1) == "gt" else bisect.bisect_left(times, t)
            skip = int(req.arg("$skip") or 0)
            top = self._top(req, 100)
            begin = lo + skip
            end = min(len(times), begin + top)
            rows = [self._obs(s, k) for k in range(begin, end)]
            self.obs_served += len(rows)
            body: dict[str, Any] = {}
            if req.arg("$count") == "true":
                body["@iot.count"] = len(times) - lo
            if end < len(times):
                query = {k: v[0] for k, v in req.query.items() if k != "$skip"}
                query["$skip"] = str(skip + len(rows))
                body["@iot.nextLink"] = f"{self.url}/{s.kind}({s.iot_id})/Observations?{urlencode(query)}"
            if req.arg("$resultFormat") == "dataArray":
                comps = ["id", "phenomenonTime", "resultTime", "result", "resultQuality", "parameters"]
                keys = ["@iot.id", "phenomenonTime", "resultTime", "result", "resultQuality", "parameters"]
                body["value"] = [
                    {
                        "Datastream@iot.navigationLink": f"{self.url}/{s.kind}({s.iot_id})",
                        "components": comps,
                        "dataArray@iot.count": len(rows),
                        "dataArray": [[r[k] for k in keys] for r in rows],
                    }
                ]
            else:
                body["value"] = rows
            return Reply(200, orjson.dumps(body))

        return handler

    def _obs(self, s: Stream, k: int) -> dict[str, Any]:
        t = iso(datetime.fromtimestamp(s.times[k], UTC))
        oid = s.iot_id * 10_000_000 + k
        obs = dict(self.template)
        obs.update(
            {
                "@iot.id": oid,
                "phenomenonTime": t,
                "resultTime": t,
                "result": round(1000 + (k % 500) * 0.01, 2) if s.kind == "Datastreams" else [k * 0.5, k],
                "parameters": {"sen_id": oid, "publish_yn": "Y"},
                "@iot.selfLink": f"{self.url}/Observations({oid})",
            }
        )
        return obs
