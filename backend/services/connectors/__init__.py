"""Connectors: data sources that keep metrics flowing."""
