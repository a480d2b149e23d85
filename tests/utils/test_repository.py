"""The repository kit over the real database: the tenant fence, lookups by id, pages with a total."""

from __future__ import annotations

import uuid

import httpx
import pytest

from backend.models import SmartGoal
from backend.services.errors import NotFound
from backend.utils.database import Database
from backend.utils.repository import PageWindow, get_by_id, get_or_404, paginate, tenant_select, where_given
from tests.factories import TenantContext, create_goal, create_tenant


async def declare_revenue(client: httpx.AsyncClient, tenant: TenantContext) -> None:
    response = await client.put(
        "/api/v1/metrics/revenue", headers=tenant.headers, json={"aggregation": "sum"}
    )
    assert response.status_code == 200, response.text


async def test_pages_count_the_whole_statement_and_keep_the_order(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await create_tenant(client)
    await declare_revenue(client, tenant)
    targets = [float(n) for n in range(10, 15)]
    for target in targets:
        await create_goal(client, tenant.headers, target_value=target, baseline_value=1)
    async with database.tenant_session(tenant.tenant_id) as session:
        statement = tenant_select(session, SmartGoal).where(SmartGoal.target_value >= 11)
        order = (SmartGoal.target_value.desc(),)
        first, total = await paginate(session, statement, order_by=order, window=PageWindow(2))
        rest, again = await paginate(session, statement, order_by=order, window=PageWindow(2, offset=2))
    assert total == again == 4
    assert [g.target_value for g in first + rest] == [14.0, 13.0, 12.0, 11.0]


async def test_another_tenants_row_is_not_found_by_id_or_listed(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop, other = await create_tenant(client), await create_tenant(client)
    await declare_revenue(client, shop)
    goal = await create_goal(client, shop.headers, target_value=5, baseline_value=1)
    goal_id = uuid.UUID(goal["id"])
    async with database.tenant_session(shop.tenant_id) as session:
        assert (await get_by_id(session, SmartGoal, goal_id)) is not None
    async with database.tenant_session(other.tenant_id) as session:
        assert (await get_by_id(session, SmartGoal, goal_id)) is None
        with pytest.raises(NotFound, match="Goal not found"):
            await get_or_404(session, SmartGoal, goal_id, "Goal not found")
        items, total = await paginate(
            session, tenant_select(session, SmartGoal), order_by=(SmartGoal.id,), window=PageWindow(10)
        )
    assert (items, total) == ([], 0)


async def test_where_given_skips_absent_filters_and_narrows_by_given_ones(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await create_tenant(client)
    await declare_revenue(client, tenant)
    for target in (10.0, 20.0):
        await create_goal(client, tenant.headers, target_value=target, baseline_value=1)
    async with database.tenant_session(tenant.tenant_id) as session:
        everything = where_given(tenant_select(session, SmartGoal), (SmartGoal.target_value, None))
        only_twenty = where_given(tenant_select(session, SmartGoal), (SmartGoal.target_value, 20.0))
        all_goals, all_total = await paginate(
            session, everything, order_by=(SmartGoal.id,), window=PageWindow(10)
        )
        twenty, twenty_total = await paginate(
            session, only_twenty, order_by=(SmartGoal.id,), window=PageWindow(10)
        )
    assert all_total == 2 and len(all_goals) == 2
    assert twenty_total == 1 and [g.target_value for g in twenty] == [20.0]
