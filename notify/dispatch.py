"""The dispatcher: claims due outbox rows, sends them, and records what happened.

Transient failures are retried with exponential backoff and jitter until the row's deadline
(or ``max_attempts``); a permanent failure, an exhausted row, or an "undelivered" status
callback falls back to the recipient's next channel (sms -> voice -> email) by enqueuing a new
row, and tells the operators with a ``operator.delivery_failed`` notice. Channels never retry:
all of that lives here.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker
from twilio.request_validator import RequestValidator

from notify.channels import Channel
from notify.message import Audience, ChannelKind, DeliveryError, Kind, Message, NotifyError, Recipient
from notify.outbox import Outbox, OutboxItem, OutboxStatus
from notify.render import Renderer

log = logging.getLogger(__name__)
CANCELLED_WHY = "no longer wanted when its time came: "  # a cancelled row's last_error, before the reason


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    base_delay: timedelta = timedelta(seconds=30)
    factor: float = 2.0
    max_delay: timedelta = timedelta(minutes=30)
    jitter: float = 0.2  # +-20 % of the delay
    max_attempts: int = 10
    lease: timedelta = timedelta(minutes=5)  # a claim older than this belongs to a dead worker
    fallback_window: timedelta = timedelta(hours=2)  # deadline of a fallback row at the least
    notice_window: timedelta = timedelta(hours=24)  # deadline of operator notices

    def delay(self, attempts: int, rand: float) -> timedelta:
        """Wait before attempt ``attempts + 1``; ``rand`` in [0, 1) spreads retries."""
        raw = self.base_delay.total_seconds() * self.factor ** max(attempts - 1, 0)
        capped = min(raw, self.max_delay.total_seconds())
        return timedelta(seconds=capped * (1 + self.jitter * (2 * rand - 1)))


#: Twilio message and call statuses -> ours. Statuses not listed are in-flight and ignored.
TWILIO_FINAL_STATUS: dict[str, OutboxStatus] = {
    "delivered": OutboxStatus.DELIVERED,
    "read": OutboxStatus.DELIVERED,
    "completed": OutboxStatus.DELIVERED,  # call answered and played
    "undelivered": OutboxStatus.UNDELIVERED,
    "failed": OutboxStatus.UNDELIVERED,
    "busy": OutboxStatus.UNDELIVERED,
    "no-answer": OutboxStatus.UNDELIVERED,
    "canceled": OutboxStatus.UNDELIVERED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchReport:
    sent: int = 0
    retried: int = 0
    fell_back: int = 0
    failed: int = 0
    lost_claims: int = 0
    errors: tuple[str, ...] = field(default=())
    cancelled: int = 0


def check_twilio_signature(auth_token: str, url: str, params: Mapping[str, str], signature: str) -> bool:
    """True if ``X-Twilio-Signature`` matches the callback ``url`` and its POST ``params``."""
    return RequestValidator(auth_token).validate(url, dict(params), signature or "")


class Dispatcher:
    """Sends what the outbox holds. Safe to run in several processes at once.

    ``operators`` receive the ``delivery_failed`` notices (each on their first channel).
    Blocking: run ``dispatch_due`` in a thread from asyncio (``adispatch_due`` does that).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        channels: Mapping[ChannelKind | str, Channel],
        policy: RetryPolicy,
        clock: Clock,
        *,
        renderer: Renderer,
        operators: Sequence[Recipient] = (),
        worker_id: str | None = None,
        rand: Callable[[], float] = random.random,
        moot: Callable[[OutboxItem], str | None] | None = None,
    ) -> None:
        self._outbox = Outbox(sessions)
        self._channels = {ChannelKind(k): v for k, v in channels.items()}
        self._policy = policy
        self._clock = clock
        self._renderer = renderer
        self._operators = tuple(operators)
        self.worker_id = worker_id or f"dispatcher-{uuid.uuid4().hex[:12]}"
        self._rand = rand
        self._moot = moot  # asked before each send: why a message that waited no longer makes sense (None: it does)

    @property
    def outbox(self) -> Outbox:
        return self._outbox

    async def adispatch_due(self, limit: int = 50) -> DispatchReport:
        return await asyncio.to_thread(self.dispatch_due, limit)

    def dispatch_due(self, limit: int = 50) -> DispatchReport:
        """Claim and send up to ``limit`` due rows, one at a time."""
        counts = {"sent": 0, "retried": 0, "fell_back": 0, "failed": 0, "lost_claims": 0, "cancelled": 0}
        errors: list[str] = []
        now = self._clock.now()
        for row_id in self._outbox.due_ids(now=now, lease=self._policy.lease, limit=limit):
            item = self._outbox.claim(row_id, worker=self.worker_id, now=self._clock.now(), lease=self._policy.lease)
            if item is None:
                continue  # another worker got it
            why = self._moot(item) if self._moot is not None else None
            if why is not None:
                self._outbox.mark_cancelled(item.id, worker=self.worker_id, now=self._clock.now(),
                                            reason=CANCELLED_WHY + why)
                log.info("outbox %s cancelled: no longer wanted, %s (%s)", item.id, why, item.key)
                counts["cancelled"] += 1
                continue
            outcome = self._send_one(item)
            counts[outcome] += 1
            if outcome != "sent":
                errors.append(f"{item.key}: {outcome}")
        return DispatchReport(**counts, errors=tuple(errors))

    def _send_one(self, item: OutboxItem) -> str:
        channel = self._channels.get(item.message.channel)
        try:
            if channel is None:
                raise DeliveryError(f"no {item.message.channel} channel configured", permanent=True)
            provider_id = channel.send(item.message, item.recipient)
        except DeliveryError as e:
            return self._on_error(item, e)
        except Exception as e:  # a bug in a channel must not wedge the row: retry, bounded
            log.exception("outbox %s: channel %s crashed", item.id, item.message.channel)
            return self._on_error(item, DeliveryError(f"channel crashed: {type(e).__name__}", permanent=False))
        filed = not getattr(channel, "contacts_anyone", True)  # the outbox folder: nobody was contacted
        ok = self._outbox.mark_sent(item.id, worker=self.worker_id, provider_id=provider_id, now=self._clock.now(),
                                    filed=filed)
        if not ok:
            log.warning("outbox %s: claim lost before marking sent", item.id)
            return "lost_claims"
        log.info("outbox %s %s by %s (%s)", item.id, "filed in the outbox folder, not sent," if filed else "sent",
                 item.message.channel, item.key)
        return "sent"

    def _on_error(self, item: OutboxItem, error: DeliveryError) -> str:
        now = self._clock.now()
        text = str(error)
        if not error.permanent and item.attempts < self._policy.max_attempts:
            next_at = now + self._policy.delay(item.attempts, self._rand())
            if next_at <= item.deadline:
                ok = self._outbox.mark_retry(item.id, worker=self.worker_id, next_attempt_at=next_at, error=text)
                log.info("outbox %s: %s; retry at %s", item.id, text, next_at.isoformat())
                return "retried" if ok else "lost_claims"
            text = f"{text}; deadline passed"
        elif not error.permanent:
            text = f"{text}; {item.attempts} attempts"
        return self._give_up(item, text, now, claimed=True)

    def _give_up(self, item: OutboxItem, error: str, now: datetime, *, claimed: bool) -> str:
        """Fall back to the next channel if there is one, and tell the operators."""
        fallback = self._fallback_message(item)
        status = OutboxStatus.FALLBACK if fallback else OutboxStatus.FAILED
        if claimed and not self._outbox.mark_given_up(
            item.id, worker=self.worker_id, status=status, error=error, now=now
        ):
            return "lost_claims"
        if fallback is not None:
            self._outbox.enqueue(
                key=f"{item.key}/{fallback.channel}",
                message=fallback,
                recipient=item.recipient,
                context=item.context,
                now=now,
                deadline=max(item.deadline, now + self._policy.fallback_window),
                parent_id=item.id,
            )
        log.warning("outbox %s: gave up on %s (%s)", item.id, item.message.channel, error)
        self._notify_operators(item, error, fallback.channel if fallback else None, now)
        return "fell_back" if fallback else "failed"

    def _fallback_message(self, item: OutboxItem) -> Message | None:
        """The message re-rendered for the recipient's next usable channel, if any."""
        current = item.message.channel
        while (current := item.recipient.next_channel(current)) is not None:
            if current not in self._channels:
                continue
            try:
                return self._renderer.render(item.message.kind, item.message.lang, current, item.context)
            except NotifyError as e:
                log.info("outbox %s: no %s fallback: %s", item.id, current, e)
        return None

    def _notify_operators(self, item: OutboxItem, error: str, next_channel: ChannelKind | None, now: datetime) -> None:
        if item.message.audience is Audience.OPERATOR:
            return  # never notify about a failed notice: that could loop
        context = {
            "city_name": item.context.get("city_name", ""),
            "incident_id": item.context.get("incident_id", item.key),
            "camera_id": item.context.get("camera_id"),
            "failed_kind": str(item.message.kind),
            "failed_channel": str(item.message.channel),
            "recipient_name": item.recipient.name,
            "error": error,
            "attempts": item.attempts,
            "fallback_channel": str(next_channel) if next_channel else None,
        }
        for i, operator in enumerate(self._operators):
            channel = next(
                (c for c in operator.reachable_channels() if c in self._channels and c is not ChannelKind.SMS),
                None,
            )
            if channel is None:
                continue
            try:
                message = self._renderer.render(Kind.OPERATOR_DELIVERY_FAILED, operator.lang, channel, context)
            except NotifyError as e:
                log.error("cannot render delivery_failed notice: %s", e)
                continue
            self._outbox.enqueue(
                key=f"{item.key}/{item.message.channel}/delivery_failed/{i}",
                message=message,
                recipient=operator,
                context=context,
                now=now,
                deadline=now + self._policy.notice_window,
                parent_id=item.id,
            )

    # -- provider callbacks ------------------------------------------------------------------

    def mark_delivery_status(self, provider_id: str, status: str, *, error_code: str | None = None) -> None:
        """Apply a Twilio status callback (MessageStatus or CallStatus).

        In-flight statuses are ignored; ``undelivered``/``failed``/``busy``/``no-answer`` fall
        back to the next channel once, however often the callback is repeated.
        """
        final = TWILIO_FINAL_STATUS.get(status)
        if final is None:
            return
        now = self._clock.now()
        error = f"provider reported {status}" + (f" (error {error_code})" if error_code else "")
        item = self._outbox.set_delivery_status(
            provider_id, final, now=now, error=error if final is OutboxStatus.UNDELIVERED else None
        )
        if item is not None and final is OutboxStatus.UNDELIVERED:
            self._give_up(item, error, now, claimed=False)
