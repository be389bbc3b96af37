"""What a record says about its identity: the keys it is known by, and the keys of the record it was copied from.

A key is `kind|value`. `own` keys name the record itself (its id on its portal, its page, its URI, its
`dct:identifier`); `claims` name its origin (udata's `harvest.*`, CKAN's `harvest_*`/`remote_url`/`guid`, DCAT's
`dct:source`, OpenDataSoft's federation metas). A claim of one record meeting an own key of another is the
strongest link (`harvest_provenance`); two own keys meeting is `same_identifier`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harvester.merge.keys import host_of, is_global_id, norm_id, norm_publisher, norm_title, norm_url

RULES = ("harvest_provenance", "same_identifier", "resource_url", "title_publisher")
STRENGTH = {r: i for i, r in enumerate(RULES)}

# Extras naming the origin record (udata flattens its `harvest` block to `harvest:<key>`).
DOMAIN_EXTRAS = ("harvest:domain", "harvest_domain")
ID_EXTRAS = ("harvest:remote_id", "remote_id", "guid", "harvest:dct_identifier")
URL_EXTRAS = ("harvest:remote_url", "remote_url", "harvest:uri", "dct_source", "harvest_url", "source_url")
IDENT_EXTRAS = ("uri", "dct_identifier", "adms_identifier", "file_identifier")
# Our own provenance extras (README "Provenance extras"): a record carrying them is a copy of what we publish.
OWN_PUBLISH_EXTRAS = ("harvest_pipeline", "harvest_source_id", "harvest_remote_id", "harvest_merged_key")
# Portal types that aggregate others; a record from one ranks after a local portal's by default.
AGGREGATOR_TYPES = frozenset({"udata"})
AGGREGATOR_HOSTS = frozenset({"data.gouv.fr", "demo.data.gouv.fr"})


@dataclass
class MergeRecord:
    key: str  # dataset_key
    source_id: str
    remote_id: str
    title: str
    publisher: str
    source_host: str
    source_type: str
    source_rank: int  # position of the source in the pipeline
    name: str | None = None
    remote_url: str | None = None
    landing_page: str | None = None
    extras: dict[str, str] = field(default_factory=dict)
    resource_urls: frozenset[str] = frozenset()
    norm_title: str = ""
    norm_publisher: str = ""

    def __post_init__(self) -> None:
        self.norm_title = norm_title(self.title)
        self.norm_publisher = norm_publisher(self.publisher)

    @property
    def aggregator(self) -> bool:
        return self.source_type in AGGREGATOR_TYPES or self.source_host in AGGREGATOR_HOSTS


def is_our_copy(extras: dict[str, str]) -> bool:
    """True for a record that a harvester pipeline published (never merged back in: no loops)."""
    return "harvest_pipeline" in extras and any(k in extras for k in OWN_PUBLISH_EXTRAS[1:])


def _global_parts(value: str) -> list[str]:
    """The global ids of an identifier; GeoNetwork's "<uuid> <url>" identifiers give their UUID."""
    parts = value.split()
    if len(parts) > 1:
        return [p for p in parts if "://" not in p and is_global_id(p)]
    return [value] if is_global_id(value) else []


def _id_keys(host: str, value: str) -> list[str]:
    value = value.strip()
    if not value:
        return []
    out = [f"rid|{host}|{value}"] if host else []
    out += [f"gid|{norm_id(p)}" for p in _global_parts(value)]
    return out


def _url_keys(url: str | None) -> list[str]:
    u = norm_url(url)
    return [f"url|{u}", f"gid|{u}"] if u else []


def own_keys(r: MergeRecord) -> list[str]:
    keys = _id_keys(r.source_host, r.remote_id)
    if r.name:
        keys += _id_keys(r.source_host, r.name)
    keys += _url_keys(r.remote_url)
    if r.landing_page and r.landing_page != r.extras.get("harvest:remote_url"):
        keys += _url_keys(r.landing_page)
    for k in IDENT_EXTRAS:
        if v := r.extras.get(k):
            keys += [f"gid|{norm_id(p)}" for p in _global_parts(v.strip())]
    if r.extras.get("ods_domain") and r.extras.get("ods_dataset_id"):
        keys.append(f"rid|{host_of(r.extras['ods_domain'])}|{r.extras['ods_dataset_id']}")
    return list(dict.fromkeys(keys))


def claim_keys(r: MergeRecord, own: list[str] | None = None) -> list[str]:
    """Keys of the record `r` was copied from (`own`: its own keys, when the caller has them)."""
    ex = r.extras
    domain = next((host_of(ex[k]) for k in DOMAIN_EXTRAS if ex.get(k)), "")
    keys: list[str] = []
    for k in ID_EXTRAS:
        if v := ex.get(k):
            keys += _url_keys(v) if "://" in v and not _global_parts(v) else _id_keys(domain, v)
    for k in URL_EXTRAS:
        if (v := ex.get(k)) and "://" in v:
            keys += _url_keys(v)
    if ex.get("ods_source_domain") and ex.get("ods_source_dataset"):
        keys.append(f"rid|{host_of(ex['ods_source_domain'])}|{ex['ods_source_dataset']}")
    mine = set(own_keys(r) if own is None else own)
    return [k for k in dict.fromkeys(keys) if k not in mine]


def resource_keys(r: MergeRecord) -> list[str]:
    return [f"res|{u}" for u in sorted(r.resource_urls)]
