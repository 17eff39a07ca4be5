"""What the operators' console pages read from the store, as plain dicts (the web layer formats them).

Never a camera password, never footage or a frame."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from monitor.store.cameras import disabled_cameras, get_camera
from monitor.store.drift_models import DriftFindingRow
from monitor.store.findings import current_findings
from monitor.store.models import CameraRow, IncidentRow, NotificationRow, ObservationRow, StateIntervalRow
from monitor.store.ticket_models import TicketRow
from notify.outbox import OutboxRow
from recorder.index import SegmentRow

OWNER_KINDS = ("reboot_request", "reminder")


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _outbox_last(session: Session, keys: list[str]) -> dict[str, tuple[str, datetime]]:
    """Each decided notification's outbox row, its last word (by the notification's key): status and
    when it is next due."""
    out: dict[str, tuple[str, datetime]] = {}
    if not keys:
        return out
    rows = session.execute(select(OutboxRow.idempotency_key, OutboxRow.status, OutboxRow.next_attempt_at).where(
        or_(*(OutboxRow.idempotency_key.startswith(k + ":") for k in keys))).order_by(OutboxRow.id))
    for key, status, due in rows:
        out[key.rsplit(":", 1)[0]] = (status, due)
    return out


def _delivery(session: Session, keys: list[str]) -> dict[str, str]:
    """The delivery status of each decided notification (by its key): the outbox row's last word."""
    return {k: status for k, (status, _) in _outbox_last(session, keys).items()}


def fleet(session: Session) -> list[dict[str, Any]]:
    """Every camera with its current state, since when, the cause, and its owner's last request. Four
    queries whatever the fleet's size; no camera password is read."""
    current = {cid: (state, start, cause) for cid, state, start, cause in session.execute(
        select(StateIntervalRow.camera_id, StateIntervalRow.state, StateIntervalRow.start, StateIntervalRow.cause)
        .where(StateIntervalRow.end.is_(None)))}
    asked: dict[str, tuple] = {}  # the latest per camera
    for cid, key, at, kind, channel, status in session.execute(
            select(NotificationRow.camera_id, NotificationRow.key, NotificationRow.due_at, NotificationRow.kind,
                   NotificationRow.channel, NotificationRow.status)
            .where(NotificationRow.audience == "owner", NotificationRow.kind.in_(OWNER_KINDS))
            .order_by(NotificationRow.due_at)):
        asked[cid] = (key, at, kind, channel, status)
    delivered: dict[str, str] = {}
    for key, status in session.execute(select(OutboxRow.idempotency_key, OutboxRow.status).where(
            OutboxRow.audience == "owner", OutboxRow.kind.in_([f"owner.{k}" for k in OWNER_KINDS]))
            .order_by(OutboxRow.id)):
        delivered[key.split("/", 1)[0].rsplit(":", 1)[0]] = status
    out = []
    for cid, area, isp, address, lat, lon, off in session.execute(
            select(CameraRow.camera_id, CameraRow.area, CameraRow.isp, CameraRow.address, CameraRow.lat,
                   CameraRow.lon, CameraRow.disabled_at).order_by(CameraRow.camera_id)):
        st, a = current.get(cid), asked.get(cid)
        out.append({
            "camera_id": cid, "area": area, "isp": isp, "address": address, "lat": lat, "lon": lon,
            "state": "disabled" if off is not None else (st[0] if st else "unknown"),
            "since": st[1] if st else None, "cause": st[2] if st else None,
            "asked": None if a is None else {"at": a[1], "kind": a[2], "channel": a[3],
                                             "status": delivered.get(a[0], a[4])},
        })
    return out


