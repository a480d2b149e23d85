"""The delivery job: send one outbox row (an alert to a channel) once, and log every attempt.

**Once.** The job locks its outbox row ``FOR UPDATE SKIP LOCKED`` and keeps the lock while it
sends, then records the attempt and the row's new status in the same transaction. A row that is
no longer pending (delivered, failed) or that another worker holds is not sent. A worker killed
mid-send loses its transaction: the row is pending and unlocked again, and the retried job
sends it with the same ``X-Dyocense-Delivery`` id, so a receiver that got the first copy knows
the second for a repeat. (Over HTTP no sender can know whether a request it lost the answer to
arrived: the id is what makes the receiver's side exactly-once.) The lock is held for at most
one request's timeout (``WEBHOOK_TIMEOUT_SECONDS``).

**Retries.** A timeout, an unreachable receiver, 408, 429 or 5xx (or a transient SMTP failure)
is retried by the job queue with doubling waits (``JOB_RETRY_BASE_SECONDS``), up to
``MAX_ATTEMPTS``; any other 4xx (or a refused recipient) is final. Each attempt's status code,
latency and error go to the channel's delivery log.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from pydantic import BaseModel

from backend.models import AlertChannel, AlertDeliveryAttempt
from backend.services.alerts import messages, repository
from backend.services.alerts.repository import Claimed
from backend.services.alerts.types import AlertMessage, AttemptOutcome
from backend.services.connectors.crypto import CredentialCipher
from backend.services.connectors.http import ConnectorError, check_address_allowed
from backend.services.mail import MailRefused, MailUnavailable, transport_for
from backend.services.queue import JobFailed, JobKind, JobRun, Task

logger = structlog.get_logger(__name__)

ALERTS_QUEUE = "alerts"
MAX_ATTEMPTS = 6
WEBHOOK_TIMEOUT_SECONDS = 10.0
CHANNEL_PURPOSE = b"alert_channel"
RETRY_STATUSES = frozenset({408, 429})
MAX_ERROR = 300


class DeliveryPayload(BaseModel):
    delivery_id: uuid.UUID


DELIVERY_JOB = JobKind(
    "alerts.deliver",
    DeliveryPayload,
    queue=ALERTS_QUEUE,
    max_attempts=MAX_ATTEMPTS,
    lock=lambda payload: f"alert-delivery:{payload.delivery_id}",
)


@dataclass(frozen=True)
class Outcome:
    outcome: AttemptOutcome
    latency_ms: float
    status_code: int | None = None
    error: str | None = None


def _message(claimed: Claimed) -> AlertMessage:
    return AlertMessage(
        alert_id=claimed.alert.id,
        rule_name=claimed.rule.name,
        kind=claimed.rule.kind,  # type: ignore[arg-type]
        severity=claimed.alert.severity,
        subject=claimed.alert.subject,
        sentence=claimed.alert.sentence,
        created_at=claimed.alert.created_at,
    )


def _judge(status: int, started: float) -> Outcome:
    latency = _since(started)
    if 200 <= status < 300:
        return Outcome("delivered", latency, status)
    retry = status in RETRY_STATUSES or status >= 500
    return Outcome("retry" if retry else "failed", latency, status, f"the receiver answered {status}")


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def post(url: str, body: bytes, headers: dict[str, str], *, allow_private: bool) -> Outcome:
    """POST ``body`` to ``url`` once and judge the answer."""
    started = time.perf_counter()
    target = httpx.URL(url)
    try:
        if not allow_private:
            await check_address_allowed(target.host, target.port or (443 if target.scheme == "https" else 80))
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False) as client:
            response = await client.post(target, content=body, headers=headers)
    except ConnectorError as error:
        return Outcome("failed", _since(started), error=str(error)[:MAX_ERROR])
    except httpx.TimeoutException:
        return Outcome("retry", _since(started), error=f"no answer within {WEBHOOK_TIMEOUT_SECONDS:g} s")
    except httpx.TransportError as error:
        return Outcome("retry", _since(started), error=f"cannot reach the receiver ({type(error).__name__})")
    return _judge(response.status_code, started)


async def _send(run: JobRun, claimed: Claimed, config: dict[str, Any]) -> Outcome:
    message = _message(claimed)
    channel: AlertChannel = claimed.channel
    allow_private = run.settings.connectors.allow_private_networks
    if channel.kind == "webhook":
        body = messages.webhook_body(message)
        headers = messages.webhook_headers(config["secret"], int(time.time()), body, str(claimed.delivery.id))
        return await post(config["url"], body, headers, allow_private=allow_private)
    if channel.kind == "slack":
        headers = {"Content-Type": "application/json"}
        return await post(config["url"], messages.slack_body(message), headers, allow_private=allow_private)
    return await _send_email(run, message, config["email"])


async def _send_email(run: JobRun, message: AlertMessage, to: str) -> Outcome:
    started = time.perf_counter()
    transport = transport_for(run.settings.mail)
    if transport is None:
        return Outcome("failed", 0.0, error="no mail transport is configured (SMTP_HOST)")
    try:
        await transport.send(messages.alert_email(message, to, run.settings.app_name))
    except MailRefused as error:
        return Outcome("failed", _since(started), error.smtp_code, str(error))
    except MailUnavailable as error:
        return Outcome("retry", _since(started), error.smtp_code, str(error))
    return Outcome("delivered", _since(started))


def _record(run: JobRun, claimed: Claimed, outcome: Outcome) -> AlertDeliveryAttempt:
    delivery = claimed.delivery
    final: AttemptOutcome = (
        "failed" if outcome.outcome == "retry" and run.is_last_attempt else outcome.outcome
    )
    delivery.attempts = run.attempt
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    if final == "delivered":
        delivery.status, delivery.delivered_at = "delivered", datetime.now(UTC)
    elif final == "failed":
        delivery.status = "failed"
    return AlertDeliveryAttempt(
        tenant_id=delivery.tenant_id,
        delivery_id=delivery.id,
        channel_id=delivery.channel_id,
        attempt=run.attempt,
        outcome=final,
        status_code=outcome.status_code,
        latency_ms=outcome.latency_ms,
        error=outcome.error,
    )


async def deliver_alert(run: JobRun, payload: DeliveryPayload) -> dict[str, Any]:
    cipher = CredentialCipher.from_settings(run.settings)
    async with run.database.tenant_session(run.tenant_id) as session:
        claimed = await repository.claim_delivery(session, payload.delivery_id)
        if claimed is None:
            logger.info("alert_delivery_skipped", delivery_id=str(payload.delivery_id))
            return {"sent": False, "reason": "not pending (delivered, failed, or held by another worker)"}
        config = cipher.decrypt(
            claimed.channel.sealed_config,
            tenant_id=run.tenant_id,
            source_id=claimed.channel.id,
            purpose=CHANNEL_PURPOSE,
        )
        outcome = await _send(run, claimed, config)
        attempt = _record(run, claimed, outcome)
        await repository.add_attempt(session, attempt)
    logger.info(
        "alert_delivery",
        channel_kind=claimed.channel.kind,
        outcome=attempt.outcome,
        status=outcome.status_code,
    )
    details = {"delivery_id": str(payload.delivery_id), "status_code": outcome.status_code}
    if attempt.outcome == "retry":
        raise JobFailed(
            outcome.error or "delivery failed", code="delivery_retry", context=details, retryable=True
        )
    if attempt.outcome == "failed":
        raise JobFailed(outcome.error or "delivery failed", code="delivery_failed", context=details)
    return {"sent": True, "status_code": outcome.status_code, "latency_ms": outcome.latency_ms}


TASKS: tuple[Task[Any], ...] = (Task(DELIVERY_JOB, deliver_alert),)
