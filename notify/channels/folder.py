"""A channel that writes each message to a folder instead of sending it.

For the demo and for a city that has not set provider credentials yet: nothing leaves the
machine, and an operator can read exactly what would have been sent. One file per message,
named by its idempotency key, written atomically (temporary name, fsync, rename); the file's
name is returned as the provider id. Files are readable by the service user only.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from notify.message import DeliveryError, Message, Recipient


class FolderChannel:
    contacts_anyone = False  # a message filed here reached nobody: its outbox status is "filed", not "sent"

    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    def send(self, message: Message, recipient: Recipient) -> str:
        address = {"sms": recipient.phone, "voice": recipient.phone, "email": recipient.email,
                   "webhook": "webhook"}.get(str(message.channel))
        if not address:
            raise DeliveryError(f"recipient has no address for {message.channel}", permanent=True)
        key = message.idempotency_key or hashlib.sha256(message.text.encode()).hexdigest()
        name = f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.{message.channel}.json"
        body = {
            "channel": str(message.channel), "kind": str(message.kind), "lang": str(message.lang),
            "to": {"name": recipient.name, "address": address}, "subject": message.subject,
            "text": message.text, "key": message.idempotency_key,
        }
        try:
            self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = self._root / f".{name}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(body, f, ensure_ascii=False, indent=2)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._root / name)
        except OSError as e:
            raise DeliveryError(f"cannot write to the outbox folder: {e.strerror}", permanent=False) from None
        return name
