"""`python -m harvester.demo` (make demo): replay recorded portals, harvest them, publish if a CKAN is running."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml

from harvester.demo.server import ReplayServer, Route, ckan_search

# Each replayed portal: source entry (its url is filled in with the replay server's) and the routes it needs.
REPLAYS: list[tuple[dict[str, Any], dict[str, Route]]] = [
    (
        {
            "id": "demo-ckan",
            "type": "ckan",
            "path": "/ckan",
            "params": {"rows": 2},
            "defaults": {"license": "lov2", "publisher": "Portail de démonstration"},
        },
        {
            "/ckan/api/3/action/package_search": ckan_search(
                ["ckan/demockan_package_search_rows3.json", "ckan/demockan_package_show_2015_dataset1.json"]
            )
        },
    ),
]


def main() -> int:
    from harvester.cli import main as cli_main

    out = Path(os.environ.get("HARVESTER_DEMO_DIR", "demo-data")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    routes: dict[str, Route] = {}
    for _src, r in REPLAYS:
        routes.update(r)
    with ReplayServer(routes) as server:
        sources = []
        for src, _r in REPLAYS:
            entry = {k: v for k, v in src.items() if k != "path"}
            entry["url"] = server.url + src.get("path", "")
            sources.append(entry)
        config = out / "sources.yaml"
        config.write_text(
            yaml.safe_dump({"sources": sources}, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
        base = ["--config", str(config), "--data-dir", str(out / "data")]
        print(f"demo: replaying {len(sources)} recorded portals at {server.url}", file=sys.stderr)
        code = _run(cli_main, [*base, "harvest", "--all", "--full"])
        print(f"demo: Parquet catalogue in {out / 'data' / 'catalog'}", file=sys.stderr)
        for src in sources:
            print(f"  {out / 'data' / 'catalog' / src['id'] / 'datasets.parquet'}", file=sys.stderr)
    return code


def _run(cli_main: Any, args: list[str]) -> int:
    try:
        cli_main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
