"""Registry of connector types: an explicit table of built-in classes, the same one a third party would use.

Built-in entries are ``"module:Class"`` strings, imported the first time the type is used, so that the CLI
(``--help``, ``validate`` of a config that only uses light connectors) never loads rdflib, lxml… for nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from harvester.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from harvester.connectors.base import BaseConnector, Delegate
    from harvester.connectors.params import Params
    from harvester.http import HttpClient, HttpPolicy


class Registry(Mapping[str, "type[BaseConnector]"]):
    """type name → connector class; an entry may be a class or a lazy ``"package.module:Class"`` string."""

    def __init__(self) -> None:
        self._entries: dict[str, type[BaseConnector] | str] = {}
        self._params: dict[str, str] = {}

    def add(self, type_name: str, entry: type[BaseConnector] | str, params: str | None = None) -> None:
        """`params`: where the type's params model lives when it is lighter to import than the connector
        (``"module:Class"``); `harvester validate` then checks a source's params without the connector."""
        if params is not None:
            self._params[type_name] = params
        old = self._entries.get(type_name)
        if old is not None and self._name(old) != self._name(entry):
            raise ValueError(
                f"connector type {type_name!r} registered twice ({self._name(old)}, {self._name(entry)})"
            )
        self._entries[type_name] = entry

    @staticmethod
    def _name(entry: type[BaseConnector] | str) -> str:
        return entry if isinstance(entry, str) else f"{entry.__module__}:{entry.__qualname__}"

    def __getitem__(self, type_name: str) -> type[BaseConnector]:
        entry = self._entries[type_name]
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(module), attr)
            assert not isinstance(entry, str)
            self._entries[type_name] = entry
        return entry

    def params_model(self, type_name: str) -> type[Params]:
        """The type's params model, from its light params module when one was given, else from the class."""
        where = self._params.get(type_name)
        if where is None or not isinstance(self._entries[type_name], str):
            return self[type_name].Params
        module, _, attr = where.partition(":")
        model: type[Params] = getattr(importlib.import_module(module), attr)
        return model

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


REGISTRY = Registry()


def register(cls: type[BaseConnector]) -> type[BaseConnector]:
    """Add a connector class; a duplicate type is an error."""
    if not cls.type:
        raise ValueError(f"{cls.__name__} has no `type`")
    REGISTRY.add(cls.type, cls)
    return cls


def get_connector_class(type_name: str) -> type[BaseConnector]:
    try:
        return REGISTRY[type_name]
    except KeyError:
        raise ConfigError(
            f"unknown connector type {type_name!r}", hint=f"valid types: {', '.join(sorted(REGISTRY))}"
        ) from None


def build_connector(
    type_name: str,
    source_id: str,
    url: str,
    params: BaseModel | Mapping[str, Any] | None,
    http: HttpClient,
    *,
    policy: HttpPolicy | None = None,
    auth: dict[str, str] | None = None,
) -> BaseConnector:
    """A connector of `type_name` for one source, with the connectors it delegates to (`delegates_to`) built
    here for it: no connector looks another one up in this registry."""
    cls = get_connector_class(type_name)
    model = cls.Params
    checked = params if isinstance(params, model) else model.model_validate(dict(params or {}))

    def delegate(kind: str) -> Delegate:
        def build(target: str) -> BaseConnector:
            return build_connector(kind, source_id, target, None, http, policy=policy, auth=auth)

        get_connector_class(kind)  # an unknown delegate is a configuration error now, not mid-listing
        return build

    delegates = {kind: delegate(kind) for kind in cls.delegates_to}
    return cls(source_id, url, checked, http, policy=policy, auth=auth, delegates=delegates)


# Built-in connectors: one line each (imported on first use).
_PORTAL_PARAMS = "harvester.connectors.portal_params"
REGISTRY.add("ckan", "harvester.connectors.ckan:CkanConnector", params=f"{_PORTAL_PARAMS}:CkanParams")
REGISTRY.add(
    "opendatasoft",
    "harvester.connectors.opendatasoft:OpenDataSoftConnector",
    params=f"{_PORTAL_PARAMS}:OdsParams",
)
REGISTRY.add("udata", "harvester.connectors.udata:UdataConnector", params=f"{_PORTAL_PARAMS}:UdataParams")
REGISTRY.add("arcgis", "harvester.connectors.arcgis:ArcgisHubConnector")
REGISTRY.add("socrata", "harvester.connectors.socrata:SocrataConnector")
REGISTRY.add("files", "harvester.connectors.files:FilesConnector")
REGISTRY.add(
    "dcat",
    "harvester.connectors.dcat.connector:DcatConnector",
    params="harvester.connectors.dcat.params:DcatParams",
)
REGISTRY.add(
    "csw",
    "harvester.connectors.csw.connector:CswConnector",
    params="harvester.connectors.csw.params:CswParams",
)
REGISTRY.add("sensorthings", "harvester.connectors.sensorthings:SensorThingsConnector")
REGISTRY.add("ngsi", "harvester.connectors.ngsi:NgsiConnector")
