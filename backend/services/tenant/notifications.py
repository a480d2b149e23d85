"""How a new user's activation token reaches them.

No mail transport is configured in this deployment kit, so the default notifier records
that an activation is pending (never the token itself). A deployment that mails tokens
implements ``ActivationNotifier`` and sets it on ``app.state.activation_notifier``.
Outside production the API also returns the token in the response, for development.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import structlog

logger = structlog.get_logger(__name__)


class ActivationNotifier(Protocol):
    async def send_activation(self, *, email: str, token: str, expires_at: datetime) -> None: ...


class LoggingActivationNotifier:
    """Logs that an activation is pending; does not deliver the token anywhere."""

    async def send_activation(self, *, email: str, token: str, expires_at: datetime) -> None:
        logger.info(
            "activation_pending_no_mail_transport",
            email_domain=email.rsplit("@", 1)[-1],
            expires_at=expires_at.isoformat(),
        )
