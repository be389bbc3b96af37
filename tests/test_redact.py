"""Redaction: URLs, free text, exceptions and log records lose their credentials and API keys."""

from __future__ import annotations

import json
import logging

import pytest

from harvester.cli.context import setup_logging
from harvester.errors import SourceError
from harvester.redact import redact, redact_obj, stored_form


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://user:s3cret@portal.example/api?x=1", "https://***@portal.example/api?x=1"),
        ("https://tok@portal.example/", "https://***@portal.example/"),
        (
            "http://h/api?apikey=A1&api_key=A2&key=A3&rows=10&token=A4&access_token=A5",
            "http://h/api?apikey=***&api_key=***&key=***&rows=10&token=***&access_token=***",
        ),
        (
            "http://h/f.csv?Signature=S&sig=S2&X-Amz-Signature=S3#part",
            "http://h/f.csv?Signature=***&sig=***&X-Amz-Signature=***#part",
        ),
        (
            "http://h/?password=p&secret=s&client_secret=c&auth=a",
            "http://h/?password=***&secret=***&client_secret=***&auth=***",
        ),
        ("failed: GET /api?apikey=abc (Caused by x)", "failed: GET /api?apikey=*** (Caused by x)"),
        ("header Authorization: Bearer abc.def.ghi sent", "header Authorization: *** sent"),
        (
            "http://h/api/3/action/package_search?rows=1000&start=0",
            "http://h/api/3/action/package_search?rows=1000&start=0",
        ),
        ("mailto:someone@example.org and ok", "mailto:someone@example.org and ok"),
    ],
)
def test_redact(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_redact_obj_and_stored_form() -> None:
    got = redact_obj({"a": ["http://u:p@h/?token=t", 3], "b": {"c": "key=v"}, "n": None})
    assert got == {"a": ["http://***@h/?token=***", 3], "b": {"c": "key=***"}, "n": None}
    plain = "GET http://h/x?rows=1"
    assert stored_form(plain) == plain
    one, two = stored_form("GET http://h/x?token=A"), stored_form("GET http://h/x?token=B")
    assert "A" not in one.split("#")[0] and one.startswith("GET http://h/x?token=*** #") and one != two


def test_exceptions_are_redacted_at_construction() -> None:
    exc = SourceError(
        "HTTP 403 for http://u:pw@h/x?apikey=K1", url="http://u:pw@h/x?apikey=K1", hint="token=K2 refused"
    )
    text = str(exc) + json.dumps(exc.attrs())
    assert "pw" not in text and "K1" not in text and "K2" not in text and "apikey=***" in text


@pytest.mark.parametrize("log_json", [False, True])
def test_log_lines_are_redacted_whatever_the_caller_passed(
    log_json: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging(1, log_json)
    log = logging.getLogger("harvester.test")
    log.warning("fetching %s", "http://u:pw1@h/x?token=K3", extra={"url": "http://h/?apikey=K4"})
    try:
        raise ValueError("boom http://h/?access_token=K5")
    except ValueError:
        log.exception("failed")
    err = capsys.readouterr().err
    for secret in ("pw1", "K3", "K4", "K5"):
        assert secret not in err
    assert "token=***" in err
    if log_json:
        assert all(json.loads(line)["level"] for line in err.splitlines() if line.startswith("{"))


def test_the_catalogue_keeps_no_userinfo() -> None:
    from harvester.redact import without_userinfo

    assert (
        without_userinfo("http://user:s3cret@portal.example/dataset/x?q=1")
        == "http://portal.example/dataset/x?q=1"
    )
    assert (
        without_userinfo("https://portal.example/a@b") == "https://portal.example/a@b"
    )  # an @ in the path stays
    assert without_userinfo(None) is None and without_userinfo("mailto:x@y.fr") == "mailto:x@y.fr"