def camera(session: Session, camera_id: str, now: datetime, days: int = 7) -> dict[str, Any] | None:
    """One camera's page: registry, states over ``days``, incidents, messages, tickets, findings, and the
    footage the recorder indexed for it (how far back, up to when, on which node; never a frame)."""
    cam = get_camera(session, camera_id)  # no key: the password stays sealed
    if cam is None:
        return None
    since = now - timedelta(days=days)
    states = list(session.scalars(select(StateIntervalRow).where(
        StateIntervalRow.camera_id == camera_id, or_(StateIntervalRow.end.is_(None), StateIntervalRow.end >= since))
        .order_by(StateIntervalRow.start)))
    incidents = [i for i in session.scalars(select(IncidentRow).where(
        or_(IncidentRow.closed_at.is_(None), IncidentRow.closed_at >= since)).order_by(IncidentRow.opened_at))
        if camera_id in (i.cameras or [])]
    notes = list(session.scalars(select(NotificationRow).where(NotificationRow.camera_id == camera_id)
                                 .order_by(NotificationRow.due_at)))
    delivered = _delivery(session, [n.key for n in notes])
    footage = session.execute(select(func.min(SegmentRow.start), func.max(SegmentRow.end), func.count(),
                                     func.coalesce(func.sum(SegmentRow.bytes), 0))
                              .where(SegmentRow.camera_id == camera_id)).one()
    newest = session.scalar(select(SegmentRow.node).where(SegmentRow.camera_id == camera_id)
                            .order_by(SegmentRow.end.desc()).limit(1))
    last = session.scalar(select(ObservationRow).where(ObservationRow.camera_id == camera_id)
                          .order_by(ObservationRow.t.desc()).limit(1))
    return {
        "camera": {k: getattr(cam, k) for k in cam.__dataclass_fields__ if k != "onvif_password"},
        "disabled": disabled_cameras(session).get(camera_id),
        "states": [{"state": s.state, "cause": s.cause, "start": max(s.start, since), "end": s.end} for s in states],
        "incidents": [{"id": i.id, "cause": i.cause, "state": i.state, "scope": dict(i.scope or {}),
                       "evidence": dict(i.evidence or {}), "opened_at": i.opened_at, "closed_at": i.closed_at}
                      for i in incidents],
        "messages": [{"at": n.due_at, "audience": n.audience, "kind": n.kind, "channel": n.channel,
                      "incident": n.incident_id, "status": delivered.get(n.key, n.status)} for n in notes],
        "tickets": [{"number": t.number, "state": t.state, "created_at": t.created_at, "visit_at": t.visit_at}
                    for t in session.scalars(select(TicketRow).where(TicketRow.camera_id == camera_id)
                                             .order_by(TicketRow.created_at))],
        "drift": [{"check": d.check, "expected": d.expected, "observed": d.observed, "since": d.since,
                   "closed_at": d.closed_at} for d in session.scalars(
            select(DriftFindingRow).where(DriftFindingRow.camera_id == camera_id).order_by(DriftFindingRow.since))],
        "registry_findings": [{"field": f.field, "registry": f.registry, "observed": f.observed, "since": f.since}
                              for f in current_findings(session) if f.camera == camera_id],
        "footage": {"first_start": footage[0], "last_end": footage[1], "segments": footage[2],
                    "bytes": int(footage[3]), "node": newest,
                    "age_s": None if footage[1] is None else (now - _aware(footage[1])).total_seconds()},
        "last_probe": None if last is None else {"t": last.t, "reachable": last.reachable, "rtt_ms": last.rtt_ms,
                                                 "fps": last.fps, "onvif_ok": last.onvif_ok},
    }


def incidents(session: Session, now: datetime, tz: tzinfo = UTC, days: int = 7) -> list[dict[str, Any]]:
    """Open incidents and those closed within ``days``, newest first, each with its timeline: opened, every
    message decided (to whom, how, its delivery, until when it waits), acknowledged (and withdrawn),
    silenced, closed. The times inside the timeline's texts are in ``tz`` (the fleet's time zone)."""
    from monitor.store.account_models import IncidentAckRow, SilenceRow
    from recorder.index import AuditRow

    since = now - timedelta(days=days)
    rows = list(session.scalars(select(IncidentRow).where(or_(IncidentRow.closed_at.is_(None),
                                                              IncidentRow.closed_at >= since))
                                .order_by(IncidentRow.opened_at.desc())))
    ids = [i.id for i in rows]
    events: dict[str, list[tuple]] = {i: [] for i in ids}
    notes = list(session.scalars(select(NotificationRow).where(NotificationRow.incident_id.in_(ids)))) if ids else []
    last = _outbox_last(session, [n.key for n in notes])
    local = lambda t: t.astimezone(tz).strftime("%Y-%m-%d %H:%M")  # noqa: E731
    for n in notes:
        who = f"{n.audience}{' ' + n.camera_id if n.camera_id else ''}"
        status, due = last.get(n.key, (n.status, None))
        if status == "queued" and due is not None and _aware(due) > now:  # a silence or planned works holds it
            status += f" until {local(due)} (held)"
        events[n.incident_id].append((n.due_at, f"{n.kind} → {who} ({n.channel or '-'}): {status}"))
    for a in session.scalars(select(IncidentAckRow).where(IncidentAckRow.incident_id.in_(ids))) if ids else ():
        events[a.incident_id].append((a.at, f"acknowledged by {a.by}"))
    for w in session.scalars(select(AuditRow).where(AuditRow.action == "incident_unacknowledge", AuditRow.at >= since)):
        if w.detail.get("incident") in events:  # a withdrawn acknowledgement lives on in the audit log only
            events[w.detail["incident"]] += [(datetime.fromisoformat(w.detail["at"]),
                                              f"acknowledged by {w.detail['acknowledged_by']}"),
                                             (w.at, f"acknowledgement withdrawn by {w.actor}")]
    for q in session.scalars(select(SilenceRow).where(SilenceRow.incident_id.in_(ids))) if ids else ():
        until = local(q.ends_at)
        events[q.incident_id].append((q.created_at, f"silenced by {q.by} until {until}: {q.reason}"))
    out = []
    for i in rows:
        timeline = [(i.opened_at, f"opened: {i.cause}"), *events[i.id]]
        if i.closed_at is not None:
            timeline.append((i.closed_at, "closed"))
        out.append({"id": i.id, "cause": i.cause, "state": i.state, "cameras": list(i.cameras or []),
                    "scope": dict(i.scope or {}), "evidence": dict(i.evidence or {}), "opened_at": i.opened_at,
                    "closed_at": i.closed_at, "timeline": sorted(timeline, key=lambda e: e[0])})
    return out
