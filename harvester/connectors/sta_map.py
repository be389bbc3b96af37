"""SensorThings API entities → DatasetRecord: one Datastream (or MultiDatastream) with its Thing, Sensor and
ObservedProperty expanded. Shared by the `sensorthings` connector and the observations reader (URLs, types)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from harvester.dates import parse_datetime
from harvester.records import DatasetRecord, ResourceRef

SENSORTHINGS_FORMAT = "SensorThings"
# Properties whose value usually states the licence or the terms of use.
LICENSE_KEYS = ("license", "licence", "license_url", "licenseurl", "data_usage", "usage", "rights", "terms")
_OM = re.compile(r"(OM_[A-Za-z]+)$")


def entity_path(kind: str, iot_id: Any) -> str:
    """`Datastreams(92)`, or `Datastreams('ab-1')` for a string id (quotes doubled, as OData wants)."""
    if isinstance(iot_id, bool) or not isinstance(iot_id, int | str):
        raise ValueError(f"@iot.id is neither a number nor a string: {iot_id!r}")
    if isinstance(iot_id, int):
        return f"{kind}({iot_id})"
    return f"{kind}('{iot_id.replace(chr(39), chr(39) * 2)}')"


def observation_type(value: Any) -> str | None:
    """`OM_Measurement` from the short name or the full OGC URI."""
    if not isinstance(value, str):
        return None
    m = _OM.search(value.strip())
    return m.group(1) if m else None


def time_interval(value: Any) -> tuple[datetime | None, datetime | None]:
    """An ISO 8601 instant or `start/end` interval → (start, end), UTC."""
    if not isinstance(value, str) or not value.strip():
        return None, None
    parts = value.strip().split("/")
    start = parse_datetime(parts[0])
    end = parse_datetime(parts[1]) if len(parts) > 1 else start
    return start, end


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _scalar(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def license_from(properties: dict[str, Any]) -> str | None:
    """The licence stated in a `properties` object, if a key says so."""
    for key, value in properties.items():
        if key.lower().replace("-", "_") in LICENSE_KEYS and isinstance(value, str) and value.strip():
            return value.strip()
    return None


def geometry_of(ds: dict[str, Any]) -> dict[str, Any] | None:
    """`observedArea`, else the first GeoJSON location of the Thing."""
    area = ds.get("observedArea")
    if isinstance(area, dict) and area.get("type"):
        return area
    thing = _dict(ds.get("Thing"))
    for loc in thing.get("Locations") or []:
        geo = _dict(loc).get("location")
        if isinstance(geo, dict) and geo.get("type") == "Feature":
            geo = geo.get("geometry")
        if isinstance(geo, dict) and geo.get("type"):
            return geo
    return None


def _publisher(thing: dict[str, Any], ds: dict[str, Any]) -> str | None:
    for props in (_dict(ds.get("properties")), _dict(thing.get("properties"))):
        for key in ("publisher", "owner", "organisation", "organization", "provider", "operator"):
            value = props.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
            if isinstance(value, dict) and _text(value.get("name")):
                return _text(value.get("name"))
    return None


def _extras(prefix: str, props: dict[str, Any]) -> dict[str, str]:
    return {f"{prefix}{k}": _scalar(v) for k, v in props.items() if v not in (None, "", [], {})}


def map_datastream(
    ds: dict[str, Any], *, source_id: str, server: str, kind: str, data_array: bool
) -> DatasetRecord:
    """One Datastream (`kind` = `Datastreams`) or MultiDatastream (`MultiDatastreams`) → DatasetRecord."""
    iot_id = ds.get("@iot.id")
    path = entity_path(kind, iot_id)
    split = urlsplit(server)
    remote_id = f"{split.netloc}{split.path.rstrip('/')}/{path}"
    thing, sensor = _dict(ds.get("Thing")), _dict(ds.get("Sensor"))
    props = _dict(ds.get("properties"))
    observed: list[dict[str, Any]] = [_dict(ds.get("ObservedProperty"))] if "ObservedProperty" in ds else []
    observed += [_dict(p) for p in ds.get("ObservedProperties") or []]
    title = _text(ds.get("name")) or _text(ds.get("description"))
    if not title:
        raise ValueError("Datastream without a name or a description")
    start, end = time_interval(ds.get("phenomenonTime"))
    extras: dict[str, str] = {"sta:server": server, "sta:entity": path, "sta:kind": kind[:-1]}
    extras["sta:iot_id"] = str(iot_id)
    otype = observation_type(ds.get("observationType"))
    if otype:
        extras["sta:observationType"] = otype
    types = ds.get("multiObservationDataTypes")
    if isinstance(types, list):
        extras["sta:multiObservationDataTypes"] = json.dumps(
            [observation_type(t) or t for t in types], ensure_ascii=False
        )
    units = ds.get("unitOfMeasurements") if kind == "MultiDatastreams" else [ds.get("unitOfMeasurement")]
    if isinstance(units, list):
        extras["sta:unitOfMeasurement"] = json.dumps([_dict(u) for u in units], ensure_ascii=False)
    if observed:
        extras["sta:observedProperties"] = json.dumps(
            [_text(p.get("name")) for p in observed], ensure_ascii=False
        )
    if _text(ds.get("phenomenonTime")):
        extras["sta:phenomenonTime"] = ds["phenomenonTime"].strip()
    for label, entity in (("thing", thing), ("sensor", sensor)):
        if _text(entity.get("name")):
            extras[f"sta:{label}"] = entity["name"].strip()
    extras.update(_extras("sta:properties:", props))
    extras.update(_extras("sta:thing:", _dict(thing.get("properties"))))
    keywords = [p.get("name") for p in observed] + [sensor.get("name"), thing.get("name")]
    keywords += [p.get("definition") for p in observed if isinstance(p.get("definition"), str)]
    geometry = geometry_of(ds)
    description = _text(ds.get("description"))
    if thing and _text(thing.get("description")) and description != _text(thing.get("description")):
        description = f"{description or ''}\n\n{thing['description'].strip()}".strip()
    url = f"{server}/{path}/Observations"
    if data_array:
        url += "?$resultFormat=dataArray"
    resource = ResourceRef(
        url=url,
        remote_id="observations",
        title=f"{title} (Observations)",
        description=f"Observations of {title}, read by the normalise stage into a time-partitioned table",
        format=SENSORTHINGS_FORMAT,
        modified=end,
    )
    return DatasetRecord(
        source_id=source_id,
        remote_id=remote_id,
        name=f"{kind[:-1].lower()}-{re.sub(r'[^A-Za-z0-9]+', '-', str(iot_id)).strip('-')}",
        title=title,
        description=description,
        landing_page=_text(ds.get("@iot.selfLink")) or f"{server}/{path}",
        remote_url=f"{server}/{path}",
        publisher=_publisher(thing, ds),
        keywords=tuple(k.strip() for k in keywords if isinstance(k, str) and k.strip()),
        license_raw=license_from(props) or license_from(_dict(thing.get("properties"))),
        issued=start,
        modified=end,
        spatial=json.dumps(geometry, separators=(",", ":")) if geometry else None,
        resources=(resource,),
        extras=extras,
        raw=ds,
    )
