"""data.europa.eu's MQA indicators and weights (405 points), evaluated on one merged dataset.

Weights: the MQA default score values (the machine-readable copy in Informasjonsforvaltning/fdk-mqa-scoring-service,
`graphs/dcatno-mqa-vocabulary-default-score-values.ttl`, attributed there to data.europa.eu's piveau MQA; its two
Norwegian indicators formatMatch and syntaxValid are left out).

Dataset-level indicators (the property on the dataset, or in any contributing record's raw JSON):
keyword, theme, spatial, temporal, DCAT-AP compliance, licence, licence from a controlled vocabulary, access
rights (+ vocabulary), contact point, publisher, rights, issued, modified. MQA reads licence and rights on the
distribution: the catalogue has one licence per dataset, so it scores them on the dataset.

Distribution-level indicators (accessURL reachable, downloadURL present, downloadURL reachable, format, media
type, format/media type from a vocabulary, non-proprietary, machine-readable, byte size): as the reference scorer
does, each distribution is scored on them and the dataset takes the points of its best distribution (the one
with the most points; the first on a tie). A dataset without a distribution gets none of them.

How the catalogue's columns stand for the DCAT properties:
- accessURL reachable: the normalise stage converted the resource's table (`ok`/`unchanged`) or downloaded its
  file (a failed conversion with a sha256). A download that failed (no file) is not reachable. A resource the
  normalise stage never fetched (not a table format, skipped, not normalised) is *not counted as reachable*, and
  the details say "never checked": no extra crawl is made.
- downloadURL present: a URL whose format is a file format (not a page or a service, harvester/data/mqa.json
  `service_formats`), or a file that was downloaded. downloadURL reachable: present and reachable as above.
- format / media type: the resource's `format` / `media_type`; vocabulary: the format is a canonical name of
  harvester/data/formats.json, or the media type one formats.json names or a well-formed IANA type.
- licence from a controlled vocabulary: `license_id` set (harvester's licence table recognised it).
- access rights from a vocabulary: a code of the EU access-right authority table.
- DCAT-AP compliance: the mandatory DCAT-AP properties are there (title, description, a distribution with an
  accessURL). A SHACL validation against the DCAT-AP shapes may replace this check when the export has one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harvester.quality.vocab import access_right_code, format_known, media_type_known, vocab

WEIGHTS: dict[str, dict[str, int]] = {
    "findability": {"keyword": 30, "theme": 30, "spatial": 20, "temporal": 20},
    "accessibility": {"access_url_reachable": 50, "download_url": 20, "download_url_reachable": 30},
    "interoperability": {"format": 20, "media_type": 10, "format_vocabulary": 10, "non_proprietary": 20,
                         "machine_readable": 20, "dcat_ap_compliance": 30},
    "reusability": {"licence": 20, "licence_vocabulary": 10, "access_rights": 10, "access_rights_vocabulary": 5,
                    "contact_point": 20, "publisher": 10},
    "contextuality": {"rights": 5, "byte_size": 5, "issued": 5, "modified": 5},
}  # fmt: skip
INDICATORS: dict[str, int] = {name: w for dim in WEIGHTS.values() for name, w in dim.items()}
DIMENSION_OF: dict[str, str] = {name: dim for dim, names in WEIGHTS.items() for name in names}
MAX_SCORE = sum(INDICATORS.values())  # 405
DISTRIBUTION_LEVEL = ("access_url_reachable", "download_url", "download_url_reachable", "format", "media_type",
                      "format_vocabulary", "non_proprietary", "machine_readable", "byte_size")  # fmt: skip
REACHABLE_STATUSES = ("ok", "unchanged")


@dataclass
class Evaluation:
    points: dict[str, int] = field(default_factory=dict)  # indicator -> points
    details: dict[str, str] = field(default_factory=dict)  # indicator -> why

    def give(self, name: str, ok: bool, why: str) -> None:
        self.points[name] = INDICATORS[name] if ok else 0
        self.details[name] = why

    @property
    def total(self) -> int:
        return sum(self.points.values())

    def dimensions(self) -> dict[str, int]:
        return {dim: sum(self.points.get(n, 0) for n in names) for dim, names in WEIGHTS.items()}


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def reachability(res: dict[str, Any]) -> tuple[bool | None, str]:
    """(True reachable / False not / None never checked, why) from the normalise stage's index row."""
    status = res.get("table_status")
    if status in REACHABLE_STATUSES:
        return True, f"table converted ({status})"
    if status == "failed":
        if res.get("sha256"):
            return True, "file downloaded (its conversion failed)"
        return False, f"download failed: {_text(res.get('table_error')) or 'error'}"
    return None, "never checked (normalise did not fetch it)" + (" — skipped" if status == "skipped" else "")


