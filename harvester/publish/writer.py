"""Carries out a plan against CKAN: organisations first (in this process), then datasets as publish units.

The dataset writes go through the runner (`harvester/runner.py`, `--executor local|processes|dask`) as batches
(`harvester/publish/units.py`): one dataset's failure (a CKAN ValidationError, a refused permission) is recorded
with its field errors and the others go on; a CKAN that stops answering aborts the run (TargetError) after the
writes already done are recorded. The state store gets a record after each successful write, never before,
written here in the parent as each unit ends. The batches a Dask cluster ran more than once are listed in
`Outcome.retried` (the publish report's `retried`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ckanapi.errors import NotAuthorized, ValidationError  # type: ignore[import-untyped]

from harvester.errors import TargetError
from harvester.publish.plan import Action, Plan
from harvester.publish.units import (
    CkanSpec,
    Client,
    Done,
    PublishUnit,
    UnitOutcome,
    bound,
    commit,
    field_errors,
    name_in_use,
    plan_units,
    run_unit,
    stop,
)
from harvester.runner import default_executor, run_units_until, take_retried
from harvester.runs import new_run_id
from harvester.runtime import RuntimeSpec
from harvester.state import StateBackend

log = logging.getLogger(__name__)

# Builds the package dict for (dataset key, name, organisation)
BuildPackage = Callable[[str, str, str], dict[str, Any]]
Progress = Callable[[int, int], None]  # (datasets written or failed so far, datasets to write)
__all__ = ["Done", "Outcome", "Writer"]


@dataclass
class Outcome:
    done: list[Done] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    organizations_created: list[str] = field(default_factory=list)
    retried: list[dict[str, Any]] = field(default_factory=list)  # units a Dask cluster ran more than once

    def count(self, action: str) -> int:
        return sum(1 for d in self.done if d.action == action)


class Writer:
    def __init__(
        self,
        client: Client,
        state: StateBackend,
        pipeline: str,
        build: BuildPackage,
        *,
        concurrency: int = 4,
        fallback_name: Callable[[str], str] | None = None,
        progress: Progress | None = None,
        spec: CkanSpec | None = None,
        runtime: RuntimeSpec | None = None,
        run_id: str | None = None,
    ) -> None:
        self.client = client
        self.state = state
        self.pipeline = pipeline
        self.build = build
        self.concurrency = concurrency
        self.fallback_name = fallback_name
        self.progress = progress
        self.spec = spec or CkanSpec(client.url, concurrency=concurrency)
        self.runtime = runtime or RuntimeSpec("", "")
        self.run_id = run_id or new_run_id()

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
                if not name_in_use(field_errors(exc)) and "group name already exists" not in str(exc).lower():
                    raise TargetError(
                        f"organisation {name!r} could not be created: {field_errors(exc)}"
                    ) from exc
            outcome.organizations_created.append(name)

    # --- datasets ----------------------------------------------------------------------------------------------
    def run(self, plan: Plan, outcome: Outcome) -> None:
        actions: list[tuple[str, Action]] = [("create", a) for a in plan.create]
        actions += [("update", a) for a in plan.update]
        actions += [("withdraw", a) for a in plan.withdraw]
        if not actions:
            return
        kind = default_executor()
        spec = self.spec
        if kind in ("processes", "dask") and spec.max_writes_per_second:  # a rate gate per process: share it
            spec = CkanSpec(
                **{**vars(spec), "max_writes_per_second": spec.max_writes_per_second / self.concurrency}
            )
        units = plan_units(self.pipeline, self.run_id, spec, actions, self.build, self.fallback_name,
                           self.concurrency)  # fmt: skip
        total = len(actions)

        def done(unit: PublishUnit, o: UnitOutcome) -> None:
            commit([o], self.state, self.pipeline)
            outcome.done += o.done
            outcome.failed += o.failed
            if o.calls is not None and hasattr(self.client, "calls"):  # counted by a client of the unit's own
                self.client.calls.update(o.calls)  # type: ignore[attr-defined]
                self.client.retries += o.retries  # type: ignore[attr-defined]
            if self.progress is not None:
                self.progress(len(outcome.done) + len(outcome.failed), total)

        aborted: list[TargetError] = []

        def stopped(o: UnitOutcome) -> bool:
            err = o.error()
            if err is not None:
                aborted.append(err)
            return err is not None

        with bound(spec, self.client):
            try:
                run_units_until(run_unit, units, self.runtime, workers=self.concurrency, stop=stopped,
                                on_done=done, on_stop=lambda: stop(self.run_id), kind=kind)  # fmt: skip
            finally:
                stop(self.run_id, False)
                outcome.retried += take_retried()
        if aborted:
            raise aborted[0]
