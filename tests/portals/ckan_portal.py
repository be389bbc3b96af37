"""A local CKAN Action API built from real recorded package dicts (tests/fixtures/ckan/basic), for tests and bench.

It answers `package_search` like CKAN does: rows capped by rows_max, `start`, `sort`, `fq` on metadata_modified
ranges and organisations, `fl`. Catalogues of any size are made by cloning the real records with new ids.
"""

from __future__ import annotations

import copy
import json
import random
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.fixture_server import FixtureServer, Reply, Request

BASIC = Path(__file__).parent.parent / "fixtures" / "ckan" / "basic"
LICENCES = ["lov2", "fr-lo", "odc-odbl", "cc-by", "other-open", "notspecified", "cc-zero"]
ORGS = [
    ("region-sud", "Région Sud"),
    ("ville-de-nice", "Ville de Nice"),
    ("ampmetropole", "Aix-Marseille-Provence Métropole"),
]


def real_packages() -> list[dict[str, Any]]:
    """The real package dicts of the recorded CKAN responses."""
    search = json.loads((BASIC / "demockan_package_search_rows3.json").read_text())
    pkgs = list(search["result"]["results"])
    for name in ("demockan_package_show_62513382.json", "demockan_package_show_2015_dataset1.json"):
        pkg = json.loads((BASIC / name).read_text())["result"]
        if pkg["id"] not in {p["id"] for p in pkgs}:
            pkgs.append(pkg)
    return pkgs


