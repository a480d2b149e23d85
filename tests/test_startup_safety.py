"""Startup refuses a role that could bypass row-level security; production refuses unsafe defaults."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from backend.config import DatabaseSettings, Settings
from backend.main import create_app
from backend.utils.database import UnsafeDatabaseRole
from backend.utils.database_urls import DatabaseUrls
from backend.utils.embedded_db import EmbeddedPostgres
from backend.worker import run_worker
from tests.conftest import TEST_DATABASE, make_settings


async def _start_with(app_url: str, urls: DatabaseUrls) -> None:
    settings = make_settings(urls)
    settings.database = DatabaseSettings(url=SecretStr(app_url), owner_url=SecretStr(urls.owner))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pass


async def test_refuses_to_start_as_superuser(
    embedded_server: EmbeddedPostgres, database_urls: DatabaseUrls
) -> None:
    superuser_url = embedded_server.superuser_dsn(TEST_DATABASE).replace(
        "postgresql://", "postgresql+asyncpg://"
    )
    with pytest.raises(UnsafeDatabaseRole, match="is a superuser"):
        await _start_with(superuser_url, database_urls)


async def test_refuses_to_start_as_table_owner(database_urls: DatabaseUrls) -> None:
    with pytest.raises(UnsafeDatabaseRole, match="owns"):
        await _start_with(database_urls.owner, database_urls)


async def test_worker_refuses_to_start_as_table_owner(database_urls: DatabaseUrls) -> None:
    settings = make_settings(database_urls)
    settings.database = DatabaseSettings(
        url=SecretStr(database_urls.app),
        owner_url=SecretStr(database_urls.owner),
        worker_url=SecretStr(database_urls.owner),
    )
    with pytest.raises(UnsafeDatabaseRole, match="owns"):
        await run_worker(settings)


async def test_worker_without_its_url_names_the_missing_setting(database_urls: DatabaseUrls) -> None:
    settings = make_settings(database_urls)
    settings.database = DatabaseSettings(
        url=SecretStr(database_urls.app), owner_url=SecretStr(database_urls.owner)
    )
    with pytest.raises(RuntimeError, match="DATABASE_WORKER_URL"):
        await run_worker(settings)


def test_production_refuses_default_secret_and_wildcard_cors() -> None:
    database = DatabaseSettings(
        url=SecretStr("postgresql+asyncpg://a@h/d"), owner_url=SecretStr("postgresql+asyncpg://o@h/d")
    )
    with pytest.raises(ValidationError) as error:
        Settings(environment="production", cors_origins=["*"], database=database)
    message = str(error.value)
    assert "SECRET_KEY" in message and "CORS_ORIGINS" in message


def test_production_refuses_the_embedded_database() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        Settings(
            environment="production",
            auth={"secret_key": "s" * 40},
            database=DatabaseSettings(url=None, owner_url=None),
        )


def test_cors_origins_parse_from_comma_separated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "http://a.example, http://b.example")
    assert Settings().cors_origins == ["http://a.example", "http://b.example"]
