"""What notify moves around: rendered messages, recipients, and the errors of delivering them.

Exception tree (stdlib bases only)::

    NotifyError(Exception)
     ├── DeliveryError      a channel could not hand the message over; ``permanent`` says
     │                      whether trying the same channel again can help
     └── RenderError        a template is missing, or the context lacks a variable it uses

Messages and recipients are plain frozen values that round-trip through JSON, so the outbox
can store them and a restarted worker can send them unchanged.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class NotifyError(Exception):
    """Base of every error notify raises on purpose."""


class DeliveryError(NotifyError):
    """A channel failed to deliver.

    ``permanent`` is True when sending the same message over the same channel again cannot
    succeed (invalid number, rejected address, bad credentials); the caller then falls back to
    another channel. Otherwise the caller may retry later. ``code`` is the provider's error
    code or status when there is one (Twilio error code, SMTP reply code, HTTP status).
    The text never contains secrets: channels build it from codes and short reasons only.
    """

    def __init__(self, reason: str, *, permanent: bool, code: int | str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.code = code

    def __str__(self) -> str:
        kind = "permanent" if self.permanent else "transient"
        code = f" [{self.code}]" if self.code is not None else ""
        return f"{kind}{code}: {self.reason}"


class RenderError(NotifyError):
    """A template is missing or could not be rendered with the given context."""


class Audience(enum.StrEnum):
    OWNER = "owner"
    VENDOR = "vendor"
    OPERATOR = "operator"


class ChannelKind(enum.StrEnum):
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    WEBHOOK = "webhook"


class Lang(enum.StrEnum):
    JA = "ja"
    EN = "en"


class Kind(enum.StrEnum):
    """What a message is about. The prefix is the audience; the rest names the template."""

    OWNER_REBOOT_REQUEST = "owner.reboot_request"
    OWNER_REMINDER = "owner.reminder"
    OWNER_RECOVERED_THANKS = "owner.recovered_thanks"
    OWNER_CONGESTION_NOTICE = "owner.congestion_notice"
    VENDOR_DISPATCH = "vendor.dispatch"
    VENDOR_DISPATCH_CANCEL = "vendor.dispatch_cancel"
    VENDOR_REMINDER = "vendor.reminder"
    OPERATOR_INCIDENT_OPENED = "operator.incident_opened"
    OPERATOR_INCIDENT_CLOSED = "operator.incident_closed"
    OPERATOR_DELIVERY_FAILED = "operator.delivery_failed"
    OPERATOR_RETENTION_SHORT = "operator.retention_short"
    OPERATOR_DRIFT = "operator.drift"
    VENDOR_DRIFT = "vendor.drift"

    @property
    def audience(self) -> Audience:
        return Audience(self.value.split(".", 1)[0])

    @property
    def template_name(self) -> str:
        return self.value.split(".", 1)[1]


#: The order in which a recipient's channels are tried: the first one they have is used, a
#: permanent failure moves to the next one they have.
FALLBACK_ORDER: tuple[ChannelKind, ...] = (
    ChannelKind.SMS,
    ChannelKind.VOICE,
    ChannelKind.EMAIL,
    ChannelKind.WEBHOOK,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One rendered message for one channel. ``html`` only for email."""

    kind: Kind
    lang: Lang
    channel: ChannelKind
    subject: str | None
    text: str
    html: str | None = None
    idempotency_key: str = ""

    @property
    def audience(self) -> Audience:
        return self.kind.audience

    def with_key(self, key: str) -> Message:
        return Message(
            kind=self.kind,
            lang=self.lang,
            channel=self.channel,
            subject=self.subject,
            text=self.text,
            html=self.html,
            idempotency_key=key,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "lang": str(self.lang),
            "channel": str(self.channel),
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "idempotency_key": self.idempotency_key,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        return cls(
            kind=Kind(data["kind"]),
            lang=Lang(data["lang"]),
            channel=ChannelKind(data["channel"]),
            subject=data.get("subject"),
            text=data["text"],
            html=data.get("html"),
            idempotency_key=data.get("idempotency_key", ""),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipient:
    """Who receives a message and how they can be reached.

    ``phone`` is E.164 (``+81…``). ``channels`` overrides the default order (every channel the
    recipient has an address for, in ``FALLBACK_ORDER``), e.g. ``(EMAIL,)`` for an owner who
    asked for email only.
    """

    name: str
    lang: Lang = Lang.JA
    phone: str | None = None
    email: str | None = None
    webhook_url: str | None = field(default=None, repr=False)  # webhook URLs often embed a token
    channels: tuple[ChannelKind, ...] | None = None

    def reachable_channels(self) -> tuple[ChannelKind, ...]:
        have = {
            ChannelKind.SMS: self.phone,
            ChannelKind.VOICE: self.phone,
            ChannelKind.EMAIL: self.email,
            ChannelKind.WEBHOOK: self.webhook_url,
        }
        order = self.channels if self.channels is not None else FALLBACK_ORDER
        return tuple(c for c in order if have[c])

    def first_channel(self) -> ChannelKind | None:
        chans = self.reachable_channels()
        return chans[0] if chans else None

    def next_channel(self, after: ChannelKind) -> ChannelKind | None:
        chans = self.reachable_channels()
        if after not in chans:
            return chans[0] if chans else None
        i = chans.index(after)
        return chans[i + 1] if i + 1 < len(chans) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "lang": str(self.lang),
            "phone": self.phone,
            "email": self.email,
            "webhook_url": self.webhook_url,
            "channels": [str(c) for c in self.channels] if self.channels is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Recipient:
        chans = data.get("channels")
        return cls(
            name=data["name"],
            lang=Lang(data.get("lang", "ja")),
            phone=data.get("phone"),
            email=data.get("email"),
            webhook_url=data.get("webhook_url"),
            channels=tuple(ChannelKind(c) for c in chans) if chans is not None else None,
        )
