"""Whether a message still makes sense when its time comes (it waited for a silence or planned works, or
its incident was acknowledged meanwhile): the dispatcher asks before each send (`core.holds.why_moot`
over the store). And what an acknowledgement withdrawn gives back: the owner requests it cancelled."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.core.holds import ACKNOWLEDGED, HELD_AUDIENCES, OWNER_REQUESTS, hold_until, resend_at, why_moot
from monitor.core.policy import EscalationPolicy
from monitor.store.account_models import IncidentAckRow
from monitor.store.cameras import to_camera
from monitor.store.holds import silences, windows
from monitor.store.models import CameraRow, IncidentRow
from notify.dispatch import CANCELLED_WHY
from notify.message import Audience
from notify.outbox import OutboxItem, OutboxRow, OutboxStatus

WENT_OUT = (OutboxStatus.SENT, OutboxStatus.FILED, OutboxStatus.DELIVERED, OutboxStatus.UNDELIVERED)
ANSWERS = {"recovered_thanks": "reboot_request", "reminder": "reboot_request", "dispatch_cancel": "dispatch"}


class Timing(Protocol):
    """What a resend needs of the service's delivery (`service.delivery.Delivery`)."""

    escalation: EscalationPolicy

    @property
    def tz(self) -> ZoneInfo: ...

    def deadline(self, audience: Audience, now: datetime) -> datetime: ...


def moot(sessions: sessionmaker[Session], item: OutboxItem) -> str | None:
    """Why an incident's owner or vendor message (key ``incident:kind:audience:camera:i``, a fallback's with
    ``/channel``) no longer makes sense: its incident closed or (an owner request) acknowledged, or the
    request a thanks or a reminder follows never went out. None: it goes. Other messages always go."""
    parts = item.key.split("/", 1)[0].split(":")
    if len(parts) != 5 or parts[2] not in HELD_AUDIENCES:
        return None
    incident, kind, audience, camera, _ = parts
    with sessions() as s:
        state = s.scalar(select(IncidentRow.state).where(IncidentRow.id == incident))
        acknowledged = kind in OWNER_REQUESTS and s.get(IncidentAckRow, incident) is not None
        went_out = True
        if kind in ANSWERS:
            prefix = f"{incident}:{ANSWERS[kind]}:{audience}:{camera}:"
            went_out = s.scalar(select(OutboxRow.id).where(OutboxRow.idempotency_key.startswith(prefix),
                                                           OutboxRow.status.in_(list(WENT_OUT))).limit(1)) is not None
    return why_moot(kind, state == "closed", went_out, acknowledged)


def request_went_at(session: Session, incident: str, camera: str | None) -> datetime | None:
    """When the incident's request to ``camera``'s owner went out (its first recipient's), if it did."""
    prefix = f"{incident}:reboot_request:owner:{camera}:"
    return session.scalar(select(func.min(OutboxRow.finished_at)).where(
        OutboxRow.idempotency_key.startswith(prefix), OutboxRow.status.in_(list(WENT_OUT))))


def resend_withdrawn(session: Session, incident: str, now: datetime, delivery: Timing) -> int:
    """After an incident's acknowledgement is withdrawn (in ``session``'s transaction): the owner requests
    that it cancelled are queued again (`core.holds.resend_at`), if the incident is still open. Returns
    how many."""
    if session.scalar(select(IncidentRow.state).where(IncidentRow.id == incident)) != "open":
        return 0
    rows = session.scalars(select(OutboxRow).where(
        OutboxRow.status == str(OutboxStatus.CANCELLED), OutboxRow.last_error == CANCELLED_WHY + ACKNOWLEDGED,
        or_(*(OutboxRow.idempotency_key.startswith(f"{incident}:{kind}:owner:") for kind in OWNER_REQUESTS)))).all()
    held = (silences(session, now), windows(session, now))
    n = 0
    for row in rows:
        _, kind, _, camera, _ = row.idempotency_key.split("/", 1)[0].split(":")
        cam_row = session.get(CameraRow, camera)
        cam = to_camera(cam_row, None) if cam_row is not None else None
        at = resend_at(kind, now, hold_until("owner", incident, cam, now, *held), delivery.tz, delivery.escalation)
        n += session.execute(update(OutboxRow).where(OutboxRow.id == row.id, OutboxRow.status == row.status).values(
            status=str(OutboxStatus.QUEUED), attempts=0, next_attempt_at=at,
            deadline=delivery.deadline(Audience.OWNER, at), claimed_by=None, claimed_at=None, finished_at=None,
            last_error=None)).rowcount
    return n
