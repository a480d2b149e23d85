"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for mail tests.

Addresses can be made to fail the way real servers fail: refused for good (``550`` to RCPT
TO) or deferred once (``451``, accepted on the next try).
"""

from __future__ import annotations

import email
import logging
import re
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

HOST = "127.0.0.1"
TOKEN_IN_LINK = re.compile(r"[?&]token=([A-Za-z0-9_\-]+)")
# aiosmtpd logs every command of the test server, addresses included; those are not the app's logs.
logging.getLogger("mail.log").setLevel(logging.WARNING)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        assert body is not None
        return str(body.get_content())

    @property
    def html(self) -> str:
        body = self.message.get_body(preferencelist=("html",))
        assert body is not None
        return str(body.get_content())

    def token(self) -> str:
        """The one-time token of the link in the plain-text part."""
        found = TOKEN_IN_LINK.search(self.text)
        assert found is not None, self.text
        return found.group(1)


@dataclass
class RecordingHandler:
    refuse: set[str] = field(default_factory=set)
    defer_once: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        with self._lock:
            if address in self.refuse:
                return "550 5.1.1 No such user here"
            if address in self.defer_once:
                self.defer_once.discard(address)
                return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.received.append(
                Received(str(envelope.mail_from), tuple(str(r) for r in envelope.rcpt_tos), message)
            )
        return "250 Message accepted for delivery"


class SmtpServer:
    """``SmtpServer().start()`` listens on a free loopback port until ``stop()``."""

    def __init__(self) -> None:
        self.handler = RecordingHandler()
        self.port = free_port()
        self._controller = Controller(self.handler, hostname=HOST, port=self.port)

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def refuse(self, address: str) -> None:
        self.handler.refuse.add(address)

    def defer_once(self, address: str) -> None:
        self.handler.defer_once.add(address)

    def to(self, address: str) -> list[Received]:
        """Every message received for ``address`` so far."""
        with self.handler._lock:
            return [r for r in self.handler.received if address in r.rcpt_tos]

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """``MailSettings`` fields for this server."""
        return {"smtp_host": HOST, "smtp_port": self.port, "smtp_timeout_seconds": 10.0, **overrides}
