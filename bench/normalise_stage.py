"""The normalise stage from the CLI over a locally served catalogue: throughput, peak memory, and the 304 re-run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from bench.measured import measured
from tests.fixture_server import FixtureServer
from tests.normalise.served import CSV_FR, Files, ckan_with_resources

BIG_ROWS = int(os.environ.get("BENCH_NORMALISE_ROWS", "3000000"))
FEATURES = int(os.environ.get("BENCH_NORMALISE_FEATURES", "200000"))
SMALL = int(os.environ.get("BENCH_NORMALISE_SMALL", "200"))


def _big_csv(path: Path, rows: int) -> None:
    """A French-style CSV (;, decimal comma, dd/mm/yyyy, lat/lon) of `rows` rows, written in chunks."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write("code_commune;libelle;valeur;taux;date_releve;latitude;longitude\n")
        for start in range(0, rows, 100_000):
            lines = [
                f"{i % 95 + 1:02d}{i % 1000:03d};Station n°{i};{i * 7 % 100_000};{i % 1000},{i % 97:02d};"
                f"{i % 28 + 1:02d}/{i % 12 + 1:02d}/2023;{42 + (i % 9000) / 1000:.6f};{-4 + (i % 12000) / 1000:.6f}\n"
                for i in range(start, min(rows, start + 100_000))
            ]
            fh.write("".join(lines))


def _geojson(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write('{"type": "FeatureCollection", "features": [\n')
        for i in range(n):
            sep = "," if i else ""
            fh.write(
                f'{sep}{{"type": "Feature", "properties": {{"id": {i}, "nom": "arbre {i}", "hauteur": "{i % 30},5"}}, '
                f'"geometry": {{"type": "Point", "coordinates": [{2 + (i % 1000) / 1000}, {48 + (i % 700) / 1000}]}}}}\n'
            )
        fh.write("]}\n")


def run(out_dir: Path) -> str:
    work = out_dir / "normalise_stage"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    big, geo = work / "big.csv", work / "arbres.geojson"
    _big_csv(big, BIG_ROWS)
    _geojson(geo, FEATURES)
    server = FixtureServer().start()
    try:
        files = Files(server)
        reals = sorted(p for p in CSV_FR.glob("*.csv"))
        resources = [
            {
                "name": f"petit-{i}",
                "format": "CSV",
                "url": files.put(f"/small/{i}.csv", reals[i % len(reals)].read_bytes()),
            }
            for i in range(SMALL)
        ]
        resources.append({"name": "gros", "format": "CSV", "url": files.put("/big.csv", big.read_bytes())})
        resources.append(
            {"name": "arbres", "format": "GEOJSON", "url": files.put("/arbres.geojson", geo.read_bytes())}
        )
        portal = ckan_with_resources(server, resources)
        cfg = work / "sources.yaml"
        cfg.write_text(yaml.safe_dump({"sources": [{"id": "bench", "type": "ckan", "url": portal.url}]}))
        exe = [sys.executable, "-m", "harvester", "--config", str(cfg), "--data-dir", str(work / "data")]
        harvest = subprocess.run([*exe, "harvest", "bench"], capture_output=True, text=True, check=False)
        if harvest.returncode != 0:
            raise RuntimeError(f"harvest failed: {harvest.stderr[-2000:]}")
        first_s, first_mb, first = measured([*exe, "normalise", "bench", "--json"])
        if first.returncode not in (0, 3):
            raise RuntimeError(f"normalise failed: {first.stderr[-2000:]}")
        rep = json.loads(first.stdout)["sources"][0]
        outcomes = {o["url"].rsplit("/", 1)[-1]: o for o in rep["resources"]}
        n0 = len(server.requests)
        second_s, _, second = measured([*exe, "normalise", "bench", "--json"])
        rep2 = json.loads(second.stdout)["sources"][0]
        not_modified = sum(1 for r in server.requests[n0:] if r.path != "/api/3/action/package_search")
    finally:
        server.stop()
    big_mb = big.stat().st_size / 1e6
    geo_mb = geo.stat().st_size / 1e6
    b, g = outcomes["big.csv"], outcomes["arbres.geojson"]
    return "\n".join(
        [
            "## normalise stage (`harvester normalise` over a locally served catalogue)",
            "",
            f"{SMALL} real French CSV files (tests/fixtures/csv_fr, cycled), one generated {big_mb:.0f} MB CSV "
            f"({BIG_ROWS:,} rows, `;`, decimal comma, dd/mm/yyyy, lat/lon → GeoParquet) and a {geo_mb:.0f} MB "
            f"GeoJSON ({FEATURES:,} points), 4 workers.",
            "",
            "| run | seconds | peak RSS (MB) | converted | unchanged | failed |",
            "|---|---|---|---|---|---|",
            f"| first | {first_s:.1f} | {first_mb:.0f} | {rep['converted']} | {rep['unchanged']} | {rep['failed']} |",
            f"| second (conditional requests) | {second_s:.1f} | – | {rep2['converted']} | {rep2['unchanged']} | {rep2['failed']} |",
            "",
            f"- big CSV: {b['rows']:,} rows in {b['seconds']:.1f} s ({b['rows'] / max(b['seconds'], 1e-9):,.0f} rows/s, "
            f"{big_mb / max(b['seconds'], 1e-9):.0f} MB/s), geometry: {b['detected'].get('geometry')}",
            f"- GeoJSON: {g['rows']:,} features in {g['seconds']:.1f} s "
            f"({g['rows'] / max(g['seconds'], 1e-9):,.0f} features/s)",
            f"- peak RSS of the whole first run: {first_mb:.0f} MB for a {big_mb:.0f} MB CSV (bounded memory: "
            "record batches, never the whole file)",
            f"- second run: {not_modified} file requests, all answered 304 or unchanged; {second_s:.1f} s",
        ]
    )
