"""The writer's recovery paths, against a dict-backed fake of call_action (the real CKAN covers the main paths)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from ckanapi.errors import NotFound, ValidationError

from harvester.errors import TargetError
from harvester.publish.plan import Action, Plan
from harvester.publish.writer import Outcome, Writer
from harvester.state import StateStore

P = "sud"


class FakeCkan:
    """Packages by name, CKAN's name-uniqueness rule, and write counting like CkanClient."""

    url = "http://fake"

    def __init__(self) -> None:
        self.packages: dict[str, dict[str, Any]] = {}
        self.writes: list[str] = []
        self.ids = (f"id{i}" for i in itertools.count())
        self.down_after: int | None = None
        self.invalid: set[str] = set()

    def call(self, action: str, data: dict[str, Any] | None = None) -> Any:
        data = data or {}
        if action != "package_show":
            self.writes.append(action)
            if self.down_after is not None and len(self.writes) > self.down_after:
                raise TargetError("CKAN did not answer", url=self.url)
        if action == "package_show":
            for p in self.packages.values():
                if data["id"] in (p["id"], p["name"]):
                    return p
            raise NotFound("Not found")
        if action == "package_create":
            if data["name"] in self.packages:
                raise ValidationError({"__type": "Validation Error", "name": ["That URL is already in use."]})
            if data["name"] in self.invalid:
                raise ValidationError(
                    {"__type": "Validation Error", "maintainer_email": ["Email x is not valid"]}
                )
            pkg = {**data, "id": next(self.ids), "state": "active"}
            self.packages[data["name"]] = pkg
            return pkg
        if action == "package_update":
            current = next(p for p in self.packages.values() if p["id"] == data["id"])
            current.update(data)
            return current
        raise AssertionError(f"unexpected action {action}")


def extras(key: str, pipeline: str = P) -> list[dict[str, str]]:
    source, remote = key.split(":")
    return [{"key": "harvest_pipeline", "value": pipeline}, {"key": "harvest_source_id", "value": source},
            {"key": "harvest_remote_id", "value": remote}]  # fmt: skip


def build(key: str, name: str, org: str) -> dict[str, Any]:
    return {"name": name, "owner_org": org, "extras": extras(key)}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[FakeCkan, StateStore, Writer]:
    fake = FakeCkan()
    state = StateStore(tmp_path / "state.sqlite")
    writer = Writer(
        fake, state, P, build, concurrency=2, fallback_name=lambda key: f"fallback-{key.replace(':', '-')}"
    )  # type: ignore[arg-type]
    return fake, state, writer


def test_name_held_by_our_own_deleted_dataset_brings_it_back(
    setup: tuple[FakeCkan, StateStore, Writer],
) -> None:
    fake, state, writer = setup
    fake.packages["n1"] = {"id": "old", "name": "n1", "state": "deleted", "extras": extras("s:1")}
    out = Outcome()
    writer.run(Plan(P, create=[Action("s:1", "n1", "org", metadata_hash="h")]), out)
    assert fake.writes == ["package_create", "package_update"] and fake.packages["n1"]["state"] == "active"
    assert [(d.action, d.ckan_id) for d in out.done] == [("updated", "old")]
    assert state.read_publish_records(P)["s:1"]["ckan_id"] == "old"


def test_name_held_by_someone_else_takes_the_fallback(setup: tuple[FakeCkan, StateStore, Writer]) -> None:
    fake, state, writer = setup
    fake.packages["n1"] = {"id": "hand", "name": "n1", "state": "active", "extras": []}
    out = Outcome()
    writer.run(Plan(P, create=[Action("s:1", "n1", "org")]), out)
    assert fake.packages["n1"] == {"id": "hand", "name": "n1", "state": "active", "extras": []}  # untouched
    assert out.done[0].name == "fallback-s-1" and "fallback-s-1" in fake.packages


def test_remembered_dataset_that_is_no_longer_ours_is_left_alone(
    setup: tuple[FakeCkan, StateStore, Writer],
) -> None:
    fake, state, writer = setup
    fake.packages["n1"] = {
        "id": "x",
        "name": "n1",
        "state": "active",
        "extras": extras("s:1", pipeline="other"),
    }
    out = Outcome()
    writer.run(Plan(P, update=[Action("s:1", "n1", "org", "x", verify=True)]), out)
    assert fake.writes == [] and out.failed[0]["dataset_key"] == "s:1"
    assert "provenance extras" in out.failed[0]["error"]


def test_one_refusal_does_not_stop_the_others(setup: tuple[FakeCkan, StateStore, Writer]) -> None:
    fake, state, writer = setup
    fake.invalid = {"n2"}
    out = Outcome()
    writer.run(Plan(P, create=[Action(f"s:{i}", f"n{i}", "org") for i in range(5)]), out)
    assert out.count("created") == 4
    assert out.failed == [{"dataset_key": "s:2", "name": "n2", "error": "CKAN refused package_create",
                           "field_errors": {"maintainer_email": ["Email x is not valid"]}}]  # fmt: skip
    assert "s:2" not in state.read_publish_records(P)


def test_ckan_going_down_aborts_and_records_only_what_was_written(
    setup: tuple[FakeCkan, StateStore, Writer],
) -> None:
    fake, state, writer = setup
    fake.down_after = 3
    out = Outcome()
    with pytest.raises(TargetError):
        writer.run(Plan(P, create=[Action(f"s:{i}", f"n{i}", "org") for i in range(20)]), out)
    records = state.read_publish_records(P)
    assert set(records) == {d.dataset_key for d in out.done} and len(records) <= 3
    assert {r["ckan_id"] for r in records.values()} <= {p["id"] for p in fake.packages.values()}
