"""The CKAN Action API client of the publisher: ckanapi's RemoteCKAN with retries, a write-rate limit and counters.

ckanapi turns CKAN's error envelopes back into the exceptions the action raised (ValidationError, NotFound...).
This wrapper adds what a publisher needs on top: transient failures (connection errors, 429, 5xx) are retried with
backoff and Retry-After, write calls are spaced by a shared rate limit, and every call is counted by action, so a
run can prove that an unchanged catalogue cost zero writes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import requests
from ckanapi import RemoteCKAN  # type: ignore[import-untyped]
from ckanapi.errors import CKANAPIError, NotFound  # type: ignore[import-untyped]

from harvester import USER_AGENT, interrupt
from harvester.errors import TargetError, TransientError
from harvester.http import RETRY_STATUSES, retry_delay

log = logging.getLogger(__name__)

# Actions that change nothing; every other action counts as a write.
READ_ACTIONS = frozenset(
    {
        "status_show",
        "site_read",
        "package_show",
        "package_search",
        "package_list",
        "organization_show",
        "organization_list",
        "organization_list_for_user",
        "user_show",
        "license_list",
        "resource_show",
    }
)


class _Remote(RemoteCKAN):  # type: ignore[misc]
    """RemoteCKAN whose HTTP failures that deserve a retry become TransientError (with Retry-After)."""

    def _request_fn(
        self, url: str, data: Any, headers: Any, files: Any, requests_kwargs: Any
    ) -> tuple[int, str]:
        try:
            r = self.session.post(
                url, data=data, headers=headers, files=files, allow_redirects=False, **requests_kwargs
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}", url=url, stage="publish") from exc
        if r.status_code in RETRY_STATUSES:
            err = TransientError(f"HTTP {r.status_code}", url=url, stage="publish")
            err.retry_after = r.headers.get("Retry-After")  # type: ignore[attr-defined]
            raise err
        return r.status_code, r.text


class RateGate:
    """At most `rate` passages per second, shared by all threads (calls are spaced, not bunched)."""

    def __init__(self, rate: float | None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = threading.Lock()
        self._sleep = sleep

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + self.interval
        if wait > 0:
            self._sleep(wait)


class CkanClient:
    """Thread-safe. `call(action, data)` returns the action's result or raises ckanapi's exceptions;
    a CKAN that stays unreachable raises TargetError."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        concurrency: int = 4,
        max_writes_per_second: float | None = 50.0,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url.rstrip("/")
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=2, pool_maxsize=concurrency + 4, max_retries=0
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._remote = _Remote(self.url, apikey=token, user_agent=USER_AGENT, session=session)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._gate = RateGate(max_writes_per_second, sleep)
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()  # action -> calls sent (retries included)
        self.retries = 0

    # --- counters ----------------------------------------------------------------------------------------------
    @property
    def write_calls(self) -> int:
        return sum(n for a, n in self.calls.items() if a not in READ_ACTIONS)

    @property
    def read_calls(self) -> int:
        return sum(n for a, n in self.calls.items() if a in READ_ACTIONS)

    def writes_by_action(self) -> dict[str, int]:
        return {a: n for a, n in sorted(self.calls.items()) if a not in READ_ACTIONS}

    # --- calls -------------------------------------------------------------------------------------------------
    def call(self, action: str, data: dict[str, Any] | None = None) -> Any:
        is_write = action not in READ_ACTIONS
        interrupt.check()  # a stop signal ends the publish between CKAN calls, never inside one
        attempt = 0
        while True:
            attempt += 1
            if is_write:
                self._gate.wait()
            with self._lock:
                self.calls[action] += 1
            try:
                return self._remote.call_action(
                    action, data or {}, requests_kwargs={"timeout": (10.0, self.timeout)}
                )
            except TransientError as exc:
                if attempt > self.max_retries:
                    raise TargetError(
                        f"CKAN did not answer {action} after {attempt} attempt(s): {exc.message}",
                        url=self.url,
                        stage="publish",
                        hint="is CKAN running and reachable? check publish.ckan.url in the pipeline",
                    ) from exc
                delay = self._delay(attempt, exc)
                with self._lock:
                    self.retries += 1
                log.warning(
                    "CKAN %s: %s; retrying in %.1fs (attempt %d)", action, exc.message, delay, attempt
                )
                self._sleep(delay)
            except CKANAPIError as exc:
                if (
                    type(exc).__name__ == "CKANAPIError"
                ):  # not a CKAN error envelope: a proxy page, a wrong URL
                    raise TargetError(
                        f"unexpected answer to {action}: {str(exc)[:300]}",
                        url=self.url,
                        stage="publish",
                        hint="is publish.ckan.url the root of a CKAN site?",
                    ) from exc
                raise

    def _delay(self, attempt: int, exc: TransientError) -> float:
        return retry_delay(attempt, exc, self.backoff, self.max_backoff)

    def whoami(self) -> dict[str, Any]:
        """The user behind the token; TargetError when CKAN is down or the token is refused."""
        try:
            self.call("status_show")
        except TargetError as exc:
            raise TargetError(
                f"CKAN is unreachable: {exc.message}", url=self.url, stage="publish", hint=exc.hint
            ) from exc
        try:
            user: dict[str, Any] = self.call("user_show")
        except NotFound:
            raise TargetError(
                "CKAN does not accept the API token (it answers as for an anonymous visitor)",
                url=self.url,
                stage="publish",
                hint="create a token in CKAN (user page > API Tokens) and put it in the pipeline's token_env variable",
            ) from None
        return user

    def close(self) -> None:
        self._remote.close()
