"""Vendor tickets from escalation decisions: opened on dispatch, cancelled when the camera recovers first.

Runs inside the round's transaction (called by :class:`monitor.service.delivery.Delivery`), so a ticket,
the decision that asked for it and the vendor's e-mail commit together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.core.decisions import Audience, Decision, Kind, NotificationDecision
from monitor.core.domain import Camera, Observation
from monitor.core.tickets import StepTaken, Ticket
from monitor.store import tickets as ticket_repo
from monitor.store.models import NotificationRow, ObservationRow
from notify.message import Lang

EVIDENCE_PROBES = 5
STEP_LABELS = {
    "remote_reboot": ("ONVIFによるカメラの遠隔再起動", "remote camera reboot (ONVIF)"),
    "reboot_request": ("設置者へ再起動を依頼", "owner asked to power-cycle"),
    "reminder": ("設置者へ再度のお願い", "owner reminded"),
}
CHANNEL_LABELS = {"sms": ("SMS", "SMS"), "voice": ("自動音声電話", "voice call"), "email": ("メール", "e-mail"),
                  "onvif": ("ONVIF", "ONVIF")}


def steps_taken(session: Session, incident_id: str, camera_id: str) -> list[StepTaken]:
    rows = session.scalars(select(NotificationRow).where(
        NotificationRow.incident_id == incident_id, NotificationRow.camera_id == camera_id,
        NotificationRow.kind.in_(list(STEP_LABELS))).order_by(NotificationRow.due_at))
    return [StepTaken(at=r.due_at, step=r.kind, detail=r.channel or "") for r in rows]


def last_probes(session: Session, camera_id: str, n: int = EVIDENCE_PROBES) -> list[Observation]:
    rows = session.scalars(select(ObservationRow).where(ObservationRow.camera_id == camera_id)
                           .order_by(ObservationRow.t.desc()).limit(n)).all()
    return [Observation(t=r.t, camera=r.camera_id, reachable=r.reachable, rtt_ms=r.rtt_ms, onvif_ok=r.onvif_ok,
                        fps=r.fps, max_gap_s=r.max_gap_s) for r in reversed(rows)]


def open_for(session: Session, n: NotificationDecision, cam: Camera, now: datetime, tz: tzinfo) -> Ticket:
    return ticket_repo.open_ticket(session, incident_id=n.incident, camera=cam,
                                   steps_taken=steps_taken(session, n.incident, cam.camera_id),
                                   evidence=last_probes(session, cam.camera_id), now=now, tz=tz)


def cancel_for(session: Session, n: NotificationDecision, cam: Camera, now: datetime) -> list[Ticket]:
    return ticket_repo.cancel_for_incident(session, n.incident, now, camera_id=cam.camera_id)


def vendor_ticket(session: Session, n: NotificationDecision, cam: Camera | None, now: datetime,
                  tz: tzinfo) -> Ticket | None:
    """A vendor dispatch opens the camera's ticket, its cancellation cancels it (both idempotent); returns
    the ticket concerned, or None when the notification is about no ticket."""
    if n.audience is not Audience.VENDOR or cam is None:
        return None
    if n.kind is Kind.DISPATCH:
        return open_for(session, n, cam, now, tz)
    if n.kind is Kind.DISPATCH_CANCEL:
        cancelled = cancel_for(session, n, cam, now)
        return cancelled[0] if cancelled else None
    return None


def _label(table: Mapping[str, tuple[str, str]], key: str, ja: bool) -> str:
    return table.get(key, (key, key))[0 if ja else 1]


TIMELINE_JA = {"open": "保守依頼を作成", "acknowledge": "受付", "schedule": "訪問予定", "resolve": "対応完了",
               "cancel": "取り消し"}


def ticket_context(t: Ticket, lang: Lang, when) -> dict:
    """What the vendor templates show of a ticket, localised; ``when`` formats a time."""
    ja = lang is Lang.JA

    def step(s: StepTaken) -> str:
        what, how = _label(STEP_LABELS, s.step, ja), _label(CHANNEL_LABELS, s.detail, ja)
        return f"{what}（{how}、{when(s.at)}）" if ja else f"{what} ({how}, {when(s.at)})"

    def probe(e: Mapping) -> dict:
        fps = e.get("fps")
        if not e.get("reachable"):
            result = "到達不能" if ja else "unreachable"
        elif fps is None:
            result = "到達可" if ja else "reachable"
        else:
            result = f"到達可・{fps:g} fps" if ja else f"reachable, {fps:g} fps"
        return {"at": when(datetime.fromisoformat(e["t"])), "probe": "TCP / ONVIF / RTSP", "result": result}

    return {
        "ticket_number": t.number,
        "timeline": [{"at": when(e.at), "event": TIMELINE_JA.get(e.action.value, e.action.value) if ja
                      else e.action.value} for e in t.timeline],
        "steps_taken": [step(s) for s in t.steps_taken],
        "last_probes": [probe(e) for e in t.evidence],
        "ticket_state": t.state.value,
    }


def tickets_only(tz: tzinfo):
    """A decision loop's ``after_step`` that keeps vendor tickets and nothing else: for replay into a
    database, where tickets belong in the record (the weekly report counts them) but no message may be
    queued, since a service later started on that database would send it."""

    def after_step(session: Session, decisions: Sequence[Decision], cameras: Mapping[str, Camera],
                   now: datetime) -> None:
        for d in decisions:
            if isinstance(d, NotificationDecision):
                vendor_ticket(session, d, cameras.get(d.camera or ""), now, tz)

    return after_step
