"""`harvester run --due`: run what the schedules say is due, once per slot, under a lease each.

Due pipelines run their stages (whatever `harvester run PIPELINE` does); due sources that are in no scheduled
pipeline are harvested. Each item is decided again once its lease is held, so that two overlapping `run --due`
never run one slot twice: the second skips it (or waits, with `--wait`) and says so. A run that completed, even with
failures, records its slot; one stopped by an error (CKAN unreachable, configuration) is retried by the next
`run --due`; one stopped by a signal leaves the slot open too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from harvester.cli.context import Ctx, echo, print_json
from harvester.errors import HarvesterError, UsageError, combine_exit_codes, exit_code_of
from harvester.schedule import BusyError, due_source_lock, is_due, lease, next_time, pipeline_lock, slot
from harvester.state import utcnow

if TYPE_CHECKING:
    from harvester.config import Config
    from harvester.pipelines import PipelineConfig
    from harvester.state import StateBackend


@dataclass
class DueItem:
    kind: str  # pipeline | source
    name: str
    schedule: str
    slot: datetime
    last_scheduled: datetime | None
    next_due: datetime
    action: str = "not_due"  # not_due | run | skipped | failed
    reason: str = ""
    exit_code: int | None = None
    run_id: str | None = None

    @property
    def due(self) -> bool:
        return self.action != "not_due"

    def to_dict(self) -> dict[str, Any]:
        out = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}
        out["due"] = self.due
        return out


def scheduled_items(
    cfg: Config, pipelines: list[PipelineConfig], state: StateBackend, now: datetime
) -> tuple[list[DueItem], list[str]]:
    """Every scheduled pipeline and lone source, with whether it is due; and notes on schedules not used."""
    items: list[DueItem] = []
    notes: list[str] = []
    in_scheduled: dict[str, str] = {}
    for p in pipelines:
        if p.schedule:
            items.append(_item(state, "pipeline", p.name, p.schedule, now))
            for sid in p.sources:
                in_scheduled.setdefault(sid, p.name)
    for s in cfg.sources:
        if not s.schedule:
            continue
        if s.id in in_scheduled:
            notes.append(
                f"source {s.id}: its schedule is not used, it runs with pipeline {in_scheduled[s.id]}"
            )
        elif not s.enabled:
            notes.append(f"source {s.id}: disabled, not scheduled")
        else:
            items.append(_item(state, "source", s.id, s.schedule, now))
    return items, notes


def _item(state: StateBackend, kind: str, name: str, expr: str, now: datetime) -> DueItem:
    last = state.last_scheduled(kind, name)
    item = DueItem(kind, name, expr, slot(expr, now), last, next_time(expr, now))
    if is_due(expr, last, now):
        item.action = "run"
        item.reason = "never run" if last is None else f"last scheduled run was for {last.isoformat()}"
    else:
        item.reason = f"already run for slot {item.slot.isoformat()}"
    return item


def run_due_command(
    ctx: Ctx,
    pipeline: str | None,
    *,
    due: bool,
    wait: float,
    full: bool,
    normalise: bool,
    as_json: bool,
    deadline: float | None = None,
) -> None:
    """The body of `harvester run --due` (see `run`'s help)."""
    from harvester.pipelines import load_pipelines

    if not due:
        raise UsageError("give a PIPELINE, or --due to run whatever the schedules say is due")
    if pipeline is not None:
        raise UsageError("give a PIPELINE or --due, not both")
    now = utcnow()
    pipelines = list(load_pipelines(ctx.config, check_env=False).values())  # every file validated first
    items, notes = scheduled_items(ctx.config, pipelines, ctx.state, now)
    ctx.start_deadline(deadline)  # one clock for the whole command; each item's requests are cut at it
    codes: list[int] = []
    for item in items:
        if item.action != "run":
            continue
        if ctx.deadline is not None and ctx.deadline.passed:
            item.action = "skipped"
            item.reason = (
                f"run --deadline of {ctx.deadline.seconds:g} s passed before it started (slot left open)"
            )
            echo(f"{item.kind} {item.name}: {item.reason}", fg="yellow")
            codes.append(1)
            continue
        try:
            code = _run_item(ctx, item, wait, full, normalise)
        except BusyError as exc:
            item.action, item.reason = "skipped", exc.message
            echo(f"{item.kind} {item.name}: {exc.message}", fg="yellow")
            continue
        except (
            HarvesterError
        ) as exc:  # the run was stopped by an error: the slot stays open (retried next time)
            item.action, item.reason, code = "failed", str(exc), exit_code_of(exc)
            echo(f"{item.kind} {item.name}: failed: {exc}", fg="red")
        item.exit_code = code
        codes.append(code)
    exit_code = combine_exit_codes(codes) if codes else 0
    if as_json:
        print_json(
            {
                "at": now.isoformat(),
                "due": [f"{i.kind}:{i.name}" for i in items if i.due],
                "run": [f"{i.kind}:{i.name}" for i in items if i.action == "run"],
                "skipped": [
                    {"item": f"{i.kind}:{i.name}", "reason": i.reason} for i in items if i.action == "skipped"
                ],
                "failed": [
                    {"item": f"{i.kind}:{i.name}", "reason": i.reason} for i in items if i.action == "failed"
                ],
                "items": [i.to_dict() for i in items],
                "notes": notes,
                "exit_code": exit_code,
            }
        )
    _print_items(items, notes)
    if exit_code:
        click.get_current_context().exit(exit_code)


def _run_item(ctx: Ctx, item: DueItem, wait: float, full: bool, normalise: bool) -> int:
    lock = pipeline_lock(item.name) if item.kind == "pipeline" else due_source_lock(item.name)
    with lease(ctx.state, lock, f"{item.kind} {item.name}", wait):
        last = ctx.state.last_scheduled(item.kind, item.name)
        if last is not None and last >= item.slot:  # another `run --due` ran it while we waited
            raise BusyError(f"{item.kind} {item.name} skipped: already run for slot {item.slot.isoformat()}")
        echo(f"{item.kind} {item.name}: due ({item.reason}), running", fg="cyan")
        code = (
            _run_pipeline(ctx, item, full, normalise)
            if item.kind == "pipeline"
            else _run_source(ctx, item, full)
        )
        ctx.state.record_scheduled(item.kind, item.name, item.slot)
        return code


def _run_pipeline(ctx: Ctx, item: DueItem, full: bool, normalise: bool) -> int:
    from harvester.cli.publish_cmds import run

    click_ctx = click.get_current_context()
    try:
        click_ctx.invoke(run, pipeline=item.name, full=full, normalise=normalise, as_json=False)
        code = 0
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    from harvester.pipelines import get_pipeline

    first = get_pipeline(ctx.config, item.name).sources[0]  # every stage of a run shares the harvest's run id
    last = ctx.state.last_run(first, "harvest")
    item.run_id = last["run_id"] if last else None
    return code


def _run_source(ctx: Ctx, item: DueItem, full: bool) -> int:
    from harvester.cli.harvest_cmds import print_summary, run_with_progress

    report = run_with_progress(ctx, [item.name], full)
    print_summary(report)
    item.run_id = report.run_id
    return report.exit_code


def _print_items(items: list[DueItem], notes: list[str]) -> None:
    if not items:
        echo("run --due: nothing is scheduled (add `schedule:` to a pipeline or a source)")
    for i in items:
        if i.action == "not_due":
            echo(f"{i.kind} {i.name}: not due ({i.reason}); next at {i.next_due.isoformat()}")
        elif i.action == "run":
            echo(f"{i.kind} {i.name}: ran, exit {i.exit_code} (run {i.run_id or '-'})")
        else:
            echo(f"{i.kind} {i.name}: {i.action}: {i.reason}")
    for n in notes:
        echo(f"note: {n}")


def hold_pipeline(ctx: Ctx, name: str, wait: float, as_json: bool) -> None:
    """`run PIPELINE` holds the pipeline's lease until the command ends (BusyError, exit 75, when it can't)."""
    try:
        click.get_current_context().with_resource(
            lease(ctx.state, pipeline_lock(name), f"pipeline {name}", wait)
        )
    except BusyError as exc:
        if as_json:
            print_json(
                {"skipped": [{"item": f"pipeline:{name}", "reason": exc.message}], "exit_code": exc.exit_code}
            )
        raise
