"""Test fixtures: a real PostgreSQL (the embedded server), schema built by the migrations.

The suite uses its own database (``dyocense_test``) on the embedded server, dropped and
migrated once per run; the app connects as the application role and job workers as the
worker role, so row-level security applies to every test. Tests isolate themselves by creating fresh tenants.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TextIO

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from backend.config import AuthSettings, DatabaseSettings, ObservabilitySettings, Settings
from backend.main import create_app
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls, resolve_database_urls
from backend.utils.embedded_db import EmbeddedPostgres
from backend.utils.logging import configure_logging
from backend.utils.migrations import upgrade
from tests.services.coach.fake_llm import FakeLlmServer

# Its own database on the embedded server; set DYOCENSE_TEST_DATABASE to run two suites at once.
TEST_DATABASE = os.environ.get("DYOCENSE_TEST_DATABASE", "dyocense_test")
TEST_SECRET_KEY = "test-secret-key-0123456789-0123456789-abcdef"

# Statistical code must not oversubscribe the two cores of CI machines.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def embedded_settings() -> DatabaseSettings:
    """Embedded server settings, ignoring any DATABASE_URL in the environment."""
    return DatabaseSettings(url=None, owner_url=None)


@pytest.fixture(scope="session")
def embedded_server() -> EmbeddedPostgres:
    settings = embedded_settings()
    server = EmbeddedPostgres(settings.embedded_data_dir, settings.embedded_port)
    server.ensure_running()
    return server


@pytest.fixture(scope="session")
def database_urls(embedded_server: EmbeddedPostgres) -> DatabaseUrls:
    embedded_server.drop_database(TEST_DATABASE)
    urls = resolve_database_urls(embedded_settings(), database=TEST_DATABASE)
    upgrade(urls.owner, urls.app_role)
    return urls


async def query_rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Row[Any]]:
    """The rows of one read-only statement, on a connection of its own."""
    async with engine.connect() as connection:
        return list(await connection.execute(text(sql), params))


@contextmanager
def logs_into(stream: TextIO, *, json: bool) -> Iterator[TextIO]:
    """The app's log output goes to ``stream`` (INFO and up) until the block ends.

    The logging thread writes to the ``sys.stdout`` it found when configured, so stdout is
    swapped only while configuring. At the end, logging is set back as the test app sets it.
    """
    original, sys.stdout = sys.stdout, stream
    try:
        configure_logging(level="INFO", json=json)
    finally:
        sys.stdout = original
    try:
        yield stream
    finally:
        configure_logging(level="WARNING", json=False)


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The app's JSON log lines, captured."""
    stream = io.StringIO()
    with logs_into(stream, json=True):
        yield stream


def make_settings(urls: DatabaseUrls, **auth_overrides: object) -> Settings:
    auth = {
        "secret_key": SecretStr(TEST_SECRET_KEY),
        "signup_per_ip_per_hour": 100_000,
        "login_per_ip_per_15min": 100_000,
        # Every test client is 127.0.0.1: tests of this limit use an app of their own.
        "credential_guesses_per_ip_per_15min": 100_000,
        **auth_overrides,
    }
    return Settings(
        environment="test",
        trust_forwarded_for=True,
        database=DatabaseSettings(
            url=SecretStr(urls.app),
            owner_url=SecretStr(urls.owner),
            worker_url=SecretStr(urls.require_worker()),
            pool_size=5,
        ),
        auth=AuthSettings(**auth),
        observability=ObservabilitySettings(log_level="WARNING", log_json=False),
    )


@pytest.fixture(scope="session")
def settings(database_urls: DatabaseUrls) -> Settings:
    return make_settings(database_urls)


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """``create_app(settings)`` with its lifespan running, as a server process serves it."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app of its own, built from ``settings`` (for tests that change a setting)."""
    async with running_app(settings) as application, client_for(application) as http:
        yield http


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(settings) as application:
        yield application


def client_for(application: FastAPI) -> httpx.AsyncClient:
    # raise_app_exceptions=False: an unhandled error is observed as the 500 a client gets.
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
def fake_llm() -> Iterator[FakeLlmServer]:
    """A loopback fake of the Ollama and OpenAI APIs, for one test."""
    server = FakeLlmServer().start()
    yield server
    server.stop()


@pytest.fixture
def database(app: FastAPI) -> Database:
    """The running app's database kit (for job workers run inside a test)."""
    db: Database = app.state.database
    return db


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


@pytest.fixture
async def one_connection_database(database_urls: DatabaseUrls) -> AsyncIterator[Database]:
    """A private database kit whose pool holds a single connection: every use reuses it."""
    database = Database(database_urls.app, DatabaseSettings(pool_size=1, max_overflow=0))
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
async def app_engine(database_urls: DatabaseUrls) -> AsyncIterator[AsyncEngine]:
    """A raw engine as the application role, for SQL-level isolation tests."""
    engine = create_async_engine(database_urls.app)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def worker_engine(database_urls: DatabaseUrls) -> AsyncIterator[AsyncEngine]:
    """A raw engine as the worker role (the job queue's role), for SQL-level tests."""
    engine = create_async_engine(database_urls.require_worker())
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def worker_database(database_urls: DatabaseUrls, settings: Settings) -> AsyncIterator[Database]:
    """A database kit as the worker role, as ``python -m backend.worker`` has."""
    database = Database(database_urls.require_worker(), settings.database)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
async def owner_engine(database_urls: DatabaseUrls) -> AsyncIterator[AsyncEngine]:
    """The owner role: for catalog inspection only (RLS is forced on it too)."""
    engine = create_async_engine(database_urls.owner)
    yield engine
    await engine.dispose()
