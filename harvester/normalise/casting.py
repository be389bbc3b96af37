"""Vectorised casting of text cells to the type a ColumnPlan chose, with a check that no value is lost."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from harvester.normalise import rules
from harvester.normalise.infer import ColumnPlan

_NULLS = pa.array(rules.NULL_TOKENS)
_TRUE = pa.array(rules.TRUE_TOKENS)
_FALSE = pa.array(rules.FALSE_TOKENS)
_BOOLS = pa.array(rules.TRUE_TOKENS + rules.FALSE_TOKENS)
MAX_EXAMPLES = 5


def _spellings(token: str) -> list[str]:
    """Every upper/lower-case spelling of a null token ("na" → na, nA, Na, NA)."""
    out = [""]
    for ch in token:
        out = [o + c for o in out for c in dict.fromkeys((ch.lower(), ch.upper()))]
    return out


_NULL_SPELLINGS = pa.array(sorted({s for t in rules.NULL_TOKENS for s in _spellings(t)}))


@dataclass
class CastResult:
    """The typed array, or why it could not be made (``bad``: a few cells that do not fit)."""

    array: pa.Array | None
    bad: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.array is not None


def _fail(values: pa.Array, mask: pa.Array, reason: str) -> CastResult:
    bad = pc.filter(values, pc.fill_null(mask, False)).slice(0, MAX_EXAMPLES).to_pylist()
    return CastResult(None, [str(v) for v in bad], reason)


def _any(mask: pa.Array) -> bool:
    return bool(pc.any(mask).as_py())


def clean(values: pa.Array) -> pa.Array:
    """Trimmed cells, with the null tokens (NA, -, nd...) and blank cells turned into nulls."""
    trimmed = pc.utf8_trim_whitespace(values)
    is_null = pc.is_in(pc.utf8_lower(trimmed), value_set=_NULLS)
    return pc.if_else(is_null, pa.scalar(None, pa.string()), trimmed)


def quick_clean(values: pa.Array) -> pa.Array:
    """clean() for cells that need no trimming: the null tokens, in their usual spellings (NA, na, Na, N/A…),
    become nulls. Cheap (no trimming, no lower-casing); a cell it leaves dirty makes the cast fail, and the
    caller then takes the careful path (clean())."""
    tokens = pc.is_in(values, value_set=_NULL_SPELLINGS)
    return pc.if_else(tokens, pa.scalar(None, pa.string()), values) if _any(tokens) else values


def cast_column(values: pa.Array, plan: ColumnPlan) -> CastResult:
    """Cast one text column (a string Array) as the plan says; a cell that does not fit makes it fail."""
    if plan.kind == "string":
        return CastResult(values)
    if values.null_count == len(values):
        return CastResult(pa.nulls(len(values), plan.arrow_type()))
    if plan.kind == "int":
        return _cast_int(values, plan)
    if plan.kind == "float":
        return _cast_float(values, plan)
    if plan.kind == "bool":
        return _cast_bool(values)
    return _cast_temporal(values, plan)


def _strip_thousands(values: pa.Array, plan: ColumnPlan) -> CastResult:
    """Remove the thousands separators, after checking that they really group digits by three.

    Literal searches and replacements, one per separator found in the batch: several times faster than one
    regular expression over every cell."""
    if not plan.thousands:
        return CastResult(values)
    found = [(c, pc.match_substring(values, c)) for c in plan.thousands]
    found = [(c, mask) for c, mask in found if _any(mask)]
    if not found:
        return CastResult(values)
    has_sep = found[0][1]
    for _, mask in found[1:]:
        has_sep = pc.or_(has_sep, mask)
    chars = "".join("\\." if c == "." else c for c in plan.thousands)
    mark = "\\." if plan.decimal == "." else ","
    grouped = rf"^[+-]?\d{{1,3}}([{chars}]\d{{3}})+({mark}\d+)?([eE][+-]?\d+)?$"
    if plan.kind == "float" and plan.decimal == "." and "," in plan.thousands:
        grouped = rf"^[+-]?\d{{1,3}}((,\d{{3}})+|([{chars}]\d{{3}})+)(\.\d+)?([eE][+-]?\d+)?$"
    wrong = pc.and_(has_sep, pc.invert(pc.match_substring_regex(values, grouped)))
    if _any(wrong):
        return _fail(values, wrong, "separator that does not group thousands")
    out = values
    for c, _ in found:
        out = pc.replace_substring(out, c, "")
    return CastResult(out)


def _cast_int(values: pa.Array, plan: ColumnPlan) -> CastResult:
    src = quick_clean(values)
    out = _try_cast(_strip_or_none(src, plan), pa.int64())
    if out is None:  # a cell needs trimming, an unusual null spelling, or does not fit: the careful path
        src = clean(values)
        stripped = _strip_thousands(src, plan)
        if stripped.array is None:
            return stripped
        out = _try_cast(stripped.array, pa.int64())
        if out is None:
            return _fail(
                src, pc.invert(pc.match_substring_regex(stripped.array, rules.INT)), "not an integer"
            )
    if _any(pc.starts_with(src, "0")) or _any(pc.starts_with(src, "+")) or _any(pc.starts_with(src, "-")):
        lead = pc.match_substring_regex(src, rules.LEADING_ZERO)
        if _any(lead):
            return _fail(src, lead, "leading zero (a code)")
    return CastResult(out)


def _cast_float(values: pa.Array, plan: ColumnPlan) -> CastResult:
    other = "." if plan.decimal == "," else ","
    if other not in plan.thousands and _any(pc.match_substring(values, other)):
        # "1.5" in a decimal-comma column (or "1,5" in a decimal-point one): ambiguous, let inference decide
        return _fail(values, pc.match_substring(values, other), f"unexpected {other!r}")
    out = _try_cast(_dot(_strip_or_none(quick_clean(values), plan), plan), pa.float64())
    if out is not None:
        return CastResult(out)
    src = clean(values)  # the careful path
    stripped = _strip_thousands(src, plan)
    if stripped.array is None:
        return stripped
    text = _dot(stripped.array, plan)
    assert text is not None
    out = _try_cast(text, pa.float64())
    if out is None:
        number = r"^[+-]?(\d+|\d*\.\d+)([eE][+-]?\d+)?$"
        return _fail(src, pc.invert(pc.match_substring_regex(text, number)), "not a number")
    return CastResult(out)


def _strip_or_none(values: pa.Array, plan: ColumnPlan) -> pa.Array | None:
    return _strip_thousands(values, plan).array


def _dot(values: pa.Array | None, plan: ColumnPlan) -> pa.Array | None:
    if values is None or plan.decimal != ",":
        return values
    return pc.replace_substring(values, ",", ".")


def _try_cast(values: pa.Array | None, to: pa.DataType) -> pa.Array | None:
    """The cast, or None when a cell does not fit (None in, None out)."""
    if values is None:
        return None
    try:
        return pc.cast(values, to)
    except pa.ArrowInvalid:
        return None


def _cast_bool(values: pa.Array) -> CastResult:
    src = clean(values)
    lower = pc.utf8_lower(src)
    known = pc.or_(pc.is_null(lower), pc.is_in(lower, value_set=_BOOLS))
    if not bool(pc.all(known).as_py()):
        return _fail(src, pc.invert(known), "not a boolean")
    return CastResult(_bool(lower))


def _bool(lower: pa.Array) -> pa.Array:
    truth = pc.is_in(lower, value_set=_TRUE)
    return pc.if_else(pc.is_null(lower), pa.scalar(None, pa.bool_()), truth)


def _cast_temporal(values: pa.Array, plan: ColumnPlan) -> CastResult:
    src = values
    result = _parse_all(src, plan)
    if result is None or _any(pc.and_(pc.is_valid(src), pc.is_null(result))):
        src = clean(values)
        result = _parse_all(src, plan)
        if result is None:
            return _fail(src, pc.is_valid(src), "not a date")
        missing = pc.and_(pc.is_valid(src), pc.is_null(result))
        if _any(missing):
            return _fail(src, missing, "not a date in the expected formats")
    overflow = _overflowed_days(src, result)
    if overflow is not None:
        return _fail(src, overflow, "impossible date")
    if plan.kind == "date":
        return CastResult(pc.cast(result, pa.date32()))
    return CastResult(result)


def _parse_all(values: pa.Array, plan: ColumnPlan) -> pa.Array | None:
    """Parse every cell with the first format whose shape it has (several formats may mix in a column)."""
    target = plan.arrow_type() if plan.kind == "timestamp" else pa.timestamp("us")
    by_format: dict[str, str] = {}
    layouts = rules.DATE_FORMATS + (rules.TIMESTAMP_FORMATS if plan.kind == "timestamp" else ())
    for pattern, fmt in layouts:  # a timestamp column may also hold bare dates (midnight)
        by_format[fmt] = f"{by_format[fmt]}|{pattern}" if fmt in by_format else pattern
    if plan.tz:
        by_format = {"ISO": rules.TIMESTAMP_TZ}
    iso_target = pa.date32() if plan.kind == "date" else target  # strict: no time part in a date column
    if plan.formats == ("ISO",):
        try:
            return pc.cast(values, iso_target)
        except pa.ArrowInvalid:
            return None
    if len(plan.formats) == 1:
        return _parse_one(values, plan.formats[0], by_format.get(plan.formats[0]))
    parts: list[pa.Array] = []
    for fmt in plan.formats:
        shape = by_format.get(fmt)
        if shape is None:
            return None
        mask = pc.match_substring_regex(values, shape)
        chosen = pc.if_else(mask, values, pa.scalar(None, pa.string()))
        if fmt == "ISO":
            try:
                parts.append(pc.cast(pc.cast(chosen, iso_target), target))
            except pa.ArrowInvalid:
                return None
        else:
            parsed = pc.strptime(chosen, format=fmt, unit="us", error_is_null=True)
            parts.append(pc.if_else(mask, parsed, pa.scalar(None, target)))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else pc.coalesce(*parts)


def _parse_one(values: pa.Array, fmt: str, pattern: str | None) -> pa.Array | None:
    """One strptime format for the whole column: no shape test, except for cells strptime is lenient with
    (a 2-digit year parses as year 20 with %Y): those must have the expected shape."""
    if pattern is None:
        return None
    parsed = pc.strptime(values, format=fmt, unit="us", error_is_null=True)
    early = pc.fill_null(pc.less(pc.year(parsed), 1000), False)
    if _any(early):
        shaped = pc.fill_null(pc.match_substring_regex(values, pattern), False)
        parsed = pc.if_else(pc.and_(early, pc.invert(shaped)), pa.scalar(None, parsed.type), parsed)
    return parsed


def _overflowed_days(values: pa.Array, parsed: pa.Array) -> pa.Array | None:
    """strptime turns 31/04 into 01/05: find cells whose day of month changed while parsing."""
    small = pc.fill_null(pc.less_equal(pc.day(parsed), 3), False)
    if not _any(small):
        return None
    cells, days = pc.filter(values, small), pc.filter(pc.day(parsed), small)
    first = pc.struct_field(pc.extract_regex(cells, rules.DAY_FIRST.replace("(", "(?P<d>", 1)), 0)
    last = pc.struct_field(pc.extract_regex(cells, rules.DAY_LAST.replace("(", "(?P<d>", 1)), 0)
    given = pc.cast(pc.coalesce(first, last), pa.int64())
    wrong_small = pc.fill_null(pc.not_equal(given, days), False)
    if not _any(wrong_small):
        return None
    wrong = pc.replace_with_mask(pc.fill_null(pc.less(pc.day(parsed), 0), False), small, wrong_small)
    return wrong
