"""Alert rules and channels (CRUD and their rules), and raising alerts from an engine run.

**Who.** Anyone signed in keeps rules of their own (``scope: user``); rules for the whole tenant
(``scope: tenant``) and channels are an admin's. A rule of someone else is not found.

**Raising.** After the insight engine stores its findings, every enabled, unsnoozed rule is
matched against the run's insights (``change``, ``anomaly``, ``goal_status``, ``data_health``:
the insight type, the rule's metric if it names one, at least its severity) and ``threshold``
rules against the metric's last complete day. An alert is stored once per rule, subject and
period (a unique key with ``ON CONFLICT DO NOTHING``), so reruns and two workers raise nothing
twice. Each new alert gets one outbox row per channel of its rule and a delivery job; during the
rule's quiet hours (the tenant's time zone) the row and its job wait until they end.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.models import Alert, AlertChannel, AlertRule, Insight
from backend.models.user import Role
from backend.schemas.alerts import ChannelCreate, RuleWrite
from backend.services.alerts import repository
from backend.services.alerts.delivery import CHANNEL_PURPOSE, DELIVERY_JOB, DeliveryPayload
from backend.services.alerts.messages import quiet_until
from backend.services.alerts.repository import NewAlert
from backend.services.alerts.types import INSIGHTS_OF_RULE
from backend.services.auth.service import Principal
from backend.services.connectors.crypto import CredentialCipher
from backend.services.errors import Forbidden, NotFound, ValidationFailed
from backend.services.insights.types import SEVERITIES, MetricHistory, check_snooze
from backend.services.metrics import reader
from backend.services.queue import enqueue
from backend.services.tenant.service import tenant_zone
from backend.utils.repository import PageWindow, delete_row, get_by_id, get_or_404

SECRET_BYTES = 32

# ---------------------------------------------------------------- rules


def _visible(rule: AlertRule | None, principal: Principal) -> AlertRule:
    if rule is None or (rule.user_id is not None and rule.user_id != principal.actor_id):
        raise NotFound("No such alert rule")
    return rule


def _may_write(rule: AlertRule, principal: Principal) -> None:
    if rule.user_id is None and not principal.role.at_least(Role.ADMIN):
        raise Forbidden("Tenant-wide alert rules are an admin's", context={"your_role": principal.role})


async def _check_references(session: AsyncSession, body: RuleWrite) -> None:
    if body.metric is not None and await reader.definition(session, body.metric) is None:
        raise ValidationFailed(
            f"The tenant has no metric '{body.metric}'", context={"field": "metric", "metric": body.metric}
        )
    missing = set(body.channel_ids) - await repository.existing_channels(session, body.channel_ids)
    if missing:
        raise ValidationFailed(
            "Unknown alert channel", context={"field": "channel_ids", "unknown": sorted(map(str, missing))}
        )


def _apply(rule: AlertRule, body: RuleWrite, principal: Principal) -> None:
    rule.user_id = principal.actor_id if body.scope == "user" else None
    rule.name = body.name
    rule.kind = body.kind
    rule.metric = body.metric
    rule.operator = body.operator
    rule.threshold = body.threshold
    rule.min_severity = body.min_severity
    rule.quiet_start = body.quiet_hours.start if body.quiet_hours else None
    rule.quiet_end = body.quiet_hours.end if body.quiet_hours else None
    rule.enabled = body.enabled


async def create_rule(session: AsyncSession, principal: Principal, body: RuleWrite) -> AlertRule:
    await _check_references(session, body)
    rule = AlertRule(id=uuid.uuid4(), tenant_id=principal.tenant_id)
    _apply(rule, body, principal)
    _may_write(rule, principal)
    session.add(rule)
    await session.flush()
    await repository.set_rule_channels(session, rule.id, body.channel_ids)
    await session.refresh(rule)
    return rule


async def get_rule(session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> AlertRule:
    return _visible(await get_by_id(session, AlertRule, rule_id), principal)


async def replace_rule(
    session: AsyncSession, principal: Principal, rule_id: uuid.UUID, body: RuleWrite
) -> AlertRule:
    rule = await get_rule(session, principal, rule_id)
    _may_write(rule, principal)
    await _check_references(session, body)
    _apply(rule, body, principal)
    _may_write(rule, principal)  # nor may a member move their rule to the tenant
    await session.flush()
    await repository.set_rule_channels(session, rule.id, body.channel_ids)
    await session.refresh(rule)
    return rule


async def delete_rule(session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> None:
    rule = await get_rule(session, principal, rule_id)
    _may_write(rule, principal)
    await delete_row(session, rule)


async def snooze_rule(
    session: AsyncSession, principal: Principal, rule_id: uuid.UUID, until: datetime | None
) -> AlertRule:
    """Silence the rule until ``until`` (alerts it would raise meanwhile are not raised); None: now on."""
    rule = await get_rule(session, principal, rule_id)
    _may_write(rule, principal)
    if until is not None:
        check_snooze(until, datetime.now(UTC))
    rule.snoozed_until = until
    await session.flush()
    await session.refresh(rule)
    return rule


async def list_rules(
    session: AsyncSession, principal: Principal, window: PageWindow
) -> tuple[list[AlertRule], int]:
    return await repository.list_rules(session, principal.actor_id, window)


async def channels_of(session: AsyncSession, rules: Sequence[AlertRule]) -> dict[uuid.UUID, list[uuid.UUID]]:
    return await repository.rule_channel_ids(session, [rule.id for rule in rules])


async def list_alerts(
    session: AsyncSession, principal: Principal, window: PageWindow
) -> tuple[list[Alert], int]:
    return await repository.list_alerts(session, principal.actor_id, window)


# ---------------------------------------------------------------- channels


def _display_target(body: ChannelCreate) -> str:
    if body.email is not None:
        return str(body.email)
    url = httpx.URL(str(body.url))
    return f"{url.scheme}://{url.netloc.decode()}"  # the path may be the credential (Slack)


async def create_channel(
    session: AsyncSession, settings: Settings, principal: Principal, body: ChannelCreate
) -> tuple[AlertChannel, str | None]:
    """The new channel and, for a webhook, its signing secret (returned this once only)."""
    if await repository.channel_by_name(session, body.name) is not None:
        raise ValidationFailed("An alert channel of that name exists", context={"field": "name"})
    secret = secrets.token_urlsafe(SECRET_BYTES) if body.kind == "webhook" else None
    channel = AlertChannel(
        id=uuid.uuid4(),
        tenant_id=principal.tenant_id,
        kind=body.kind,
        name=body.name,
        display_target=_display_target(body),
        created_by=principal.user_id,
    )
    config = {"url": str(body.url) if body.url else None, "email": body.email, "secret": secret}
    channel.sealed_config = CredentialCipher.from_settings(settings).encrypt(
        config, tenant_id=principal.tenant_id, source_id=channel.id, purpose=CHANNEL_PURPOSE
    )
    session.add(channel)
    await session.flush()
    await session.refresh(channel)
    return channel, secret


async def get_channel(session: AsyncSession, channel_id: uuid.UUID) -> AlertChannel:
    return await get_or_404(session, AlertChannel, channel_id, "No such alert channel")


async def delete_channel(session: AsyncSession, channel_id: uuid.UUID) -> None:
    await delete_row(session, await get_channel(session, channel_id))


# ---------------------------------------------------------------- raising alerts


def _severity_at_least(severity: str, minimum: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(minimum)


def _insight_subject(insight: Insight) -> str:
    links = insight.links or {}
    return insight.metric or str(links.get("data_source_id") or links.get("goal_id") or "-")


def _insight_matches(rule: AlertRule, insight: Insight) -> bool:
    return (
        insight.type in INSIGHTS_OF_RULE.get(rule.kind, frozenset())  # type: ignore[call-overload]
        and (rule.metric is None or rule.metric == insight.metric)
        and _severity_at_least(insight.severity, rule.min_severity)
    )


def _from_insight(rule: AlertRule, insight: Insight) -> NewAlert:
    return NewAlert(
        rule_id=rule.id,
        insight_id=insight.id,
        subject=f"{insight.type}:{_insight_subject(insight)}",
        period_key=f"{insight.period_start.isoformat()}/{insight.period_end.isoformat()}",
        severity=insight.severity,
        sentence=insight.sentence,
    )


def threshold_alert(rule: AlertRule, history: MetricHistory) -> NewAlert | None:
    """The alert of a threshold rule on the metric's last complete day, if it crossed."""
    if not history.days or rule.threshold is None:
        return None
    last = history.days[-1]
    if last.start != history.today - timedelta(days=1):
        return None  # yesterday has no data: nothing to judge (data health says so)
    crossed = last.value > rule.threshold if rule.operator == "above" else last.value < rule.threshold
    if not crossed:
        return None
    return NewAlert(
        rule_id=rule.id,
        insight_id=None,
        subject=f"threshold:{history.metric}",
        period_key=last.start.isoformat(),
        severity="medium",
        sentence=(
            f"{history.metric} was {last.value:,.2f} on {last.start.isoformat()}, "
            f"{rule.operator} the threshold of {rule.threshold:,.2f}."
        ),
    )


