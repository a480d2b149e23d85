"""Programmatic Alembic: the code's head revision, and running upgrades/downgrades."""

from __future__ import annotations

from functools import lru_cache

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from backend.config import PROJECT_ROOT


def alembic_config(
    *, owner_url: str | None = None, app_role: str | None = None, worker_role: str | None = None
) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    if owner_url is not None:
        config.attributes["owner_url"] = owner_url
    if app_role is not None:
        config.attributes["app_role"] = app_role
    if worker_role is not None:
        config.attributes["worker_role"] = worker_role
    return config


@lru_cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no Alembic revisions found"
    return head


def upgrade(owner_url: str, app_role: str, revision: str = "head", *, worker_role: str | None = None) -> None:
    """Blocking: runs its own event loop; call from a thread in async code.

    ``worker_role`` defaults to ``DATABASE_WORKER_ROLE`` (``dyocense_worker``).
    """
    config = alembic_config(owner_url=owner_url, app_role=app_role, worker_role=worker_role)
    command.upgrade(config, revision)


def downgrade(owner_url: str, app_role: str, revision: str, *, worker_role: str | None = None) -> None:
    config = alembic_config(owner_url=owner_url, app_role=app_role, worker_role=worker_role)
    command.downgrade(config, revision)
