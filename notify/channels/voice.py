"""Automated voice call through Twilio, reading the message with <Say>."""

from __future__ import annotations

from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from notify.channels._twilio import call_twilio
from notify.message import DeliveryError, Lang, Message, Recipient

SAY_LANGUAGE = {Lang.JA: "ja-JP", Lang.EN: "en-US"}


def build_twiml(text: str, lang: Lang, *, repeat: int = 2, voice: str | None = None) -> str:
    """TwiML that reads ``text`` ``repeat`` times with a short pause between readings."""
    response = VoiceResponse()
    response.pause(length=1)
    for i in range(repeat):
        if i:
            response.pause(length=2)
        kwargs = {"language": SAY_LANGUAGE[lang]}
        if voice:
            kwargs["voice"] = voice
        response.say(text, **kwargs)
    return str(response)


class VoiceChannel:
    """Places a call whose TwiML is inline (no webhook needed to fetch it).

    ``voices`` maps a language to a Twilio voice name (e.g. ``{Lang.JA: "Google.ja-JP-Standard-A"}``);
    without it Twilio picks its default voice for the language.
    """

    def __init__(
        self,
        client: Client,
        *,
        from_number: str,
        status_callback: str | None = None,
        repeat: int = 2,
        voices: dict[Lang, str] | None = None,
        timeout_s: int = 40,
    ) -> None:
        self._client = client
        self._from = from_number
        self._status_callback = status_callback
        self._repeat = repeat
        self._voices = dict(voices or {})
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"VoiceChannel(from_number={self._from!r})"

    def send(self, message: Message, recipient: Recipient) -> str | None:
        if not recipient.phone:
            raise DeliveryError("recipient has no phone number", permanent=True)
        twiml = build_twiml(message.text, message.lang, repeat=self._repeat, voice=self._voices.get(message.lang))
        kwargs: dict[str, object] = {
            "to": recipient.phone,
            "from_": self._from,
            "twiml": twiml,
            "timeout": self._timeout_s,
        }
        if self._status_callback:
            kwargs["status_callback"] = self._status_callback
            kwargs["status_callback_event"] = ["completed"]
        created = call_twilio(lambda: self._client.calls.create(**kwargs))
        return created.sid
