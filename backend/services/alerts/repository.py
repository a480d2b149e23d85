"""Queries of the alerts feature: rules, channels, alerts (insert-once), the outbox and its log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import (
    Alert,
    AlertChannel,
    AlertDelivery,
    AlertDeliveryAttempt,
    AlertRule,
    AlertRuleChannel,
    Insight,
)
from backend.utils.database import session_tenant
from backend.utils.repository import PageWindow, paginate, tenant_filter, tenant_select

# ---------------------------------------------------------------- rules


async def list_rules(
    session: AsyncSession, user_id: uuid.UUID, window: PageWindow
) -> tuple[list[AlertRule], int]:
    """The user's own rules and the tenant's rules."""
    statement = tenant_select(session, AlertRule).where(
        or_(AlertRule.user_id == user_id, AlertRule.user_id.is_(None))
    )
    return await paginate(session, statement, order_by=(AlertRule.created_at, AlertRule.id), window=window)


async def active_rules(session: AsyncSession, now: datetime) -> list[AlertRule]:
    statement = tenant_select(session, AlertRule).where(
        AlertRule.enabled.is_(True),
        or_(AlertRule.snoozed_until.is_(None), AlertRule.snoozed_until <= now),
    )
    return list(await session.scalars(statement.order_by(AlertRule.created_at, AlertRule.id)))


async def rule_channel_ids(
    session: AsyncSession, rule_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    if not rule_ids:
        return {}
    statement = (
        select(AlertRuleChannel.rule_id, AlertRuleChannel.channel_id)
        .where(tenant_filter(session, AlertRuleChannel), AlertRuleChannel.rule_id.in_(rule_ids))
        .order_by(AlertRuleChannel.rule_id, AlertRuleChannel.channel_id)
    )
    found: dict[uuid.UUID, list[uuid.UUID]] = {rule_id: [] for rule_id in rule_ids}
    for rule_id, channel_id in await session.execute(statement):
        found[rule_id].append(channel_id)
    return found


async def set_rule_channels(
    session: AsyncSession, rule_id: uuid.UUID, channel_ids: Sequence[uuid.UUID]
) -> None:
    await session.execute(
        delete(AlertRuleChannel).where(
            tenant_filter(session, AlertRuleChannel), AlertRuleChannel.rule_id == rule_id
        )
    )
    tenant_id = session_tenant(session)
    for channel_id in dict.fromkeys(channel_ids):
        session.add(AlertRuleChannel(tenant_id=tenant_id, rule_id=rule_id, channel_id=channel_id))
    await session.flush()


# ---------------------------------------------------------------- channels


async def list_channels(session: AsyncSession, window: PageWindow) -> tuple[list[AlertChannel], int]:
    statement = tenant_select(session, AlertChannel)
    return await paginate(session, statement, order_by=(AlertChannel.name,), window=window)


async def channel_by_name(session: AsyncSession, name: str) -> AlertChannel | None:
    return await session.scalar(tenant_select(session, AlertChannel).where(AlertChannel.name == name))


async def existing_channels(session: AsyncSession, channel_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    if not channel_ids:
        return set()
    statement = select(AlertChannel.id).where(
        tenant_filter(session, AlertChannel), AlertChannel.id.in_(channel_ids)
    )
    return set(await session.scalars(statement))


# ---------------------------------------------------------------- alerts and the outbox


async def insights_by_id(session: AsyncSession, insight_ids: Sequence[uuid.UUID]) -> list[Insight]:
    if not insight_ids:
        return []
    statement = tenant_select(session, Insight).where(Insight.id.in_(insight_ids))
    return list(await session.scalars(statement.order_by(Insight.created_at, Insight.id)))


@dataclass(frozen=True)
class NewAlert:
    rule_id: uuid.UUID
    insight_id: uuid.UUID | None
    subject: str
    period_key: str
    severity: str
    sentence: str


async def insert_alert(session: AsyncSession, alert: NewAlert) -> uuid.UUID | None:
    """The new alert's id, or None when the rule already fired for this subject and period."""
    statement = (
        insert(Alert)
        .values(
            tenant_id=session_tenant(session),
            id=uuid.uuid4(),
            rule_id=alert.rule_id,
            insight_id=alert.insight_id,
            subject=alert.subject,
            period_key=alert.period_key,
            severity=alert.severity,
            sentence=alert.sentence,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "rule_id", "subject", "period_key"])
        .returning(Alert.id)
    )
    return await session.scalar(statement)


async def insert_delivery(
    session: AsyncSession, alert_id: uuid.UUID, channel_id: uuid.UUID, deliver_after: datetime
) -> AlertDelivery:
    delivery = AlertDelivery(
        tenant_id=session_tenant(session),
        alert_id=alert_id,
        channel_id=channel_id,
        deliver_after=deliver_after,
        status="pending",
        attempts=0,
    )
    session.add(delivery)
    await session.flush()
    return delivery


async def list_alerts(
    session: AsyncSession, user_id: uuid.UUID, window: PageWindow
) -> tuple[list[Alert], int]:
    """Alerts of the user's rules and of the tenant's rules, newest first."""
    visible = select(AlertRule.id).where(
        tenant_filter(session, AlertRule), or_(AlertRule.user_id == user_id, AlertRule.user_id.is_(None))
    )
    statement = tenant_select(session, Alert).where(Alert.rule_id.in_(visible))
    return await paginate(session, statement, order_by=(Alert.created_at.desc(), Alert.id), window=window)


@dataclass(frozen=True)
class Claimed:
    delivery: AlertDelivery
    alert: Alert
    rule: AlertRule
    channel: AlertChannel


async def claim_delivery(session: AsyncSession, delivery_id: uuid.UUID) -> Claimed | None:
    """Lock the pending outbox row ``delivery_id`` for this transaction (``FOR UPDATE SKIP LOCKED``).

    None when it is delivered or failed already, or another worker holds it right now: either
    way this worker must not send it.
    """
    statement = (
        tenant_select(session, AlertDelivery)
        .where(AlertDelivery.id == delivery_id, AlertDelivery.status == "pending")
        .with_for_update(skip_locked=True)
    )
    delivery = await session.scalar(statement)
    if delivery is None:
        return None
    alert = await session.get_one(Alert, (delivery.tenant_id, delivery.alert_id))
    rule = await session.get_one(AlertRule, (delivery.tenant_id, alert.rule_id))
    channel = await session.get_one(AlertChannel, (delivery.tenant_id, delivery.channel_id))
    return Claimed(delivery, alert, rule, channel)


async def add_attempt(session: AsyncSession, attempt: AlertDeliveryAttempt) -> None:
    session.add(attempt)
    await session.flush()


async def channel_attempts(
    session: AsyncSession, channel_id: uuid.UUID, window: PageWindow
) -> tuple[list[AlertDeliveryAttempt], int]:
    statement = tenant_select(session, AlertDeliveryAttempt).where(
        AlertDeliveryAttempt.channel_id == channel_id
    )
    order = (
        AlertDeliveryAttempt.created_at.desc(),
        AlertDeliveryAttempt.attempt.desc(),
        AlertDeliveryAttempt.id,
    )
    return await paginate(session, statement, order_by=order, window=window)
