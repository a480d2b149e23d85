"""The repository kit: every tenant query starts from the tenant-fenced statement of its model.

Row-level security filters every statement in the database; the ``WHERE tenant_id = …`` that
``tenant_select`` adds is the second fence (and lets the planner use the tenant-led indexes).
Feature repositories build on these functions instead of writing the tenant filter, the
primary-key lookup, optional filters and the ``count`` + ``limit``/``offset`` pair by hand; a
page is asked for with one ``PageWindow`` from the route to the repository.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services.errors import NotFound
from backend.utils.database import session_tenant

M = TypeVar("M")
Row = TypeVar("Row")


@dataclass(frozen=True)
class PageWindow:
    """One page of a list: at most ``limit`` rows after skipping ``offset``."""

    limit: int
    offset: int = 0


def tenant_filter(session: AsyncSession, model: type[Any]) -> ColumnElement[bool]:
    """``model.tenant_id`` is the session's tenant (for updates, deletes and joins)."""
    condition: ColumnElement[bool] = model.tenant_id == session_tenant(session)
    return condition


def tenant_select(session: AsyncSession, model: type[M]) -> Select[M]:
    """``select(model)`` of the session's tenant: the base statement of every tenant query."""
    return select(model).where(tenant_filter(session, model))


def where_given(statement: Select[Row], *filters: tuple[Any, object | None]) -> Select[Row]:
    """``statement`` narrowed by ``column == value`` for each ``(column, value)`` whose value is
    given; a None value is an absent filter."""
    for column, value in filters:
        if value is not None:
            statement = statement.where(column == value)
    return statement


async def tenant_one(
    session: AsyncSession, model: type[M], *criteria: ColumnElement[bool], lock: bool = False
) -> M | None:
    """The session tenant's one row of ``model`` matching ``criteria``, or None; ``lock`` holds it
    (``FOR UPDATE``) until the transaction ends."""
    statement = tenant_select(session, model).where(*criteria)
    if lock:
        statement = statement.with_for_update()
    return (await session.scalars(statement)).one_or_none()


async def get_by_id(session: AsyncSession, model: type[M], row_id: uuid.UUID) -> M | None:
    """The session tenant's row of ``model`` with primary key ``(tenant_id, id)``, or None."""
    return await session.get(model, (session_tenant(session), row_id))


async def get_or_404(
    session: AsyncSession,
    model: type[M],
    row_id: uuid.UUID,
    message: str,
    context: dict[str, Any] | None = None,
) -> M:
    """``get_by_id``, or ``NotFound`` (another tenant's row is not found, never forbidden)."""
    row = await get_by_id(session, model, row_id)
    if row is None:
        raise NotFound(message, context=context)
    return row


async def delete_row(session: AsyncSession, row: object) -> None:
    """Delete ``row`` and flush, so the database's cascades and refusals happen inside the service."""
    await session.delete(row)
    await session.flush()


async def paginate(
    session: AsyncSession, statement: Select[Row], *, order_by: Sequence[Any], window: PageWindow
) -> tuple[list[Row], int]:
    """One page of ``statement`` in ``order_by`` order, and how many rows the whole statement has.

    A page that ends before ``limit`` tells the total itself (``offset`` + its rows), so the
    ``count`` runs only for a full page or an empty page past the start: most lists are short,
    and their read is then one statement instead of two.
    """
    page = list(
        await session.scalars(statement.order_by(*order_by).limit(window.limit).offset(window.offset))
    )
    if len(page) < window.limit and (page or window.offset == 0):
        return page, window.offset + len(page)
    total = await session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    return page, int(total or 0)
