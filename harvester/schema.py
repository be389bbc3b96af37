"""Explicit Arrow schemas of the catalogue files (a contract: tools and docs rely on these columns)."""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

DATASETS = pa.schema(
    [
        pa.field("dataset_key", pa.string(), nullable=False),  # "<source_id>:<remote_id>"
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("remote_id", pa.string(), nullable=False),  # the portal's stable id
        pa.field("name", pa.string()),  # the portal's slug
        pa.field("title", pa.string()),
        pa.field("description", pa.string()),
        pa.field("landing_page", pa.string()),
        pa.field("remote_url", pa.string()),  # the dataset's page on the portal
        pa.field("publisher", pa.string()),
        pa.field("contact_email", pa.string()),
        pa.field("keywords", pa.list_(pa.string())),
        pa.field("themes", pa.list_(pa.string())),
        pa.field("license_raw", pa.string()),
        pa.field("license_id", pa.string()),  # normalised (harvester/data/licenses.json), null if unknown
        pa.field("issued", TS),
        pa.field("modified", TS),
        pa.field("frequency", pa.string()),
        pa.field("spatial", pa.string()),
        pa.field("extras", pa.map_(pa.string(), pa.string())),
        pa.field("metadata_hash", pa.string()),  # hash of the normalised content; stable when nothing changed
        pa.field("harvested_at", TS),  # when this content was first seen (kept while the hash is unchanged)
        pa.field("withdrawn_at", TS),  # set when a complete listing no longer has the dataset
        pa.field("raw", pa.string()),  # the portal's record as JSON
    ]
)

RESOURCES = pa.schema(
    [
        pa.field("dataset_key", pa.string(), nullable=False),
        pa.field(
            "resource_key", pa.string(), nullable=False
        ),  # "<dataset_key>:<resource remote id or url hash>"
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("remote_id", pa.string()),
        pa.field("url", pa.string()),
        pa.field("title", pa.string()),
        pa.field("description", pa.string()),
        pa.field(
            "format", pa.string()
        ),  # normalised upper case: CSV, JSON, GEOJSON, XLSX, SHP, PDF, ZIP, API, WMS…
        pa.field("media_type", pa.string()),
        pa.field("size_bytes", pa.int64()),
        pa.field("modified", TS),
    ]
)

# What the normalise stage says of a resource's table: columns of its own index, tables/<source>/index.parquet
# (harvester/normalise/index.py), and of merged/<pipeline>/resources.parquet. Data dirs written before the
# index kept them in catalog/<source>/resources.parquet: they are read from there once, never written.
TABLE_FIELDS = [
    pa.field(
        "table_path", pa.string()
    ),  # relative to the data dir: tables/<source>/<dataset>/<resource>.parquet
    pa.field("table_rows", pa.int64()),
    pa.field("table_schema_hash", pa.string()),
    pa.field("table_status", pa.string()),  # ok | unchanged | skipped | failed
    pa.field("table_error", pa.string()),
]
TABLE_COLUMNS = tuple(f.name for f in TABLE_FIELDS)
