from tests.services.connectors.support import api, database, loopback_app, loopback_settings

__all__ = ["api", "database", "loopback_app", "loopback_settings"]
