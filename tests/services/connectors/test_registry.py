"""The connector registry lists every connector type, each imported explicitly (no self-registration)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from backend.services.connectors import types as types_package
from backend.services.connectors.base import ConnectorType
from backend.services.connectors.registry import connector_types


def _defined_types() -> dict[str, type[ConnectorType]]:
    found: dict[str, type[ConnectorType]] = {}
    for module_info in pkgutil.iter_modules(types_package.__path__):
        module = importlib.import_module(f"{types_package.__name__}.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, ConnectorType)
                and cls is not ConnectorType
                and cls.__module__ == module.__name__
            ):
                found[cls.name] = cls
    return found


def test_every_connector_type_module_is_in_the_registry() -> None:
    registered = connector_types()
    defined = _defined_types()
    assert sorted(registered) == sorted(defined)
    assert all(type(registered[name]) is cls for name, cls in defined.items())
    assert sorted(defined) == ["file", "google_sheets", "postgres", "rest_json", "shopify", "stripe"]
