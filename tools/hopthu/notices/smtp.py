"""Sending one rendered notice by SMTP: text + HTML alternatives and the PDF, to one recipient.

A notice may carry one-time passwords, so the connection must be encrypted (STARTTLS) unless the server is
on this machine (a local relay on 127.0.0.1) or the operator explicitly allowed plaintext.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from hopthu.notices.render import RenderedNotice

VIETNAM_TIME = dt.timezone(dt.timedelta(hours=7), "ICT")  # no daylight saving time in Viet Nam
DEFAULT_PASSWORD_ENV = "HOPTHU_SMTP_PASSWORD"


class DeliveryError(Exception):
    """The notice was not handed to the SMTP server; the message says why (never with a secret in it)."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password_env: str = DEFAULT_PASSWORD_ENV  # the SMTP password is read from this variable, never an option
    allow_plaintext: bool = False  # send passwords unencrypted to a non-loopback host (don't)
    ca_file: Path | None = None  # CA bundle for the server certificate; None = the system's
    timeout: float = 30.0


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals. Other names count as remote: no DNS lookup here."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def build_message(
    rendered: RenderedNotice,
    *,
    sender: str,
    recipient: str,
    copies: Sequence[str] = (),
    now: dt.datetime | None = None,
) -> EmailMessage:
    """multipart/mixed [ multipart/alternative [text/plain, text/html], application/pdf ], all UTF-8.

    ``copies`` (Cc) are other units the notice concerns; a notice with passwords never has any."""
    if copies and rendered.has_secrets:
        raise DeliveryError(
            f"request {rendered.request_id}: a notice with passwords goes to one mailbox only"
        )
    message = EmailMessage()  # default policy: RFC 2047-encodes the Vietnamese subject, UTF-8 bodies
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = recipient
    if copies:
        message["Cc"] = ", ".join(copies)
    message["Date"] = format_datetime(now or dt.datetime.now(VIETNAM_TIME))
    # The domain of the sender, not of whatever CI runner sends it; short, so the header is never folded.
    message["Message-ID"] = f"<{secrets.token_hex(12)}@{sender.rpartition('@')[2] or 'localhost'}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to the robot
    if rendered.request_id:
        message["X-Hopthu-Request"] = rendered.request_id
    message.set_content(rendered.text, charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    if rendered.attachment_bytes:
        maintype, _, subtype = rendered.attachment_mime.partition("/")
        message.add_attachment(
            rendered.attachment_bytes, maintype=maintype, subtype=subtype, filename=rendered.attachment_name
        )
    return message


def check_transport(smtp: SmtpSettings, rendered: RenderedNotice) -> None:
    """Refuse to put passwords (a notice's or the SMTP login's) on an unencrypted link to another host."""
    if smtp.starttls or smtp.allow_plaintext or is_loopback(smtp.host):
        return
    if rendered.has_secrets:
        raise DeliveryError(
            f"refusing to send a notice with passwords to {smtp.host}:{smtp.port} without encryption: "
            "use --starttls (or a relay on 127.0.0.1)"
        )
    if smtp.username:
        raise DeliveryError(
            f"refusing to log in to {smtp.host}:{smtp.port} without encryption: use --starttls"
        )


def _smtp_password(smtp: SmtpSettings) -> str:
    password = os.environ.get(smtp.password_env)
    if not password:
        raise DeliveryError(
            f"SMTP user {smtp.username!r} given but the environment variable {smtp.password_env} is empty"
        )
    return password


def send(
    rendered: RenderedNotice, *, smtp: SmtpSettings, sender: str, recipient: str, copies: Sequence[str] = ()
) -> str:
    """Hand one notice to the SMTP server. Returns the Message-ID; raises DeliveryError on any failure."""
    message = build_message(rendered, sender=sender, recipient=recipient, copies=copies)
    return transmit(message, rendered, smtp=smtp, sender=sender, recipients=[recipient, *copies])


def transmit(
    message: EmailMessage, rendered: RenderedNotice, *, smtp: SmtpSettings, sender: str, recipients: list[str]
) -> str:
    """Hand a message built by ``build_message`` to the SMTP server, as it is (the records store keeps
    what is sent). Returns its Message-ID; raises DeliveryError on any failure."""
    check_transport(smtp, rendered)
    recipient = recipients[0]
    where = f"{smtp.host}:{smtp.port}"
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
            client.ehlo()
            if smtp.starttls:
                context = ssl.create_default_context(cafile=str(smtp.ca_file) if smtp.ca_file else None)
                client.starttls(context=context)
                client.ehlo()
            if smtp.username:
                client.login(smtp.username, _smtp_password(smtp))
            client.send_message(message, from_addr=sender, to_addrs=recipients)
    except smtplib.SMTPNotSupportedError:
        raise DeliveryError(f"{where} does not offer STARTTLS (or AUTH); the notice was not sent") from None
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()))
        raise DeliveryError(f"{where} refused recipient {recipient}: {code} {_text(reply)}") from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"{where} answered {exc.smtp_code} {_text(exc.smtp_error)}") from None
    except ssl.SSLError as exc:
        raise DeliveryError(f"TLS with {where} failed: {exc.reason or exc}") from None
    except (smtplib.SMTPException, OSError) as exc:  # OSError covers refused connections and timeouts
        raise DeliveryError(f"cannot deliver through {where}: {exc}") from None
    return str(message["Message-ID"])


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
