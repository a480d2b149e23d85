"""Which database to use: the configured one, or the embedded server (started on demand)."""

from __future__ import annotations

from dataclasses import dataclass

from backend.config import DatabaseSettings


@dataclass(frozen=True)
class DatabaseUrls:
    app: str
    owner: str
    app_role: str
    embedded: bool
    # The worker role's URL: job workers and the connector scheduler. None when an external
    # database is configured without DATABASE_WORKER_URL (the API does not need it).
    worker: str | None = None
    worker_role: str = "dyocense_worker"

    def require_worker(self) -> str:
        """The worker role's URL, or a clear error naming the setting that is missing."""
        if self.worker is None:
            raise RuntimeError(
                "DATABASE_WORKER_URL is not set: job workers connect as the worker role "
                "(see README, external PostgreSQL)"
            )
        return self.worker


def resolve_database_urls(settings: DatabaseSettings, *, database: str | None = None) -> DatabaseUrls:
    """URLs for the app, owner and worker roles; starts (or attaches to) the embedded server if needed.

    Blocking (it may run ``pg_ctl``): call it from a thread in async code.
    """
    if settings.url is not None and settings.owner_url is not None:
        return DatabaseUrls(
            app=settings.url.get_secret_value(),
            owner=settings.owner_url.get_secret_value(),
            app_role=settings.app_role,
            embedded=False,
            worker=settings.worker_url.get_secret_value() if settings.worker_url is not None else None,
            worker_role=settings.worker_role,
        )
    from backend.utils.embedded_db import APP_ROLE, OWNER_ROLE, WORKER_ROLE, EmbeddedPostgres

    name = database or settings.embedded_database
    server = EmbeddedPostgres(settings.embedded_data_dir, settings.embedded_port)
    credentials = server.ensure_running()
    server.ensure_database(name)
    return DatabaseUrls(
        app=credentials.url(name, role=APP_ROLE),
        owner=credentials.url(name, role=OWNER_ROLE),
        app_role=APP_ROLE,
        embedded=True,
        worker=credentials.url(name, role=WORKER_ROLE),
        worker_role=WORKER_ROLE,
    )