def score_distribution(res: dict[str, Any]) -> Evaluation:
    ev = Evaluation()
    v = vocab()
    url, fmt, media = _text(res.get("url")), _text(res.get("format")).upper(), _text(res.get("media_type"))
    reach, why = reachability(res) if url else (None, "no URL")
    ev.give("access_url_reachable", url != "" and reach is True, why)
    downloaded = reach is True and (res.get("table_status") in REACHABLE_STATUSES or bool(res.get("sha256")))
    is_file = url != "" and (downloaded or (fmt != "" and fmt not in v.service_formats))
    ev.give("download_url", is_file,
            "a file URL" if is_file else ("no URL" if not url else f"format {fmt or 'unknown'}: not a file URL"))  # fmt: skip
    ev.give("download_url_reachable", is_file and reach is True, why if is_file else "no download URL")
    ev.give("format", fmt != "", f"format {fmt}" if fmt else "no format")
    ev.give("media_type", media != "", f"media type {media}" if media else "no media type")
    known = format_known(fmt) or media_type_known(media)
    ev.give("format_vocabulary", known,
            "format or media type from the vocabulary" if known else "neither format nor media type known")  # fmt: skip
    ev.give("non_proprietary", fmt in v.non_proprietary,
            f"{fmt or 'no format'}: {'non-' if fmt in v.non_proprietary else ''}proprietary")  # fmt: skip
    ev.give("machine_readable", fmt in v.machine_readable,
            f"{fmt or 'no format'}: {'' if fmt in v.machine_readable else 'not '}machine-readable")  # fmt: skip
    size = res.get("size_bytes")
    ev.give("byte_size", size is not None and size > 0, f"{size} bytes" if size else "no byte size")
    return ev


def score_dataset(
    ds: dict[str, Any], resources: list[dict[str, Any]], raw: dict[str, list[str]] | None = None
) -> Evaluation:
    """The MQA points of a merged dataset row, its merged resources (with the index's `sha256`) and the
    properties its records' raw JSON fill (vocab.raw_properties, merged over the records)."""
    raw = raw or {}
    extras = dict(ds.get("extras") or [])
    ev = Evaluation()
    kw, themes = ds.get("keywords") or [], ds.get("themes") or []
    ev.give("keyword", bool(kw), f"{len(kw)} keyword(s)" if kw else "no keyword")
    ev.give("theme", bool(themes), f"{len(themes)} theme(s)" if themes else "no theme")
    spatial = bool(_text(ds.get("spatial"))) or "spatial" in raw
    ev.give("spatial", spatial, "spatial coverage" if spatial else "no spatial coverage")
    ev.give(
        "temporal", "temporal" in raw, "temporal coverage" if "temporal" in raw else "no temporal coverage"
    )
    title, desc = _text(ds.get("title")), _text(ds.get("description"))
    with_url = [r for r in resources if _text(r.get("url"))]
    missing = [n for n, ok in (("title", title), ("description", desc), ("distribution with an accessURL", with_url)) if not ok]  # fmt: skip
    ev.give("dcat_ap_compliance", not missing,
            "mandatory DCAT-AP properties present" if not missing else "missing " + ", ".join(missing))  # fmt: skip
    licence = _text(ds.get("license_raw")) or _text(ds.get("license_id"))
    ev.give("licence", bool(licence), f"licence {licence!r}" if licence else "no licence")
    lid = _text(ds.get("license_id"))
    ev.give(
        "licence_vocabulary", bool(lid), f"known licence {lid}" if lid else "licence not in the licence table"
    )
    rights = raw.get("access_rights")
    ev.give(
        "access_rights", rights is not None, "access rights" if rights is not None else "no access rights"
    )
    codes = sorted({c for v in rights or [] if (c := access_right_code(v))})
    ev.give("access_rights_vocabulary", bool(codes),
            f"access right {', '.join(codes)}" if codes else "access rights not from the EU vocabulary")  # fmt: skip
    contact = _text(ds.get("contact_email")) or _text(extras.get("contact_name"))
    has_contact = bool(contact) or "contact_point" in raw
    ev.give("contact_point", has_contact, "contact point" if has_contact else "no contact point")
    pub = _text(ds.get("publisher"))
    ev.give("publisher", bool(pub), f"publisher {pub!r}" if pub else "no publisher")
    ev.give("rights", "rights" in raw, "rights statement" if "rights" in raw else "no rights statement")
    for name in ("issued", "modified"):
        ev.give(
            name,
            ds.get(name) is not None,
            f"{name} {ds[name]:%Y-%m-%d}" if ds.get(name) else f"no {name} date",
        )
    _best_distribution(ev, resources)
    return ev


def _best_distribution(ev: Evaluation, resources: list[dict[str, Any]]) -> None:
    if not resources:
        for name in DISTRIBUTION_LEVEL:
            ev.give(name, False, "no distribution")
        return
    scored = [score_distribution(r) for r in resources]
    best = max(range(len(scored)), key=lambda i: (scored[i].total, -i))
    label = _text(resources[best].get("resource_key")) or str(best)
    for name in DISTRIBUTION_LEVEL:
        ev.points[name] = scored[best].points[name]
        ev.details[name] = f"{scored[best].details[name]} (best of {len(resources)} distribution(s): {label})"
