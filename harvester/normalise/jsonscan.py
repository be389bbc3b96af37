"""First pass over a JSON file, bounded: where the records are, their columns, and the guards against hostile files.

The pass walks ijson's *basic* events (no prefixes, no objects built), so memory stays flat whatever the file
holds, and it refuses, before anything is built in memory:

- nesting deeper than `JsonLimits.max_depth` (ijson's prefixed parser would otherwise build a prefix string per
  level, quadratic in the depth: 2 MB of `[` took 23 GB);
- one record whose estimated in-memory size exceeds `max_record_bytes` (very wide objects, very long strings);
- more than `max_columns` distinct keys over all records;
- GeoJSON coordinates nested deeper than `max_coordinate_depth` (a MultiPolygon needs 4 levels).

Once this pass accepted a file, the second pass may build each record with `ijson.items` safely.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harvester.errors import RecordError

JSON_MAX_DEPTH = 64  # real open data (corpus: ≤ 12 levels, OpenAPI documents included)
JSON_MAX_RECORD_BYTES = 128 * 1024**2  # estimated Python memory of one record (one GeoJSON feature)
JSON_MAX_COLUMNS = 10_000  # distinct keys over all records
GEOJSON_MAX_COORDINATE_DEPTH = 6  # Point 1, LineString 2, Polygon 3, MultiPolygon 4: deeper is hostile
# ijson reads this many bytes at a time and turns each chunk into a list of events (~70 bytes of memory per event,
# one per `[` at worst: ~80 MB), while its lexer rescans a string token once per chunk (64 KiB, the default, made a
# 200 MB string take 6 minutes; 1 MiB takes ~40 s). 1 MiB bounds the first and keeps the second tolerable.
READ_BUFFER = 1024**2
_CRS84 = {
    "urn:ogc:def:crs:OGC:1.3:CRS84",
    "urn:ogc:def:crs:OGC::CRS84",
    "EPSG:4326",
    "urn:ogc:def:crs:EPSG::4326",
}
# Rough CPython sizes: a container, a number, a string's overhead beyond its characters.
_CONTAINER, _NUMBER, _STRING = 64, 32, 56


@dataclass(frozen=True)
class JsonLimits:
    """Guards of the JSON and GeoJSON readers; a file past any of them fails its resource (and only it)."""

    max_depth: int = JSON_MAX_DEPTH
    max_record_bytes: int = JSON_MAX_RECORD_BYTES
    max_columns: int = JSON_MAX_COLUMNS
    max_coordinate_depth: int = GEOJSON_MAX_COORDINATE_DEPTH


@dataclass
class JsonLayout:
    """Where the records are (an ijson prefix), whether they are GeoJSON features, and their columns."""

    prefix: str
    geojson: bool
    kinds: dict[str, set[str]] = field(default_factory=dict)  # column → kinds seen (bool,int,float,str,json)
    crs_known: bool = True
    rows: int = 0
    max_record_bytes: int = 0  # the largest record's estimated size, to size the batches of the second pass


def _scalar_kind(event: str, value: Any) -> str | None:
    if event == "boolean":
        return "bool"
    if event in ("integer", "double", "number"):  # yajl2_c says "number" for both, with an int or a float
        if isinstance(value, int):
            return "int" if -(2**63) <= value < 2**63 else "str"
        return "float"
    if event == "string":
        return "str"
    return None  # null


_STARTS = ("start_map", "start_array")
_ENDS = ("end_map", "end_array")


def _size(event: str, value: Any) -> int:
    if event in ("string", "map_key"):
        return _STRING + len(value)
    if event in ("start_map", "start_array"):
        return _CONTAINER
    return _NUMBER


class _Scan:
    """State of the walk; `feed` takes one basic event at a time.

    Depth: a container's start and end events see its own depth, a key or scalar sees its parent's.
    """

    def __init__(self, url: str, limits: JsonLimits) -> None:
        self.url, self.limits = url, limits
        self.depth = 0
        self.top_key: str | None = None  # the current key of the top-level object
        self.crs_path: list[str] = []
        self.geojson = False
        self.crs_known = True
        self.layout: JsonLayout | None = None
        self.rec_depth = 0  # depth of the record array once found
        self.done = False  # the record array ended
        # state of the current record
        self.rec_bytes = 0
        self.key: str | None = None  # the column whose value comes next
        self.fkey: str | None = None  # GeoJSON: the current key of the feature
        self.props: str | None = None  # GeoJSON: "map" | "array" once `properties` opened
        self.props_listed = False
        self.coord_base: int | None = None
        self.pending_coords = False
        self.bad: str | None = None  # why the current record is refused, once its end is reached

    def fail(self, reason: str) -> RecordError:
        return RecordError(reason, url=self.url)

    def feed(self, event: str, value: Any) -> None:
        if event in _STARTS:
            self.depth += 1
            if self.depth > self.limits.max_depth:
                raise self.fail(f"JSON nested deeper than {self.limits.max_depth} levels (refused)")
        if self.layout is None:
            self._locate(event, value)
        elif not self.done:
            self._record_event(event, value)
        if event in _ENDS:
            self.depth -= 1

    def _locate(self, event: str, value: Any) -> None:
        """Before the records: the top-level array, or the first array in the top object (`features` in GeoJSON)."""
        d = self.depth
        if d == 1 and event == "start_array":
            self._found("item", False)
        elif d == 1 and event == "map_key":
            self.top_key = value
        elif d == 1 and self.top_key == "type" and event == "string":
            if value in ("FeatureCollection", "Feature"):
                self.geojson = True
                if value == "Feature":
                    raise self.fail("a single GeoJSON Feature is not a table")
        elif d == 2 and event == "start_array" and self.top_key and "." not in self.top_key:
            if not self.geojson or self.top_key == "features":
                self._found(f"{self.top_key}.item", self.geojson or self.top_key == "features")
        elif self.top_key == "crs" and event == "map_key" and d in (2, 3):
            self.crs_path[d - 2 :] = [value]
        elif (
            self.top_key == "crs" and event == "string" and d == 3 and self.crs_path == ["properties", "name"]
        ):
            self.crs_known = value in _CRS84

    def _found(self, prefix: str, geojson: bool) -> None:
        self.layout = JsonLayout(prefix, geojson, crs_known=self.crs_known)
        self.rec_depth = self.depth

    def _record_event(self, event: str, value: Any) -> None:
        layout = self.layout
        assert layout is not None
        rel = self.depth - self.rec_depth  # 1: the record's own keys and scalars
        if rel == 0 and event == "end_array":
            self.done = True
            return
        if rel == 0 or (rel == 1 and event in _STARTS):
            self._start_record(event)
            if rel == 0:  # a scalar record
                raise self.fail(self.bad or "")
        if self.bad:  # a record that is an array: its depth is checked to its end, then it is refused
            if rel == 1 and event in _ENDS:
                raise self.fail(self.bad)
            return
        self.rec_bytes += _size(event, value)
        if self.rec_bytes > self.limits.max_record_bytes:
            raise self.fail(
                f"JSON record {layout.rows} exceeds the memory budget of {self.limits.max_record_bytes} "
                "bytes (refused)"
            )
        if layout.geojson:
            self._feature_event(event, value, rel)
        else:
            self._value_event(event, value, rel, 1)
        if rel == 1 and event in _ENDS:
            layout.rows += 1
            layout.max_record_bytes = max(layout.max_record_bytes, self.rec_bytes)

    def _start_record(self, event: str) -> None:
        layout = self.layout
        assert layout is not None
        if event != "start_map":
            if layout.geojson:
                self.bad = f"GeoJSON feature {layout.rows} is not an object"
            else:
                self.bad = f"JSON record {layout.rows} is not an object (an array of objects is expected)"
        self.rec_bytes, self.key, self.fkey, self.props = 0, None, None, None
        self.props_listed, self.coord_base, self.pending_coords = False, None, False

    def _value_event(self, event: str, value: Any, rel: int, level: int) -> None:
        """An event of the object whose keys are the columns (`level` is its relative depth)."""
        if rel == level and event == "map_key":
            self._column(value)
        elif rel == level and event not in _STARTS and event not in _ENDS:
            self._kind(_scalar_kind(event, value))
        elif rel == level + 1 and event in _STARTS:
            self._kind("json")  # nested values become JSON text; not looked into

    def _column(self, name: str) -> None:
        kinds = self.layout.kinds if self.layout is not None else {}
        if name not in kinds:
            if len(kinds) >= self.limits.max_columns:
                raise self.fail(
                    f"JSON records have more than {self.limits.max_columns} distinct keys (refused)"
                )
            kinds[name] = set()
        self.key = name

    def _kind(self, kind: str | None) -> None:
        if self.layout is not None and self.key is not None and kind:
            self.layout.kinds[self.key].add(kind)
        self.key = None

    def _feature_event(self, event: str, value: Any, rel: int) -> None:
        """GeoJSON: the columns are the keys of `properties`; the `geometry` coordinates are depth-checked."""
        if rel == 1:
            if event == "map_key":
                self.fkey, self.props = value, None
            elif self.fkey == "properties" and event not in _STARTS and event not in _ENDS and value:
                self._column("properties")  # a scalar `properties` is one column
                self._kind(_scalar_kind(event, value))
            return
        if self.fkey == "properties":
            if rel == 2 and self.props is None and event in _STARTS:
                self.props = "map" if event == "start_map" else "array"
            elif self.props == "map":
                self._value_event(event, value, rel, 2)
            elif self.props == "array" and not self.props_listed and not (rel == 2 and event == "end_array"):
                self.props_listed = True  # a non-empty array is one column of JSON text
                self._column("properties")
                self._kind("json")
        elif self.fkey == "geometry":
            self._geometry_event(event, value)

    def _geometry_event(self, event: str, value: Any) -> None:
        if self.coord_base is not None:
            level = self.depth - self.coord_base
            if event == "start_array" and level > self.limits.max_coordinate_depth:
                n = self.layout.rows if self.layout is not None else 0
                raise self.fail(
                    f"GeoJSON feature {n}: coordinates nested deeper than {self.limits.max_coordinate_depth} "
                    "levels (a MultiPolygon needs 4; refused)"
                )
            if event == "end_array" and level == 1:
                self.coord_base = None
            return
        if event == "start_array" and self.pending_coords:
            self.coord_base = self.depth - 1
        self.pending_coords = event == "map_key" and value == "coordinates"


def _plain_records(events: Iterator[tuple[str, Any]], scan: _Scan) -> None:
    """The same walk as `_Scan.feed` for an array of plain records, inlined (3x faster); it hands anything else
    (a record that is not an object) back to `scan`, and returns at the end of the array."""
    layout, limits = scan.layout, scan.limits
    assert layout is not None
    kinds, max_depth, budget = layout.kinds, limits.max_depth, limits.max_record_bytes
    r = scan.rec_depth
    r1, r2 = r + 1, r + 2
    depth, size = scan.depth, 0
    cur: set[str] | None = None  # the kinds of the column whose value comes next
    for event, value in events:
        if event == "map_key":
            size += _STRING + len(value)
            if depth == r1:
                cur = kinds.get(value)
                if cur is None:
                    if len(kinds) >= limits.max_columns:
                        raise scan.fail(
                            f"JSON records have more than {limits.max_columns} distinct keys (refused)"
                        )
                    cur = kinds[value] = set()
        elif event == "start_map" or event == "start_array":
            if depth == r:  # a record starts
                if event == "start_array":
                    scan.depth = depth
                    scan.feed(event, value)  # not an object: refused by `scan` once its depth is known
                    return
                size = 0
            depth += 1
            if depth > max_depth:
                raise scan.fail(f"JSON nested deeper than {max_depth} levels (refused)")
            size += _CONTAINER
            if depth == r2 and cur is not None:
                cur.add("json")
                cur = None
        elif event == "end_map" or event == "end_array":
            if depth == r1:
                layout.rows += 1
                layout.max_record_bytes = max(layout.max_record_bytes, size)
            depth -= 1
            if depth < r:
                scan.depth, scan.done = depth, True
                return
        else:
            if depth == r:  # a scalar record
                scan.depth = depth
                scan.feed(event, value)
                return
            size += _STRING + len(value) if event == "string" else _NUMBER
            if cur is not None:
                kind = _scalar_kind(event, value)
                if kind:
                    cur.add(kind)
                cur = None
        if size > budget:
            raise scan.fail(
                f"JSON record {layout.rows} exceeds the memory budget of {budget} bytes (refused)"
            )
    scan.depth = depth


def scan_json(path: Path, *, url: str, limits: JsonLimits | None = None) -> JsonLayout:
    """First pass: find the records and every column with the kinds of values it holds, within `limits`."""
    import ijson

    scan = _Scan(url, limits or JsonLimits())
    try:
        with path.open("rb") as fh:
            events = ijson.basic_parse(fh, buf_size=READ_BUFFER, use_float=True)
            for event, value in events:
                scan.feed(event, value)
                if scan.layout is not None:
                    break
            if scan.layout is not None and not scan.layout.geojson:
                _plain_records(events, scan)
            for event, value in events:
                scan.feed(event, value)
    except RecordError:
        raise
    except Exception as exc:  # ijson.JSONError / IncompleteJSONError
        raise RecordError(f"malformed or truncated JSON: {exc}", url=url) from exc
    if scan.layout is None:
        raise RecordError("JSON holds no array of records", url=url)
    if scan.layout.rows == 0:
        raise RecordError("JSON array of records is empty", url=url)
    return scan.layout
