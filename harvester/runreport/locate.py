"""Which runs have a folder under runs/, the latest one, and one run's report page (built when missing)."""

from __future__ import annotations

from pathlib import Path

from harvester.errors import UsageError
from harvester.layout import run_dir
from harvester.runreport.collect import ordered_runs
from harvester.runreport.render import HTML_NAME, write_html_report

SHOWN = 10  # run ids named in the error for an unknown one


def resolve_run(data_dir: Path, run_id: str | None) -> str:
    """`run_id` if that run exists (a unique prefix is enough), else the latest run when None."""
    runs = ordered_runs(data_dir)
    if not runs:
        raise UsageError(
            f"no run report under {data_dir / 'runs'}: nothing has run with this data dir yet",
            hint="run `harvester harvest SOURCE` (or `harvester run PIPELINE`) first, or pass --data-dir",
        )
    if run_id is None:
        return runs[-1]
    if run_id in runs:
        return run_id
    matches = [r for r in runs if r.startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    recent = ", ".join(reversed(runs[-SHOWN:]))
    more = f" (and {len(runs) - SHOWN} older)" if len(runs) > SHOWN else ""
    what = f"{len(matches)} runs start with {run_id!r}" if matches else f"no run {run_id!r}"
    raise UsageError(f"{what} under {data_dir / 'runs'}; the runs there, latest first: {recent}{more}")


def report_page(data_dir: Path, run_id: str) -> Path:
    """runs/<run_id>/report.html, written now if that run has none yet (runs from before the page existed)."""
    path = run_dir(data_dir, run_id) / HTML_NAME
    if not path.exists():
        written = write_html_report(data_dir, run_id)
        if written is None:
            raise UsageError(f"could not build {path} from the reports of run {run_id} (see the log above)")
    return path
