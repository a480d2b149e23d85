"""The connector tests' fixtures: an API and a worker whose connectors may reach loopback (import
them by name, with an ``__all__``, where a test module or conftest uses them)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from backend.config import Settings
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from tests.conftest import client_for, running_app
from tests.services.connectors.support import Worker, connector_settings


@pytest.fixture(scope="session")
def loopback_settings(settings: Settings) -> Settings:
    return connector_settings(settings)


@pytest.fixture(scope="session")
async def loopback_app(loopback_settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(loopback_settings) as application:
        yield application


@pytest.fixture
async def api(loopback_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(loopback_app) as http:
        yield http


@pytest.fixture
def database(loopback_app: FastAPI) -> Database:
    db: Database = loopback_app.state.database
    return db


@pytest.fixture
def worker(loopback_settings: Settings, database_urls: DatabaseUrls) -> Worker:
    return Worker(loopback_settings, database_urls)
