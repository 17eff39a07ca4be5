"""SMS through Twilio Programmable Messaging."""

from __future__ import annotations

from twilio.rest import Client

from notify.channels._twilio import call_twilio
from notify.message import DeliveryError, Message, Recipient


class SmsChannel:
    """Sends ``message.text`` as one SMS. Returns the Message SID for status callbacks.

    Give either ``from_number`` (E.164) or ``messaging_service_sid``. ``status_callback`` is
    the public URL of our Twilio status endpoint; Twilio posts delivery updates there.
    """

    def __init__(
        self,
        client: Client,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
    ) -> None:
        if not (from_number or messaging_service_sid):
            raise ValueError("SmsChannel needs from_number or messaging_service_sid")
        self._client = client
        self._from = from_number
        self._service = messaging_service_sid
        self._status_callback = status_callback

    def __repr__(self) -> str:
        return f"SmsChannel(from_number={self._from!r})"

    def send(self, message: Message, recipient: Recipient) -> str | None:
        if not recipient.phone:
            raise DeliveryError("recipient has no phone number", permanent=True)
        kwargs: dict[str, str] = {"to": recipient.phone, "body": message.text}
        if self._service:
            kwargs["messaging_service_sid"] = self._service
        if self._from:
            kwargs["from_"] = self._from
        if self._status_callback:
            kwargs["status_callback"] = self._status_callback
        created = call_twilio(lambda: self._client.messages.create(**kwargs))
        return created.sid
