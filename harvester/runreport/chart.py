"""A small inline SVG chart of datasets and errors over the last runs (no script, no library, nothing fetched)."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

WIDTH, TOP, GAP, BAND = 720, 14, 10, 70  # errors band under the datasets band, both BAND pixels high
LEFT, RIGHT = 56, 8


def _bar(x: float, y: float, w: float, h: float, cls: str, tip: str) -> str:
    return (
        f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{max(h, 0):.1f}">'
        f"<title>{escape(tip)}</title></rect>"
    )


def history_svg(points: list[dict[str, Any]]) -> Markup:
    """Two bar series sharing the x axis (one bar per run, the current run outlined): datasets, then errors."""
    height = TOP + BAND + GAP + BAND + 18
    n = max(len(points), 1)
    step = (WIDTH - LEFT - RIGHT) / n
    w = max(min(step * 0.7, 40), 2)
    dmax = max([p["datasets"] or 0 for p in points] + [1])
    emax = max([p["errors"] or 0 for p in points] + [1])
    base_d, base_e = TOP + BAND, TOP + BAND + GAP + BAND
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="history-chart" role="img" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" data-runs="{len(points)}">',
        f"<title>datasets and errors over the last {len(points)} runs</title>",
        f'<text class="axis" x="{LEFT - 6}" y="{TOP + 8}" text-anchor="end">{dmax}</text>',
        f'<text class="axis" x="{LEFT - 6}" y="{base_d}" text-anchor="end">0</text>',
        f'<text class="label" x="4" y="{TOP + BAND / 2 + 4:.0f}">datasets</text>',
        f'<text class="axis" x="{LEFT - 6}" y="{base_d + GAP + 8}" text-anchor="end">{emax}</text>',
        f'<text class="axis" x="{LEFT - 6}" y="{base_e}" text-anchor="end">0</text>',
        f'<text class="label" x="4" y="{base_d + GAP + BAND / 2 + 4:.0f}">errors</text>',
        f'<line class="base" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base_d}" y2="{base_d}"/>',
        f'<line class="base" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base_e}" y2="{base_e}"/>',
    ]
    for i, p in enumerate(points):
        x = LEFT + i * step + (step - w) / 2
        cur = " current" if p.get("current") else ""
        rid = str(p["run_id"])
        if p["datasets"] is not None:
            h = BAND * p["datasets"] / dmax
            parts.append(_bar(x, base_d - h, w, h, "datasets" + cur, f"{rid}: {p['datasets']} datasets"))
        h = BAND * (p["errors"] or 0) / emax
        parts.append(_bar(x, base_e - h, w, h, "errors" + cur, f"{rid}: {p['errors']} errors"))
    if points:
        parts.append(
            f'<text class="axis" x="{LEFT}" y="{height - 4}">{escape(points[0]["run_id"])}</text>'
            f'<text class="axis" x="{WIDTH - RIGHT}" y="{height - 4}" text-anchor="end">'
            f"{escape(points[-1]['run_id'])}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