HistoryReader = Callable[[AsyncSession, str, date, ZoneInfo], Awaitable[MetricHistory | None]]


async def _threshold_history(
    session: AsyncSession,
    rule: AlertRule,
    histories: dict[str, MetricHistory],
    today: date,
    read_history: HistoryReader,
) -> MetricHistory | None:
    if rule.metric is None:
        return None
    if rule.metric not in histories:
        found = await read_history(session, rule.metric, today, await tenant_zone(session))
        if found is None:
            return None
        histories[rule.metric] = found
    return histories[rule.metric]


async def _queue_deliveries(
    session: AsyncSession, rule: AlertRule, alert_id: uuid.UUID, now: datetime
) -> int:
    channel_ids = (await repository.rule_channel_ids(session, [rule.id]))[rule.id]
    deliver_after = now
    if rule.quiet_start is not None and rule.quiet_end is not None:
        deliver_after = quiet_until(now, rule.quiet_start, rule.quiet_end, await tenant_zone(session)) or now
    for channel_id in channel_ids:
        delivery = await repository.insert_delivery(session, alert_id, channel_id, deliver_after)
        run_at = deliver_after if deliver_after > now else None
        delivery.job_id = await enqueue(
            session, DELIVERY_JOB, DeliveryPayload(delivery_id=delivery.id), run_at=run_at
        )
    await session.flush()
    return len(channel_ids)


async def raise_alerts(
    session: AsyncSession,
    insight_ids: Sequence[uuid.UUID],
    histories: Sequence[MetricHistory],
    *,
    today: date,
    read_history: HistoryReader,
    now: datetime | None = None,
) -> int:
    """Raise the alerts of the rules matching the new insights and thresholds; how many are new.

    ``histories``: what the engine read this run; ``read_history`` reads a threshold rule's
    metric the engine did not (the engine's own reader, passed in: it calls this module)."""
    now = now or datetime.now(UTC)
    new_insights = await repository.insights_by_id(session, insight_ids)
    by_metric = {history.metric: history for history in histories}
    raised = 0
    for rule in await repository.active_rules(session, now):
        if rule.kind == "threshold":
            history = await _threshold_history(session, rule, by_metric, today, read_history)
            candidate = threshold_alert(rule, history) if history is not None else None
            candidates = [candidate] if candidate is not None else []
        else:
            candidates = [
                _from_insight(rule, insight) for insight in new_insights if _insight_matches(rule, insight)
            ]
        for alert in candidates:
            alert_id = await repository.insert_alert(session, alert)
            if alert_id is not None:
                raised += 1
                await _queue_deliveries(session, rule, alert_id, now)
    return raised
