"""The alerts feature's vocabulary (a leaf module: schemas and models import it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time
from typing import Final, Literal, get_args

RuleKind = Literal["threshold", "change", "anomaly", "goal_status", "data_health"]
ChannelKind = Literal["webhook", "slack", "email"]
DeliveryStatus = Literal["pending", "delivered", "failed"]
AttemptOutcome = Literal["delivered", "retry", "failed"]
Operator = Literal["above", "below"]

RULE_KINDS: Final[tuple[RuleKind, ...]] = get_args(RuleKind)
CHANNEL_KINDS: Final[tuple[ChannelKind, ...]] = get_args(ChannelKind)
DELIVERY_STATUSES: Final[tuple[DeliveryStatus, ...]] = get_args(DeliveryStatus)
ATTEMPT_OUTCOMES: Final[tuple[AttemptOutcome, ...]] = get_args(AttemptOutcome)

# The insight types each insight-driven rule kind listens to (threshold reads the metric itself).
# A change is the metric's own, or one of its segments' (a store, a channel) that moved unusually:
# a store closing shows there first, while the total may stay within its normal variation.
INSIGHTS_OF_RULE: Final[dict[RuleKind, frozenset[str]]] = {
    "change": frozenset({"period_change", "top_contributors"}),
    "anomaly": frozenset({"unusual_value"}),
    "goal_status": frozenset({"goal_at_risk"}),
    "data_health": frozenset({"data_health"}),
}
METRIC_RULES: Final = frozenset({"threshold", "change", "anomaly"})
MAX_CHANNELS_PER_RULE: Final = 10
SIGNATURE_HEADER: Final = "X-Dyocense-Signature"
TIMESTAMP_HEADER: Final = "X-Dyocense-Timestamp"
DELIVERY_ID_HEADER: Final = "X-Dyocense-Delivery"


@dataclass(frozen=True)
class QuietHours:
    """Local wall-clock hours in which nothing is delivered; ``start > end`` spans midnight."""

    start: time
    end: time


@dataclass(frozen=True)
class AlertMessage:
    """What every channel says about one alert."""

    alert_id: uuid.UUID
    rule_name: str
    kind: RuleKind
    severity: str
    subject: str
    sentence: str
    created_at: datetime
