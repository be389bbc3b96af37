"""ArcGIS Hub DCAT-US 1.1 feeds from real recorded documents (Évian-les-Bains, SCE), for tests and bench.

A feed is one document; `hub_feed(n)` builds a larger one by cloning the real Évian datasets with new item ids.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.fixture_server import FixtureServer, Reply
from tests.portals.util import load

EVIAN = "arcgis/hub/evian_arcgis_hub_data_json.json"
SCE = "arcgis/hub/sce_drpep_arcgis_hub_dcat_us_1.1.json"
EVIAN_PATH = "/data.json"  # as recorded: ville-d-evian-opendata-ville-evian.hub.arcgis.com/data.json


def hub_feed(n: int) -> dict[str, Any]:
    """A feed of `n` datasets cloned from Évian's, each with its own 32-hex item id."""
    doc = load(EVIAN)
    real = doc["dataset"]
    out = []
    for i in range(n):
        ds = copy.deepcopy(real[i % len(real)])
        old = ds["identifier"].split("id=")[1][:32]
        new = f"{i:032x}"
        text = json.dumps(ds).replace(old, new)
        ds = json.loads(text)
        ds["title"] = f"{ds['title']} #{i}"
        out.append(ds)
    doc["dataset"] = out
    return doc


def serve_feed(server: FixtureServer, doc: dict[str, Any] | bytes, path: str = EVIAN_PATH) -> str:
    body = doc if isinstance(doc, bytes) else json.dumps(doc, ensure_ascii=False).encode()
    server.route(path, Reply(200, body, headers={"ETag": '"feed-v1"'}))
    return server.url + path
