"""Table Schema validation of a converted table (frictionless), reported per row and column in French and English.

The Parquet table is read back as text cells (dates ISO, booleans ``true``/``false``) so that the schema's own
types, formats and constraints decide, as on the original file. Only the source's columns are checked (the
``geometry`` column the converter adds is not). Rows are numbered as in the file: the header is row 1.
Errors are listed like Validata's: ``{type, row, field, value, message_fr, message_en}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from harvester import store
from harvester.layout import validation_file

MAX_ERRORS = 1000

_FR = {
    "type-error": "La valeur « {value} » de la colonne {field} n'est pas du type attendu ({note}).",
    "constraint-error": "La valeur « {value} » de la colonne {field} ne respecte pas une contrainte : {note}.",
    "missing-cell": "La ligne n'a pas de valeur pour la colonne {field}.",
    "extra-cell": "La ligne a une valeur en trop : « {value} ».",
    "blank-row": "La ligne est vide.",
    "unique-error": "La valeur « {value} » de la colonne {field} est en double : {note}.",
    "primary-key": "La clé primaire de la ligne est en double ou vide : {note}.",
    "missing-label": "La colonne {field} du schéma est absente du fichier.",
    "extra-label": "La colonne {field} n'est pas dans le schéma.",
    "incorrect-label": "L'en-tête {field} ne correspond pas au schéma : {note}.",
    "duplicate-label": "L'en-tête {field} est en double.",
    "blank-label": "Une colonne n'a pas d'en-tête.",
}
_FR_DEFAULT = "Erreur {type} (colonne {field}, ligne {row}) : {note}."


@dataclass
class Validation:
    schema: str  # name or URL as declared
    valid: bool
    rows: int
    errors: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False  # more than MAX_ERRORS errors: the list is cut

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.errors:
            out[e["type"]] = out.get(e["type"], 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "valid": self.valid,
            "rows": self.rows,
            "error_count": len(self.errors),
            "error_types": self.counts(),
            "truncated": self.truncated,
            "errors": self.errors,
        }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _source_columns(path: Path) -> list[str]:
    schema = store.read_schema(path)
    meta = (schema.metadata or {}).get(b"harvester.columns")
    names = [f.name for f in schema]
    if meta:
        listed = [str(c.get("name")) for c in json.loads(meta) if isinstance(c, dict)]
        kept = [n for n in listed if n in names]
        if kept:
            return kept
    return names


def _message_fr(err: dict[str, Any]) -> str:
    template = _FR.get(err["type"], _FR_DEFAULT)
    if err["type"] == "constraint-error" and '"required"' in str(err.get("note")):
        template = "La colonne {field} est obligatoire : la valeur est manquante."
    return template.format(**{k: "" if v is None else v for k, v in err.items()})


def validate_table(path: Path, descriptor: dict[str, Any], schema_label: str) -> Validation:
    """Validate the Parquet table at ``path`` against a Table Schema descriptor."""
    from frictionless import Resource, Schema

    columns = _source_columns(path)
    table = store.read_table(path, columns=columns)
    declared = [f for f in descriptor.get("fields", []) if isinstance(f, dict) and f.get("name")]
    names = [f["name"] for f in declared]
    present = [n for n in names if n in columns]
    extra = [c for c in columns if c not in names]
    errors: list[dict[str, Any]] = []
    for name in names:
        if name not in columns:
            errors.append(
                _error("missing-label", None, name, None, "", f"Field {name} is missing from the file")
            )
    for name in extra:
        errors.append(_error("extra-label", 1, name, name, "", f"Column {name} is not in the schema"))
    sub = {k: v for k, v in descriptor.items() if k not in ("fields", "primaryKey", "foreignKeys")}
    sub["fields"] = [f for f in declared if f["name"] in present]
    pk = descriptor.get("primaryKey")
    pk_list = [pk] if isinstance(pk, str) else list(pk or [])
    if pk_list and all(k in present for k in pk_list):
        sub["primaryKey"] = pk_list
    data = table.select(present).to_pylist() if present else []
    rows = [present, *([_cell(r[n]) for n in present] for r in data)]
    if present:
        report = Resource(data=rows, schema=Schema.from_descriptor(sub)).validate(limit_errors=MAX_ERRORS)
        for task in report.tasks:
            for err in task.errors:
                errors.append(
                    _error(
                        err.type,
                        getattr(err, "row_number", None) or (1 if hasattr(err, "label") else None),
                        getattr(err, "field_name", None),
                        getattr(err, "cell", None) if hasattr(err, "cell") else getattr(err, "label", None),
                        getattr(err, "note", "") or "",
                        err.message,
                    )
                )
    truncated = len(errors) > MAX_ERRORS
    return Validation(schema_label, not errors, table.num_rows, errors[:MAX_ERRORS], truncated)


def _error(
    kind: str, row: int | None, fld: str | None, value: Any, note: str, message: str
) -> dict[str, Any]:
    err: dict[str, Any] = {"type": kind, "row": row, "field": fld, "value": value, "note": note}
    err["message_fr"] = _message_fr(err)
    err["message_en"] = message
    return err


def validation_path(data_dir: Path, table_path: str) -> Path:
    """`validation.json` in the table's folder (one file per dataset folder, one entry per table)."""
    return validation_file(data_dir, table_path)


def write_validation(data_dir: Path, table_path: str, resource_key: str, result: Validation | None) -> Path:
    """Record (or, with ``result=None``, forget) one table's validation in its folder's `validation.json`."""
    path = validation_path(data_dir, table_path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = {}
    tables = doc.get("tables") if isinstance(doc.get("tables"), dict) else {}
    name = Path(table_path).name
    if result is None:
        tables.pop(name, None)
    else:
        tables[name] = {"resource_key": resource_key, **result.to_dict()}
    store.write_text(json.dumps({"tables": tables}, ensure_ascii=False, indent=1), path)
    return path


def previous_validation(data_dir: Path, table_path: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(validation_path(data_dir, table_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    entry = (doc.get("tables") or {}).get(Path(table_path).name)
    return entry if isinstance(entry, dict) else None
