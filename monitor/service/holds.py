"""Whether a message still makes sense when its time comes (it waited for a silence or planned works, or
its incident was acknowledged meanwhile): the dispatcher asks before each send (`core.holds.still_wanted`
over the store)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.core.holds import HELD_AUDIENCES, OWNER_REQUESTS, still_wanted
from monitor.store.account_models import IncidentAckRow
from monitor.store.models import IncidentRow
from notify.outbox import OutboxItem, OutboxRow, OutboxStatus

WENT_OUT = (OutboxStatus.SENT, OutboxStatus.FILED, OutboxStatus.DELIVERED, OutboxStatus.UNDELIVERED)
ANSWERS = {"recovered_thanks": "reboot_request", "reminder": "reboot_request", "dispatch_cancel": "dispatch"}


def wanted(sessions: sessionmaker[Session], item: OutboxItem) -> bool:
    """An incident's owner or vendor message (key ``incident:kind:audience:camera:i``, a fallback's with
    ``/channel``): its incident still open (and, for an owner request, not acknowledged) for a request,
    its request sent for a thanks or a reminder. Others: yes."""
    parts = item.key.split("/", 1)[0].split(":")
    if len(parts) != 5 or parts[2] not in HELD_AUDIENCES:
        return True
    incident, kind, audience, camera, _ = parts
    with sessions() as s:
        state = s.scalar(select(IncidentRow.state).where(IncidentRow.id == incident))
        acknowledged = kind in OWNER_REQUESTS and s.get(IncidentAckRow, incident) is not None
        went_out = True
        if kind in ANSWERS:
            prefix = f"{incident}:{ANSWERS[kind]}:{audience}:{camera}:"
            went_out = s.scalar(select(OutboxRow.id).where(OutboxRow.idempotency_key.startswith(prefix),
                                                           OutboxRow.status.in_(list(WENT_OUT))).limit(1)) is not None
    return still_wanted(kind, state == "closed", went_out, acknowledged)
