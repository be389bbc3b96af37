"""Publish as a stage on the runner: batches of planned writes, each carried out by `run_unit` on its own client.

- `plan_units` cuts a plan into `PublishUnit`s: plain, picklable batches of jobs, each with its package dict
  already built (and the fallback name of a create);
- `run_unit(unit, spec)` (module level) gets a CKAN client for the unit's `CkanSpec` (the parent's own when it
  bound one, so that threads share its rate limit and counters; else one built in this process) and carries out
  its jobs in order. One dataset's failure is recorded and the others go on; a CKAN that stops answering ends
  the unit, which says so in its outcome (`aborted`);
- `commit(outcomes, state, pipeline)` runs in the parent: the one place where publishing writes publish records,
  after the writes succeeded, never before.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from ckanapi.errors import CKANAPIError, NotAuthorized, NotFound, ValidationError  # type: ignore[import-untyped]

from harvester.errors import PublishError, TargetError
from harvester.http_shared import SharedHosts
from harvester.publish.inventory import Published
from harvester.publish.plan import Action
from harvester.runtime import RuntimeSpec
from harvester.state import StateBackend

log = logging.getLogger(__name__)

MAX_BATCH = (
    25  # jobs per unit: small enough to spread over the workers, large enough to amortise a process hop
)


class Client(Protocol):
    url: str

    def call(self, action: str, data: dict[str, Any] | None = None) -> Any: ...


@dataclass(frozen=True)
class CkanSpec:
    """What a process needs to open its own CKAN client (the token is never printed)."""

    url: str
    token: str | None = field(default=None, repr=False)
    concurrency: int = 4
    max_writes_per_second: float | None = 50.0
    timeout: float = 60.0
    max_retries: int = 4
    backoff: float = 1.0


@dataclass(frozen=True)
class Job:
    kind: str  # create | update | withdraw
    action: Action
    package: dict[str, Any] | None = None  # the package dict (create, update)
    fallback_name: str | None = None  # the name a create takes when its own is held by someone else


@dataclass(frozen=True)
class PublishUnit:
    pipeline: str
    run_id: str
    ckan: CkanSpec
    jobs: tuple[Job, ...]


@dataclass
class Done:
    dataset_key: str
    action: str  # created | updated | withdrawn
    ckan_id: str
    name: str
    metadata_hash: str | None = None


@dataclass
class UnitOutcome:
    done: list[Done] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    aborted: dict[str, Any] | None = None  # the TargetError that ended the unit: message, url, hint
    calls: dict[str, int] | None = None  # calls sent by a client of its own (None: counted by the parent's)
    retries: int = 0

    def error(self) -> TargetError | None:
        if self.aborted is None:
            return None
        return TargetError(self.aborted["message"], url=self.aborted.get("url"), stage="publish",
                           hint=self.aborted.get("hint"))  # fmt: skip


# --- clients: the parent's bound one, else one per process --------------------------------------------------------
_bound: dict[CkanSpec, tuple[Client, int]] = {}
_own: dict[CkanSpec, tuple[Any, int]] = {}
_stopping: set[str] = set()  # run ids whose units in this process should stop (a unit reported CKAN gone)
_guard = threading.Lock()


@contextmanager
def bound(spec: CkanSpec, client: Client) -> Iterator[None]:
    """While open, units of `spec` run in this process use `client` (the parent's, with its counters)."""
    with _guard:
        _bound[spec] = (client, os.getpid())
    try:
        yield
    finally:
        with _guard:
            _bound.pop(spec, None)


def stop(run_id: str, stopping: bool = True) -> None:
    with _guard:
        (_stopping.add if stopping else _stopping.discard)(run_id)


def _client(spec: CkanSpec, runtime: RuntimeSpec) -> tuple[Client, SharedHosts | None, bool]:
    """(client, shared, own): `own` when built here, so that the outcome carries its counters. A client built in
    a worker uses the run's host limits and breaker, shared with the other workers, when the runtime spec carries
    them (`shared`, closed by the caller)."""
    with _guard:
        found = _bound.get(spec)
        if found is not None and found[1] == os.getpid():
            return found[0], None, False
        from harvester.publish.client import CkanClient

        shared = None
        if runtime.hosts is not None:
            from harvester.http_shared import open_shared

            shared = open_shared(runtime.hosts)

        built = CkanClient(
            spec.url,
            spec.token,
            concurrency=spec.concurrency,
            max_writes_per_second=spec.max_writes_per_second,
            timeout=spec.timeout,
            max_retries=spec.max_retries,
            backoff=spec.backoff,
            shared=shared,
        )
        return built, shared, True


def plan_units(
    pipeline: str,
    run_id: str,
    ckan: CkanSpec,
    actions: list[tuple[str, Action]],
    build: Callable[[str, str, str], dict[str, Any]],
    fallback_name: Callable[[str], str] | None,
    workers: int,
) -> list[PublishUnit]:
    """Batches of at most MAX_BATCH jobs, as many as there are workers when the plan is small."""
    jobs: list[Job] = []
    for kind, a in actions:
        package = (
            build(a.dataset_key, a.name, a.organization) if kind != "withdraw" and a.organization else None
        )
        fallback = fallback_name(a.dataset_key) if kind != "withdraw" and fallback_name is not None else None
        jobs.append(Job(kind, a, package, fallback))
    if not jobs:
        return []
    size = max(1, min(MAX_BATCH, math.ceil(len(jobs) / max(1, workers))))
    return [PublishUnit(pipeline, run_id, ckan, tuple(jobs[i : i + size])) for i in range(0, len(jobs), size)]


def run_unit(unit: PublishUnit, spec: RuntimeSpec) -> UnitOutcome:
    client, shared, own = _client(unit.ckan, spec)
    out = UnitOutcome()
    try:
        for job in unit.jobs:
            if unit.run_id in _stopping:
                break
            try:
                out.done.append(_Job(client, unit.pipeline, job).run())
            except TargetError as exc:  # CKAN went away: this dataset is not written, the unit stops
                out.failed.append({"dataset_key": job.action.dataset_key, "name": job.action.name,
                                   "error": exc.message, "aborted": True})  # fmt: skip
                out.aborted = {"message": exc.message, "url": exc.url, "hint": exc.hint}
                break
            except PublishError as exc:
                out.failed.append({"dataset_key": job.action.dataset_key, "name": job.action.name,
                                   "error": exc.message, "field_errors": exc.field_errors})  # fmt: skip
                log.warning("dataset %s not published: %s %s", job.action.dataset_key, exc.message,
                            exc.field_errors)  # fmt: skip
            except CKANAPIError as exc:  # a search-index or other server-side error on this one dataset
                out.failed.append({"dataset_key": job.action.dataset_key, "name": job.action.name,
                                   "error": f"{type(exc).__name__}: {exc}"})  # fmt: skip
    finally:
        if own:
            out.calls, out.retries = dict(getattr(client, "calls", {})), int(getattr(client, "retries", 0))
            client.close()  # type: ignore[attr-defined]
        if shared is not None:
            shared.close()
    return out


def commit(outcomes: list[UnitOutcome], state: StateBackend, pipeline: str) -> None:
    """Record every write that succeeded (in the parent)."""
    for o in outcomes:
        for d in o.done:
            state.write_publish_record(
                pipeline, d.dataset_key, d.ckan_id, d.name, d.metadata_hash, withdrawn=d.action == "withdrawn"
            )


# --- one job ------------------------------------------------------------------------------------------------------
def field_errors(exc: ValidationError) -> dict[str, Any]:
    errors = getattr(exc, "error_dict", None) or {}
    return {k: v for k, v in errors.items() if not k.startswith("__") and k != "message"}


def name_in_use(errors: dict[str, Any]) -> bool:
    return any("already in use" in str(m) for m in errors.get("name") or [])


class _Job:
    def __init__(self, client: Client, pipeline: str, job: Job) -> None:
        self.client, self.pipeline, self.job = client, pipeline, job

    def run(self) -> Done:
        a = self.job.action
        if self.job.kind == "create":
            return self._create(a)
        if self.job.kind == "update":
            return self._update(a)
        return self._withdraw(a)

    def _ours(self, holder: Published, a: Action) -> bool:
        return holder.owned_by(self.pipeline) and any(a.answers_to(k) for k in holder.keys)

    def _write(self, action: str, data: dict[str, Any], a: Action) -> dict[str, Any]:
        try:
            result: dict[str, Any] = self.client.call(action, data)
            return result
        except ValidationError as exc:
            raise PublishError(f"CKAN refused {action}", field_errors=field_errors(exc),
                               remote_id=a.dataset_key, stage="publish") from exc  # fmt: skip
        except NotAuthorized as exc:
            raise PublishError(f"not authorised to {action}: {exc}", remote_id=a.dataset_key,
                               stage="publish") from exc  # fmt: skip

    def _done(self, a: Action, action: str, res: dict[str, Any]) -> Done:
        return Done(a.dataset_key, action, res["id"], res["name"], a.metadata_hash)

    def _create(self, a: Action) -> Done:
        assert self.job.package is not None
        pkg = {**self.job.package, "name": a.name}
        try:
            res = self.client.call("package_create", pkg)
        except ValidationError as exc:
            errors = field_errors(exc)
            if not name_in_use(errors):
                raise PublishError("CKAN refused package_create", field_errors=errors,
                                   remote_id=a.dataset_key) from exc  # fmt: skip
            return self._name_taken(a, pkg)
        except NotAuthorized as exc:
            raise PublishError(f"not authorised to create: {exc}", remote_id=a.dataset_key) from exc
        return self._done(a, "created", res)

    def _name_taken(self, a: Action, pkg: dict[str, Any]) -> Done:
        """The name is in use by a dataset the search did not show: a deleted one, or our own create that timed out
        and was retried. Ours is brought back; anyone else's is left alone and the fallback name is used."""
        try:
            holder = Published.from_package(self.client.call("package_show", {"id": a.name}))
        except NotFound:
            holder = None
        if holder is not None and self._ours(holder, a):
            res = self._write("package_update", {**pkg, "id": holder.ckan_id, "name": holder.name,
                                                 "state": "active"}, a)  # fmt: skip
            return self._done(a, "updated", res)
        fallback = self.job.fallback_name
        if fallback is None or fallback == a.name:
            raise PublishError(f"CKAN name {a.name!r} is taken by a dataset harvester did not create",
                               remote_id=a.dataset_key)  # fmt: skip
        res = self._write("package_create", {**pkg, "name": fallback}, a)
        return self._done(a, "created", res)

    def _recreate(self, a: Action) -> Done:
        return self._create(Action(a.dataset_key, a.name, a.organization, metadata_hash=a.metadata_hash,
                                   keys=a.keys))  # fmt: skip

    def _update(self, a: Action) -> Done:
        assert a.organization is not None and a.ckan_id is not None and self.job.package is not None
        name = a.name
        if a.verify:  # known from the state store only: is it still there, and still ours?
            try:
                holder = Published.from_package(self.client.call("package_show", {"id": a.ckan_id}))
            except NotFound:
                return self._recreate(a)
            if not self._ours(holder, a):
                raise PublishError(
                    f"CKAN dataset {holder.name!r} no longer carries this dataset's provenance extras: left alone",
                    remote_id=a.dataset_key,
                )
            name = holder.name
        pkg = {**self.job.package, "name": name, "id": a.ckan_id, "state": "active"}
        try:
            res = self._write("package_update", pkg, a)
        except NotFound:  # purged since the inventory: publish it anew
            return self._recreate(a)
        return self._done(a, "updated", res)

    def _withdraw(self, a: Action) -> Done:
        assert a.ckan_id is not None
        try:
            self._write("package_delete", {"id": a.ckan_id}, a)
        except NotFound:
            pass  # already gone
        return Done(a.dataset_key, "withdrawn", a.ckan_id, a.name, None)
