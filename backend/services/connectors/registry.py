"""Every connector type, by name: the one place that lists them (each imported explicitly)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from backend.services.connectors.base import ConnectorType
from backend.services.connectors.types.file import FileConnector
from backend.services.connectors.types.google_sheets import GoogleSheetsConnector
from backend.services.connectors.types.postgres import PostgresConnector
from backend.services.connectors.types.rest_json import RestJsonConnector
from backend.services.connectors.types.shopify import ShopifyConnector
from backend.services.connectors.types.stripe import StripeConnector

_TYPES: tuple[ConnectorType, ...] = (
    FileConnector(),
    GoogleSheetsConnector(),
    PostgresConnector(),
    RestJsonConnector(),
    ShopifyConnector(),
    StripeConnector(),
)
CONNECTOR_TYPES: Mapping[str, ConnectorType] = MappingProxyType({c.name: c for c in _TYPES})


def connector_types() -> Mapping[str, ConnectorType]:
    return CONNECTOR_TYPES
