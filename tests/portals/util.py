"""Helpers shared by the portal emulations of part A (ods, udata, arcgis, socrata, files).

Each `*Portal` holds a list of real records (optionally cloned with new identities to make large catalogues) and
answers the API's listing requests with its real paging rules, so that connector tests, contract scenarios and
benchmarks exercise the real HTTP and paging code. Only the paging envelope is produced; records are the recorded
payloads from tests/fixtures/.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.fixture_server import Reply, Request

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def load(rel: str) -> Any:
    return json.loads((FIXTURES / rel).read_text(encoding="utf-8"))


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


def json_reply(payload: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(payload, ensure_ascii=False).encode())


def int_arg(req: Request, name: str, default: int) -> int | None:
    raw = req.arg(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        return None
