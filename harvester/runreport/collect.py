"""What a run did, read back from the files its stages left in runs/<run_id>/ (report JSON files, errors.jsonl).

Only the run folder is read, never the stages' objects: any stage that writes a JSON report with a `kind`
(harvest, normalise, merge, publish), or one report holding a list of `stages`, is picked up.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harvester.layout import run_dir, runs_root

STAGES = ("harvest", "normalise", "merge", "publish")
QUALITY_FILE = "quality-report.json"  # written by `run` after its merge (harvester/quality/)
PLAN_FILE = "publish-plan.json"


@dataclass
class RunView:
    run_id: str
    path: Path
    stages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # kind -> its reports
    plan: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # report files found, relative to the run folder
    quality: list[dict[str, Any]] = field(
        default_factory=list
    )  # quality-report.json: MQA scores of the merge

    def reports(self, kind: str) -> list[dict[str, Any]]:
        return self.stages.get(kind, [])

    def sources(self, kind: str) -> list[dict[str, Any]]:
        return [s for r in self.reports(kind) for s in source_rows(r)]


def source_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-source rows of a stage report (merge keeps a mapping of counts instead: no rows)."""
    rows = report.get("sources")
    return [s for s in rows if isinstance(s, dict)] if isinstance(rows, list) else []


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _stage_kind(name: str, doc: dict[str, Any]) -> str | None:
    kind = doc.get("kind")
    if isinstance(kind, str) and kind in STAGES:
        return kind
    if "merge" in name and "merged_datasets" in doc:  # the merge outcome has no `kind` yet
        return "merge"
    return None


