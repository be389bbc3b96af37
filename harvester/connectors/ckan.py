"""CKAN Action API connector (placeholder replaced below)."""

from __future__ import annotations

from harvester.connectors.base import BaseConnector


class CkanConnector(BaseConnector):
    type = "ckan"
