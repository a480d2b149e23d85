"""Alerts: rules (yours or the tenant's), delivery channels, raised alerts and each channel's log."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from backend.dependencies import AdminPrincipal, AppSettings, CurrentPrincipal, PageParams, TenantSession
from backend.models import AlertChannel, AlertRule
from backend.schemas.alerts import (
    AlertRead,
    ChannelCreate,
    ChannelCreated,
    ChannelRead,
    DeliveryAttemptRead,
    QuietHoursSpec,
    RuleRead,
    RuleWrite,
)
from backend.schemas.common import Page
from backend.schemas.insights import SnoozeRequest
from backend.services.alerts import repository, service
from backend.utils.error_handlers import error_responses
from backend.utils.responses import NO_CONTENT

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], responses=error_responses(401, 422))


def _rule_read(rule: AlertRule, channel_ids: list[uuid.UUID]) -> RuleRead:
    quiet = None
    if rule.quiet_start is not None and rule.quiet_end is not None:
        quiet = QuietHoursSpec(start=rule.quiet_start, end=rule.quiet_end)
    scope = "user" if rule.user_id is not None else "tenant"
    return RuleRead.from_row(rule, scope=scope, quiet_hours=quiet, channel_ids=channel_ids)


async def _one_rule_read(session: TenantSession, rule: AlertRule) -> RuleRead:
    return _rule_read(rule, (await service.channels_of(session, [rule]))[rule.id])


def _channel_read(channel: AlertChannel) -> ChannelRead:
    return ChannelRead.from_row(channel, target=channel.display_target)


@router.post(
    "/rules",
    status_code=status.HTTP_201_CREATED,
    summary="Create an alert rule",
    responses=error_responses(403),
)
async def create_rule(body: RuleWrite, session: TenantSession, principal: CurrentPrincipal) -> RuleRead:
    """422 for a metric the tenant does not have, an unknown channel, or fields that do not fit the
    kind; 403 for a tenant-wide rule unless you are an admin."""
    return await _one_rule_read(session, await service.create_rule(session, principal, body))


@router.get("/rules", summary="Your alert rules and the tenant's")
async def list_rules(session: TenantSession, principal: CurrentPrincipal, page: PageParams) -> Page[RuleRead]:
    """Your own rules and the tenant-wide ones, oldest first and paginated: kind, metric, threshold,
    minimum severity, quiet hours, channels, and whether it is enabled or snoozed."""
    rules, total = await service.list_rules(session, principal, page)
    channels = await service.channels_of(session, rules)
    return Page.of([_rule_read(rule, channels[rule.id]) for rule in rules], total, page)


@router.get("/rules/{rule_id}", summary="One alert rule", responses=error_responses(404))
async def get_rule(rule_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal) -> RuleRead:
    """One rule you can see (yours or a tenant-wide one). 404 for an id that is someone else's or not the
    tenant's."""
    return await _one_rule_read(session, await service.get_rule(session, principal, rule_id))


@router.put("/rules/{rule_id}", summary="Replace an alert rule", responses=error_responses(403, 404))
async def replace_rule(
    rule_id: uuid.UUID, body: RuleWrite, session: TenantSession, principal: CurrentPrincipal
) -> RuleRead:
    """Sends the whole rule again (the same checks as creating it: 422 for a metric or channel the tenant
    lacks, or fields that do not fit the kind). 403 for a tenant-wide rule unless you are an admin; 404
    for someone else's rule."""
    return await _one_rule_read(session, await service.replace_rule(session, principal, rule_id, body))


@router.delete(
    "/rules/{rule_id}",
    **NO_CONTENT,
    summary="Delete an alert rule",
    responses=error_responses(403, 404),
)
async def delete_rule(rule_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal) -> None:
    """Deletes the rule; alerts it raised stay in the list. 403 for a tenant-wide rule unless you are an
    admin; 404 for someone else's rule."""
    await service.delete_rule(session, principal, rule_id)


@router.post(
    "/rules/{rule_id}/snooze", summary="Silence a rule until a time", responses=error_responses(403, 404)
)
async def snooze_rule(
    rule_id: uuid.UUID, body: SnoozeRequest, session: TenantSession, principal: CurrentPrincipal
) -> RuleRead:
    """Alerts the rule would raise before `until` are not raised (at most 90 days ahead)."""
    return await _one_rule_read(session, await service.snooze_rule(session, principal, rule_id, body.until))


@router.delete("/rules/{rule_id}/snooze", summary="End a rule's snooze", responses=error_responses(403, 404))
async def unsnooze_rule(rule_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal) -> RuleRead:
    """The rule raises alerts again from now on (alerts it would have raised while snoozed are not raised
    later). 403/404 as for replacing it."""
    return await _one_rule_read(session, await service.snooze_rule(session, principal, rule_id, None))


@router.get("", summary="Alerts raised by your rules and the tenant's, newest first")
async def list_alerts(
    session: TenantSession, principal: CurrentPrincipal, page: PageParams
) -> Page[AlertRead]:
    """Each alert: the rule that raised it, the insight (or yesterday's value for a threshold), its
    severity and sentence, and the period; one per rule, subject and period. Paginated."""
    alerts, total = await service.list_alerts(session, principal, page)
    return Page.of([AlertRead.from_row(alert) for alert in alerts], total, page)


@router.post(
    "/channels",
    status_code=status.HTTP_201_CREATED,
    summary="Create a delivery channel (admin)",
    responses=error_responses(403),
)
async def create_channel(
    body: ChannelCreate, session: TenantSession, principal: AdminPrincipal, settings: AppSettings
) -> ChannelCreated:
    """A webhook's signing secret is in this response only; it is stored encrypted."""
    channel, secret = await service.create_channel(session, settings, principal, body)
    return ChannelCreated.from_row(channel, target=channel.display_target, secret=secret)


@router.get("/channels", summary="Delivery channels")
async def list_channels(
    session: TenantSession, principal: CurrentPrincipal, page: PageParams
) -> Page[ChannelRead]:
    """The tenant's delivery channels (webhook, Slack, email), by name and paginated; a webhook or
    Slack channel shows only its URL's scheme and host, never its secret."""
    channels, total = await repository.list_channels(session, page)
    return Page.of([_channel_read(channel) for channel in channels], total, page)


@router.get("/channels/{channel_id}", summary="One delivery channel", responses=error_responses(404))
async def get_channel(
    channel_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal
) -> ChannelRead:
    """One delivery channel: its kind and target (the URL's scheme and host, or the address). 404 for an id
    that is not the tenant's."""
    return _channel_read(await service.get_channel(session, channel_id))


@router.delete(
    "/channels/{channel_id}",
    **NO_CONTENT,
    summary="Delete a delivery channel (admin)",
    responses=error_responses(403, 404),
)
async def delete_channel(channel_id: uuid.UUID, session: TenantSession, principal: AdminPrincipal) -> None:
    """Admins only (403 otherwise). Removes the channel from every rule; its delivery log goes with it. 404
    for an id that is not the tenant's."""
    await service.delete_channel(session, channel_id)


@router.get(
    "/channels/{channel_id}/deliveries",
    summary="A channel's delivery log, newest first",
    responses=error_responses(404),
)
async def channel_deliveries(
    channel_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal, page: PageParams
) -> Page[DeliveryAttemptRead]:
    """Every attempt: its status code, latency, outcome (delivered, retry, failed) and error."""
    await service.get_channel(session, channel_id)
    attempts, total = await repository.channel_attempts(session, channel_id, page)
    return Page.of([DeliveryAttemptRead.from_row(attempt) for attempt in attempts], total, page)
