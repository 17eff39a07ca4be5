"""JSON POST to a recipient's webhook URL (chat rooms, the city's ticket system)."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from notify.message import DeliveryError, Message, Recipient


class WebhookChannel:
    """Posts the message as JSON. The body has a top-level ``text`` so Slack-style incoming
    webhooks show it as is. With ``signing_key`` the body is signed in ``X-Mimamori-Signature``.
    The URL is never put into errors: webhook URLs often carry a token.
    """

    def __init__(self, client: httpx.Client, *, signing_key: bytes | None = None) -> None:
        self._client = client
        self._signing_key = signing_key

    def __repr__(self) -> str:
        return "WebhookChannel()"

    def send(self, message: Message, recipient: Recipient) -> str | None:
        if not recipient.webhook_url:
            raise DeliveryError("recipient has no webhook URL", permanent=True)
        body = json.dumps(
            {
                "text": message.text if not message.subject else f"{message.subject}\n\n{message.text}",
                "subject": message.subject,
                "kind": str(message.kind),
                "audience": str(message.audience),
                "lang": str(message.lang),
                "idempotency_key": message.idempotency_key,
            },
            ensure_ascii=False,
        ).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if message.idempotency_key:
            headers["Idempotency-Key"] = message.idempotency_key
        if self._signing_key:
            sig = hmac.new(self._signing_key, body, hashlib.sha256).hexdigest()
            headers["X-Mimamori-Signature"] = f"sha256={sig}"
        try:
            response = self._client.post(recipient.webhook_url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise DeliveryError("webhook timed out", permanent=False) from None
        except httpx.TransportError as e:
            raise DeliveryError(f"cannot reach webhook: {type(e).__name__}", permanent=False) from None
        status = response.status_code
        if 200 <= status < 300:
            return None
        transient = status >= 500 or status in (408, 425, 429)
        raise DeliveryError(f"webhook answered HTTP {status}", permanent=not transient, code=status)
