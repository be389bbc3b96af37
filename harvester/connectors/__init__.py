"""Registry of connector types: an explicit dict of built-in classes, the same one a third party would use."""

from __future__ import annotations

from harvester.connectors.arcgis import ArcgisHubConnector
from harvester.connectors.base import BaseConnector
from harvester.connectors.ckan import CkanConnector
from harvester.connectors.csw import CswConnector
from harvester.connectors.dcat import DcatConnector
from harvester.connectors.files import FilesConnector
from harvester.connectors.ngsi import NgsiConnector
from harvester.connectors.opendatasoft import OpenDataSoftConnector
from harvester.connectors.sensorthings import SensorThingsConnector
from harvester.connectors.socrata import SocrataConnector
from harvester.connectors.udata import UdataConnector
from harvester.errors import ConfigError

REGISTRY: dict[str, type[BaseConnector]] = {}


def register(cls: type[BaseConnector]) -> type[BaseConnector]:
    """Add a connector class; a duplicate type is an error."""
    if not cls.type:
        raise ValueError(f"{cls.__name__} has no `type`")
    if cls.type in REGISTRY and REGISTRY[cls.type] is not cls:
        raise ValueError(
            f"connector type {cls.type!r} registered twice ({REGISTRY[cls.type].__name__}, {cls.__name__})"
        )
    REGISTRY[cls.type] = cls
    return cls


def get_connector_class(type_name: str) -> type[BaseConnector]:
    try:
        return REGISTRY[type_name]
    except KeyError:
        raise ConfigError(
            f"unknown connector type {type_name!r}", hint=f"valid types: {', '.join(sorted(REGISTRY))}"
        ) from None


# Built-in connectors: one line each.
register(CkanConnector)
register(OpenDataSoftConnector)
register(UdataConnector)
register(ArcgisHubConnector)
register(SocrataConnector)
register(FilesConnector)
register(DcatConnector)
register(CswConnector)
register(SensorThingsConnector)
register(NgsiConnector)
