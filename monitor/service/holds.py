"""Whether a message that waited (a silence, planned works) still makes sense when its time comes: the
dispatcher asks before each send (`core.holds.still_wanted` over the store)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.core.holds import HELD_AUDIENCES, still_wanted
from monitor.store.models import IncidentRow
from notify.outbox import OutboxItem, OutboxRow, OutboxStatus

WENT_OUT = (OutboxStatus.SENT, OutboxStatus.FILED, OutboxStatus.DELIVERED, OutboxStatus.UNDELIVERED)
ANSWERS = {"recovered_thanks": "reboot_request", "dispatch_cancel": "dispatch"}


def wanted(sessions: sessionmaker[Session], item: OutboxItem) -> bool:
    """An incident's owner or vendor message (key ``incident:kind:audience:camera:i``, a fallback's with
    ``/channel``): its incident still open for a request, its request sent for a thanks. Others: yes."""
    parts = item.key.split("/", 1)[0].split(":")
    if len(parts) != 5 or parts[2] not in HELD_AUDIENCES:
        return True
    incident, kind, audience, camera, _ = parts
    with sessions() as s:
        state = s.scalar(select(IncidentRow.state).where(IncidentRow.id == incident))
        went_out = True
        if kind in ANSWERS:
            prefix = f"{incident}:{ANSWERS[kind]}:{audience}:{camera}:"
            went_out = s.scalar(select(OutboxRow.id).where(OutboxRow.idempotency_key.startswith(prefix),
                                                           OutboxRow.status.in_(list(WENT_OUT))).limit(1)) is not None
    return still_wanted(kind, state == "closed", went_out)
