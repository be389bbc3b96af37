"""Normalise the tabular resources of the catalogue (CSV, spreadsheets, JSON, GeoJSON) into typed Parquet."""
