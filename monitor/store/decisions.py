"""What the decision core decided, in the store: incidents, queued notifications, registry findings, the
core's state.

The core's state is checkpointed in the same transaction as the decisions it produced, so a restart
resumes exactly where the last committed round left off and nothing is decided (or sent) twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.core.decisions import (
    ChangeKind,
    Decision,
    FindingDecision,
    IncidentDecision,
    NotificationDecision,
    notification_key,
)
from monitor.store.findings import save_finding
from monitor.store.models import EngineStateRow, IncidentRow, NotificationRow

STATE_NAME = "fleet"


def load_state(session: Session) -> tuple[datetime, dict] | None:
    row = session.get(EngineStateRow, STATE_NAME)
    return None if row is None else (row.t, row.state)


def state_time(session: Session) -> datetime | None:
    """When the checkpoint was last written (without reading the state itself)."""
    return session.scalar(select(EngineStateRow.t).where(EngineStateRow.name == STATE_NAME))


def save_step(session: Session, t: datetime, state: dict, decisions: Sequence[Decision]) -> None:
    """Apply one round's decisions and the state that follows them, in the caller's transaction."""
    row = session.get(EngineStateRow, STATE_NAME)
    if row is None:
        session.add(EngineStateRow(name=STATE_NAME, t=t, state=state))
    else:
        row.t, row.state = t, state
    for d in decisions:
        if isinstance(d, IncidentDecision):
            _apply_incident(session, d)
        elif isinstance(d, NotificationDecision):
            _queue_notification(session, d)
        elif isinstance(d, FindingDecision):
            save_finding(session, d)
        else:
            raise TypeError(f"unknown decision {type(d).__name__}")


def _apply_incident(session: Session, d: IncidentDecision) -> None:
    row = session.get(IncidentRow, d.id)
    if row is None:
        row = IncidentRow(id=d.id, cause=str(d.cause), state="open", cameras=[], scope={},
                          evidence={}, opened_at=d.t, updated_at=d.t)
        session.add(row)
    if d.state is ChangeKind.CLOSED:
        row.state, row.closed_at = "closed", d.t
    else:
        row.state = "open"
        row.cause = str(d.cause)
        row.cameras = list(d.cameras or row.cameras)
        row.scope = dict(d.scope or row.scope)
        row.evidence = dict(d.evidence or row.evidence)
    row.updated_at = d.t
    session.flush()


def _queue_notification(session: Session, d: NotificationDecision) -> None:
    key = notification_key(d)
    if session.scalar(select(NotificationRow.id).where(NotificationRow.key == key)) is not None:
        return  # decided before (e.g. replayed after a crash): at most once
    session.add(NotificationRow(
        key=key, incident_id=d.incident, audience=str(d.audience), kind=str(d.kind),
        camera_id=d.camera, channel=d.channel, due_at=d.t, status="queued", created_at=d.t,
    ))


def list_incidents(session: Session, *, open_only: bool = False) -> Iterable[IncidentRow]:
    q = select(IncidentRow).order_by(IncidentRow.opened_at)
    if open_only:
        q = q.where(IncidentRow.state == "open")
    return session.scalars(q).all()


def list_notifications(session: Session, *, status: str | None = None) -> Iterable[NotificationRow]:
    q = select(NotificationRow).order_by(NotificationRow.due_at, NotificationRow.id)
    if status:
        q = q.where(NotificationRow.status == status)
    return session.scalars(q).all()
