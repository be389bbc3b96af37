"""Identity keys of records: a copy's claims meet its origin's own keys."""

from __future__ import annotations

from harvester.merge.rules import MergeRecord, claim_keys, own_keys
from harvester.merge.scoring import decide

UID = "0c456d2d-9548-4a2a-94ef-231d9d890ce2"


def rec(source: str, remote_id: str, title: str, extras: dict[str, str]) -> MergeRecord:
    return MergeRecord(
        key=f"{source}:{remote_id}",
        source_id=source,
        remote_id=remote_id,
        title=title,
        publisher="",
        source_host=f"{source}.example.org",
        source_type="dcat" if source == "geonetwork" else "udata",
        source_rank=0,
        extras=extras,
    )


def test_geonetwork_identifier_claimed_by_a_copy_meets_its_origin() -> None:
    # GeoNetwork's DCAT gives dct:identifier "<uuid> <url>"; data.gouv.fr keeps it as harvest:remote_id
    ident = f"{UID} https://sig.oreme.org/geonetwork/srv/resources{UID}"
    origin = rec(
        "geonetwork", UID, "Data of type chemistry", {"dct_identifier": ident, "file_identifier": UID}
    )
    copy = rec(
        "dgouv", "5f" + "0" * 22, "Autre titre", {"harvest:domain": "x.org", "harvest:remote_id": ident}
    )
    assert f"gid|{UID.replace('-', '')}" in set(own_keys(origin)) & set(claim_keys(copy))
    d = decide([origin, copy], 92.0)
    assert d.groups == [[0, 1]] and [e.rule for e in d.edges] == ["harvest_provenance"]
    assert d.compared["identifier_pairs"] >= 1 and d.compared["title_pairs_scored"] == 0


def test_a_url_inside_an_identifier_is_not_a_key_by_itself() -> None:
    a = rec("geonetwork", "a", "A", {"dct_identifier": "not-global https://portal.example.org/"})
    b = rec("dgouv", "b", "B", {"harvest:remote_id": "https://portal.example.org/"})
    assert decide([a, b], 92.0).groups == [[0], [1]]


def test_norm_url_sees_through_url_variants() -> None:
    from harvester.merge.keys import norm_url

    same = {
        norm_url(u)
        for u in (
            "https://www.data.example.fr/files/a.csv",
            "http://data.example.fr/files/a.csv/",
            "HTTPS://DATA.EXAMPLE.FR:443//files/a.csv?utm_source=datagouv&utm_medium=harvest",
            "https://data.example.fr/files/a.csv/download#top",
            "//data.example.fr/files/a.csv",
        )
    }
    assert same == {"data.example.fr/files/a.csv"}
    assert norm_url("https://data.example.fr/api?b=2&a=1&xtor=x") == "data.example.fr/api?a=1&b=2"
    assert norm_url("http://data.example.fr:8080/x") == "data.example.fr:8080/x"
    assert norm_url("http://data.example.fr:port/x") == "data.example.fr/x"  # a bad port is no crash
    assert norm_url("data.example.fr/x") is None and norm_url("mailto:a@b.fr") is None
