"""What each channel sends for an alert, and how a webhook body is signed (pure: no I/O).

**Signature.** ``X-Dyocense-Signature: sha256=<hex>`` where hex is HMAC-SHA256, keyed with the
channel's secret, over ``"<timestamp>.<body>"``; ``X-Dyocense-Timestamp`` is the Unix time of the
attempt. A receiver recomputes it over the raw body, compares in constant time and refuses old
timestamps (replays). ``X-Dyocense-Delivery`` is the outbox row's id, the same on every retry, so
a receiver that saw it already can drop the copy.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, time, timedelta
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from backend.services.alerts.types import (
    DELIVERY_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AlertMessage,
)
from backend.services.mail import Email

SEVERITY_EMOJI = {"low": ":information_source:", "medium": ":warning:", "high": ":rotating_light:"}


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed with ``secret``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str, timestamp: int, body: bytes, presented: str) -> bool:
    """What a receiver does (and the tests): constant-time comparison of the recomputed signature."""
    return hmac.compare_digest(signature(secret, timestamp, body), presented)


def webhook_body(message: AlertMessage) -> bytes:
    document = {
        "type": "alert",
        "alert_id": str(message.alert_id),
        "rule": message.rule_name,
        "kind": message.kind,
        "severity": message.severity,
        "subject": message.subject,
        "text": message.sentence,
        "created_at": message.created_at.isoformat(),
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def webhook_headers(secret: str, timestamp: int, body: bytes, delivery_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        DELIVERY_ID_HEADER: delivery_id,
    }


def slack_body(message: AlertMessage) -> bytes:
    """Slack's incoming-webhook format: ``text`` (the notification's fallback) and Block Kit blocks."""
    headline = f"{SEVERITY_EMOJI.get(message.severity, '')} *{message.rule_name}*".strip()
    document = {
        "text": f"{message.rule_name}: {message.sentence}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{headline}\n{message.sentence}"}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"{message.kind} · {message.severity} · {message.subject}",
                    }
                ],
            },
        ],
    }
    return json.dumps(document, separators=(",", ":")).encode()


def alert_email(message: AlertMessage, to: str, app_name: str) -> Email:
    subject = f"[{app_name}] {message.rule_name}: {message.severity} alert"
    when = format_datetime(message.created_at)
    text = f"{message.sentence}\n\nRule: {message.rule_name} ({message.kind})\nRaised: {when}\n"
    return Email(to=to, subject=subject, text=text)


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    """Whether the local wall-clock ``local`` is in [start, end); ``start > end`` spans midnight."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_until(now: datetime, start: time, end: time, zone: ZoneInfo) -> datetime | None:
    """The end of the quiet hours ``now`` falls in (in ``zone``), or None when it is not in them."""
    local = now.astimezone(zone)
    if not in_quiet_hours(local.time(), start, end):
        return None
    end_day = local.date() if local.time() < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)
