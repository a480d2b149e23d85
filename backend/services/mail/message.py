"""An email to send, as plain data, and its MIME message (stdlib ``email``; no I/O here).

The message is ``multipart/alternative``: a plain-text part and an HTML part. Inline images
(a digest's charts) go in a ``multipart/related`` beside the HTML, which shows them with
``<img src="cid:NAME">``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid


@dataclass(frozen=True)
class InlineImage:
    """An image the HTML part shows as ``cid:<content_id>``; ``subtype`` as in ``image/<subtype>``."""

    content_id: str
    data: bytes
    subtype: str = "png"
    filename: str | None = None


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str | None = None
    images: tuple[InlineImage, ...] = field(default=())
    headers: tuple[tuple[str, str], ...] = field(default=())
    # A stable id for an email that may be sent again (a retried job after a crash): the repeat
    # carries the same Message-ID, which mail systems and clients treat as the same message.
    message_id_key: str | None = None

    def __post_init__(self) -> None:
        if self.images and self.html is None:
            raise ValueError("inline images need an HTML part that shows them")
        if any(ch in self.subject for ch in "\r\n"):
            raise ValueError("a subject is one line")


def email_domain(address: str) -> str:
    """What logs may say about an address: its domain only."""
    return address.rsplit("@", 1)[-1].lower()


def build_message(email: Email, *, sender: str) -> EmailMessage:
    """The MIME message of ``email`` from ``sender``."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = email_domain(_address_of(sender)) or "localhost"
    if email.message_id_key is not None:
        message["Message-ID"] = f"<{email.message_id_key}@{domain}>"
    else:
        message["Message-ID"] = make_msgid(domain=domain)
    for name, value in email.headers:
        message[name] = value
    message.set_content(email.text)
    if email.html is not None:
        message.add_alternative(email.html, subtype="html")
        if email.images:
            html_part = message.get_body(preferencelist=("html",))
            assert html_part is not None  # added just above
            for image in email.images:
                html_part.add_related(
                    image.data,
                    maintype="image",
                    subtype=image.subtype,
                    cid=f"<{image.content_id}>",
                    filename=image.filename,
                    disposition="inline",
                )
    return message


def _address_of(sender: str) -> str:
    """``no-reply@example.com`` of ``Name <no-reply@example.com>``."""
    return sender.rsplit("<", 1)[-1].rstrip(">").strip()
