"""Three portals publishing copies of each other, replayed locally: the merge's end-to-end scenario.

The chain of the issue: local authorities publish files on their own web sites; a DataSud-style CKAN harvests
them (and has datasets of its own); data.gouv.fr (udata) harvests that CKAN. Every payload is built from real
recorded ones, and only the links between the copies are set here:

- `communes` (files connector): the real CSV files of `tests/fixtures/files/commune/` (Yffiniac's salles
  municipales, the Côtes-d'Armor département's agencies), served with ETag and Last-Modified by `FileHost`;
- `datasud` (ckan connector): package dicts shaped like the real recorded ones (`tests/fixtures/ckan/basic`,
  `real_packages()`), one per dataset: a copy of Yffiniac's file with DataSud's harvest extras (`guid`,
  `remote_url`, `harvest_source_title`) naming the file, a copy of the agencies file without any harvest extra
  (linked by its resource URL only), the DLVA bus network under its real DataSud id and resource URL, and one
  real demo.ckan.org package of DataSud's own;
- `dgouv` (udata connector): the real data.gouv.fr record of the DLVA network (from udata's fixtures bundle,
  `tests/fixtures/udata/datagouv/`) whose `harvest` block names DataSud's id `0c5ad935-…`; a copy of the real
  "Base Adresse Nationale" record given the harvest block data.gouv.fr sets on what it harvests from a CKAN
  (`domain`, `remote_id`, `remote_url`), pointing at DataSud's copy of Yffiniac's file; and the real record of
  "Base Adresse Nationale" itself, which only data.gouv.fr has.

Expected: 9 records, 5 real datasets (Yffiniac's salles ×3, the agencies ×2, DLVA ×2, one each for the others).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fixture_server import FixtureServer
from tests.portals.ckan_portal import CkanPortal, real_packages
from tests.portals.files_portal import COMMUNE, FileHost, Served
from tests.portals.udata_portal import UdataPortal, udata_records

DLVA_ID = "0c5ad935-272e-4d9e-b0db-cdcb1a5309b8"  # DataSud's id, in the real data.gouv.fr harvest block
SALLES_ID = "6b1f6f0e-7d7c-4a53-9a55-2a1e7f0c9a01"  # DataSud's copy of Yffiniac's file (set here)
AGENCES_ID = "9d7e1a52-3c1b-4f0e-8f7a-5b2c6d8e4f10"
T0 = datetime(2024, 7, 29, 8, 0, tzinfo=UTC)


def _package(template: dict[str, Any], **fields: Any) -> dict[str, Any]:
    pkg = copy.deepcopy(template)
    pkg.update(fields)
    pkg["organization"] = {"name": "datasud", "title": "DataSud", "id": "datasud"}
    for j, r in enumerate(pkg.get("resources") or []):
        r.setdefault("id", f"{pkg['id'][:8]}-res-{j}")
        r["package_id"] = pkg["id"]
    return pkg


@dataclass
class Chain:
    communes: FileHost
    datasud: CkanPortal
    dgouv: UdataPortal
    servers: list[FixtureServer] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # file id -> URL

    def sources(self) -> list[dict[str, Any]]:
        """The `sources` block of sources.yaml for the three portals."""
        return [
            {
                "id": "communes",
                "type": "files",
                "url": self.communes.server.url,
                "params": {
                    "files": [
                        {
                            "id": "salles-yffiniac",
                            "url": self.files["salles-yffiniac"],
                            "title": "Salles municipales d'Yffiniac",
                            "publisher": "Commune d'Yffiniac",
                            "license": "lov2",
                            "description": "Salles municipales, capacité et équipements.",
                        },
                        {
                            "id": "antennes-cd22",
                            "url": self.files["antennes-cd22"],
                            "title": "Agences techniques départementales",
                            "publisher": "Conseil départemental des Côtes-d'Armor",
                            "license": "lov2",
                        },
                    ]
                },
            },  # fmt: skip
            {"id": "datasud", "type": "ckan", "url": self.datasud.url},
            {"id": "dgouv", "type": "udata", "url": self.dgouv.base + "/dgouv"},
        ]

    def stop(self) -> None:
        for s in self.servers:
            s.stop()


def build_chain() -> Chain:
    files_srv, ckan_srv, udata_srv = FixtureServer().start(), FixtureServer().start(), FixtureServer().start()
    host = FileHost(files_srv)
    files = {
        "salles-yffiniac": host.serve(
            "/yffiniac/salles-municipales.csv",
            Served((COMMUNE / "yffiniac_salles_bom_inside_quotes.csv").read_bytes(), last_modified=T0),
        ),
        "antennes-cd22": host.serve(
            "/cd22/antennes.csv",
            Served((COMMUNE / "cd22_antennes_departementales.csv").read_bytes(), last_modified=T0),
        ),
    }
    templates = real_packages()
    modified = T0.strftime("%Y-%m-%dT%H:%M:%S.%f")
    dlva_gtfs = (
        f"https://trouver.datasud.fr/dataset/{DLVA_ID}/resource/0ca29750-b689-4580-afc0-4b127ee4b914/"
        "download/dlva.gtfs.zip"
    )
    packages = [
        _package(templates[0], id=SALLES_ID, name="salles-municipales-yffiniac",
                 title="Salles municipales - Yffiniac", notes="Moissonné depuis le site de la commune.",
                 metadata_modified=modified, license_id="lov2",
                 resources=[{"url": files["salles-yffiniac"], "format": "CSV", "name": "salles"}],
                 extras=[{"key": "guid", "value": files["salles-yffiniac"]},
                         {"key": "remote_url", "value": files["salles-yffiniac"]},
                         {"key": "harvest_source_title", "value": "Commune d'Yffiniac"}]),
        _package(templates[1], id=AGENCES_ID, name="agences-techniques-cd22",
                 title="Agences techniques départementales", notes="",
                 metadata_modified=modified, license_id="lov2", extras=[],
                 resources=[{"url": files["antennes-cd22"], "format": "CSV", "name": "agences"}]),
        _package(templates[2], id=DLVA_ID, name="lignes-dautocars-urbains-et-interurbains-de-la-dlva",
                 title="Lignes d'autocars urbains et interurbains de la DLVA",
                 author="Durance Luberon Verdon Agglomération", metadata_modified=modified, extras=[],
                 resources=[{"url": dlva_gtfs, "format": "GTFS", "name": "dlva.gtfs.zip"}]),
        _package(templates[3], metadata_modified=modified),  # a dataset only DataSud has
    ]  # fmt: skip
    datasud = CkanPortal(ckan_srv, packages)

    real = {r["title"]: r for r in udata_records()}
    dlva = copy.deepcopy(real["Réseau de transport en commun  Trans'Agglo de DLVA"])
    ban = copy.deepcopy(real["Base Adresse Nationale"])
    salles = copy.deepcopy(ban)
    salles.update(
        id="66a7e2c1f0a1b2c3d4e5f601",
        slug="salles-municipales-yffiniac",
        title="Salles municipales (Yffiniac)",
        acronym=None,
        extras={},
        tags=["salles", "yffiniac"],
        organization=None,
        harvest={
            "backend": "CKAN",
            "domain": ckan_srv.url.split("://", 1)[1],
            "remote_id": SALLES_ID,
            "remote_url": f"{ckan_srv.url}/dataset/salles-municipales-yffiniac",
            "source_id": "610cf47d38c7f6272f320805",
        },
        resources=[
            {
                "id": "5d1b8e7a-0000-4000-8000-000000000001",
                "url": files["salles-yffiniac"],
                "format": "csv",
                "title": "salles-municipales.csv",
                "type": "main",
            }
        ],  # fmt: skip
    )
    dgouv = UdataPortal([dlva, salles, ban])
    dgouv.install(udata_srv, "/dgouv")
    return Chain(host, datasud, dgouv, [files_srv, ckan_srv, udata_srv], files)


def change_origin(chain: Chain) -> None:
    """Yffiniac publishes a new version of its file (a new room): new bytes, new ETag, new Last-Modified."""
    path = "/yffiniac/salles-municipales.csv"
    old = chain.communes.files[path]
    body = old.body + '"Salle nouvelle","Rue neuve","60",,"Toute l\'année"\r\n'.encode()
    chain.communes.serve(path, Served(body, last_modified=datetime(2024, 9, 1, tzinfo=UTC)))


def run_cli(root: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    """`harvester --config root/sources.yaml --data-dir root/data ARGS` in-process: (exit code, its JSON stdout)."""
    from harvester.cli import main

    capsys.readouterr()
    code = 0
    try:
        main(["--config", str(root / "sources.yaml"), "--data-dir", str(root / "data"), *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}
