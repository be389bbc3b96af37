"""The plan: create / update / withdraw / unchanged / refused, collisions, and the max-delete guard."""

from __future__ import annotations

from typing import Any

from harvester.publish.inventory import Published
from harvester.publish.names import dataset_name, fallback_name
from harvester.publish.plan import Wanted, make_plan

P = "sud"


def want(i: int, **kw: Any) -> Wanted:
    base: dict[str, Any] = {
        "dataset_key": f"src:{i}",
        "source_id": "src",
        "remote_id": str(i),
        "slug": f"jeu-{i}",
        "title": f"Jeu {i}",
        "metadata_hash": f"h{i}",
        "organization": "org",
        "dataset_keys": (f"src:{i}",),
    }
    base.update(kw)
    return Wanted(**base)


def pub(
    i: int, *, pipeline: str = P, h: str | None = None, state: str = "active", org: str = "org"
) -> Published:
    """A dataset as this harvester publishes it: merged key `src:<i>`, made of that one record."""
    return Published(
        f"id{i}", dataset_name("src", str(i), f"jeu-{i}"), state, org, pipeline, "src", str(i), h or f"h{i}",
        merged_key=f"src:{i}", contributors=(f"src:{i}",),
    )  # fmt: skip


def plan(wanted: list[Wanted], owned: list[Published], **kw: Any) -> Any:
    kw.setdefault("names_taken", {p.name: p for p in owned})
    kw.setdefault("organizations", {"org"})
    kw.setdefault("create_missing_organizations", False)
    kw.setdefault("max_delete_share", 0.5)
    return make_plan(P, wanted, {p.dataset_key: p for p in owned if p.dataset_key}, **kw)


def test_create_update_unchanged_withdraw() -> None:
    p = plan(
        [
            want(1),
            want(2, metadata_hash="changed"),
            want(3),
            want(4, withdrawn=True),
            want(5, withdrawn=True),
        ],
        [pub(2), pub(3), pub(4)],
    )
    assert [a.dataset_key for a in p.create] == ["src:1"] and p.create[0].name == dataset_name(
        "src", "1", "jeu-1"
    )
    assert [(a.dataset_key, a.ckan_id) for a in p.update] == [("src:2", "id2")]
    assert p.unchanged == ["src:3", "src:5"]  # src:5: withdrawn and never published: nothing to do
    assert [(a.dataset_key, a.ckan_id) for a in p.withdraw] == [("src:4", "id4")]
    assert p.writes_needed == 3


def test_unchanged_catalogue_needs_no_write() -> None:
    p = plan([want(i) for i in range(50)], [pub(i) for i in range(50)])
    assert len(p.unchanged) == 50 and p.writes_needed == 0


def test_organisation_change_or_deleted_dataset_is_an_update() -> None:
    p = plan([want(1, organization="other"), want(2)], [pub(1), pub(2, state="deleted")],
             organizations={"org", "other"})  # fmt: skip
    assert [a.dataset_key for a in p.update] == ["src:1", "src:2"]


def test_missing_organisation_refused_or_created() -> None:
    p = plan([want(1, organization="nouvelle")], [])
    assert [a.dataset_key for a in p.refused] == ["src:1"] and "create_missing is false" in (
        p.refused[0].reason or ""
    )
    p = plan([want(1, organization="nouvelle")], [], create_missing_organizations=True)
    assert p.organizations_to_create == ["nouvelle"] and len(p.create) == 1


def test_name_taken_by_someone_else_uses_the_fallback() -> None:
    primary = dataset_name("src", "1", "jeu-1")
    hand = Published("hand", primary, "active", "org", None, None, None, None)
    p = plan([want(1)], [], names_taken={primary: hand})
    assert p.create[0].name == fallback_name(P, "src", "1", "jeu-1")
    # ... and a dataset of another pipeline is not ours either
    other = Published("x", primary, "active", "org", "nord", "src", "1", "h1")
    assert plan([want(1)], [], names_taken={primary: other}).create[0].name != primary
    both = {primary: hand, fallback_name(P, "src", "1", "jeu-1"): hand}
    p = plan([want(1)], [], names_taken=both)
    assert p.create == [] and p.refused[0].dataset_key == "src:1"


