"""Connector types; importing this package registers them all."""

from backend.services.connectors.types import file, google_sheets, postgres, rest_json, shopify, stripe

__all__ = ["file", "google_sheets", "postgres", "rest_json", "shopify", "stripe"]
