"""Connector types, one module each; ``backend.services.connectors.registry`` lists them."""
