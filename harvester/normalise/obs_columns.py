"""The columns of an Observations table: times as UTC timestamps, `result` typed from the observationType,
unit columns from unitOfMeasurement, resultQuality flattened. The schema is fixed by the first download and kept
for every append (new resultQuality keys stay in the `resultQuality` JSON column)."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

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


def _ids(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values).cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


_FAST_TYPES: dict[str, set[type]] = {
    "double": {int, float, type(None)},
    "int64": {int, type(None)},
    "bool": {bool, type(None)},
    "string": {str, type(None)},
}


def _fast_array(values: list[Any], arrow_type: pa.DataType) -> pa.Array | None:
    """The column in one C++ call when every value already has the right Python type (the common case)."""
    allowed = _FAST_TYPES.get(str(arrow_type))
    if allowed is None or not set(map(type, values)) <= allowed:
        return None
    return pa.array(values, arrow_type)


def _json_array(values: list[Any]) -> pa.Array:
    dumps = orjson.dumps
    return pa.array(
        [None if v is None else v if type(v) is str else dumps(v).decode() for v in values], pa.string()
    )


def timestamps(values: list[Any]) -> tuple[pa.Array, pa.Array]:
    """ISO instants or `start/end` intervals → (start, end) UTC timestamp arrays (end null for instants)."""
    if set(map(type, values)) <= {str, type(None)}:
        text = pa.array(values, pa.string())
        if not pc.any(pc.match_substring(text, "/")).as_py():
            try:
                return text.cast(TS), pa.nulls(len(values), TS)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
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
        self.multi = len(type_names) > 1 or type_names[0] == "OM_ComplexObservation"
        self._schema: pa.Schema | None = None

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
    def result_type(self) -> str:
        return ", ".join(self.type_names)

    def discover(self, cols: dict[str, list[Any]]) -> None:
        if self.quality_keys is not None:
            return
        keys: dict[str, None] = {}
        for q in cols.get("resultQuality") or []:
            if isinstance(q, dict):
                keys.update((str(k), None) for k in q)
        self.quality_keys = list(keys)

    @property
    def schema(self) -> pa.Schema:
        if self._schema is not None:
            return self._schema
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
        if self.quality_keys is not None:
            self._schema = pa.schema(fields)
        return pa.schema(fields)

    def _results(self, raw: list[Any]) -> tuple[list[pa.Array], pa.Array]:
        n = len(self.result_types)
        if not self.multi:
            fast = _fast_array(raw, self.result_types[0])
            if fast is not None:
                return [fast], pa.nulls(len(raw), pa.string())
        cols: list[list[Any]] = [[] for _ in range(n)]
        invalid: list[str | None] = []
        for value in raw:
            parts = value if self.multi and isinstance(value, list) else [value] if not self.multi else []
            bad = self.multi and not isinstance(value, list)
            for i in range(n):
                typed_value, ok = typed(parts[i] if i < len(parts) else None, self.result_types[i])
                cols[i].append(typed_value)
                bad = bad or not ok
            invalid.append(_json(value) if bad else None)
            self.invalid += bad
        return [pa.array(c, t) for c, t in zip(cols, self.result_types, strict=True)], pa.array(
            invalid, pa.string()
        )

    def batch(self, cols: dict[str, list[Any]]) -> pa.RecordBatch:
        """One record batch from the columns of a page (`@iot.id`, `phenomenonTime`, `result`…)."""
        n = len(cols["phenomenonTime"])
        start, end = timestamps(cols["phenomenonTime"])
        result_time, _ = timestamps(cols.get("resultTime") or [None] * n)
        arrays: dict[str, pa.Array] = {
            "id": _ids(cols.get("@iot.id") or [None] * n),
            "phenomenonTime": start,
            "phenomenonTimeEnd": end,
            "resultTime": result_time,
        }
        results, invalid = self._results(cols.get("result") or [None] * n)
        if self.multi:
            for i in range(len(self.result_types)):
                arrays[f"result_{i + 1}"] = results[i]
                unit = self.units[i] if i < len(self.units) else {}
                arrays[f"unit_symbol_{i + 1}"] = pa.array([unit.get("symbol")] * n, pa.string())
        else:
            arrays["result"] = results[0]
            unit = self.units[0] if self.units else {}
            for k in ("name", "symbol", "definition"):
                arrays[f"unit_{k}"] = pa.array([unit.get(k)] * n, pa.string())
        arrays["result_invalid"] = invalid
        quality = cols.get("resultQuality") or [None] * n
        arrays["resultQuality"] = _json_array(quality)
        arrays.update(self._quality_columns(quality))
        arrays["parameters"] = _json_array(cols.get("parameters") or [None] * n)
        schema = self.schema
        return pa.RecordBatch.from_arrays([arrays[f.name] for f in schema], schema=schema)

    def _quality_columns(self, quality: list[Any]) -> dict[str, pa.Array]:
        keys = self.quality_keys or []
        if not keys:
            return {}
        try:
            struct = pa.array(quality)
            if pa.types.is_struct(struct.type):
                names = {struct.type.field(i).name for i in range(struct.type.num_fields)}
                out = {}
                for k in keys:
                    col = pc.struct_field(struct, k) if k in names else pa.nulls(len(quality), pa.string())
                    if not (pa.types.is_struct(col.type) or pa.types.is_list(col.type)):
                        out[QUALITY + _safe(k)] = col.cast(pa.string())
                if len(out) == len(keys):
                    return out
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
            pass
        return {
            QUALITY + _safe(k): pa.array(
                [_json(q.get(k)) if isinstance(q, dict) else None for q in quality], pa.string()
            )
            for k in keys
        }

    def detected(self) -> dict[str, Any]:
        return {"observation_type": self.result_type, "units": json.dumps(self.units, ensure_ascii=False)}
