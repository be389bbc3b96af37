"""Datetime parsing shared by connectors: ISO 8601, date-only, French dd/mm/yyyy; naive values are taken as UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_FR = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def parse_datetime(value: object) -> datetime | None:
    """Parse what portals put in date fields; None for empty or unparseable values (never raises)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        # epoch seconds, or milliseconds (ArcGIS, Socrata)
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    text = value.strip() if isinstance(value, str) else str(value).strip()
    if not text:
        return None
    if len(text) > 10 and text[4] == "-" and text[10] == "T" and text[-1].isdigit():
        try:  # the common case, CKAN's `2024-01-01T00:49:00.000000`: what the general path below does for it
            dt = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    m = _FR.match(text)
    if m:
        d, mo, y, hh, mm, ss = m.groups()
        try:
            return datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=UTC)
        except ValueError:
            return None
    iso = text.replace("Z", "+00:00").replace("z", "+00:00")
    if re.match(r"^\d{4}-\d{2}-\d{2} \d", iso):
        iso = iso.replace(" ", "T", 1)
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        m2 = re.match(r"^(\d{4})(?:-(\d{2}))?$", text)
        if not m2:
            return None
        dt = datetime(int(m2.group(1)), int(m2.group(2) or 1), 1)
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def to_iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z") if dt else None
