"""pipelines/*.yaml: validated like sources.yaml, every error collected with its file and YAML path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from harvester.cli import cli
from harvester.config import load_config
from harvester.errors import ConfigError
from harvester.pipelines import get_pipeline, load_pipelines
from tests.fixture_server import FixtureServer

ROOT = Path(__file__).resolve().parents[2]


def project(tmp_path: Path, pipelines: dict[str, object]) -> Path:
    sources = [{"id": s, "type": "ckan", "url": f"https://{s}.example.org"} for s in ("datasud", "nice")]
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": sources}))
    (tmp_path / "pipelines").mkdir()
    for name, body in pipelines.items():
        (tmp_path / "pipelines" / f"{name}.yaml").write_text(yaml.safe_dump(body, allow_unicode=True))
    return tmp_path / "sources.yaml"


def good(name: str = "sud", **ckan: object) -> dict[str, object]:
    return {
        "name": name,
        "sources": ["datasud", "nice"],
        "publish": {
            "ckan": {
                "url": "http://127.0.0.1:5000/",
                "token_env": "SUD_TOKEN",
                "organizations": {"default": "region-sud", "map": {"Ville de Nice": "ville-de-nice"}},
                **ckan,
            }
        },
    }


def test_valid_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUD_TOKEN", "t")
    cfg = load_config(project(tmp_path, {"sud": good()}))
    p = load_pipelines(cfg)["sud"]
    assert p.sources == ["datasud", "nice"] and p.path == tmp_path / "pipelines" / "sud.yaml"
    assert p.ckan.url == "http://127.0.0.1:5000" and p.ckan.token() == "t"
    assert p.ckan.max_delete_share == 0.1 and p.ckan.organizations.map == {"Ville de Nice": "ville-de-nice"}
    assert p.ckan.organizations.create_missing is False


def test_every_error_is_reported_with_file_and_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUD_TOKEN", raising=False)
    bad = good(max_delete_share=2, colour="red")
    bad["sources"] = ["datasud", "ampmetropole"]
    bad["publish"]["ckan"]["organizations"]["default"] = "Région Sud"  # type: ignore[index]
    other = good("other", url="ftp://nope")
    other["name"] = "autre"
    cfg = load_config(project(tmp_path, {"sud": bad, "other": other, "ok": good("ok")}))
    with pytest.raises(ConfigError) as info:
        load_pipelines(cfg)
    errors = "\n".join(info.value.errors)
    sud, oth, ok = (str(tmp_path / "pipelines" / f"{n}.yaml") for n in ("sud", "other", "ok"))
    assert f"{sud}: publish.ckan.max_delete_share: Input should be less than or equal to 1" in errors
    assert f"{sud}: publish.ckan.colour: Extra inputs are not permitted (unknown key)" in errors
    assert f"{sud}: publish.ckan.organizations.default: String should match pattern" in errors
    assert f"{sud}: sources[1]: unknown source 'ampmetropole' (known: datasud, nice)" in errors
    assert f"{oth}: publish.ckan.url: Value error, must start with http:// or https://" in errors
    assert f"{oth}: name: 'autre' differs from the file name 'other'" in errors
    assert f"{ok}: publish.ckan.token_env: environment variable SUD_TOKEN is not set" in errors
    assert len(info.value.errors) == 7


def test_publish_checks_only_its_own_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUD_TOKEN", "t")
    monkeypatch.delenv("OTHER_TOKEN", raising=False)
    cfg = load_config(project(tmp_path, {"sud": good(), "other": good("other", token_env="OTHER_TOKEN")}))
    assert get_pipeline(cfg, "sud").name == "sud"
    with pytest.raises(ConfigError, match="OTHER_TOKEN is not set"):
        get_pipeline(cfg, "other")
    with pytest.raises(ConfigError, match="unknown pipeline 'nord'") as info:
        get_pipeline(cfg, "nord")
    assert info.value.hint and "other, sud" in info.value.hint


def test_cli_publish_reports_config_errors_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: FixtureServer
) -> None:
    monkeypatch.delenv("SUD_TOKEN", raising=False)
    cfg = project(tmp_path, {"sud": good(url=server.url)})
    runner = CliRunner()
    res = runner.invoke(cli, ["--config", str(cfg), "--data-dir", str(tmp_path / "data"), "publish", "sud"])
    assert res.exit_code == 2 and "SUD_TOKEN is not set" in res.stderr
    res = runner.invoke(cli, ["--config", str(cfg), "validate"])
    assert res.exit_code == 2 and "SUD_TOKEN is not set" in res.stderr
    assert server.requests == []


def test_shipped_pipelines_validate_against_shipped_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(ROOT / "sources.yaml")
    shipped = load_pipelines(cfg, check_env=False)
    assert "sud" in shipped and shipped["sud"].ckan.token_env == "CKAN_API_TOKEN"
    for p in shipped.values():
        monkeypatch.setenv(p.ckan.token_env, "x")
    res = CliRunner().invoke(cli, ["--config", str(ROOT / "sources.yaml"), "validate"])
    assert res.exit_code == 0, res.output


def test_pipeline_without_a_publish_target(tmp_path: Path) -> None:
    cfg = project(tmp_path, {"nord": {"name": "nord", "sources": ["nice"]}})
    res = CliRunner().invoke(
        cli, ["--config", str(cfg), "--data-dir", str(tmp_path / "data"), "publish", "nord"]
    )
    assert res.exit_code == 2 and "pipeline nord has no publish target" in res.stderr
    assert "add a `publish: ckan:` block" in res.stderr
