"""The only module that sends HTTP: one session, timeouts, retries with backoff, politeness, size limits, 304s.

Every request also runs under a total deadline (harvester/http_deadline.py) and through its host's circuit
breaker (harvester/http_hosts.py); the CKAN client of the publisher and `download()` (harvester/download.py)
use the same primitives: `send_once`, `with_retries` and the host gates.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlencode

from harvester import USER_AGENT, interrupt, store
from harvester.errors import HarvesterError, SourceError, TransientError
from harvester.http_deadline import Deadline, Timeouts, deadline_error, earliest, watch_session
from harvester.http_hosts import Breaker, HostGate, host_of
from harvester.http_io import (
    is_dns_failure,
    parse_retry_after,
    read_head,
    read_limited,
    retry_delay,
    short_body,
    short_reason,
    watched,
)
from harvester.http_shared import HostsSpec, SharedBreaker, SharedGate, SharedHosts, open_shared
from harvester.redact import redact, stored_form

if TYPE_CHECKING:  # requests is imported by the client itself: `harvester --help` does not pay for it
    import requests

log = logging.getLogger(__name__)

__all__ = ["HttpClient", "HttpPolicy", "Response", "ValidatorStore", "parse_retry_after", "retry_delay"]

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
    deadline: float | None = (
        600.0  # seconds for a whole request (connect, headers, body, retries); None = none
    )
    breaker_failures: int = (
        3  # consecutive connection-level failures that make a host unreachable for the run
    )


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


def request_key(method: str, url: str, params: Mapping[str, Any] | None, body: bytes | None) -> str:
    """Stable key of a request, used for validators and the body cache."""
    q = urlencode(sorted((params or {}).items()), doseq=True)
    h = hashlib.sha256(body or b"").hexdigest()[:16] if body else ""
    return stored_form(f"{method} {url}?{q} {h}".strip())  # kept in the state store: no secret in it


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
        deadline: Deadline | None = None,
        shared: SharedHosts | None = None,
    ) -> None:
        self.policy = policy or HttpPolicy()
        self.run_deadline = deadline  # `--deadline`: no request of this client goes past it
        self.validators = validators
        self.cache_dir = cache_dir
        import requests

        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self.session.headers["Accept-Encoding"] = "gzip, deflate"
        adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=16, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        watch_session(self.session)
        self.breaker: Breaker | SharedBreaker = Breaker()
        self.shared: SharedHosts | None = (
            None  # host limits and breaker shared with other processes of the run
        )
        self._listing_deadlines: dict[str, Deadline] = {}
        self._gates: dict[str, HostGate] = {}
        self._gates_lock = threading.Lock()
        self._sleep = sleep
        self.requests_sent = 0  # counted for reports and tests ("an unchanged run sends only the listing")
        self.requests_by_source: Counter[str] = Counter()  # the same, per source (sources run in parallel)
        if shared is not None:
            self.use_shared(shared)

    def use_shared(self, shared: SharedHosts) -> None:
        """From now on, host gates and the breaker are the run's shared ones (harvester/http_shared.py); the
        hosts this client found unreachable so far stay so for the whole run."""
        with self._gates_lock:
            before, self.shared, self.breaker = self.breaker, shared, shared.breaker
        for h in before.report() if isinstance(before, Breaker) else []:
            shared.fail(h["host"], h["last_error"], 1)

    def share_hosts(self, state_url: str) -> HostsSpec:
        """In the command: the spec of the shared host limits that this client and the run's workers use
        (made on first call; this client's own gates and breaker give way to them)."""
        with self._gates_lock:
            current = self.shared
        if current is not None and current.spec.state_url == state_url:
            return current.spec
        shared = open_shared(HostsSpec.new(state_url))
        self.use_shared(shared)
        return shared.spec

    def gate(self, key: str, rate: float | None, concurrency: int) -> HostGate | SharedGate:
        """The politeness gate named `key` (a host), made with these limits on first use."""
        with self._gates_lock:
            if self.shared is not None:
                return self.shared.gate(key, rate, concurrency, self._sleep)
            gate = self._gates.get(key)
            if gate is None:
                gate = self._gates[key] = HostGate.make(rate, concurrency, self._sleep)
            return gate

    def _gate(self, url: str, policy: HttpPolicy) -> HostGate | SharedGate:
        return self.gate(host_of(url), policy.rate, policy.concurrency)

    @contextmanager
    def listing_deadline(self, source_id: str, seconds: float | None) -> Iterator[None]:
        """While open, no request of `source_id` goes past `seconds` from now (`http.listing_deadline`)."""
        if seconds is None:
            yield
            return
        self._listing_deadlines[source_id] = Deadline.start("http.listing_deadline", seconds)
        try:
            yield
        finally:
            self._listing_deadlines.pop(source_id, None)

    def deadline_for(self, pol: HttpPolicy, source_id: str | None) -> Deadline | None:
        """The earliest deadline of a request starting now: its own, its source's listing's, the run's."""
        own = Deadline.start("http.deadline", pol.deadline) if pol.deadline else None
        listing = self._listing_deadlines.get(source_id) if source_id else None
        return earliest(own, listing, self.run_deadline)

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
        deadline = self.deadline_for(pol, source_id)
        resp, attempts = self.with_retries(
            lambda: self.send_once(
                method, url, params=params, body=body, headers=hdrs, pol=pol, source_id=source_id,
                deadline=deadline,
            ),
            url,
            pol,
            source_id,
            retry_hint,
            deadline=deadline,
        )  # fmt: skip
        resp.requests_sent = attempts
        if resp.status == 304 and cached_path is not None and cached_path.exists():
            resp.content = cached_path.read_bytes()
            resp.not_modified = True
            return resp
        if resp.status >= 400:
            raise SourceError(
                f"HTTP {resp.status} {short_body(resp.content)}",
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
                store.write_bytes(resp.content, cached_path)
                self.validators.write_validators(key, v)
        return resp

    def fetch_json(self, url: str, *, source_id: str | None = None, **kw: Any) -> Any:
        """`fetch` and parse JSON (HTML pages and malformed bodies become SourceError)."""
        return self.fetch(url, source_id=source_id, **kw).json(source_id=source_id)

    def with_retries(
        self,
        send: Callable[[], T],
        url: str,
        pol: HttpPolicy,
        source_id: str | None,
        retry_hint: Callable[[TransientError], float | None] | None = None,
        *,
        deadline: Deadline | None = None,
        on_retry: Callable[[TransientError, float, int], None] | None = None,
    ) -> tuple[T, int]:
        """Call `send` until it does not raise TransientError; (result, attempts). Gives up as a SourceError
        (with `attempts`), at once when the deadline passed or the host's circuit breaker opened."""
        attempt = 0
        while True:
            attempt += 1
            if deadline is not None and deadline.passed:
                raise deadline_error(deadline, url, source_id)
            try:
                return send(), attempt
            except TransientError as exc:
                if attempt <= pol.max_retries and self.breaker.is_open(url):
                    self.breaker.check(url, source_id)  # the host went unreachable: no more attempts
                if attempt > pol.max_retries:
                    err = SourceError(
                        f"gave up after {attempt} attempts: {exc.message}",
                        url=exc.url or url,
                        source_id=source_id,
                    )
                    err.attempts = attempt  # type: ignore[attr-defined]
                    raise err from exc
                hinted = retry_hint(exc) if retry_hint is not None else None
                delay = (
                    min(max(hinted, 0.0), pol.max_backoff)
                    if hinted is not None
                    else self._delay(attempt, exc, pol)
                )
                if deadline is not None:
                    delay = min(delay, max(deadline.remaining(), 0.0))
                if on_retry is not None:
                    on_retry(exc, delay, attempt)
                log.warning("retrying %s in %.1fs (attempt %d): %s", redact(url), delay, attempt, exc.message)
                self._sleep(delay)

    @contextmanager
    def _open(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        pol: HttpPolicy,
        source_id: str | None,
        deadline: Deadline | None = None,
        files: Any = None,
        allow_redirects: bool = True,
    ) -> Iterator[requests.Response]:
        """One request through the host's circuit breaker and gate, counted, under `deadline`. Connection
        problems and retryable statuses become TransientError (errors while the body is read too), a DNS
        failure a SourceError (not worth retrying), a passed deadline a DeadlineError."""
        import requests

        interrupt.check()  # a stop signal ends the run between requests, never inside one
        self.breaker.check(url, source_id)
        if deadline is not None and deadline.passed:
            raise deadline_error(deadline, url, source_id)
        with self._gate(url, pol).slot(), watched(deadline) as watch:
            self.requests_sent += 1
            if source_id:
                self.requests_by_source[source_id] += 1
            t = Timeouts.capped(pol.connect_timeout, pol.read_timeout, deadline)
            try:
                r = self.session.request(
                    method,
                    url,
                    params=params,
                    data=body,
                    headers=headers,
                    files=files,
                    timeout=(t.connect, t.read),
                    stream=True,
                    allow_redirects=allow_redirects,
                )
            except requests.RequestException as exc:
                if deadline is not None and (watch.expired or deadline.passed):
                    raise deadline_error(deadline, url, source_id) from exc
                if isinstance(exc, requests.ConnectionError | requests.Timeout):
                    raise self._connection_failure(exc, url, pol, source_id, "") from exc
                raise SourceError(f"request failed: {exc}", url=url, source_id=source_id) from exc
            self.breaker.success(url)
            try:
                if r.status_code in RETRY_STATUSES:
                    err = TransientError(f"HTTP {r.status_code}", url=r.url, source_id=source_id)
                    err.status = r.status_code
                    err.retry_after = r.headers.get("Retry-After")
                    err.body = read_head(r, 1 << 16)
                    raise err
                yield r
                if deadline is not None and watch.expired:  # a body read until close, cut by the watchdog
                    raise deadline_error(deadline, url, source_id)
            except Exception as exc:
                if deadline is not None and (watch.expired or deadline.passed):
                    raise deadline_error(deadline, url, source_id) from exc
                if isinstance(exc, requests.ConnectionError | requests.Timeout):
                    raise self._connection_failure(exc, url, pol, source_id, " while reading") from exc
                raise
            finally:
                r.close()

    def _connection_failure(
        self, exc: Exception, url: str, pol: HttpPolicy, source_id: str | None, when: str
    ) -> HarvesterError:
        """Count a connection-level failure on the host's breaker; the error to raise (DNS: not retried)."""
        message = redact(f"{type(exc).__name__}{when}: {exc}")
        dns = is_dns_failure(exc)
        reason = f"no DNS answer for host {host_of(url)}" if dns else short_reason(exc)
        if self.breaker.failure(url, reason, pol.breaker_failures):
            log.warning(
                "host %s unreachable (%d connection failures in a row): its other requests in this run "
                "fail at once",
                host_of(url),
                pol.breaker_failures,
                extra={"source_id": source_id, "url": redact(url)},
            )
        if dns:
            return SourceError(
                f"no DNS answer for host {host_of(url)}", url=url, source_id=source_id,
                hint="check the host name; a name that does not resolve is not retried",
            )  # fmt: skip
        return TransientError(message, url=url, source_id=source_id)

    def send_once(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        pol: HttpPolicy | None = None,
        source_id: str | None = None,
        deadline: Deadline | None = None,
        files: Any = None,
        allow_redirects: bool = True,
    ) -> Response:
        """One attempt (no retry), the whole body read within the size limit and the deadline."""
        pol = pol or self.policy
        with self._open(
            method, url, params=params, body=body, headers=headers, pol=pol, source_id=source_id,
            deadline=deadline, files=files, allow_redirects=allow_redirects,
        ) as r:  # fmt: skip
            content = read_limited(r, pol.max_bytes, source_id, deadline)
        return Response(url=r.url, status=r.status_code, headers=r.headers, content=content)

    def _delay(self, attempt: int, exc: TransientError, pol: HttpPolicy) -> float:
        return retry_delay(attempt, exc, pol.backoff, pol.max_backoff)

    def _cache_path(self, key: str) -> Path:
        assert self.cache_dir is not None
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.cache_dir / digest[:2] / digest
