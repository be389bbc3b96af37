"""The CLI through click's runner: exit codes (0, 1, 2, 3), messages, --json output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from harvester.cli import cli
from tests.fixture_server import FixtureServer, Reply
from tests.portals.ckan_portal import CkanPortal, build_packages


def write_sources(tmp_path: Path, sources: list[dict[str, object]]) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": sources}))
    return path


def invoke(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(tmp_path / "data"), *args]
    )


@pytest.fixture
def portal(server: FixtureServer) -> CkanPortal:
    return CkanPortal(server, build_packages(30))


def test_validate_ok_and_invalid(tmp_path: Path) -> None:
    write_sources(tmp_path, [{"id": "a", "type": "ckan", "url": "https://example.org"}])
    ok = invoke(tmp_path, "validate")
    assert ok.exit_code == 0 and "1 sources" in ok.stderr
    write_sources(tmp_path, [{"id": "a", "type": "ckann", "url": "https://example.org", "params": {}}])
    bad = invoke(tmp_path, "validate")
    assert bad.exit_code == 2
    assert "sources[0] (id=a).type: unknown connector type 'ckann'; valid types:" in bad.stderr


def test_validate_reports_missing_token_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    write_sources(
        tmp_path, [{"id": "a", "type": "ckan", "url": "https://e.org", "auth": {"token_env": "NOPE_TOKEN"}}]
    )
    res = invoke(tmp_path, "validate")
    assert res.exit_code == 2 and "source a: environment variable NOPE_TOKEN is not set" in res.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    res = invoke(tmp_path, "validate")
    assert res.exit_code == 2 and "configuration file not found" in res.stderr


def test_harvest_usage_errors(tmp_path: Path) -> None:
    write_sources(tmp_path, [{"id": "a", "type": "ckan", "url": "https://e.org"}])
    assert invoke(tmp_path, "harvest").exit_code == 2
    unknown = invoke(tmp_path, "harvest", "zzz")
    assert (
        unknown.exit_code == 2
        and "unknown source 'zzz'" in unknown.stderr
        and "known sources: a" in unknown.stderr
    )
    assert invoke(tmp_path, "harvest", "a", "--all").exit_code == 2


def test_harvest_summary_json_and_status(tmp_path: Path, portal: CkanPortal) -> None:
    write_sources(tmp_path, [{"id": "demo", "type": "ckan", "url": portal.url}])
    res = invoke(tmp_path, "harvest", "demo")
    assert res.exit_code == 0, res.stderr
    assert "harvest run" in res.stderr and "demo" in res.stderr and "report:" in res.stderr
    res = invoke(tmp_path, "harvest", "--all", "--json")
    report = json.loads(res.stdout)
    assert report["exit_code"] == 0 and report["sources"][0]["mode"] == "incremental"
    assert Path(tmp_path / "data/runs" / report["run_id"] / "report.json").exists()
    status = json.loads(invoke(tmp_path, "status", "--json").stdout)
    first = status["sources"][0]
    assert first["datasets"] == 30 and first["last_run"]["status"] == "ok"
    assert first["runs"]["harvest"] == first["last_run"] and first["runs"]["normalise"] is None
    listing = json.loads(invoke(tmp_path, "sources", "--json").stdout)
    assert listing[0]["datasets"] == 30 and listing[0]["last_status"] == "ok"


def test_exit_3_when_one_source_fails_and_1_when_all_fail(
    tmp_path: Path, server: FixtureServer, portal: CkanPortal
) -> None:
    server.route(
        "/broken/api/3/action/package_search", Reply(200, "<html>oops</html>", content_type="text/html")
    )
    write_sources(
        tmp_path,
        [
            {"id": "good", "type": "ckan", "url": portal.url},
            {"id": "broken", "type": "ckan", "url": f"{server.url}/broken", "http": {"max_retries": 0}},
        ],
    )
    res = invoke(tmp_path, "harvest", "--all")
    assert res.exit_code == 3
    assert (
        "broken: expected JSON but got an HTML" in res.stderr
        and "/broken/api/3/action/package_search" in res.stderr
    )
    assert invoke(tmp_path, "harvest", "broken").exit_code == 1


def test_check_and_state(tmp_path: Path, portal: CkanPortal) -> None:
    write_sources(tmp_path, [{"id": "demo", "type": "ckan", "url": portal.url}])
    res = invoke(tmp_path, "check", "demo", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["source_id"] == "demo"
    invoke(tmp_path, "harvest", "demo")
    shown = json.loads(invoke(tmp_path, "state", "show", "demo").stdout)
    assert shown["cursor"] is not None
    assert invoke(tmp_path, "state", "reset", "demo").exit_code == 0
    assert json.loads(invoke(tmp_path, "state", "show", "demo").stdout)["cursor"] is None


def test_connectors_json_lists_params() -> None:
    res = CliRunner().invoke(cli, ["connectors", "--json"])
    types = {c["type"]: c for c in json.loads(res.stdout)}
    rows = {p["name"]: p for p in types["ckan"]["params"]}
    assert rows["rows"]["default"] == 1000 and rows["rows"]["description"]


def test_log_json_gives_one_json_line_per_event_for_cron(tmp_path: Path, portal: CkanPortal) -> None:
    write_sources(tmp_path, [{"id": "demo", "type": "ckan", "url": portal.url}])
    res = invoke(tmp_path, "--log-json", "harvest", "demo")
    assert res.exit_code == 0
    events = [json.loads(line) for line in res.stderr.splitlines() if line.startswith("{")]
    done = [e for e in events if e.get("event") == "source_done"]
    assert len(done) == 1 and done[0]["source_id"] == "demo" and done[0]["level"] == "info"
    assert "listed 30" in done[0]["msg"] and done[0]["run_id"]


HEAVY = ("pyarrow", "pandas", "rdflib", "lxml", "pyoxigraph", "shapely", "requests", "psycopg")


def _imported_by(tmp_path: Path, *args: str, modules: bool = False) -> set[str]:
    """Top-level packages (or, with `modules`, every module) a fresh `harvester ARGS` process has imported when it
    exits. The names are the last line of its stdout."""
    import subprocess
    import sys

    names = "sys.modules" if modules else "{m.split('.')[0] for m in sys.modules}"
    probe = (
        "import sys\nfrom harvester.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        f"print()\nprint(' '.join(sorted({names})))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    return set(proc.stdout.splitlines()[-1].split())


def test_help_and_validate_import_no_heavy_library(tmp_path: Path) -> None:
    write_sources(
        tmp_path,
        [
            {"id": "a", "type": "ckan", "url": "https://example.org", "schedule": "0 3 * * *"},
            {"id": "b", "type": "udata", "url": "https://example.org"},
            {"id": "c", "type": "opendatasoft", "url": "https://example.org"},
        ],
    )
    assert not set(HEAVY) & _imported_by(tmp_path, "--help")
    validate = _imported_by(tmp_path, "--config", str(tmp_path / "sources.yaml"), "validate")
    assert "pydantic" in validate  # the config really was validated in that process
    assert not set(HEAVY) & validate
    # nor the connectors (their params live in connectors/portal_params.py), nor multiprocessing (the runner
    # imports it for --executor processes only)
    modules = _imported_by(tmp_path, "--config", str(tmp_path / "sources.yaml"), "validate", modules=True)
    assert "harvester.connectors.portal_params" in modules
    assert not {"harvester.connectors.base", "harvester.http", "multiprocessing"} & modules
    assert "concurrent.futures.process" not in modules
    assert not {"harvester.runner", "webbrowser"} & _imported_by(tmp_path, "--help", modules=True)


def test_an_unchanged_ckan_rerun_imports_neither_pandas_nor_arrow_compute(
    tmp_path: Path, portal: CkanPortal
) -> None:
    """A cron re-run that finds nothing new pays for what it uses only: pandas (~0.3 s) and pyarrow.compute
    (~80 ms) are imported by changed snapshots, not by the unchanged one."""
    cfg = write_sources(tmp_path, [{"id": "demo", "type": "ckan", "url": portal.url}])
    args = ("--config", str(cfg), "--data-dir", str(tmp_path / "data"), "harvest", "demo", "--json")
    assert invoke(tmp_path, "harvest", "demo").exit_code == 0
    again = _imported_by(tmp_path, *args, modules=True)
    assert "harvester.snapshot" in again and "pyarrow.parquet" in again  # the snapshot really was read
    assert not {"pandas", "pyarrow.compute"} & again


def test_validate_of_dcat_and_csw_sources_imports_no_rdf_or_xml_library(tmp_path: Path) -> None:
    """Their params models live in light modules (connectors/dcat/params.py, connectors/csw/params.py)."""
    write_sources(
        tmp_path,
        [
            {
                "id": "d",
                "type": "dcat",
                "url": "https://example.org/catalog.ttl",
                "params": {"identity": "uri"},
            },
            {"id": "g", "type": "csw", "url": "https://example.org/csw", "params": {"page_size": 50}},
        ],
    )
    validate = _imported_by(tmp_path, "--config", str(tmp_path / "sources.yaml"), "validate")
    assert "pydantic" in validate and not set(HEAVY) & validate


def test_a_bad_dcat_param_is_still_refused_by_validate(tmp_path: Path) -> None:
    import subprocess
    import sys

    from harvester.connectors import REGISTRY

    assert REGISTRY.params_model("dcat") is REGISTRY["dcat"].Params  # the same model, imported two ways
    assert REGISTRY.params_model("csw") is REGISTRY["csw"].Params
    write_sources(
        tmp_path,
        [{"id": "d", "type": "dcat", "url": "https://example.org/c.ttl", "params": {"identity": "x"}}],
    )
    proc = subprocess.run(
        [sys.executable, "-m", "harvester", "--config", str(tmp_path / "sources.yaml"), "validate"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2 and "identity" in proc.stderr, proc.stderr


def test_lazy_registry_entries_resolve_to_their_type() -> None:
    from harvester.connectors import REGISTRY, register

    for name in REGISTRY:
        assert REGISTRY[name].type == name
    ckan = REGISTRY["ckan"]
    assert register(ckan) is ckan  # registering the same class again is harmless

    class Other(ckan):  # type: ignore[valid-type,misc]
        pass

    with pytest.raises(ValueError, match="registered twice"):
        register(Other)
