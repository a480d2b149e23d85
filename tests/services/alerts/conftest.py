from tests.services.connectors.fixtures import api, database, loopback_app, loopback_settings

__all__ = ["api", "database", "loopback_app", "loopback_settings"]