def build_packages(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """`n` packages cloned from the real ones, each with its own id, name, title, date, licence and organisation."""
    rnd = random.Random(seed)
    base = real_packages()
    start = datetime(2024, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        p = copy.deepcopy(base[i % len(base)])
        p["id"] = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        p["name"] = f"{p['name'][:80]}-{i}"
        p["title"] = f"{p.get('title') or p['name']} #{i}"
        p["metadata_modified"] = (start + timedelta(minutes=7 * i)).strftime("%Y-%m-%dT%H:%M:%S.%f")
        p["license_id"] = LICENCES[i % len(LICENCES)]
        org_name, org_title = ORGS[i % len(ORGS)]
        p["organization"] = {"name": org_name, "title": org_title, "id": org_name}
        for j, r in enumerate(p.get("resources") or []):
            r["id"] = f"{p['id'][:8]}-res-{j}"
            r["package_id"] = p["id"]
        out.append(p)
    return out


def touch(pkg: dict[str, Any], when: datetime, **changes: Any) -> None:
    """Change a package upstream the way an edit in CKAN does: new content and a new metadata_modified."""
    pkg.update(changes)
    pkg["metadata_modified"] = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


_RANGE = re.compile(r"metadata_modified:\[(\S+) TO \*\]")
_ORGS = re.compile(r"(?<![-\w])organization:\(([^)]*)\)")
_NOT_ORG = re.compile(r"-organization:(\S+)")


class CkanPortal:
    """Serve `packages` at `/api/3/action/package_search` on a FixtureServer."""

    def __init__(
        self,
        server: FixtureServer,
        packages: list[dict[str, Any]],
        rows_max: int = 1000,
        frozen: bool = False,
    ) -> None:
        self.server = server
        self.packages = packages
        self.rows_max = rows_max
        # frozen (the bench: packages never change): each package is encoded once and each filter's sorted listing
        # kept, as a real CKAN serves stored dicts from its index, so that the server is not what is timed
        self.frozen = frozen
        self._encoded: dict[int, str] = {}
        self._listings: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.fail: dict[int, Reply] = {}  # start offset → reply to send instead (failure injection)
        self.ignore_start = False  # a broken server that always answers the first page
        self.stamp = False  # vary the envelope on each answer (a request id), as some proxies do
        self.hidden = 0  # a broken index: `count` includes this many packages that are never served
        self.answers = 0
        self._by_key: tuple[tuple[int, int], dict[str, dict[str, Any]]] = ((0, -1), {})
        if frozen:
            # encoded now, before anything is timed: encoding lazily made the first client (the harvester, which
            # the bench runs first) wait on the server's json.dumps of every package, and ckanapi then found them
            # encoded
            for pkg in packages:
                self._encode(pkg)
        for prefix in ("/api/3/action/", "/api/action/"):  # ckanapi uses the unversioned path
            server.route(prefix + "package_search", self.package_search)
            server.route(prefix + "package_list", self.package_list)
            server.route(prefix + "package_show", self.package_show)

    @property
    def url(self) -> str:
        return self.server.url

    def search_requests(self) -> list[Request]:
        return [r for r in self.server.requests if r.path == "/api/3/action/package_search"]

    def _visible(self) -> list[dict[str, Any]]:
        return [p for p in self.packages if p.get("state", "active") == "active" and not p.get("private")]

    def package_list(self, req: Request) -> Reply:
        return _ok(self.url, "package_list", [p["name"] for p in self._visible()])

    def package_show(self, req: Request) -> Reply:
        wanted = req.arg("id") or (json.loads(req.body or b"{}").get("id") if req.body else None)
        if self._by_key[0] != (id(self.packages), len(self.packages)):  # an index, so that ckanapi's 10,000
            index = {p["name"]: p for p in self.packages} | {
                p["id"]: p for p in self.packages
            }  # calls are fair
            self._by_key = ((id(self.packages), len(self.packages)), index)
        hit = self._by_key[1].get(wanted) if isinstance(wanted, str) else None
        if hit is not None and wanted in (hit["id"], hit["name"]):
            if self.frozen:
                help_url = f"{self.url}/api/3/action/help_show?name=package_show"
                return Reply(
                    200, f'{{"help": {json.dumps(help_url)}, "success": true, "result": {self._encode(hit)}}}'
                )
            return _ok(self.url, "package_show", hit)
        for p in self.packages:  # the index is stale (a test renamed a package): read the list
            if wanted in (p["id"], p["name"]):
                return _ok(self.url, "package_show", p)
        body = {"success": False, "error": {"__type": "Not Found Error", "message": "Not found"}}
        return Reply(404, json.dumps(body))

    def package_search(self, req: Request) -> Reply:
        start = int(req.arg("start", "0") or 0)
        if start in self.fail:
            return self.fail[start]
        rows = min(int(req.arg("rows", "10") or 10), self.rows_max)
        fq = req.arg("fq") or ""
        sort = req.arg("sort", "score desc, metadata_modified desc") or ""
        pkgs = self._listings.get((fq, sort)) if self.frozen else None
        if pkgs is None:
            pkgs = self._listing(fq, sort)
            if self.frozen:
                self._listings[(fq, sort)] = pkgs
        if self.ignore_start:
            start = 0
        count = len(pkgs)
        if self.hidden:
            pkgs = pkgs[: max(len(pkgs) - self.hidden, 0)]
        page = pkgs[start : start + rows]
        fl = req.arg("fl")
        if fl:
            fields = [f.strip() for f in re.split(r"[ ,]", fl) if f.strip()]
            page = [{f: p.get(f) for f in fields if f in p} for p in page]
        self.answers += 1
        body: dict[str, Any] = {
            "help": f"{self.url}/api/3/action/help_show?name=package_search",
            "success": True,
            "result": {"count": count, "sort": sort, "facets": {}, "results": page, "search_facets": {}},
        }
        if self.stamp:
            body["request_id"] = f"req-{self.answers}"
        if self.frozen and not fl:
            results = ", ".join(self._encode(p) for p in page)
            body["result"]["results"] = []
            return Reply(200, json.dumps(body).replace('"results": []', f'"results": [{results}]', 1))
        return Reply(200, json.dumps(body))

    def _encode(self, pkg: dict[str, Any]) -> str:
        key = id(pkg)
        if key not in self._encoded:
            self._encoded[key] = json.dumps(pkg)
        return self._encoded[key]

    def _listing(self, fq: str, sort: str) -> list[dict[str, Any]]:
        pkgs = self._visible()
        m = _RANGE.search(fq)
        if m:
            since = m.group(1).replace("Z", "")
            pkgs = [p for p in pkgs if p["metadata_modified"] >= since]
        m = _ORGS.search(fq)
        if m:
            wanted = {o.strip() for o in m.group(1).split(" OR ")}
            pkgs = [p for p in pkgs if (p.get("organization") or {}).get("name") in wanted]
        for excluded in _NOT_ORG.findall(fq):
            pkgs = [p for p in pkgs if (p.get("organization") or {}).get("name") != excluded]
        if sort.startswith("id"):
            pkgs.sort(key=lambda p: str(p["id"]), reverse=sort.endswith("desc"))
        return pkgs


def _ok(base: str, action: str, result: Any) -> Reply:
    body = {"help": f"{base}/api/3/action/help_show?name={action}", "success": True, "result": result}
    return Reply(200, json.dumps(body))
