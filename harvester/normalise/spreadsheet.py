"""XLSX, XLS and ODS through python-calamine: the first sheet with data, typed cells kept, text typed like CSV."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa

from harvester.errors import RecordError
from harvester.normalise.sheetguard import SPREADSHEET_MAX_CELLS, check_cells


def _empty(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _column_names(header: list[Any]) -> list[str]:
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, v in enumerate(header):
        base = _text(v).strip() if not _empty(v) else f"column_{i + 1}"
        n = seen.get(base, 0)
        seen[base] = n + 1
        names.append(base if n == 0 else f"{base}_{n + 1}")
    return names


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return str(int(v))
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    return str(v)


def _column(values: list[Any]) -> pa.Array:
    """Cells of one column: one Arrow type when calamine typed them all alike, else text (typed later)."""
    present = [v for v in values if not _empty(v)]
    cells = [None if _empty(v) else v for v in values]
    kinds = {type(v) for v in present}
    if not present:
        return pa.array([None] * len(values), pa.string())
    if kinds == {bool}:
        return pa.array(cells, pa.bool_())
    if kinds <= {int, float} and bool not in kinds:
        if all(float(v).is_integer() and abs(v) < 2**63 for v in present):
            return pa.array([None if v is None else int(v) for v in cells], pa.int64())
        return pa.array([None if v is None else float(v) for v in cells], pa.float64())
    if kinds == {dt.date}:
        return pa.array(cells, pa.date32())
    if kinds <= {dt.date, dt.datetime}:
        return pa.array(
            [
                v if v is None or isinstance(v, dt.datetime) else dt.datetime(v.year, v.month, v.day)
                for v in cells
            ],
            pa.timestamp("us"),
        )
    return pa.array([None if v is None else _text(v) for v in cells], pa.string())


def read_spreadsheet(
    path: Path, *, url: str, max_cells: int = SPREADSHEET_MAX_CELLS
) -> tuple[pa.Table, list[str]]:
    """The first sheet that holds data, its first non-empty row as header; returns (table, warnings).

    The whole sheet is read in memory (calamine has no streaming reader): a sheet spanning more than `max_cells`
    cells is refused before calamine runs (`sheetguard.check_cells`).
    """
    from python_calamine import CalamineWorkbook

    check_cells(path, url=url, max_cells=max_cells)
    warnings: list[str] = []
    try:
        wb = CalamineWorkbook.from_path(str(path))
        chosen: list[list[Any]] | None = None
        for name in wb.sheet_names:
            rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=True)
            rows = [r for r in rows if any(not _empty(v) for v in r)]
            if rows and chosen is None:
                chosen = rows
                sheet = name
            elif rows:
                warnings.append(f"sheet {name!r} not converted (only the first sheet with data is)")
    except Exception as exc:  # calamine raises its own error types for corrupt or truncated workbooks
        raise RecordError(f"spreadsheet can't be read (corrupt or truncated?): {exc}", url=url) from exc
    if chosen is None:
        raise RecordError("spreadsheet has no data", url=url)
    width = max(len(r) for r in chosen)
    grid = [list(r) + [None] * (width - len(r)) for r in chosen]
    keep = [j for j in range(width) if any(not _empty(r[j]) for r in grid)]
    header, body = [grid[0][j] for j in keep], grid[1:]
    names = _column_names(header)
    arrays = [_column([r[j] for r in body]) for j in keep]
    if len(wb.sheet_names) > 1:
        warnings.insert(0, f"sheet {sheet!r} converted")
    return pa.Table.from_arrays(arrays, names=names), warnings
