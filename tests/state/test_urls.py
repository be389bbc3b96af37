"""`--state` / `open_state`: which backend a path or URL names, and a bad one failing before any request."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from harvester.runtime import RuntimeSpec
from harvester.state import SqliteState, StateUrlError, open_state, parse_state_url, redact
from tests.fixture_server import FixtureServer
from tests.portals.ckan_portal import CkanPortal, build_packages
from tests.subprocess_cli import harvester_cmd


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("data/state.sqlite", ("sqlite", "data/state.sqlite")),
        ("/var/lib/h/state.sqlite", ("sqlite", "/var/lib/h/state.sqlite")),
        ("sqlite:///data/state.sqlite", ("sqlite", "data/state.sqlite")),
        ("sqlite:////var/lib/h/state.sqlite", ("sqlite", "/var/lib/h/state.sqlite")),
        ("postgresql://u:p@db.internal:5432/h", ("postgresql", "postgresql://u:p@db.internal:5432/h")),
        ("postgres://db/h", ("postgresql", "postgres://db/h")),
        ("postgresql:///h?host=/run/postgresql", ("postgresql", "postgresql:///h?host=/run/postgresql")),
    ],
)
def test_a_path_or_url_names_a_backend(value: str, expected: tuple[str, str]) -> None:
    assert parse_state_url(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("mysql://u:pw@db/h", "unknown scheme 'mysql'"),
        ("sqlite://state.sqlite", "three slashes"),
        ("sqlite:///", "no file path"),
        ("postgresql://u:pw@db:port/h", "the port is not a number"),
    ],
)
def test_a_bad_value_is_refused_without_its_password(value: str, message: str) -> None:
    with pytest.raises(StateUrlError, match=message) as err:
        parse_state_url(value)
    assert "pw" not in str(err.value)


def test_a_directory_is_not_a_state_file(tmp_path: Path) -> None:
    with pytest.raises(StateUrlError, match="is a directory"):
        parse_state_url(str(tmp_path))


def test_redact() -> None:
    assert (
        redact("postgresql://u:s3cret@h:5/db?sslmode=require") == "postgresql://u:***@h:5/db?sslmode=require"
    )
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
    assert redact("/a/b.sqlite") == "/a/b.sqlite"


def test_open_state_with_a_sqlite_url_and_the_runtime_spec(tmp_path: Path) -> None:
    st = open_state(f"sqlite:///{tmp_path}/s/state.sqlite")
    assert isinstance(st, SqliteState) and st.path == tmp_path / "s" / "state.sqlite" and st.path.exists()
    spec = RuntimeSpec.for_data_dir(tmp_path, st.url)
    assert spec.state_url == str(tmp_path / "s" / "state.sqlite") and spec.state_path == st.path
    assert RuntimeSpec.for_data_dir(tmp_path).state_url == str(tmp_path / "state.sqlite")
    st.close()


def _cli(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(harvester_cmd(root, *args), capture_output=True, text=True, timeout=120, env=env)


def test_a_bad_state_fails_before_any_request(tmp_path: Path, server: FixtureServer) -> None:
    CkanPortal(server, build_packages(3))
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"id": "demo", "type": "ckan", "url": server.url}]})
    )
    bad = _cli(tmp_path, "--state", "mysql://u:secret@db/x", "harvest", "demo")
    assert bad.returncode == 2 and "Invalid value for '--state'" in bad.stderr
    assert "unknown scheme 'mysql'" in bad.stderr and "secret" not in bad.stderr
    import os

    env = {**os.environ, "HARVESTER_STATE": "sqlite://nope"}
    from_env = _cli(tmp_path, "harvest", "demo", env=env)
    assert (
        from_env.returncode == 2
        and "HARVESTER_STATE" in from_env.stderr
        and "three slashes" in from_env.stderr
    )
    # a PostgreSQL server that does not answer: one clear error naming the option, the password hidden
    down = _cli(tmp_path, "--state", "postgresql://u:secret@127.0.0.1:1/x", "harvest", "demo")
    assert down.returncode == 1, down.stderr
    assert "the state database postgresql://***@127.0.0.1:1/x can't be used" in down.stderr
    assert "--state" in down.stderr and "secret" not in down.stderr
    assert server.requests == []
    assert not (tmp_path / "data" / "state.sqlite").exists()


def test_state_with_sqlite_url_is_used_by_the_cli(tmp_path: Path, server: FixtureServer) -> None:
    CkanPortal(server, build_packages(3))
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"id": "demo", "type": "ckan", "url": server.url}]})
    )
    elsewhere = tmp_path / "elsewhere" / "h.sqlite"
    res = _cli(tmp_path, "--state", f"sqlite:///{elsewhere}", "--executor", "processes", "harvest", "demo")
    assert res.returncode == 0, res.stderr
    assert elsewhere.exists() and not (tmp_path / "data" / "state.sqlite").exists()
    run = SqliteState(elsewhere, readonly=True).last_run("demo", "harvest")
    assert run is not None and run["status"] == "ok" and run["summary"]["listed"] == 3
