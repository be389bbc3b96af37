"""NGSI-LD and NGSIv2 requests shared by the `ngsi` connector and the entities reader of the normalise stage:
endpoints, headers (context Link, tenant, service path), `limit`/`offset` paging with the count header, and the
Smart Data Models table (harvester/data/smart_data_models.json)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import lru_cache
from importlib import resources
from typing import Any

import orjson

from harvester.errors import SourceError
from harvester.http import HttpClient, HttpPolicy
from harvester.paging import PageGuard

LD, V2 = "ngsi-ld", "ngsiv2"
COUNT_HEADER = {LD: "NGSILD-Results-Count", V2: "Fiware-Total-Count"}
FORMAT = {LD: "NGSI-LD", V2: "NGSIv2"}
JSONLD_CONTEXT_REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'


def entities_url(base: str, flavour: str) -> str:
    return f"{base}/ngsi-ld/v1/entities" if flavour == LD else f"{base}/v2/entities"


def types_url(base: str, flavour: str) -> str:
    return f"{base}/ngsi-ld/v1/types" if flavour == LD else f"{base}/v2/types"


def feed_headers(params: Any, tenant: str | None) -> dict[str, str]:
    """Headers every request of a source sends: JSON-LD context Link, tenant / service, service path, extras."""
    flavour = getattr(params, "flavour", LD)
    headers: dict[str, str] = {"Accept": "application/ld+json" if flavour == LD else "application/json"}
    context = getattr(params, "context", None)
    if context and flavour == LD:
        headers["Link"] = f"<{context}>; {JSONLD_CONTEXT_REL}"
        headers["Accept"] = "application/json"  # the context travels in the Link header, not in the body
    if tenant:
        headers["NGSILD-Tenant" if flavour == LD else "Fiware-Service"] = tenant
    service_path = getattr(params, "service_path", None)
    if service_path:
        headers["Fiware-ServicePath"] = service_path
    headers.update(getattr(params, "headers", None) or {})
    return headers


def page_query(flavour: str, entity_type: str, q: str | None, limit: int, offset: int) -> dict[str, Any]:
    query: dict[str, Any] = {"type": entity_type, "limit": limit, "offset": offset}
    if flavour == LD:
        query["count"] = "true"
    else:
        query["options"] = "count"
    if q:
        query["q"] = q
    return query


Fetch = Callable[..., Any]


def iter_entity_pages(
    client: HttpClient,
    url: str,
    *,
    flavour: str,
    entity_type: str,
    q: str | None,
    limit: int,
    headers: dict[str, str],
    policy: HttpPolicy | None,
    source_id: str | None,
    on_short: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[list[Any], str, int]]:
    """(entities, page url, bytes) page after page, until the count header's total (or a short page) is reached.

    A server that caps `limit` is followed until the total; a page that brings no new entity id (a server that
    ignores `offset`) is a pagination loop (PaginationLoop). `on_short(read, total)` is called when the listing ends before the total.
    """
    guard = PageGuard(source_id)
    offset = 0
    total: int | None = None
    while True:
        resp = client.fetch(
            url,
            params=page_query(flavour, entity_type, q, limit, offset),
            headers=headers,
            policy=policy,
            source_id=source_id,
        )
        guard.check(content=resp.content if offset else None, url=resp.url)
        items = _json_list(resp, source_id)
        if not isinstance(items, list):
            raise SourceError(
                f"not an {FORMAT[flavour]} entity list (expected a JSON array)",
                source_id=source_id,
                url=resp.url,
            )
        raw_total = resp.headers.get(COUNT_HEADER[flavour])
        if raw_total is not None and raw_total.strip().isdigit():
            total = int(raw_total)
        guard.page_ids((_entity_id(e) for e in items), url=resp.url, total=total)
        yield items, resp.url, len(resp.content)
        offset += len(items)
        if not items or (total is not None and offset >= total):
            break
        if total is None and len(items) < limit:
            break
    if total is not None and offset < total and on_short is not None:
        on_short(offset, total)


def _json_list(resp: Any, source_id: str | None) -> Any:
    """The body as JSON (orjson: pages of 1,000 entities are large); HTML and garbage are a SourceError."""
    if resp.content_type == "text/html" or resp.content.lstrip()[:1] == b"<":
        return resp.json(source_id=source_id)  # raises the usual "HTML page instead of the API" error
    try:
        return orjson.loads(resp.content)
    except orjson.JSONDecodeError as exc:
        raise SourceError(f"malformed JSON: {exc}", source_id=source_id, url=resp.url) from exc


@lru_cache(maxsize=1)
def smart_data_models() -> dict[str, dict[str, Any]]:
    text = resources.files("harvester").joinpath("data/smart_data_models.json").read_text(encoding="utf-8")
    return dict(json.loads(text)["models"])


def smart_data_model(entity_type: str) -> dict[str, Any] | None:
    """Title, description, domains and links of a Smart Data Models type (short name or full URI)."""
    short = entity_type.rsplit("#", 1)[-1].rsplit("/", 1)[-1]
    model = smart_data_models().get(short)
    if model is None:
        return None
    subject = model["subject"]
    return {
        **model,
        "type": short,
        "url": f"https://github.com/smart-data-models/{subject}/tree/master/{short}",
        "schema": f"https://raw.githubusercontent.com/smart-data-models/{subject}/master/{short}/schema.json",
    }


def _entity_id(entity: Any) -> str | None:
    return str(entity["id"]) if isinstance(entity, dict) and entity.get("id") else None
