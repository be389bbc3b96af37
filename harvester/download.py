"""`download()`: a resource body streamed to a file, on the HTTP client's primitives (gates, breaker, deadline)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harvester.errors import SourceError
from harvester.http import HttpClient, HttpPolicy
from harvester.http_deadline import Deadline, deadline_error
from harvester.http_io import short_body


@dataclass
class Download:
    """A body streamed to a file (for resources, which may be larger than memory)."""

    url: str
    path: Path
    status: int
    headers: Mapping[str, str]
    size: int
    sha256: str
    not_modified: bool = False


def download(
    client: HttpClient,
    url: str,
    dest: Path,
    *,
    validators: dict[str, str] | None = None,
    policy: HttpPolicy | None = None,
    source_id: str | None = None,
) -> Download:
    """Stream `url` into `dest` (written to a temporary name, then renamed), within the size limit.

    `validators` ({"etag":…, "last_modified":…}) from an earlier download make the request conditional; a 304
    returns `not_modified=True` and leaves `dest` untouched. Retries transient failures like `fetch`.
    """
    pol = policy or client.policy
    hdrs: dict[str, str] = {}
    if validators:
        if validators.get("etag"):
            hdrs["If-None-Match"] = validators["etag"]
        if validators.get("last_modified"):
            hdrs["If-Modified-Since"] = validators["last_modified"]
    deadline = client.deadline_for(pol, source_id)
    result, _attempts = client.with_retries(
        lambda: _download_once(client, url, dest, hdrs, pol, source_id, deadline),
        url,
        pol,
        source_id,
        deadline=deadline,
    )
    return result


def _download_once(
    client: HttpClient,
    url: str,
    dest: Path,
    hdrs: Mapping[str, str],
    pol: HttpPolicy,
    source_id: str | None,
    deadline: Deadline | None,
) -> Download:
    with client._open("GET", url, headers=hdrs, pol=pol, source_id=source_id, deadline=deadline) as r:
        if r.status_code == 304:
            return Download(
                url=r.url, path=dest, status=304, headers=r.headers, size=0, sha256="", not_modified=True
            )
        if r.status_code >= 400:
            raise SourceError(f"HTTP {r.status_code} {short_body(r.content)}", url=r.url, source_id=source_id)
        declared = r.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > pol.max_bytes:
            raise SourceError(
                f"download too large: {int(declared)} bytes declared, limit {pol.max_bytes}",
                url=r.url,
                source_id=source_id,
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        digest = hashlib.sha256()
        total = 0
        try:
            with tmp.open("wb") as fh:
                for chunk in r.iter_content(chunk_size=1 << 20):
                    if deadline is not None and deadline.passed:
                        raise deadline_error(deadline, r.url, source_id)
                    total += len(chunk)
                    if total > pol.max_bytes:
                        raise SourceError(
                            f"download too large: more than {pol.max_bytes} bytes",
                            url=r.url,
                            source_id=source_id,
                        )
                    digest.update(chunk)
                    fh.write(chunk)
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)
        return Download(
            url=r.url,
            path=dest,
            status=r.status_code,
            headers=r.headers,
            size=total,
            sha256=digest.hexdigest(),
        )
