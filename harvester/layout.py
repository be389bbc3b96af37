"""Every path under the data directory, built in one place (so that another filesystem can be swapped in here).

    catalog/<source>/datasets.parquet, resources.parquet        harvest (the source's snapshot)
    tables/<source>/index.parquet, schema_changes.parquet      normalise (its index of tables, its drift log)
    tables/<source>/<dataset-slug>-<hash>/<resource-slug>-<hash>.parquet   one table (a folder for observations)
    tables/<source>/<dataset-slug>-<hash>/validation.json      Table Schema validation of that folder's tables
    merged/<pipeline>/{datasets,resources,provenance}.parquet  merge
    runs/<run_id>/report.json, normalise-report.json, …        reports of a run
    state.sqlite, locks/, tmp/, http-cache/                    state store, lock files, scratch, HTTP cache

The data directory is a local `Path` or a remote fsspec path (harvester/store.py): both join with `/`.

Table paths are stored relative to the data directory (`table_path` in the index).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

CATALOG = "catalog"
TABLES = "tables"
MERGED = "merged"
RUNS = "runs"
TMP = "tmp"
LOCKS = "locks"
HTTP_CACHE = "http-cache"
STATE_FILE = "state.sqlite"


# --- harvest ------------------------------------------------------------------------------------------------


def catalog_dir(data_dir: Path, source_id: str) -> Path:
    return data_dir / CATALOG / source_id


def datasets_file(data_dir: Path, source_id: str) -> Path:
    return catalog_dir(data_dir, source_id) / "datasets.parquet"


def resources_file(data_dir: Path, source_id: str) -> Path:
    return catalog_dir(data_dir, source_id) / "resources.parquet"


# --- normalise ----------------------------------------------------------------------------------------------


def tables_dir(data_dir: Path, source_id: str) -> Path:
    return data_dir / TABLES / segment(source_id)


def table_index_file(data_dir: Path, source_id: str) -> Path:
    """Normalise's index of a source's tables (one row per resource)."""
    return tables_dir(data_dir, source_id) / "index.parquet"


def schema_changes_file(data_dir: Path, source_id: str) -> Path:
    return tables_dir(data_dir, source_id) / "schema_changes.parquet"


def legacy_schema_changes_file(data_dir: Path, source_id: str) -> Path:
    """Where data dirs written before the normalise index kept the drift log (moved on first append)."""
    return catalog_dir(data_dir, source_id) / "schema_changes.parquet"


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def segment(text: str) -> str:
    """A safe file name part: unchanged when already safe, else cleaned and suffixed with a short hash."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")[:80]
    if clean == text and clean:
        return clean
    return f"{clean or 'x'}-{_short_hash(text)}"


def slug(text: str | None, limit: int = 60) -> str:
    """Lower-case ASCII words joined by dashes ('Communes de France (2024)' → 'communes-de-france-2024')."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:limit].rstrip("-")


def _named(name: str | None, key: str) -> str:
    s = slug(name)
    return f"{s}-{_short_hash(key)}" if s else _short_hash(key)


def url_name(url: str | None) -> str | None:
    """The last path segment of a URL without its extension ('…/files/communes.csv?x=1' → 'communes')."""
    if not url:
        return None
    last = url.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return last.rsplit(".", 1)[0] if "." in last else last


def table_path(
    source_id: str,
    dataset_key: str,
    resource_key: str,
    *,
    dataset_name: str | None,
    resource_name: str | None,
) -> str:
    """`tables/<source>/<dataset-slug>-<hash>/<resource-slug>-<hash>.parquet`, relative to the data dir.

    Slugs come from the dataset's name (or title) and the resource's title (or file name); the hashes of the
    keys keep paths unique and stable while the names stay the same."""
    return (
        f"{TABLES}/{segment(source_id)}/{_named(dataset_name, dataset_key)}/"
        f"{_named(resource_name, resource_key)}.parquet"
    )


def legacy_table_path(source_id: str, dataset_key: str, resource_key: str) -> str:
    """Where tables were written before readable names: `tables/<source>/<dataset>/<resource>.parquet` (keys)."""
    dataset = dataset_key.removeprefix(f"{source_id}:")
    resource = resource_key.removeprefix(f"{dataset_key}:")
    return f"{TABLES}/{segment(source_id)}/{segment(dataset)}/{segment(resource)}.parquet"


def table_location(data_dir: Path, table_path: str) -> Path:
    """The file of a table, or the folder of a partitioned one (observations: `table_path` without `.parquet`)."""
    return data_dir / table_path


def observations_dir(data_dir: Path, table_path: str) -> Path:
    """The partitioned folder of an observations table (`…/<resource>/year=…/month=…/part-….parquet`)."""
    return data_dir / table_path.removesuffix(".parquet")


def validation_file(data_dir: Path, table_path: str) -> Path:
    """`validation.json` in the table's folder (one file per dataset folder, one entry per table)."""
    return (data_dir / table_path).parent / "validation.json"


# --- merge, runs, the rest ----------------------------------------------------------------------------------


def merged_dir(data_dir: Path, pipeline: str) -> Path:
    return data_dir / MERGED / pipeline


def runs_root(data_dir: Path) -> Path:
    return data_dir / RUNS


def run_dir(data_dir: Path, run_id: str) -> Path:
    return runs_root(data_dir) / run_id


def errors_file(data_dir: Path, run_id: str) -> Path:
    return run_dir(data_dir, run_id) / "errors.jsonl"


def state_file(data_dir: Path) -> Path:
    return data_dir / STATE_FILE


def locks_dir(state_dir: Path) -> Path:
    """Lock files live beside the state file (`<data>/locks/` for the default state)."""
    return state_dir / LOCKS


def tmp_root(data_dir: Path) -> Path:
    """Scratch: `<data>/tmp` for a local data dir; local too for a remote one (harvester/store.py)."""
    from harvester.store import scratch_root

    return scratch_root(data_dir)


def http_cache_dir(data_dir: Path) -> Path:
    return data_dir / HTTP_CACHE


def staged_subtrees(data_dir: Path) -> list[Path]:
    """Folders where atomic writes leave partial files beside their destination (none on a remote store:
    its partial files are in local scratch)."""
    from harvester.store import is_remote

    return [] if is_remote(data_dir) else [data_dir / TABLES, data_dir / CATALOG]
