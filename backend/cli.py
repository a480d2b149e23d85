"""Operator commands behind the Makefile: ``python -m backend.cli <command>``.

db up | down | status | shell     the embedded PostgreSQL (no-ops with DATABASE_URL set)
migrate [REVISION]                 alembic upgrade (default: head)
migrate-rollback [REVISION]        alembic downgrade (default: one step, -1)
migrate-create MESSAGE             a new revision drafted by autogenerate, to review by hand
metrics-retention [--days N]       TimescaleDB: set the metrics retention policy (default: settings)
demo [--url URL] [--email E]       build the demo shop through the running API (``make demo``)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from alembic import command
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from backend.config import get_settings
from backend.demo.builder import DEMO_EMAIL, DEMO_PASSWORD, DemoError, build_demo, report
from backend.services.metrics.timescale import apply_retention
from backend.utils.database_urls import resolve_database_urls
from backend.utils.embedded_db import EmbeddedPostgres
from backend.utils.migrations import alembic_config, downgrade, upgrade


def _embedded_server() -> EmbeddedPostgres:
    database = get_settings().database
    return EmbeddedPostgres(database.embedded_data_dir, database.embedded_port)


def _db(action: str) -> int:
    settings = get_settings().database
    if not settings.uses_embedded:
        if action == "shell" and settings.owner_url is not None:
            url = make_url(settings.owner_url.get_secret_value())
            # The password goes through the environment, not the (world-readable) argv.
            argv = [
                "psql",
                "-h",
                url.host or "localhost",
                "-p",
                str(url.port or 5432),
                "-U",
                url.username or "",
                url.database or "",
            ]
            os.execvpe("psql", argv, {**os.environ, "PGPASSWORD": url.password or ""})  # noqa: S606, S607
        print("DATABASE_URL is set: the external database is managed elsewhere; nothing to do.")
        return 0
    server = _embedded_server()
    if action == "up":
        urls = resolve_database_urls(settings)
        print(f"embedded PostgreSQL running on 127.0.0.1:{settings.embedded_port} (data in {server.pgdata})")
        print(
            f"  database {settings.embedded_database!r}, app role {urls.app_role!r}; `make db-shell` for psql"
        )
    elif action == "down":
        print("stopped" if server.stop() else "not running")
    elif action == "status":
        print("running" if server.is_running() else "stopped", f"(127.0.0.1:{settings.embedded_port})")
        return 0 if server.is_running() else 3
    elif action == "shell":
        server.ensure_running()
        argv, env = server.psql_command(settings.embedded_database)
        os.execve(argv[0], argv, env)  # noqa: S606 - replaces this process with psql
    return 0


async def _apply_retention(owner_url: str, days: int) -> bool:
    engine = create_async_engine(owner_url)
    try:
        async with engine.begin() as connection:
            return await apply_retention(connection, days)
    finally:
        await engine.dispose()


def _demo(url: str, email: str, password: str) -> int:
    try:
        result = build_demo(
            url.rstrip("/"), email=email, password=password, say=lambda line: print(line, file=sys.stderr)
        )
    except DemoError as error:
        print(f"make demo failed: {error}", file=sys.stderr)
        return 1
    print(report(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.cli", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    db = commands.add_parser("db", help="manage the embedded PostgreSQL")
    db.add_argument("action", choices=["up", "down", "status", "shell"])
    migrate = commands.add_parser("migrate", help="upgrade the schema")
    migrate.add_argument("revision", nargs="?", default="head")
    rollback = commands.add_parser("migrate-rollback", help="downgrade the schema")
    rollback.add_argument("revision", nargs="?", default="-1")
    create = commands.add_parser("migrate-create", help="draft a new revision with autogenerate")
    create.add_argument("message")
    retention = commands.add_parser("metrics-retention", help="apply METRICS_RETENTION_DAYS on TimescaleDB")
    retention.add_argument("--days", type=int, default=None)
    demo = commands.add_parser("demo", help="build the demo shop through the running API")
    demo.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('PORT', '8001')}")
    demo.add_argument("--email", default=DEMO_EMAIL)
    demo.add_argument("--password", default=DEMO_PASSWORD)
    args = parser.parse_args(argv)

    if args.command == "db":
        return _db(args.action)
    if args.command == "demo":
        return _demo(args.url, args.email, args.password)
    urls = resolve_database_urls(get_settings().database)
    if args.command == "migrate":
        upgrade(urls.owner, urls.app_role, args.revision, worker_role=urls.worker_role)
    elif args.command == "migrate-rollback":
        downgrade(urls.owner, urls.app_role, args.revision, worker_role=urls.worker_role)
    elif args.command == "metrics-retention":
        days = args.days if args.days is not None else get_settings().database.metrics_retention_days
        if not asyncio.run(_apply_retention(urls.owner, days)):
            print(
                "TimescaleDB is not installed in this database: business_metrics is a plain table; "
                "nothing to do."
            )
        else:
            print(
                f"retention policy set: {f'drop data older than {days} days' if days else 'keep everything'}"
            )
    elif args.command == "migrate-create":
        config = alembic_config(owner_url=urls.owner, app_role=urls.app_role, worker_role=urls.worker_role)
        command.revision(config, message=args.message, autogenerate=True)
        print(
            "Review the new file in alembic/versions/ before committing: RLS policies are not autogenerated."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
