"""Channels: one small class per way of reaching someone, behind one protocol.

Every channel has one method, ``send(message, recipient)``. It returns the provider's id for
the message when there is one (Twilio SID, Message-ID), so delivery callbacks can find it, and
raises ``DeliveryError`` on failure. Channels never retry, never read global settings, and take
their clients (Twilio ``Client``, ``httpx.Client``, SMTP settings) through the constructor.
"""

from __future__ import annotations

from typing import Protocol

from notify.channels.email import EmailChannel, SmtpConfig, SmtpSecurity
from notify.channels.folder import FolderChannel
from notify.channels.sms import SmsChannel
from notify.channels.voice import VoiceChannel
from notify.channels.webhook import WebhookChannel
from notify.message import Message, Recipient


class Channel(Protocol):
    def send(self, message: Message, recipient: Recipient) -> str | None: ...


__all__ = [
    "Channel",
    "EmailChannel",
    "FolderChannel",
    "SmsChannel",
    "SmtpConfig",
    "SmtpSecurity",
    "VoiceChannel",
    "WebhookChannel",
]
