"""The CKAN Action API client of the publisher: ckanapi's RemoteCKAN on the HTTP client of harvester/http.py.

ckanapi turns CKAN's error envelopes back into the exceptions the action raised (ValidationError, NotFound...).
Every request goes through `HttpClient.send_once` and `HttpClient.with_retries`: the same retry rule (429, 5xx,
connection errors; backoff and Retry-After), deadline, circuit breaker and host gates as harvesting. Write
calls also pass a gate of their own (`max_writes_per_second`), and every call is counted by action, so a run
can prove that an unchanged catalogue cost zero writes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from ckanapi import RemoteCKAN  # type: ignore[import-untyped]
from ckanapi.errors import CKANAPIError, NotFound  # type: ignore[import-untyped]

from harvester import USER_AGENT, interrupt
from harvester.errors import SourceError, TargetError, TransientError
from harvester.http import HttpClient, HttpPolicy
from harvester.http_hosts import host_of
from harvester.http_shared import SharedHosts

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
    """RemoteCKAN that sends through the harvester HTTP client (one attempt; the caller retries)."""

    def __init__(self, address: str, apikey: str | None, http: HttpClient, policy: HttpPolicy) -> None:
        super().__init__(address, apikey=apikey, user_agent=USER_AGENT)
        self.http = http
        self.policy = policy

    def _request_fn(
        self, url: str, data: Any, headers: Any, files: Any, requests_kwargs: Any
    ) -> tuple[int, str]:
        r = self.http.send_once(
            "POST", url, body=data, headers=headers, files=files, pol=self.policy, allow_redirects=False,
            deadline=requests_kwargs.get("deadline"),
        )  # fmt: skip
        return r.status, r.content.decode("utf-8", "replace")

    def close(self) -> None:
        pass  # the session belongs to the HTTP client


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
        deadline: float | None = 600.0,
        http: HttpClient | None = None,
        shared: SharedHosts | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.policy = HttpPolicy(
            connect_timeout=10.0,
            read_timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_backoff=max_backoff,
            concurrency=concurrency + 4,
            deadline=deadline,
            max_bytes=256 * 1024 * 1024,
        )
        # `shared`: the run's host limits and breaker, shared with the other workers (harvester/http_shared.py)
        self.http = http or HttpClient(self.policy, sleep=sleep, shared=shared)
        self._remote = _Remote(self.url, token, self.http, self.policy)
        # write calls are spaced by a gate of their own (reads are not limited)
        self._writes = self.http.gate(f"{host_of(self.url)} writes", max_writes_per_second, 1 << 16)
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
    def call(
        self, action: str, data: dict[str, Any] | None = None, files: dict[str, Path] | None = None
    ) -> Any:
        """`files` (field -> path) are sent as a multipart upload, each file opened anew for every attempt."""
        is_write = action not in READ_ACTIONS
        interrupt.check()  # a stop signal ends the publish between CKAN calls, never inside one
        deadline = self.http.deadline_for(self.policy, None)

        def once() -> Any:
            self.http.breaker.check(self.url, None)  # CKAN unreachable in this run: not sent, not counted
            if is_write:
                self._writes.wait_turn()
            with self._lock:
                self.calls[action] += 1
            if not files:
                return self._remote.call_action(action, data or {}, requests_kwargs={"deadline": deadline})
            with ExitStack() as stack:
                opened = {k: (p.name, stack.enter_context(p.open("rb"))) for k, p in files.items()}
                return self._remote.call_action(
                    action, data or {}, files=opened, requests_kwargs={"deadline": deadline}
                )

        try:
            result, _ = self.http.with_retries(
                once, self.url, self.policy, None, deadline=deadline, on_retry=self._on_retry(action)
            )
            return result
        except SourceError as exc:  # gave up, deadline passed, host unreachable, DNS: CKAN is unusable
            attempts = getattr(exc, "attempts", None)
            raise TargetError(
                f"CKAN did not answer {action}"
                + (f" after {attempts} attempt(s)" if attempts else "")
                + f": {exc.message.removeprefix(f'gave up after {attempts} attempts: ')}",
                url=self.url,
                stage="publish",
                hint="is CKAN running and reachable? check publish.ckan.url in the pipeline",
            ) from exc
        except CKANAPIError as exc:
            if type(exc).__name__ == "CKANAPIError":  # not a CKAN error envelope: a proxy page, a wrong URL
                raise TargetError(
                    f"unexpected answer to {action}: {str(exc)[:300]}",
                    url=self.url,
                    stage="publish",
                    hint="is publish.ckan.url the root of a CKAN site?",
                ) from exc
            raise

    def _on_retry(self, action: str) -> Callable[[TransientError, float, int], None]:
        def note(exc: TransientError, delay: float, attempt: int) -> None:
            with self._lock:
                self.retries += 1
            log.info("CKAN %s: %s; retrying in %.1fs (attempt %d)", action, exc.message, delay, attempt)

        return note

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
        self.http.session.close()
