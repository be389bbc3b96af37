"""Carries out a plan against CKAN: organisations first, then datasets with bounded concurrency.

One dataset's failure (a CKAN ValidationError, a refused permission) is recorded with its field errors and the
others go on; a CKAN that stops answering aborts the run (TargetError) after the writes already done are recorded.
The state store gets a record after each successful write, never before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any

from ckanapi.errors import CKANAPIError, NotAuthorized, NotFound, ValidationError  # type: ignore[import-untyped]

from harvester.errors import PublishError, TargetError
from harvester.publish.client import CkanClient
from harvester.publish.inventory import Published
from harvester.publish.plan import Action, Plan
from harvester.runner import thread_pool
from harvester.state import StateBackend

log = logging.getLogger(__name__)

# Builds the package dict for (dataset key, name, organisation)
BuildPackage = Callable[[str, str, str], dict[str, Any]]
Progress = Callable[[int, int], None]  # (datasets written or failed so far, datasets to write)


@dataclass
class Done:
    dataset_key: str
    action: str  # created | updated | withdrawn
    ckan_id: str
    name: str


@dataclass
class Outcome:
    done: list[Done] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    organizations_created: list[str] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for d in self.done if d.action == action)


def _field_errors(exc: ValidationError) -> dict[str, Any]:
    errors = getattr(exc, "error_dict", None) or {}
    return {k: v for k, v in errors.items() if not k.startswith("__") and k != "message"}


def _name_in_use(errors: dict[str, Any]) -> bool:
    return any("already in use" in str(m) for m in errors.get("name") or [])


class Writer:
    def __init__(
        self,
        client: CkanClient,
        state: StateBackend,
        pipeline: str,
        build: BuildPackage,
        *,
        concurrency: int = 4,
        fallback_name: Callable[[str], str] | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.client = client
        self.state = state
        self.pipeline = pipeline
        self.build = build
        self.concurrency = concurrency
        self.fallback_name = fallback_name
        self.progress = progress

    # --- organisations ---------------------------------------------------------------------------------------
    def create_organizations(self, names: list[str], titles: dict[str, str], outcome: Outcome) -> None:
        for name in names:
            try:
                self.client.call("organization_create", {"name": name, "title": titles.get(name, name)})
            except NotAuthorized as exc:
                raise TargetError(
                    f"not allowed to create organisation {name!r}: {exc}",
                    url=self.client.url,
                    stage="publish",
                    hint="create it in CKAN, or use a sysadmin's token",
                ) from exc
            except ValidationError as exc:
                if (
                    not _name_in_use(_field_errors(exc))
                    and "group name already exists" not in str(exc).lower()
                ):
                    raise TargetError(
                        f"organisation {name!r} could not be created: {_field_errors(exc)}"
                    ) from exc
            outcome.organizations_created.append(name)

    # --- datasets ----------------------------------------------------------------------------------------------
    def run(self, plan: Plan, outcome: Outcome) -> None:
        tasks: list[tuple[Callable[[Action], Done], Action]] = []
        tasks += [(self._create, a) for a in plan.create]
        tasks += [(self._update, a) for a in plan.update]
        tasks += [(self._withdraw, a) for a in plan.withdraw]
        if not tasks:
            return
        with thread_pool(self.concurrency, "publish") as pool:
            futures: dict[Future[Done], Action] = {pool.submit(fn, a): a for fn, a in tasks}
            pending = set(futures)
            abort: TargetError | None = None
            while pending and abort is None:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    abort = self._collect(fut, futures[fut], outcome) or abort
                if self.progress is not None:
                    self.progress(len(outcome.done) + len(outcome.failed), len(tasks))
            if abort is not None:
                for fut in pending:
                    fut.cancel()
                for fut in pending:  # the ones already running finish; record what they did
                    if not fut.cancelled():
                        self._collect(fut, futures[fut], outcome)
                raise abort

    def _collect(self, fut: Future[Done], action: Action, outcome: Outcome) -> TargetError | None:
        try:
            done = fut.result()
        except TargetError as exc:  # CKAN went away: this dataset is not written, the run stops
            outcome.failed.append(
                {
                    "dataset_key": action.dataset_key,
                    "name": action.name,
                    "error": exc.message,
                    "aborted": True,
                }
            )
            return exc
        except PublishError as exc:
            outcome.failed.append(
                {
                    "dataset_key": action.dataset_key,
                    "name": action.name,
                    "error": exc.message,
                    "field_errors": exc.field_errors,
                }
            )
            log.warning("dataset %s not published: %s %s", action.dataset_key, exc.message, exc.field_errors)
            return None
        except CKANAPIError as exc:  # a search-index or other server-side error on this one dataset
            outcome.failed.append(
                {
                    "dataset_key": action.dataset_key,
                    "name": action.name,
                    "error": f"{type(exc).__name__}: {exc}",
                }
            )
            return None
        outcome.done.append(done)
        return None

    def _record(self, done: Done, metadata_hash: str | None) -> Done:
        self.state.write_publish_record(
            self.pipeline,
            done.dataset_key,
            done.ckan_id,
            done.name,
            metadata_hash,
            withdrawn=done.action == "withdrawn",
        )
        return done

    def _write(self, action: str, data: dict[str, Any], a: Action) -> dict[str, Any]:
        try:
            result: dict[str, Any] = self.client.call(action, data)
            return result
        except ValidationError as exc:
            raise PublishError(
                f"CKAN refused {action}",
                field_errors=_field_errors(exc),
                remote_id=a.dataset_key,
                stage="publish",
            ) from exc
        except NotAuthorized as exc:
            raise PublishError(
                f"not authorised to {action}: {exc}", remote_id=a.dataset_key, stage="publish"
            ) from exc

    def _create(self, a: Action) -> Done:
        assert a.organization is not None
        pkg = self.build(a.dataset_key, a.name, a.organization)
        try:
            res = self.client.call("package_create", pkg)
        except ValidationError as exc:
            errors = _field_errors(exc)
            if not _name_in_use(errors):
                raise PublishError(
                    "CKAN refused package_create", field_errors=errors, remote_id=a.dataset_key
                ) from exc
            return self._name_taken(a, pkg)
        except NotAuthorized as exc:
            raise PublishError(f"not authorised to create: {exc}", remote_id=a.dataset_key) from exc
        return self._record(Done(a.dataset_key, "created", res["id"], res["name"]), a.metadata_hash)

    def _name_taken(self, a: Action, pkg: dict[str, Any]) -> Done:
        """The name is in use by a dataset the search did not show: a deleted one, or our own create that timed out
        and was retried. Ours is brought back; anyone else's is left alone and the fallback name is used."""
        try:
            holder = Published.from_package(self.client.call("package_show", {"id": a.name}))
        except NotFound:
            holder = None
        if holder is not None and holder.owned_by(self.pipeline) and holder.dataset_key == a.dataset_key:
            res = self._write(
                "package_update", {**pkg, "id": holder.ckan_id, "name": holder.name, "state": "active"}, a
            )
            return self._record(Done(a.dataset_key, "updated", res["id"], res["name"]), a.metadata_hash)
        if self.fallback_name is None or self.fallback_name(a.dataset_key) == a.name:
            raise PublishError(
                f"CKAN name {a.name!r} is taken by a dataset harvester did not create",
                remote_id=a.dataset_key,
            )
        other = Action(
            a.dataset_key, self.fallback_name(a.dataset_key), a.organization, metadata_hash=a.metadata_hash
        )
        res = self._write("package_create", {**pkg, "name": other.name}, other)
        return self._record(Done(a.dataset_key, "created", res["id"], res["name"]), a.metadata_hash)

    def _update(self, a: Action) -> Done:
        assert a.organization is not None and a.ckan_id is not None
        organization = a.organization
        if a.verify:  # known from the state store only: is it still there, and still ours?
            try:
                holder = Published.from_package(self.client.call("package_show", {"id": a.ckan_id}))
            except NotFound:
                return self._create(
                    Action(a.dataset_key, a.name, a.organization, metadata_hash=a.metadata_hash)
                )
            if not (holder.owned_by(self.pipeline) and holder.dataset_key == a.dataset_key):
                raise PublishError(
                    f"CKAN dataset {holder.name!r} no longer carries this dataset's provenance extras: left alone",
                    remote_id=a.dataset_key,
                )
            a = Action(
                a.dataset_key, holder.name, organization, holder.ckan_id, metadata_hash=a.metadata_hash
            )
        pkg = {**self.build(a.dataset_key, a.name, organization), "id": a.ckan_id, "state": "active"}
        try:
            res = self._write("package_update", pkg, a)
        except NotFound:  # purged since the inventory: publish it anew
            return self._create(Action(a.dataset_key, a.name, a.organization, metadata_hash=a.metadata_hash))
        return self._record(Done(a.dataset_key, "updated", res["id"], res["name"]), a.metadata_hash)

    def _withdraw(self, a: Action) -> Done:
        assert a.ckan_id is not None
        try:
            self._write("package_delete", {"id": a.ckan_id}, a)
        except NotFound:
            pass  # already gone
        return self._record(Done(a.dataset_key, "withdrawn", a.ckan_id, a.name), None)
