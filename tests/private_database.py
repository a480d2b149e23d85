"""A private embedded PostgreSQL for tests that stop and restart the server.

Its own temporary data directory and free port (never the shared server the suite uses),
one database migrated to head. ``stop()``/``start()`` are what an outage looks like.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from backend.config import DatabaseSettings
from backend.utils.database_urls import DatabaseUrls, resolve_database_urls
from backend.utils.embedded_db import EmbeddedPostgres
from backend.utils.migrations import upgrade

DATABASE = "outage"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class PrivateDatabase:
    server: EmbeddedPostgres
    urls: DatabaseUrls
    data_dir: Path

    def stop(self) -> None:
        assert self.server.stop(), "the private server was not running"

    def start(self) -> None:
        self.server.ensure_running()


@contextmanager
def private_database(root: Path) -> Iterator[PrivateDatabase]:
    """Start a private server under ``root``, migrate one database, stop the server at the end."""
    data_dir = root / "data"  # a subdirectory: the server's OS user may traverse ``root`` only
    port = free_port()
    server = EmbeddedPostgres(data_dir, port)
    try:
        settings = DatabaseSettings(url=None, owner_url=None, embedded_data_dir=data_dir, embedded_port=port)
        urls = resolve_database_urls(settings, database=DATABASE)
        upgrade(urls.owner, urls.app_role)
        yield PrivateDatabase(server, urls, data_dir)
    finally:
        server.stop()
