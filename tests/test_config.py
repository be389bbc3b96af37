"""sources.yaml validation: every error at once, with its path; no network."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.config import load_config, parse_sources
from harvester.errors import ConfigError

ROOT = Path(__file__).parent.parent


def errors_of(data: object) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_sources(data)
    return err.value.errors


def test_shipped_sources_yaml_is_valid() -> None:
    cfg = load_config(ROOT / "sources.yaml")
    assert "datasud" in {s.id for s in cfg.sources}
    assert cfg.source("datasud").type == "ckan"


def test_every_error_reported_with_its_path() -> None:
    errs = errors_of(
        {
            "sources": [
                {"id": "ok", "type": "ckan", "url": "https://example.org"},
                {"id": "bad-rows", "type": "ckan", "url": "https://example.org", "params": {"rows": "many"}},
                {"id": "Bad Id", "type": "ckan", "url": "ftp://example.org"},
                {"id": "typo", "type": "ckan", "url": "https://example.org", "enabeld": True},
                {"id": "what", "type": "sharepoint", "url": "https://example.org"},
                {"id": "ok", "type": "ckan", "url": "https://example.org", "schedule": "every day"},
            ]
        }
    )
    text = "\n".join(errs)
    assert "sources[1] (id=bad-rows).params.rows: Input should be a valid integer" in text
    assert (
        "sources[2] (id=Bad Id).id" in text
        and "sources[2] (id=Bad Id).url: Value error, must start with http" in text
    )
    assert "sources[3] (id=typo).enabeld: Extra inputs are not permitted (unknown key)" in text
    assert "unknown connector type 'sharepoint'; valid types: " in text and "ckan" in text
    assert "sources[5] (id=ok).schedule: Value error, not a valid cron expression" in text
    assert "duplicate source id 'ok'" in text
    assert len(errs) >= 7


def test_unknown_connector_param_rejected() -> None:
    errs = errors_of(
        {"sources": [{"id": "x", "type": "ckan", "url": "https://e.org", "params": {"rowz": 5}}]}
    )
    assert errs == ["sources[0] (id=x).params.rowz: Extra inputs are not permitted (unknown key)"]


def test_quoted_number_gets_a_hint() -> None:
    errs = errors_of(
        {"sources": [{"id": "x", "type": "ckan", "url": "https://e.org", "http": {"rate": "fast"}}]}
    )
    assert "x).http.rate" in errs[0]


def test_not_a_mapping() -> None:
    with pytest.raises(ConfigError, match="expected a mapping with a `sources:` list"):
        parse_sources(["nope"])


def test_yaml_syntax_error(tmp_path: Path) -> None:
    p = tmp_path / "sources.yaml"
    p.write_text("sources:\n  - id: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(p)
