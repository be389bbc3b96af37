"""One NGSI entity → flat columns, whatever its representation: NGSI-LD normalized (Property / GeoProperty /
Relationship with `observedAt`, `unitCode`), NGSIv2 normalized (`{type, value, metadata}`) or keyValues."""

from __future__ import annotations

import struct
from datetime import datetime
from typing import Any

import orjson

from harvester.dates import parse_datetime

LD_TYPES = frozenset(
    {
        "Property",
        "GeoProperty",
        "Relationship",
        "LanguageProperty",
        "VocabProperty",
        "ListProperty",
        "JsonProperty",
    }
)
V2_KEYS = frozenset({"type", "value", "metadata"})
GEO_TYPES = frozenset(
    {"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon", "GeometryCollection"}
)
SKIP = frozenset({"id", "type", "@context"})
LOCATION = "location"


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _value(v: Any) -> tuple[Any, bool]:
    """(column value, is a DateTime) of an attribute value: scalars as they are, `{"@type": "DateTime"}` as its
    text, other objects and arrays as JSON text."""
    t = type(v)
    if t is dict:
        if v.get("@type") == "DateTime" and "@value" in v:
            return v["@value"], True
        return _json(v), False
    if t is list:
        return _json(v), False
    return v, False


def _geojson(v: Any) -> dict[str, Any] | None:
    return v if isinstance(v, dict) and v.get("type") in GEO_TYPES else None


def flatten(entity: dict[str, Any]) -> tuple[dict[str, Any], set[str], Any]:
    """(columns, names of DateTime columns, the `location` GeoJSON as published or None).

    `location` becomes the geometry; other geo attributes stay as GeoJSON text columns. Metadata become
    `<attr>_<name>` columns: `observedAt`, `unitCode` (NGSI-LD), `timestamp`, `unitCode` (NGSIv2 metadata).
    """
    row: dict[str, Any] = {"id": entity.get("id"), "type": entity.get("type")}
    dates: set[str] = set()
    location: Any = None
    for name, attr in entity.items():
        if name in SKIP:
            continue
        if name == "geometry":
            name = "geometry_attr"  # `geometry` is the WKB column of the table
        is_dict = type(attr) is dict
        if is_dict and attr.get("type") in LD_TYPES and ("value" in attr or "object" in attr):
            kind = attr["type"]
            value = attr.get("object") if kind == "Relationship" else attr.get("value")
            if kind == "GeoProperty" and name == LOCATION:
                location = value
                continue
            row[name], is_date = _value(value)
            if is_date:
                dates.add(name)
            for meta in ("observedAt", "unitCode"):
                if meta in attr:
                    row[f"{name}_{meta}"] = attr[meta]
                    if meta == "observedAt":
                        dates.add(f"{name}_{meta}")
        elif is_dict and "value" in attr and attr.keys() <= V2_KEYS:
            if name == LOCATION and attr.get("type") in ("geo:json", "geo:point", None):
                location = attr["value"]
                continue
            row[name], _ = _value(attr["value"])
            if attr.get("type") == "DateTime":
                dates.add(name)
            metadata = attr.get("metadata")
            for meta, body in metadata.items() if isinstance(metadata, dict) else []:
                if isinstance(body, dict) and "value" in body:
                    row[f"{name}_{meta}"], _ = _value(body["value"])
                    if body.get("type") == "DateTime":
                        dates.add(f"{name}_{meta}")
        elif name == LOCATION and _geojson(attr) is not None:
            location = attr  # keyValues
        else:
            row[name], is_date = _value(attr)
            if is_date:
                dates.add(name)
    return row, dates, location


def point_of(location: Any) -> Any:
    """NGSIv2 `geo:point` is a "lat, lon" string: as GeoJSON."""
    if isinstance(location, str) and "," in location:
        lat, _, lon = location.partition(",")
        try:
            return {"type": "Point", "coordinates": [float(lon), float(lat)]}
        except ValueError:
            return location
    return location


def summary(entity: dict[str, Any]) -> tuple[Any, datetime | None]:
    """(location as published, newest DateTime) of an entity, without flattening it (the connector's listing)."""
    location: Any = None
    best: datetime | None = None
    for name, attr in entity.items():
        if name in SKIP:
            continue
        if name == LOCATION:
            location = attr["value"] if isinstance(attr, dict) and "value" in attr else attr
            continue
        found: list[Any] = []
        if type(attr) is dict:
            value = attr.get("value")
            if "observedAt" in attr:
                found.append(attr["observedAt"])
            if type(value) is dict and value.get("@type") == "DateTime":
                found.append(value.get("@value"))
            elif attr.get("type") == "DateTime" or name in ("dateModified", "modifiedAt"):
                found.append(value)
            meta = attr.get("metadata")
            stamp = meta.get("timestamp") if type(meta) is dict else None
            if type(stamp) is dict:
                found.append(stamp.get("value"))
        elif name in ("dateModified", "modifiedAt"):
            found.append(attr)
        for text in found:
            dt = parse_datetime(text)
            if dt is not None and (best is None or dt > best):
                best = dt
    return location, best


Bounds = tuple[float, float, float, float]


def _point(coords: Any) -> tuple[float, float] | None:
    if type(coords) is list and len(coords) in (2, 3) and all(type(c) in (int, float) for c in coords):
        return float(coords[0]), float(coords[1])
    return None


def location_wkb(location: Any) -> tuple[bytes | None, Bounds | None, str | None]:
    """(WKB, bounds, error) of a location: a location that is not valid GeoJSON, or not in longitude/latitude
    range, gives (None, None, the reason). Points (most entities) are encoded without GEOS."""
    if location is None:
        return None, None, None
    geo = point_of(location)
    if not isinstance(geo, dict):
        return None, None, f"location is not a GeoJSON geometry: {str(geo)[:80]!r}"
    xy = _point(geo.get("coordinates")) if geo.get("type") == "Point" else None
    if xy is not None:
        bounds: Bounds = (xy[0], xy[1], xy[0], xy[1])
        wkb = struct.pack("<BIdd", 1, 1, xy[0], xy[1])
    else:
        import shapely

        try:
            geom = shapely.from_geojson(_json(geo))
        except Exception as exc:  # shapely raises GEOSException or ValueError on broken GeoJSON
            return None, None, f"broken location GeoJSON: {exc}"
        if geom is None or geom.is_empty:
            return None, None, "empty location geometry"
        bounds = tuple(geom.bounds)  # type: ignore[assignment]
        wkb = shapely.to_wkb(geom)
    x0, y0, x1, y1 = bounds
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        return None, None, f"location out of longitude/latitude range: {bounds}"
    return wkb, bounds, None
