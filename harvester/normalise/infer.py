"""French type inference for text columns: numbers with decimal comma, dates, booleans, nulls, codes kept as text."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from harvester.normalise import rules
from harvester.normalise.rules import snake_case

__all__ = ["ColumnPlan", "columns_metadata", "infer_and_cast", "infer_column", "snake_case"]


@dataclass(frozen=True)
class ColumnPlan:
    """How the text cells of one column become typed values.

    kind is one of string, int, float, bool, date, timestamp. ``decimal`` is the decimal mark of a float column;
    ``thousands`` the characters removed as thousands separators; ``formats`` the date/timestamp layouts (a
    strptime format, or ``ISO``); ``tz`` is set for timestamps that carry a UTC offset (stored as UTC);
    ``reason`` says why a numeric-looking column stays text.
    """

    kind: str = "string"
    decimal: str = "."
    thousands: str = ""
    formats: tuple[str, ...] = ()
    tz: bool = False
    reason: str = ""

    def arrow_type(self) -> pa.DataType:
        if self.kind == "timestamp":
            return pa.timestamp("us", tz="UTC") if self.tz else pa.timestamp("us")
        return _ARROW[self.kind]

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in ("", (), False) or k == "kind"}


_ARROW: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
}
TEXT = ColumnPlan()
_NULLS = pa.array(rules.NULL_TOKENS)
_BOOLS = pa.array(rules.TRUE_TOKENS + rules.FALSE_TOKENS)


def _all(mask: pa.Array | pa.ChunkedArray) -> bool:
    return bool(pc.all(mask).as_py())


def _count(mask: pa.Array | pa.ChunkedArray) -> int:
    return int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)


def _matches(values: pa.Array, pattern: str) -> pa.Array:
    return pc.match_substring_regex(values, pattern)


def typed_values(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The trimmed cells of a column that carry a value (no null, no null token)."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    trimmed = pc.utf8_trim_whitespace(arr)
    keep = pc.and_(pc.is_valid(trimmed), pc.invert(pc.is_in(pc.utf8_lower(trimmed), value_set=_NULLS)))
    return pc.filter(trimmed, pc.fill_null(keep, False))


QUICK_ROWS = 5_000


def infer_column(values: pa.Array | pa.ChunkedArray, name: str = "") -> ColumnPlan:
    """Choose the type of a text column from (a sample of) its cells, the way a French reader would.

    The shapes are first studied on the first QUICK_ROWS values; a typed plan found there is kept if every
    cell of the sample casts with it, otherwise (or for text) the whole sample is studied.
    """
    vals = typed_values(values)
    if len(vals) > QUICK_ROWS:
        quick = _infer_values(vals.slice(0, QUICK_ROWS), name)
        if quick.kind != "string":
            from harvester.normalise.casting import cast_column

            text = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
            if cast_column(values_as_text(text), quick).ok:
                return quick
    return _infer_values(vals, name)


def _infer_values(vals: pa.Array, name: str) -> ColumnPlan:
    if len(vals) == 0:
        return ColumnPlan(reason="no value")
    plan = _infer_bool(vals)
    if plan is None:
        plan = _infer_number(vals, name)
    if plan is None:
        plan = _infer_temporal(vals)
    return plan or TEXT


def _infer_bool(vals: pa.Array) -> ColumnPlan | None:
    if int(pc.max(pc.utf8_length(vals)).as_py()) > 5:
        return None
    lower = pc.utf8_lower(vals)
    if not _all(pc.is_in(lower, value_set=_BOOLS)):
        return None
    distinct = {str(v) for v in pc.unique(lower).to_pylist()}
    if distinct <= rules.SINGLE_LETTER_BOOLEANS and not (
        distinct & set(rules.TRUE_TOKENS) and distinct & set(rules.FALSE_TOKENS)
    ):
        return None  # a lone "N" or "O" is not enough to call it a boolean
    return ColumnPlan("bool")


def _infer_number(vals: pa.Array, name: str) -> ColumnPlan | None:
    if not _all(_matches(vals, rules.NUMBER_CHARS)):
        return None
    if rules.looks_like_code_name(name):
        return ColumnPlan(reason="code column (name)")
    ints = _matches(vals, rules.INT)
    if _all(ints):
        return _infer_int(vals, spaced=False)
    shapes = {
        "int": ints,
        "int_spaced": _matches(vals, rules.INT_SPACED),
        "dec_comma": _matches(vals, rules.DEC_COMMA),
        "dec_dot": _matches(vals, rules.DEC_DOT),
        "dot_groups": _matches(vals, rules.DOT_GROUPS),
        "exponent": _matches(vals, rules.EXPONENT),
    }
    numeric = shapes["int"]
    for key in ("int_spaced", "dec_comma", "dec_dot", "dot_groups", "exponent"):
        numeric = pc.or_(numeric, shapes[key])
    if not _all(numeric):
        return None
    counts = {k: _count(v) for k, v in shapes.items()}
    n = len(vals)
    if counts["int"] + counts["int_spaced"] == n:
        return _infer_int(vals, spaced=counts["int_spaced"] > 0)
    spaces = rules.SPACES if counts["int_spaced"] or _any_space(vals) else ""
    dotted = _matches(vals, r"\.")
    if counts["dec_comma"]:
        # with a decimal comma, a dot can only separate thousands (1.234,5 or 1.234)
        thousands_like = pc.or_(shapes["dec_comma"], shapes["dot_groups"])
        if _count(pc.and_(dotted, pc.invert(thousands_like))):
            return ColumnPlan(reason="mixed decimal marks")
        return ColumnPlan("float", decimal=",", thousands=spaces + ("." if _count(dotted) else ""))
    if _count(pc.and_(shapes["dec_dot"], pc.invert(shapes["dot_groups"]))):
        commas = "," if _count(_matches(vals, ",")) else ""
        return ColumnPlan("float", decimal=".", thousands=spaces + commas)
    if counts["dot_groups"]:
        # only 1.234-like and plain integers: thousands if some value has two groups or every plain
        # integer is short (below 1000), else decimals
        many = _count(_matches(vals, rules.DOT_GROUPS_MANY)) > 0
        plain = pc.filter(vals, shapes["int"])
        short = len(plain) > 0 and _all(pc.less_equal(pc.utf8_length(pc.utf8_ltrim(plain, "+-")), 3))
        zero = _count(_matches(vals, r"^[+-]?0\.")) > 0  # 0.250 is never a thousands grouping
        if (many or short) and not zero:
            return ColumnPlan("int", thousands=spaces + ".")
        return ColumnPlan("float", decimal=".", thousands=spaces)
    return ColumnPlan("float", decimal=",", thousands=spaces)  # exponents only


def _any_space(vals: pa.Array) -> bool:
    return _count(_matches(vals, "[ \u00a0\u202f]")) > 0


def _infer_int(vals: pa.Array, *, spaced: bool) -> ColumnPlan:
    if _count(_matches(vals, rules.LEADING_ZERO)):
        return ColumnPlan(reason="leading zeros")
    lengths = pc.utf8_length(vals)
    if int(pc.max(lengths).as_py()) > 18:
        return ColumnPlan(reason="too long for an integer")
    if not spaced:
        distinct_lengths = set(pc.unique(lengths).to_pylist())
        if distinct_lengths and distinct_lengths <= {9, 14}:
            sample = [str(v) for v in vals.slice(0, 2000).to_pylist()]
            if sum(rules.luhn_ok(v) for v in sample) >= 0.9 * len(sample):
                return ColumnPlan(reason="SIREN/SIRET")
    return ColumnPlan("int", thousands=rules.SPACES if spaced else "")


def _infer_temporal(vals: pa.Array) -> ColumnPlan | None:
    if not _all(_matches(vals, rules.DATE_CHARS)):
        return None
    if _all(_matches(vals, rules.TIMESTAMP_TZ)):
        return ColumnPlan("timestamp", formats=("ISO",), tz=True)
    with_time = _count(_matches(vals, ":")) > 0
    shapes = [(p, f, False) for p, f in rules.DATE_FORMATS] + [
        (p, f, True) for p, f in rules.TIMESTAMP_FORMATS
    ]
    covered: pa.Array | None = None
    formats: list[str] = []
    is_timestamp = False
    for pattern, fmt, ts in shapes:
        if ts and not with_time:
            break
        mask = _matches(vals, pattern)
        if not _count(mask):
            continue
        covered = mask if covered is None else pc.or_(covered, mask)
        formats.append(fmt)
        is_timestamp = is_timestamp or ts
        if _all(covered):
            break
    if covered is None or not _all(covered):
        return None
    plan = ColumnPlan("timestamp" if is_timestamp else "date", formats=tuple(dict.fromkeys(formats)))
    from harvester.normalise.casting import cast_column

    return plan if cast_column(values_as_text(vals), plan).ok else None


def values_as_text(vals: pa.Array) -> pa.Array:
    return vals if pa.types.is_string(vals.type) else pc.cast(vals, pa.string())


def columns_metadata(names: list[str], plans: list[ColumnPlan]) -> list[dict[str, Any]]:
    """One entry per column: the name as published, its snake_case name (unique), its type and why."""
    seen: dict[str, int] = {}
    out = []
    for name, plan in zip(names, plans, strict=True):
        base = snake_case(name)
        seen[base] = seen.get(base, 0) + 1
        snake = base if seen[base] == 1 else f"{base}_{seen[base]}"
        out.append({"name": name, "snake_name": snake, **plan.describe()})
    return out


def infer_and_cast(table: pa.Table) -> pa.Table:
    """Type the text columns of a table (from XLSX, ODS, JSON...) with the French rules; other columns stay.

    A column whose cells do not all fit the inferred type stays text: nothing is lost. The schema metadata gets
    ``harvester.columns`` (JSON: published name, snake_case name, type).
    """
    from harvester.normalise.casting import cast_column

    columns: list[pa.Array | pa.ChunkedArray] = []
    plans: list[ColumnPlan] = []
    for field, col in zip(table.schema, table.columns, strict=True):
        plan = ColumnPlan(kind=_kind_of(field.type))
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            text = pc.cast(col, pa.string()).combine_chunks()
            inferred = infer_column(text, field.name)
            result = cast_column(text, inferred)
            if result.ok and result.array is not None:
                col, plan = result.array, inferred
            else:
                plan = ColumnPlan(reason="mixed values")
        columns.append(col)
        plans.append(plan)
    fields = [
        pa.field(f.name, c.type, metadata=f.metadata) for f, c in zip(table.schema, columns, strict=True)
    ]
    meta = dict(table.schema.metadata or {})
    meta[b"harvester.columns"] = json.dumps(columns_metadata(table.column_names, plans)).encode()
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=meta))


def _kind_of(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    return "string" if pa.types.is_string(t) or pa.types.is_large_string(t) else str(t)
