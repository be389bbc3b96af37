"""`python -m harvester.demo` (make demo): replay recorded portals, harvest them, normalise their tables and
publish the catalogue into the local CKAN (when it runs)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.request import urlopen

import yaml

from harvester.demo.server import ReplayServer, Route, ckan_search, static

FILES = [
    ("yffiniac_salles_bom_inside_quotes.csv", "Salles municipales", "Commune d'Yffiniac"),
    ("cd22_antennes_departementales.csv", "Antennes départementales", "Département des Côtes-d'Armor"),
    ("bnlc_calvados_covoiturage_utf8_bom.csv", "Aires de covoiturage", "Département du Calvados"),
]

# Each replayed portal: its source entry (`path` is appended to the replay server's URL) and its routes.
REPLAYS: list[tuple[dict[str, Any], dict[str, Route]]] = [
    (
        {
            "id": "demo-ckan",
            "type": "ckan",
            "path": "/ckan",
            "params": {"rows": 2},
            "defaults": {"license": "lov2", "publisher": "Portail CKAN de démonstration"},
        },
        {
            "/ckan/api/3/action/package_search": ckan_search(
                ["ckan/demockan_package_search_rows3.json", "ckan/demockan_package_show_2015_dataset1.json"]
            )
        },
    ),
    (
        {"id": "rennes-metropole", "type": "opendatasoft", "path": "/rennes", "params": {"mode": "dcat"}},
        {
            "/rennes/api/explore/v2.1/catalog/exports/dcat": static(
                "dcat/rennes-catalog-exports-dcat.rdf", "application/rdf+xml"
            )
        },
    ),
    (
        {"id": "vanves", "type": "dcat", "path": "/vanves/catalog.rdf"},
        {"/vanves/catalog.rdf": static("dcat/vanves-catalog.rdf", "application/rdf+xml")},
    ),
    (
        {"id": "evian", "type": "arcgis", "path": "/evian/data.json"},
        {"/evian/data.json": static("arcgis/evian_arcgis_hub_data_json.json", "application/json")},
    ),
    (
        {"id": "communes", "type": "files", "path": "", "files": FILES},
        {f"/files/{name}": static(f"files/{name}", "text/csv") for name, _t, _p in FILES},
    ),
]


def _sources(base: str) -> list[dict[str, Any]]:
    out = []
    for src, _routes in REPLAYS:
        entry = {k: v for k, v in src.items() if k not in ("path", "files")}
        if src["type"] == "files":
            entry["params"] = {
                "files": [
                    {"url": f"{base}/files/{name}", "title": title, "publisher": pub, "license": "lov2"}
                    for name, title, pub in src["files"]
                ]
            }
        else:
            entry["url"] = base + src["path"]
        out.append(entry)
    return out


def _ckan_token(ckan_url: str) -> str | None:
    """The local testbed's token (make ckan-up writes it), or CKAN_API_TOKEN; None when no CKAN answers."""
    try:
        with urlopen(f"{ckan_url}/api/3/action/status_show", timeout=3) as resp:  # noqa: S310 (local URL)
            if resp.status != 200:
                return None
    except (URLError, OSError):
        return None
    if os.environ.get("CKAN_API_TOKEN"):
        return os.environ["CKAN_API_TOKEN"]
    token_file = Path(
        os.environ.get(
            "CKAN_TOKEN_FILE", Path(os.environ.get("CKAN_TESTBED_DIR", ".ckan-testbed")) / "token.txt"
        )
    )
    return token_file.read_text().strip() if token_file.exists() else None


def main() -> int:
    from harvester.cli import main as cli_main

    out = Path(os.environ.get("HARVESTER_DEMO_DIR", "demo-data")).resolve()
    ckan_url = os.environ.get("CKAN_URL", "http://127.0.0.1:5000").rstrip("/")
    (out / "pipelines").mkdir(parents=True, exist_ok=True)
    routes: dict[str, Route] = {}
    for _src, r in REPLAYS:
        routes.update(r)
    with ReplayServer(routes, port=int(os.environ.get("HARVESTER_DEMO_PORT", "8765"))) as server:
        sources = _sources(server.url)
        config = out / "sources.yaml"
        config.write_text(
            yaml.safe_dump({"sources": sources}, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
        pipeline = {
            "name": "demo",
            "sources": [s["id"] for s in sources],
            "publish": {
                "ckan": {
                    "url": ckan_url,
                    "token_env": "CKAN_API_TOKEN",
                    "organizations": {"default": "harvester-demo", "create_missing": True},
                },
                "tables": {"mode": "upload"},  # a Parquet resource beside each converted CSV
            },
        }
        (out / "pipelines" / "demo.yaml").write_text(
            yaml.safe_dump(pipeline, sort_keys=False), encoding="utf-8"
        )
        base = ["--config", str(config), "--data-dir", str(out / "data")]
        print(f"demo: replaying {len(sources)} recorded portals at {server.url}", file=sys.stderr)
        codes = [_run(cli_main, [*base, "harvest", "--all"])]
        codes.append(_run(cli_main, [*base, "normalise", "communes"]))
        print(f"\ndemo: Parquet catalogue in {out / 'data' / 'catalog'}", file=sys.stderr)
        for src in sources:
            print(f"  {out / 'data' / 'catalog' / src['id'] / 'datasets.parquet'}", file=sys.stderr)
        print(f"demo: typed tables in {out / 'data' / 'tables'}", file=sys.stderr)
        token = _ckan_token(ckan_url)
        if token is None:
            print(
                f"demo: no CKAN answers at {ckan_url} (start the testbed with `make ckan-up`): not published",
                file=sys.stderr,
            )
            return max(codes)
        os.environ["CKAN_API_TOKEN"] = token
        codes.append(_run(cli_main, [*base, "publish", "demo"]))
        print(f"\ndemo: browse the published catalogue at {ckan_url}/dataset/", file=sys.stderr)
    return max(codes)


def _run(cli_main: Any, args: list[str]) -> int:
    try:
        cli_main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