def test_two_new_datasets_never_claim_one_name() -> None:
    p = plan([want(1), want(1, dataset_key="src:1bis", remote_id="1")], [])
    assert len({a.name for a in p.create}) == 2


def test_max_delete_share_blocks_every_withdrawal() -> None:
    owned = [pub(i) for i in range(10)]
    wanted = [want(i, withdrawn=i < 2) for i in range(10)]
    p = plan(wanted, owned, max_delete_share=0.1)
    assert p.withdraw == [] and len(p.withdraw_blocked) == 2
    assert "20%" in (p.withdraw_blocked_reason or "") and "max_delete_share 10%" in (
        p.withdraw_blocked_reason or ""
    )
    p = plan(wanted, owned, max_delete_share=0.2)  # exactly the share: allowed
    assert len(p.withdraw) == 2 and p.withdraw_blocked_reason is None


def test_orphans_and_remembered_datasets() -> None:
    p = plan([want(1), want(2)], [pub(1), pub(9)], remembered={"src:2": ("id2", "old-name")})
    assert [a.dataset_key for a in p.orphaned] == ["src:9"]  # owned, not in the catalogue: left alone
    [upd] = p.update
    assert (upd.dataset_key, upd.ckan_id, upd.name, upd.verify) == ("src:2", "id2", "old-name", True)


def test_plan_json_lists_everything() -> None:
    p = plan([want(1), want(2, withdrawn=True)], [pub(2)], max_delete_share=1.0)
    d = p.to_dict()
    assert d["counts"] == {"create": 1, "update": 0, "withdraw": 1, "unchanged": 0, "refused": 0,
                           "withdraw_blocked": 0, "orphaned": 0}  # fmt: skip
    assert d["create"][0]["dataset_key"] == "src:1" and d["withdraw"][0]["ckan_id"] == "id2"


def legacy(source: str, i: int, h: str = "h") -> Published:
    """A dataset published before publishing read the merge: keyed on its source dataset key only."""
    return Published(
        f"id-{source}{i}", dataset_name(source, str(i), None), "active", "org", P, source, str(i), h
    )


def test_a_dataset_published_before_the_merge_is_updated_in_place() -> None:
    p = plan([want(1, metadata_hash="h")], [legacy("src", 1)])
    assert [(a.dataset_key, a.name, a.ckan_id) for a in p.update] == [
        ("src:1", dataset_name("src", "1", None), "id-src1")
    ]  # same hash, but its provenance extras must be rewritten once
    assert p.create == [] and p.withdraw == [] and p.orphaned == []


def test_old_copies_of_a_merged_dataset_keep_one_name_and_the_others_are_withdrawn() -> None:
    w = want(1, dataset_keys=("src:1", "agg:7"))
    p = plan([w], [legacy("src", 1), legacy("agg", 7)])
    assert [(a.dataset_key, a.ckan_id) for a in p.update] == [("src:1", "id-src1")]
    assert [(a.dataset_key, a.ckan_id, a.reason) for a in p.withdraw] == [
        ("agg:7", "id-agg7", f"merged into {dataset_name('src', '1', None)} (src:1)")
    ]
    # only the aggregator's copy had been published: it becomes the merged dataset, under its name
    p = plan([w], [legacy("agg", 7)])
    assert [(a.dataset_key, a.name) for a in p.update] == [("src:1", dataset_name("agg", "7", None))]
    assert p.create == [] and p.withdraw == []


def test_a_dataset_is_found_through_its_records_when_its_key_changed() -> None:
    old = Published("id9", "jeu-9", "active", "org", P, "agg", "7", "h1", merged_key="gone:1",
                    contributors=("gone:1", "src:1"))  # fmt: skip
    p = plan([want(1, metadata_hash="h1")], [old])
    assert [(a.dataset_key, a.name, a.ckan_id) for a in p.update] == [("src:1", "jeu-9", "id9")]
    assert p.create == [] and p.orphaned == []