def read_errors(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = {"message": line}
        if isinstance(row, dict):
            out.append(row)
    return out


def load_run(data_dir: Path, run_id: str) -> RunView:
    """Every report file of one run; a missing or unreadable file is simply absent from the view."""
    folder = run_dir(data_dir, run_id)
    view = RunView(run_id, folder)
    for path in sorted(folder.glob("*.json")):
        doc = _load_json(path)
        if not isinstance(doc, dict):
            continue
        view.files.append(path.name)
        if path.name == PLAN_FILE:
            view.plan = doc
            continue
        if path.name == QUALITY_FILE:
            view.quality.append(doc)
            continue
        parts = doc.get("stages")
        entries = parts.values() if isinstance(parts, dict) else parts if isinstance(parts, list) else [doc]
        for entry in entries:
            if isinstance(entry, dict) and (kind := _stage_kind(path.name, entry)):
                view.stages.setdefault(kind, []).append(entry)
    view.errors = read_errors(folder / "errors.jsonl")
    _add_unlisted_errors(view)
    return view


def _add_unlisted_errors(view: RunView) -> None:
    """Source- and stage-level failures that errors.jsonl does not hold (a stage stopped, a source aborted)."""
    known = {str(e.get("message")) for e in view.errors}
    known_sources = {(e.get("stage"), e.get("source_id")) for e in view.errors}
    for kind, reports in view.stages.items():
        for report in reports:
            for s in source_rows(report):
                err = s.get("error")
                if not err or err in known:
                    continue
                if kind == "harvest" and (kind, s.get("source_id")) in known_sources:
                    continue  # its own errors are listed already
                view.errors.append({"stage": kind, "source_id": s.get("source_id"), "message": err})
                known.add(err)
            if report.get("error") and report["error"] not in known:
                view.errors.append({"stage": kind, "source_id": None, "message": report["error"]})
                known.add(report["error"])


# --- errors, grouped by host and cause --------------------------------------------------------------------

_CAUSES: tuple[tuple[str, str], ...] = (
    (r"disk full|no space left", "disk full"),
    (r"host unreachable", "host unreachable"),
    (r"deadline", "deadline passed"),
    (r"name or service not known|nodename nor servname|failed to resolve|temporary failure in name", "DNS"),
    (r"connection refused", "connection refused"),
    (r"timed? ?out", "timeout"),
    (r"ssl|certificate|tls", "TLS"),
    (r"too many requests|\b429\b", "HTTP 429"),
)
_HTTP = re.compile(r"\bHTTP[ /]?(?:error )?(\d{3})\b|\bstatus(?: code)?[ :=]+(\d{3})\b", re.IGNORECASE)


def cause_of(error: dict[str, Any]) -> str:
    """A short cause shared by errors of one kind: `HTTP 404`, `timeout`, `DNS`, `disk full`, …"""
    text = str(error.get("message") or "")
    m = _HTTP.search(text)
    if m:
        return f"HTTP {m.group(1) or m.group(2)}"
    low = text.lower()
    for pattern, cause in _CAUSES:
        if re.search(pattern, low):
            return cause
    kind = error.get("type")
    if isinstance(kind, str) and kind and kind != "HarvesterError":
        return kind
    head = re.sub(r"https?://\S+|\d+", "…", text.split(":", 1)[0]).strip()
    return head[:60] or "unknown"


def host_of(error: dict[str, Any]) -> str:
    url = error.get("url")
    if isinstance(url, str) and url:
        try:
            host = urlsplit(url).hostname
        except ValueError:
            host = None
        if host:
            port = urlsplit(url).port
            return f"{host}:{port}" if port else host
    return "(no URL)"


def group_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """[{host, causes: [{cause, errors}], count}], the hosts with most errors first."""
    hosts: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for e in errors:
        hosts.setdefault(host_of(e), {}).setdefault(cause_of(e), []).append(e)
    out = [
        {
            "host": host,
            "count": sum(len(v) for v in causes.values()),
            "causes": [
                {"cause": c, "errors": errs}
                for c, errs in sorted(causes.items(), key=lambda kv: (-len(kv[1]), kv[0]))
            ],
        }
        for host, causes in hosts.items()
    ]
    return sorted(out, key=lambda g: (-g["count"], g["host"]))


# --- durations and summary --------------------------------------------------------------------------------


def _ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def seconds_between(start: Any, end: Any) -> float | None:
    a, b = _ts(start), _ts(end)
    return round((b - a).total_seconds(), 3) if a and b else None


def stage_durations(view: RunView) -> list[dict[str, Any]]:
    out = []
    for kind in STAGES:
        for r in view.reports(kind):
            secs = r.get("seconds")
            if not isinstance(secs, int | float):
                secs = seconds_between(r.get("started_at"), r.get("finished_at"))
            out.append(
                {
                    "stage": kind,
                    "started_at": r.get("started_at"),
                    "finished_at": r.get("finished_at"),
                    "seconds": secs,
                    "exit_code": r.get("exit_code"),
                }
            )
    return out


def _sum(rows: list[dict[str, Any]], key: str) -> int:
    return sum(int(r.get(key) or 0) for r in rows)


def summary(view: RunView) -> dict[str, Any]:
    """The headline numbers (shown with stable ids in the HTML, printed by `harvester report --json`)."""
    harvest, norm = view.sources("harvest"), view.sources("normalise")
    publish = [r.get("summary") or {} for r in view.reports("publish")]
    merge = view.reports("merge")
    codes = [r["exit_code"] for k in STAGES for r in view.reports(k) if isinstance(r.get("exit_code"), int)]
    starts = [t for k in STAGES for r in view.reports(k) if (t := _ts(r.get("started_at")))]
    ends = [t for k in STAGES for r in view.reports(k) if (t := _ts(r.get("finished_at")))]
    return {
        "stages": [k for k in STAGES if view.reports(k)],
        "sources": len({s.get("source_id") for s in harvest + norm}),
        "datasets": _sum(harvest, "total"),
        "listed": _sum(harvest, "listed"),
        "created": _sum(harvest, "created"),
        "updated": _sum(harvest, "updated"),
        "unchanged": _sum(harvest, "unchanged"),
        "withdrawn": _sum(harvest, "withdrawn"),
        "record_errors": _sum(harvest, "record_errors"),
        "resources_converted": _sum(norm, "converted"),
        "resources_unchanged": _sum(norm, "unchanged"),
        "resources_failed": _sum(norm, "failed"),
        "schema_changes": _sum(norm, "schema_changes"),
        "merged_datasets": sum(int(m.get("merged_datasets") or 0) for m in merge),
        "published_created": _sum(publish, "created"),
        "published_updated": _sum(publish, "updated"),
        "published_withdrawn": _sum(publish, "withdrawn"),
        "published_failed": _sum(publish, "failed"),
        "errors": len(view.errors),
        "retried": len(retried(view)),
        "exit_code": max(codes) if codes else None,
        "seconds": round((max(ends) - min(starts)).total_seconds(), 3) if starts and ends else None,
    }


def retried(view: RunView) -> list[dict[str, Any]]:
    """The units a Dask cluster ran more than once (a worker died under them, or they raised), by stage."""
    return [
        {"stage": k, **r}
        for k in STAGES
        for rep in view.reports(k)
        for r in rep.get("retried") or []
        if isinstance(r, dict)
    ]


def schema_changes(view: RunView) -> list[dict[str, Any]]:
    return [
        {**c, "source_id": s.get("source_id"), "resource_key": r.get("resource_key"), "url": r.get("url")}
        for s in view.sources("normalise")
        for r in s.get("resources") or []
        for c in r.get("schema_changes") or []
    ]


# --- history ----------------------------------------------------------------------------------------------


def _first_write(folder: Path) -> float:
    times = [p.stat().st_mtime for p in folder.iterdir() if p.is_file()]
    return min(times) if times else folder.stat().st_mtime


def ordered_runs(data_dir: Path) -> list[str]:
    """Run folders holding a report, oldest first: by the start second in the run id, then by first write."""
    root = runs_root(data_dir)
    if not root.is_dir():
        return []
    runs = [
        p for p in root.iterdir() if p.is_dir() and (any(p.glob("*.json")) or (p / "report.html").exists())
    ]
    return [p.name for p in sorted(runs, key=lambda p: (p.name.split("-", 1)[0], _first_write(p), p.name))]


def history(data_dir: Path, run_id: str, limit: int = 30) -> list[dict[str, Any]]:
    """Datasets and errors of the last `limit` runs up to `run_id`."""
    ids = ordered_runs(data_dir)
    ids = ids[: ids.index(run_id) + 1][-limit:] if run_id in ids else ids[-limit:]
    out = []
    for rid in ids:
        view = load_run(data_dir, rid)
        if not view.files:
            continue
        harvest = view.sources("harvest")
        out.append(
            {
                "run_id": rid,
                "datasets": _sum(harvest, "total") if harvest else None,
                "errors": len(view.errors),
                "current": rid == run_id,
            }
        )
    return out
