"""Email over SMTP: STARTTLS + AUTH on the submission port, or implicit TLS (port 465).

smtplib is blocking; async callers run the dispatcher in a thread. Messages are
multipart/alternative (plain text first, HTML second), never with attachments or images.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from notify.message import DeliveryError, Message, Recipient


class SmtpSecurity(enum.StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"  # implicit TLS, usually port 465
    NONE = "none"  # loopback relays only


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpConfig:
    host: str
    port: int = 587
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    from_addr: str
    from_name: str = ""
    timeout_s: float = 30.0


def message_id_for(key: str, domain: str) -> str:
    """A stable Message-ID per idempotency key, so a resend after a crash can be recognised."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def build_email(message: Message, recipient: Recipient, config: SmtpConfig, now: datetime) -> EmailMessage:
    if not recipient.email:
        raise DeliveryError("recipient has no email address", permanent=True)
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = message.subject or ""
    msg["From"] = Address(display_name=config.from_name, addr_spec=config.from_addr)
    msg["To"] = Address(display_name=recipient.name, addr_spec=recipient.email)
    msg["Date"] = format_datetime(now.astimezone(UTC))
    domain = config.from_addr.rpartition("@")[2] or "mimamori.invalid"
    msg["Message-ID"] = message_id_for(message.idempotency_key or message.text, domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(message.text, subtype="plain", charset="utf-8")
    if message.html:
        msg.add_alternative(message.html, subtype="html", charset="utf-8")
    return msg


def _reply_error(code: int, what: str) -> DeliveryError:
    return DeliveryError(f"SMTP {what} refused with {code}", permanent=500 <= code < 600, code=code)


def _connect(c: SmtpConfig, ctx: ssl.SSLContext) -> smtplib.SMTP:
    if c.security is SmtpSecurity.TLS:
        return smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout_s, context=ctx)
    smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout_s)
    if c.security is SmtpSecurity.STARTTLS:
        smtp.ehlo()
        smtp.starttls(context=ctx)
        smtp.ehlo()
    return smtp


def submit(email: EmailMessage, config: SmtpConfig, ssl_context: ssl.SSLContext | None = None) -> None:
    """One SMTP transaction (STARTTLS + AUTH, or implicit TLS) for a built message; raises DeliveryError.

    Shared by the channel and by senders that build their own message (the weekly report, with
    attachments); the error mapping is the same for both.
    """
    try:
        smtp = _connect(config, ssl_context or ssl.create_default_context())
        try:
            if config.username:
                smtp.login(config.username, config.password or "")
            smtp.send_message(email)
            # The server took the message with its reply to DATA. Say QUIT without waiting for the
            # answer: until the caller records the send, a crash would send it again, so that
            # window is kept as short as it can be (no extra round trip).
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.putcmd("quit")
        finally:
            smtp.close()
    except smtplib.SMTPAuthenticationError as e:
        raise _reply_error(e.smtp_code, "authentication") from None
    except smtplib.SMTPRecipientsRefused as e:
        code = min(c for c, _ in e.recipients.values())
        raise _reply_error(code, "recipient") from None
    except smtplib.SMTPSenderRefused as e:
        raise _reply_error(e.smtp_code, "sender") from None
    except smtplib.SMTPNotSupportedError:
        raise DeliveryError("SMTP server lacks STARTTLS or AUTH", permanent=True) from None
    except smtplib.SMTPServerDisconnected:
        raise DeliveryError("SMTP server disconnected", permanent=False) from None
    except smtplib.SMTPResponseException as e:
        raise _reply_error(e.smtp_code, "message") from None
    except smtplib.SMTPException as e:
        raise DeliveryError(f"SMTP error: {type(e).__name__}", permanent=False) from None
    except OSError as e:  # refused, timeout, TLS failure
        raise DeliveryError(f"cannot reach SMTP server: {type(e).__name__}", permanent=False) from None


class EmailChannel:
    """Sends one email per call. ``ssl_context`` lets tests trust a self-signed peer."""

    def __init__(
        self,
        config: SmtpConfig,
        *,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = config
        self._ssl = ssl_context or ssl.create_default_context()
        self._clock = clock

    def __repr__(self) -> str:
        return f"EmailChannel(host={self._config.host!r}, port={self._config.port})"

    def send(self, message: Message, recipient: Recipient) -> str | None:
        email = build_email(message, recipient, self._config, self._clock())
        submit(email, self._config, self._ssl)
        return email["Message-ID"]
