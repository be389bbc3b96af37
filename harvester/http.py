"""The only module that sends HTTP: one session, timeouts, retries with backoff, politeness, size limits, 304s."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlencode, urlsplit

from harvester import USER_AGENT, interrupt
from harvester.errors import SourceError, TransientError

if TYPE_CHECKING:  # requests is imported by the client itself: `harvester --help` does not pay for it
    import requests

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 520, 521, 522, 524})
DEFAULT_MAX_BYTES = 512 * 1024 * 1024


class ValidatorStore(Protocol):
    """Where ETag / Last-Modified validators live between runs (the state store implements it)."""

    def read_validators(self, key: str) -> dict[str, str] | None: ...

    def write_validators(self, key: str, validators: dict[str, str]) -> None: ...


@dataclass(frozen=True)
class HttpPolicy:
    """Politeness and robustness settings; a source may override them in sources.yaml (`http:`)."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_retries: int = 4
    backoff: float = 1.0  # seconds; doubled at each retry, with jitter
    max_backoff: float = 120.0  # cap for both the backoff and Retry-After
    max_bytes: int = DEFAULT_MAX_BYTES
    rate: float | None = None  # max requests per second to one host; None = unlimited
    concurrency: int = 4  # max requests in flight to one host


@dataclass
class Response:
    """A fully read HTTP response (or a 304 answered from the local body cache)."""

    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes
    not_modified: bool = False  # True when the server said 304 and `content` comes from the cache
    requests_sent: int = 1

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    def json(self, *, source_id: str | None = None) -> Any:
        """Parse the body as JSON; an HTML page or garbage becomes a SourceError naming the URL."""
        if self.content_type == "text/html" or self.content.lstrip()[:1] == b"<":
            raise SourceError(
                f"expected JSON but got an HTML or XML page (HTTP {self.status}, {self.content_type or 'no type'})",
                url=self.url,
                source_id=source_id,
                hint="the portal may have changed its API, or the URL points at a web page, not the API",
            )
        try:
            return json.loads(self.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SourceError(f"malformed JSON: {exc}", url=self.url, source_id=source_id) from exc
        except RecursionError as exc:  # a hostile document nested deeper than the parser's stack
            raise SourceError("malformed JSON: nested too deeply", url=self.url, source_id=source_id) from exc


@dataclass
class _HostGate:
    semaphore: threading.BoundedSemaphore
    min_interval: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_at: float = 0.0

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self.semaphore:
            if self.min_interval > 0:
                with self.lock:
                    now = time.monotonic()
                    wait = self.next_at - now
                    self.next_at = max(now, self.next_at) + self.min_interval
                if wait > 0:
                    time.sleep(wait)
            yield


def request_key(method: str, url: str, params: Mapping[str, Any] | None, body: bytes | None) -> str:
    """Stable key of a request, used for validators and the body cache."""
    q = urlencode(sorted((params or {}).items()), doseq=True)
    h = hashlib.sha256(body or b"").hexdigest()[:16] if body else ""
    return f"{method} {url}?{q} {h}".strip()


class HttpClient:
    """One shared client. Thread-safe; per-host limits are shared by every source talking to a host."""

    def __init__(
        self,
        policy: HttpPolicy | None = None,
        *,
        validators: ValidatorStore | None = None,
        cache_dir: Path | None = None,
        user_agent: str = USER_AGENT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy or HttpPolicy()
        self.validators = validators
        self.cache_dir = cache_dir
        import requests

        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self.session.headers["Accept-Encoding"] = "gzip, deflate"
        adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=16, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._gates: dict[str, _HostGate] = {}
        self._gates_lock = threading.Lock()
        self._sleep = sleep
        self.requests_sent = 0  # counted for reports and tests ("an unchanged run sends only the listing")
        self.requests_by_source: Counter[str] = Counter()  # the same, per source (sources run in parallel)

    def _gate(self, url: str, policy: HttpPolicy) -> _HostGate:
        host = urlsplit(url).netloc
        with self._gates_lock:
            gate = self._gates.get(host)
            if gate is None:
                gate = _HostGate(
                    threading.BoundedSemaphore(max(1, policy.concurrency)),
                    1.0 / policy.rate if policy.rate else 0.0,
                )
                self._gates[host] = gate
            return gate

    def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        params: Mapping[str, Any] | None = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        conditional: bool = False,
        policy: HttpPolicy | None = None,
        source_id: str | None = None,
        retry_hint: Callable[[TransientError], float | None] | None = None,
    ) -> Response:
        """Send one request (retrying transient failures) and read the whole body within the size limit.

        With `conditional=True`, validators from the previous response are sent and a 304 is answered from the
        local body cache, so an unchanged document costs one small round trip.

        `retry_hint(err)` lets a connector read a retryable error (`err.status`, `err.body`: the first 64 KiB,
        e.g. an API quota body with its reset time) and return the delay in seconds before the next attempt
        (None: the usual Retry-After / backoff), or raise SourceError to give up at once.
        """
        pol = policy or self.policy
        body = data.encode() if isinstance(data, str) else data
        key = request_key(method, url, params, body)
        hdrs = dict(headers or {})
        cached_path = self._cache_path(key) if conditional and self.cache_dir else None
        stored = self.validators.read_validators(key) if conditional and self.validators else None
        if stored and cached_path is not None and cached_path.exists():
            if "etag" in stored:
                hdrs["If-None-Match"] = stored["etag"]
            if "last_modified" in stored:
                hdrs["If-Modified-Since"] = stored["last_modified"]
        resp, attempts = self._with_retries(
            lambda: self._send_once(method, url, params, body, hdrs, pol, source_id),
            url,
            pol,
            source_id,
            retry_hint,
        )
        resp.requests_sent = attempts
        if resp.status == 304 and cached_path is not None and cached_path.exists():
            resp.content = cached_path.read_bytes()
            resp.not_modified = True
            return resp
        if resp.status >= 400:
            raise SourceError(
                f"HTTP {resp.status} {_short(resp.content)}",
                url=resp.url,
                source_id=source_id,
                hint="check the URL and credentials" if resp.status in (401, 403, 404) else None,
            )
        if conditional and cached_path is not None and self.validators is not None:
            v = {}
            if resp.headers.get("ETag"):
                v["etag"] = resp.headers["ETag"]
            if resp.headers.get("Last-Modified"):
                v["last_modified"] = resp.headers["Last-Modified"]
            if v:
                cached_path.parent.mkdir(parents=True, exist_ok=True)
                tmp = cached_path.with_suffix(".tmp")
                tmp.write_bytes(resp.content)
                tmp.replace(cached_path)
                self.validators.write_validators(key, v)
        return resp

    def fetch_json(self, url: str, *, source_id: str | None = None, **kw: Any) -> Any:
        """`fetch` and parse JSON (HTML pages and malformed bodies become SourceError)."""
        return self.fetch(url, source_id=source_id, **kw).json(source_id=source_id)

    def _with_retries(
        self,
        send: Callable[[], T],
        url: str,
        pol: HttpPolicy,
        source_id: str | None,
        retry_hint: Callable[[TransientError], float | None] | None = None,
    ) -> tuple[T, int]:
        """Call `send` until it does not raise TransientError; (result, attempts). Gives up as a SourceError."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return send(), attempt
            except TransientError as exc:
                if attempt > pol.max_retries:
                    raise SourceError(
                        f"gave up after {attempt} attempts: {exc.message}",
                        url=exc.url or url,
                        source_id=source_id,
                    ) from exc
                hinted = retry_hint(exc) if retry_hint is not None else None
                delay = (
                    min(max(hinted, 0.0), pol.max_backoff)
                    if hinted is not None
                    else self._delay(attempt, exc, pol)
                )
                log.warning("retrying %s in %.1fs (attempt %d): %s", url, delay, attempt, exc.message)
                self._sleep(delay)

    @contextmanager
    def _open(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        pol: HttpPolicy,
        source_id: str | None,
    ) -> Iterator[requests.Response]:
        """One request through the host's gate, counted; connection problems and retryable statuses become
        TransientError, and errors while the body is read too."""
        import requests

        interrupt.check()  # a stop signal ends the run between requests, never inside one
        with self._gate(url, pol).slot():
            self.requests_sent += 1
            if source_id:
                self.requests_by_source[source_id] += 1
            try:
                r = self.session.request(
                    method,
                    url,
                    params=params,
                    data=body,
                    headers=headers,
                    timeout=(pol.connect_timeout, pol.read_timeout),
                    stream=True,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise TransientError(f"{type(exc).__name__}: {exc}", url=url, source_id=source_id) from exc
            except requests.RequestException as exc:
                raise SourceError(f"request failed: {exc}", url=url, source_id=source_id) from exc
            try:
                if r.status_code in RETRY_STATUSES:
                    err = TransientError(f"HTTP {r.status_code}", url=r.url, source_id=source_id)
                    err.status = r.status_code
                    err.retry_after = r.headers.get("Retry-After")
                    err.body = _read_head(r, 1 << 16)
                    raise err
                yield r
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise TransientError(
                    f"{type(exc).__name__} while reading: {exc}", url=url, source_id=source_id
                ) from exc
            finally:
                r.close()

    def _send_once(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        body: bytes | None,
        headers: Mapping[str, str],
        pol: HttpPolicy,
        source_id: str | None,
    ) -> Response:
        with self._open(
            method, url, params=params, body=body, headers=headers, pol=pol, source_id=source_id
        ) as r:
            content = _read_limited(r, pol.max_bytes, source_id)
        return Response(url=r.url, status=r.status_code, headers=r.headers, content=content)

    def _delay(self, attempt: int, exc: TransientError, pol: HttpPolicy) -> float:
        return retry_delay(attempt, exc, pol.backoff, pol.max_backoff)

    def _cache_path(self, key: str) -> Path:
        assert self.cache_dir is not None
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.cache_dir / digest[:2] / digest


def retry_delay(attempt: int, exc: TransientError, backoff: float, max_backoff: float) -> float:
    """Seconds before retry `attempt`: the server's Retry-After if it gave one, else exponential backoff with
    jitter (0.5 to 1.5 × backoff × 2^(attempt-1)), capped at `max_backoff`."""
    if exc.retry_after:
        seconds = parse_retry_after(exc.retry_after)
        if seconds is not None:
            return min(max(seconds, 0.0), max_backoff)
    return min(backoff * (2 ** (attempt - 1)) * (0.5 + random.random()), max_backoff)


def parse_retry_after(value: str) -> float | None:
    """Retry-After is either seconds or an HTTP date."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime  # only for the rare HTTP-date form (10 ms of imports)

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


def _read_limited(r: requests.Response, max_bytes: int, source_id: str | None) -> bytes:
    declared = r.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise SourceError(
            f"response too large: {int(declared)} bytes declared, limit {max_bytes}",
            url=r.url,
            source_id=source_id,
            hint="raise http.max_bytes for this source if the document is legitimate",
        )
    chunks = []
    total = 0
    for chunk in r.iter_content(chunk_size=1 << 16):
        total += len(chunk)
        if total > max_bytes:
            raise SourceError(
                f"response too large: more than {max_bytes} bytes",
                url=r.url,
                source_id=source_id,
                hint="raise http.max_bytes for this source if the document is legitimate",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _read_head(r: requests.Response, n: int) -> bytes:
    """The first `n` bytes of an error body (for retry hints); never fails."""
    import requests

    try:
        return next(r.iter_content(chunk_size=n), b"")[:n]
    except requests.RequestException:
        return b""


def _short(content: bytes, n: int = 200) -> str:
    text = content[:n].decode("utf-8", "replace").strip().replace("\n", " ")
    return text + ("…" if len(content) > n else "")


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
    result, _attempts = client._with_retries(
        lambda: _download_once(client, url, dest, hdrs, pol, source_id), url, pol, source_id
    )
    return result


def _download_once(
    client: HttpClient, url: str, dest: Path, hdrs: Mapping[str, str], pol: HttpPolicy, source_id: str | None
) -> Download:
    with client._open("GET", url, headers=hdrs, pol=pol, source_id=source_id) as r:
        if r.status_code == 304:
            return Download(
                url=r.url, path=dest, status=304, headers=r.headers, size=0, sha256="", not_modified=True
            )
        if r.status_code >= 400:
            raise SourceError(f"HTTP {r.status_code} {_short(r.content)}", url=r.url, source_id=source_id)
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
