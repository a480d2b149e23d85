"""Digests: a daily or weekly email per user of what the engine found in the metrics they follow.

**Choice.** A user picks ``daily`` or ``weekly`` (``PUT /api/v1/insights/digest``); nobody gets one
unasked. Every email carries a signed one-click unsubscribe link (RFC 8058: ``List-Unsubscribe``
and ``List-Unsubscribe-Post`` headers, and the link in the text), which sets the choice to ``off``.

**Content.** For each followed metric: the insights found since the last period (the feed's own
rules: snoozed ones left out), each with its sentence (numbers from the data, as in the feed),
and a chart (the ``CHART_DAYS`` days up to the newest insight on it, the latest stored daily
forecast's fan, the unusual days marked) inline as a PNG.

**Once a day.** The daily insight run queues a digest job per due user (daily ones every day,
weekly ones on Mondays, local time). The job locks the user's subscription row, skips when that
local day's digest already went out, sends, and records the day in the same transaction: two
workers or a retried job send it once. A worker killed mid-send leaves the day unrecorded, so the
retry sends again (at least once on the wire, like any SMTP sender).
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import structlog
from jose import JWTError
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.models import DigestSubscription, Insight, Tenant
from backend.services.auth import repository as users
from backend.services.errors import NotFound, ValidationFailed
from backend.services.forecaster import service as forecaster
from backend.services.insights import repository
from backend.services.insights.chart import ChartInput, FanPoint, render_chart
from backend.services.insights.repository import FeedFilter
from backend.services.insights.service import daily_values
from backend.services.insights.types import DigestFrequency, SuggestedAction
from backend.services.mail import (
    Email,
    InlineImage,
    MailRefused,
    MailUnavailable,
    email_domain,
    transport_for,
)
from backend.services.queue import JobAlreadyQueued, JobFailed, JobKind, JobRun, enqueue
from backend.services.tenant.service import tenant_zone
from backend.utils.calendar import local_today
from backend.utils.compute import ComputePool
from backend.utils.repository import PageWindow
from backend.utils.security import sign_token, verify_token

logger = structlog.get_logger(__name__)

CHART_DAYS = 90
MAX_METRICS = 10  # charts per email
MAX_INSIGHTS = 20
UNSUBSCRIBE_TOKEN_TYPE = "digest_unsubscribe"  # noqa: S105 - a token type, not a secret
UNSUBSCRIBE_TOKEN_DAYS = 90
PERIOD_DAYS = {"daily": 1, "weekly": 7}


class DigestPayload(BaseModel):
    user_id: uuid.UUID
    day: date  # the tenant's local day the digest is for
    frequency: DigestFrequency


DIGEST_JOB = JobKind(
    "insights.digest",
    DigestPayload,
    queue="mail",
    lock=lambda payload: f"digest:{payload.user_id}:{payload.day.isoformat()}",
    max_attempts_from_settings=lambda settings: settings.mail.max_attempts,
)


# ---------------------------------------------------------------- the choice


async def subscription(session: AsyncSession, user_id: uuid.UUID) -> DigestSubscription | None:
    return await repository.get_subscription(session, user_id)


async def choose(session: AsyncSession, user_id: uuid.UUID, frequency: DigestFrequency) -> DigestSubscription:
    return await repository.set_subscription(session, user_id, frequency)


def unsubscribe_token(settings: Settings, tenant_id: uuid.UUID, user_id: uuid.UUID) -> str:
    """A signed token naming the user (and tenant) whose digest its link turns off."""
    expires = datetime.now(UTC) + timedelta(days=UNSUBSCRIBE_TOKEN_DAYS)
    claims = {"sub": str(user_id), "tenant": str(tenant_id)}
    return sign_token(settings.auth, UNSUBSCRIBE_TOKEN_TYPE, claims, expires)


@dataclass(frozen=True)
class Unsubscriber:
    tenant_id: uuid.UUID
    user_id: uuid.UUID


def read_unsubscribe_token(settings: Settings, token: str) -> Unsubscriber:
    """Who the link is for; 422 ``invalid_unsubscribe_link`` for a forged, expired or other token."""
    try:
        claims = verify_token(settings.auth, token, UNSUBSCRIBE_TOKEN_TYPE)
        return Unsubscriber(uuid.UUID(str(claims["tenant"])), uuid.UUID(str(claims["sub"])))
    except (JWTError, KeyError, ValueError) as error:
        raise ValidationFailed(
            "This unsubscribe link is not valid (it may have expired); change the digest in your settings.",
            code="invalid_unsubscribe_link",
        ) from error


async def unsubscribe(session: AsyncSession, user_id: uuid.UUID) -> DigestSubscription:
    found = await repository.get_subscription(session, user_id)
    if found is None:
        raise NotFound("No digest for this link", code="digest_not_found")
    found.frequency = "off"
    await session.flush()
    return found


# ---------------------------------------------------------------- queueing


def _sending(found: DigestSubscription) -> DigestFrequency:
    return "weekly" if found.frequency == "weekly" else "daily"


async def queue_due(session: AsyncSession, today: date) -> int:
    """Queue the digest of every user due on ``today`` (the tenant's local day); how many were queued."""
    queued = 0
    for found in await repository.due_subscriptions(session, today):
        payload = DigestPayload(user_id=found.user_id, day=today, frequency=_sending(found))
        try:
            await enqueue(session, DIGEST_JOB, payload)
            queued += 1
        except JobAlreadyQueued:
            continue
    return queued


async def queue_mine(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID:
    """Queue the user's digest for today now (what the schedule sends); 422 while it is off."""
    found = await repository.get_subscription(session, user_id)
    if found is None or found.frequency == "off":
        raise ValidationFailed(
            "Choose a daily or weekly digest first (PUT /api/v1/insights/digest)", code="digest_off"
        )
    today = local_today(await tenant_zone(session))
    payload = DigestPayload(user_id=user_id, day=today, frequency=_sending(found))
    return await enqueue(session, DIGEST_JOB, payload, created_by=user_id)


# ---------------------------------------------------------------- composing


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


async def _fan(session: AsyncSession, metric: str) -> tuple[list[FanPoint], int | None]:
    """The latest stored daily forecast of ``metric`` as a fan at its lowest interval level."""
    found, _ = await forecaster.list_forecasts(session, PageWindow(limit=1), metric=metric)
    if not found or found[0].frequency != "day":
        return [], None
    document = forecaster.forecast_document(found[0])
    if not document.levels:
        return [], None
    level = str(min(document.levels))
    fan = [
        FanPoint(point.ts.date(), point.mean, point.lower[level], point.upper[level])
        for point in document.points
        if point.ts is not None and level in point.lower and level in point.upper
    ]
    return fan, int(level)


async def _chart(
    session: AsyncSession, metric: str, day: date, zone: ZoneInfo, insights: list[Insight]
) -> ChartInput:
    # The 90 days up to what was found (yesterday's insights end today, so usually up to today).
    found_until = [item.period_end for item in insights if item.metric == metric]
    end = min(day, max(found_until, default=day))
    history = await daily_values(session, metric, start=end - timedelta(days=CHART_DAYS), end=end, zone=zone)
    fan, level = await _fan(session, metric)
    marked = [
        item.period_start for item in insights if item.type == "unusual_value" and item.metric == metric
    ]
    return ChartInput(metric=metric, history=history, forecast=fan, interval_level=level, marked=marked)


@dataclass(frozen=True)
class Digest:
    """What one email says: per metric its insights and its chart (as input; the pool draws it)."""

    metrics: list[str]
    insights: list[Insight]
    charts: list[ChartInput]


async def gather(
    session: AsyncSession, user_id: uuid.UUID, day: date, frequency: DigestFrequency, zone: ZoneInfo
) -> Digest:
    follows, _ = await repository.list_follows(session, user_id, PageWindow(limit=MAX_METRICS))
    metrics = [follow.metric for follow in follows]
    since = _midnight(day - timedelta(days=PERIOD_DAYS[frequency]), zone)
    found, _ = await repository.feed(
        session,
        user_id,
        FeedFilter(followed=True, since=since),
        PageWindow(limit=MAX_INSIGHTS),
        datetime.now(UTC),
    )
    charts = [await _chart(session, metric, day, zone, found) for metric in metrics]
    return Digest(metrics=metrics, insights=found, charts=charts)


def _unsubscribe_url(settings: Settings, token: str) -> str:
    return (
        f"{settings.mail.public_api_url.rstrip('/')}/api/v1/insights/digest/unsubscribe?token={quote(token)}"
    )


def _suggestion(item: Insight) -> str:
    action = SuggestedAction.model_validate(item.suggested_action)
    band = (
        f" [{action.lower:,.0f}, {action.upper:,.0f}]"
        if action.lower is not None and action.upper is not None
        else ""
    )
    return f"{action.description}{band}, from the {action.source}"


def compose(
    digest: Digest,
    images: list[bytes],
    *,
    to: str,
    tenant_name: str,
    frequency: str,
    day: date,
    unsubscribe: str,
    key: str | None = None,
) -> Email:
    """The email: plain text and HTML with the charts inline, and the one-click unsubscribe headers."""
    title = f"Your {frequency} digest for {tenant_name}, {day.isoformat()}"
    lines = [title, ""]
    if digest.insights:
        for item in digest.insights:
            lines.append(f"- {item.sentence}")
            if item.suggested_action is not None:
                lines.append(f"  Suggested: {_suggestion(item)}")
    else:
        lines.append("Nothing unusual was found in the metrics you follow.")
    lines += ["", f"Metrics: {', '.join(digest.metrics)}", "", f"Unsubscribe: {unsubscribe}"]
    items = "".join(
        f"<li>{html.escape(item.sentence)}"
        + (f"<br><em>Suggested: {html.escape(_suggestion(item))}</em>" if item.suggested_action else "")
        + "</li>"
        for item in digest.insights
    )
    body = f"<ul>{items}</ul>" if items else "<p>Nothing unusual was found in the metrics you follow.</p>"
    pictures = "".join(
        f'<p><img src="cid:chart-{index}" alt="{html.escape(chart.metric)}"></p>'
        for index, chart in enumerate(digest.charts)
    )
    page = (
        f"<html><body><h2>{html.escape(title)}</h2>{body}{pictures}"
        f'<p><a href="{html.escape(unsubscribe)}">Unsubscribe from these digests</a></p></body></html>'
    )
    return Email(
        to=to,
        subject=title,
        text="\n".join(lines),
        html=page,
        images=tuple(
            InlineImage(f"chart-{index}", data, filename=f"{chart.metric}.png")
            for index, (chart, data) in enumerate(zip(digest.charts, images, strict=True))
        ),
        headers=(
            ("List-Unsubscribe", f"<{unsubscribe}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ),
        message_id_key=key,
    )


async def _prepare(
    run: JobRun, session: AsyncSession, payload: DigestPayload, pool: ComputePool
) -> Email | str:
    """The email to send, or why there is none (unsubscribed, already sent, nothing followed)."""
    found = await repository.get_subscription(session, payload.user_id, lock=True)
    if found is None or found.frequency == "off":
        return "unsubscribed"
    if found.last_sent_on is not None and found.last_sent_on >= payload.day:
        return "already_sent"
    user = await users.user_by_id(session, payload.user_id)
    if user is None or not user.is_active:
        return "user_inactive"
    zone = await tenant_zone(session)
    digest = await gather(session, payload.user_id, payload.day, payload.frequency, zone)
    if not digest.metrics:
        return "nothing_followed"
    images = [await pool.run(render_chart, chart) for chart in digest.charts]
    tenant = await session.get(Tenant, run.tenant_id)
    token = unsubscribe_token(run.settings, run.tenant_id, payload.user_id)
    return compose(
        digest,
        images,
        to=user.email,
        tenant_name=tenant.name if tenant is not None else run.settings.app_name,
        frequency=payload.frequency,
        day=payload.day,
        unsubscribe=_unsubscribe_url(run.settings, token),
        key=f"digest.{payload.user_id}.{payload.day.isoformat()}",  # a retried send repeats it
    )


async def send_digest(run: JobRun, payload: DigestPayload) -> dict[str, Any]:
    """The job: compose and send under the subscription's row lock, then record the day."""
    transport = transport_for(run.settings.mail)
    if transport is None:
        raise JobFailed("No mail transport is configured (SMTP_HOST)", code="mail_not_configured")
    async with run.database.tenant_session(run.tenant_id) as session:
        prepared = await _prepare(run, session, payload, run.compute)
        if isinstance(prepared, str):
            logger.info("digest_skipped", reason=prepared)
            return {"sent": False, "reason": prepared}
        try:
            await transport.send(prepared)
        except MailRefused as error:
            raise JobFailed(
                str(error), code="mail_refused", context={"smtp_code": error.smtp_code}
            ) from error
        except MailUnavailable as error:
            raise JobFailed(
                str(error), code="mail_unavailable", context={"smtp_code": error.smtp_code}, retryable=True
            ) from error
        found = await repository.get_subscription(session, payload.user_id)
        if found is not None:
            found.last_sent_on = payload.day
    charts = len(prepared.images)
    logger.info("digest_sent", recipient_domain=email_domain(prepared.to), charts=charts)
    return {"sent": True, "charts": charts, "day": payload.day.isoformat()}
