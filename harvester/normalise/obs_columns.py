"""The columns of an Observations table: times as UTC timestamps, `result` typed from the observationType,
unit columns from unitOfMeasurement, resultQuality flattened. The schema is fixed by the first download and kept
for every append (new resultQuality keys stay in the `resultQuality` JSON column)."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
import pyarrow as pa

from harvester.dates import parse_datetime

TS = pa.timestamp("us", tz="UTC")
RESULT_TYPES: dict[str, pa.DataType] = {
    "OM_Measurement": pa.float64(),
    "OM_CountObservation": pa.int64(),
    "OM_TruthObservation": pa.bool_(),
    "OM_CategoryObservation": pa.string(),
}
QUALITY = "resultQuality_"
_TRUE = {"true": True, "1": True, "false": False, "0": False}


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "x"


def typed(value: Any, arrow_type: pa.DataType) -> tuple[Any, bool]:
    """(value converted to `arrow_type`, ok); a value that does not fit gives (None, False)."""
    if value is None:
        return None, True
    if pa.types.is_string(arrow_type):
        return _json(value), True
    if isinstance(value, bool):
        return (value, True) if pa.types.is_boolean(arrow_type) else (None, False)
    if pa.types.is_boolean(arrow_type):
        hit = _TRUE.get(str(value).strip().lower())
        return (hit, True) if hit is not None else (None, False)
    if isinstance(value, str):
        try:
            value = float(value.strip().replace(",", "."))
        except ValueError:
            return None, False
    if not isinstance(value, int | float):
        return None, False
    if pa.types.is_integer(arrow_type):
        return (int(value), True) if float(value).is_integer() else (None, False)
    return float(value), True


def timestamps(values: list[Any]) -> tuple[pa.Array, pa.Array]:
    """ISO instants or `start/end` intervals → (start, end) UTC timestamp arrays (end null for instants)."""
    starts: list[Any] = []
    ends: list[Any] = []
    interval = False
    for v in values:
        if isinstance(v, str) and "/" in v:
            a, _, b = v.partition("/")
            starts.append(a)
            ends.append(b)
            interval = True
        else:
            starts.append(v if isinstance(v, str) else None)
            ends.append(None)
    return _ts(starts), (_ts(ends) if interval else pa.nulls(len(values), TS))


def _ts(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values, pa.string()).cast(TS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([parse_datetime(v) for v in values], TS)


class ObservationColumns:
    def __init__(
        self,
        result_types: list[pa.DataType],
        type_names: list[str],
        units: list[dict[str, Any]],
        quality_keys: list[str] | None,
    ) -> None:
        self.result_types = result_types
        self.type_names = type_names
        self.units = units
        self.quality_keys = quality_keys  # None until the first page is seen
        self.invalid = 0

    @classmethod
    def from_feed(cls, feed: dict[str, Any], schema: pa.Schema | None) -> ObservationColumns:
        multi = feed.get("multi_types")
        names = list(multi) if isinstance(multi, list) else [feed.get("observation_type") or "OM_Observation"]
        types = [RESULT_TYPES.get(str(n), pa.string()) for n in names]
        units = [u if isinstance(u, dict) else {} for u in feed.get("units") or []]
        keys = None
        if schema is not None:
            keys = [n.removeprefix(QUALITY) for n in schema.names if n.startswith(QUALITY)]
            if len(types) == 1 and "result" in schema.names:
                types = [schema.field("result").type]  # appends keep the table's type
        return cls(types, names, units, keys)

    @property
    def multi(self) -> bool:
        return len(self.type_names) > 1 or self.type_names[0] == "OM_ComplexObservation"

    @property
    def result_type(self) -> str:
        return ", ".join(self.type_names)

    def discover(self, rows: list[dict[str, Any]]) -> None:
        if self.quality_keys is not None:
            return
        keys: dict[str, None] = {}
        for r in rows:
            q = r.get("resultQuality")
            if isinstance(q, dict):
                keys.update((str(k), None) for k in q)
        self.quality_keys = list(keys)

    @property
    def schema(self) -> pa.Schema:
        fields = [
            pa.field("id", pa.string()),
            pa.field("phenomenonTime", TS),
            pa.field("phenomenonTimeEnd", TS),
            pa.field("resultTime", TS),
        ]
        if self.multi:
            fields += [pa.field(f"result_{i + 1}", t) for i, t in enumerate(self.result_types)]
            fields += [pa.field(f"unit_symbol_{i + 1}", pa.string()) for i in range(len(self.result_types))]
        else:
            fields += [pa.field("result", self.result_types[0])]
            fields += [pa.field(f"unit_{k}", pa.string()) for k in ("name", "symbol", "definition")]
        if not all(pa.types.is_string(t) for t in self.result_types):
            fields.append(pa.field("result_invalid", pa.string()))
        fields.append(pa.field("resultQuality", pa.string()))
        fields += [pa.field(QUALITY + _safe(k), pa.string()) for k in self.quality_keys or []]
        fields.append(pa.field("parameters", pa.string()))
        return pa.schema(fields)

    def _results(self, rows: list[dict[str, Any]]) -> tuple[list[list[Any]], list[str | None]]:
        n = len(self.result_types)
        cols: list[list[Any]] = [[] for _ in range(n)]
        invalid: list[str | None] = []
        for r in rows:
            raw = r.get("result")
            parts = raw if self.multi and isinstance(raw, list) else [raw] if not self.multi else []
            bad = self.multi and not isinstance(raw, list)
            for i in range(n):
                value, ok = typed(parts[i] if i < len(parts) else None, self.result_types[i])
                cols[i].append(value)
                bad = bad or not ok
            invalid.append(_json(raw) if bad else None)
            self.invalid += bad
        return cols, invalid

    def batch(self, rows: list[dict[str, Any]]) -> pa.RecordBatch:
        n = len(rows)
        start, end = timestamps([r.get("phenomenonTime") for r in rows])
        result_time, _ = timestamps([r.get("resultTime") for r in rows])
        arrays: dict[str, pa.Array] = {
            "id": pa.array(
                [None if r.get("@iot.id") is None else str(r["@iot.id"]) for r in rows], pa.string()
            ),
            "phenomenonTime": start,
            "phenomenonTimeEnd": end,
            "resultTime": result_time,
        }
        results, invalid = self._results(rows)
        if self.multi:
            for i, t in enumerate(self.result_types):
                arrays[f"result_{i + 1}"] = pa.array(results[i], t)
                unit = self.units[i] if i < len(self.units) else {}
                arrays[f"unit_symbol_{i + 1}"] = pa.array([unit.get("symbol")] * n, pa.string())
        else:
            arrays["result"] = pa.array(results[0], self.result_types[0])
            unit = self.units[0] if self.units else {}
            for k in ("name", "symbol", "definition"):
                arrays[f"unit_{k}"] = pa.array([unit.get(k)] * n, pa.string())
        arrays["result_invalid"] = pa.array(invalid, pa.string())
        quality = [r.get("resultQuality") for r in rows]
        arrays["resultQuality"] = pa.array([_json(q) for q in quality], pa.string())
        for k in self.quality_keys or []:
            arrays[QUALITY + _safe(k)] = pa.array(
                [_json(q.get(k)) if isinstance(q, dict) else None for q in quality], pa.string()
            )
        arrays["parameters"] = pa.array([_json(r.get("parameters")) for r in rows], pa.string())
        schema = self.schema
        return pa.RecordBatch.from_arrays([arrays[f.name] for f in schema], schema=schema)

    def detected(self) -> dict[str, Any]:
        return {"observation_type": self.result_type, "units": json.dumps(self.units, ensure_ascii=False)}
