"""What the status board and ``/metrics`` show, and where it comes from.

The web layer gets a ``status_source()`` callable returning a plain dict::

    {
      "generated_at": datetime (aware),
      "cameras": {"up": int, "degraded": int, "down": int, "unknown": int},
      "incidents": [{"id": str, "cause": str, "scope": dict, "cameras": int, "opened_at": datetime}],
      "tickets": [{"number": str, "camera_id": str, "vendor": str, "state": str,
                   "created_at": datetime, "visit_at": datetime | None}],
      "notifications": {"queued": int, "sent": int, "delivered": int, ...},
      "findings": [{"camera": str, "field": str, "registry": Any, "observed": Any, "since": datetime,
                    "evidence": dict}],
      "drift": [{"camera": str, "check": str, "expected": str, "observed": str, "severity": str,
                 "since": datetime, "corrected_at": datetime | None}],
    }

:func:`collect_status` builds it from the store. :func:`board_view` and `web.metrics` read
only the keys above, field by field, so nothing else a source might carry (a phone number, an
address, a password) can reach the page or the metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.core.drift import CHECK_LABELS
from monitor.store import tickets as ticket_repo
from monitor.store.drift import findings as drift_findings
from monitor.store.findings import current_findings, evidence_summary, value_text
from monitor.store.holds import windows as maintenance_windows
from monitor.store.models import CameraRow, IncidentRow, ObservationRow, StateIntervalRow
from notify.outbox import OutboxRow

CAMERA_STATES = ("up", "degraded", "down", "unknown")
DRIFT_LABELS = {str(k): v for k, v in CHECK_LABELS.items()}
MAINTENANCE_LABELS = {"area": ("地区", "area"), "isp": ("回線事業者", "provider"), "cameras": ("カメラ", "cameras")}

CAUSE_LABELS = {
    "local_outage": ("設置先の回線断", "local outage"),
    "local_congestion": ("設置先の回線混雑", "local congestion"),
    "camera_fault": ("カメラ故障", "camera fault"),
    "area_outage": ("地域の停電・回線断", "area outage"),
    "isp_outage": ("回線事業者の障害", "ISP outage"),
    "isp_congestion": ("回線事業者の混雑", "ISP congestion"),
    "monitor_outage": ("監視システム側の障害", "monitor outage"),
}
SCOPE_LABELS = {"area": ("地域", "area"), "isp": ("回線事業者", "ISP"), "line": ("回線", "line"),
                "camera": ("カメラ", "camera"), "monitor": ("監視システム", "monitor")}
TICKET_STATE_LABELS = {
    "open": ("受付待ち", "open"),
    "acknowledged": ("受付済み", "acknowledged"),
    "visit_scheduled": ("訪問予定", "visit scheduled"),
    "resolved": ("解決", "resolved"),
    "cancelled": ("取消", "cancelled"),
}
FIELD_LABELS = {"isp": ("回線事業者", "ISP"), "area": ("地域", "area"),
                "expected_fps": ("フレームレート", "frame rate")}


def collect_status(session: Session, now: datetime) -> dict[str, Any]:
    """The board's data, from the store: current camera states, open incidents, open tickets, outbox."""
    registered = set(session.scalars(select(CameraRow.camera_id)))
    states = {cid: "unknown" for cid in registered}
    for cid, state in session.execute(
        select(StateIntervalRow.camera_id, StateIntervalRow.state).where(StateIntervalRow.end.is_(None))
    ):
        if cid in states:
            states[cid] = state
    cameras = {s: 0 for s in CAMERA_STATES}
    for s in states.values():
        cameras[s if s in cameras else "unknown"] += 1
    incidents = [
        {"id": r.id, "cause": r.cause, "scope": dict(r.scope or {}), "cameras": len(r.cameras or []),
         "opened_at": r.opened_at}
        for r in session.scalars(select(IncidentRow).where(IncidentRow.state == "open").order_by(IncidentRow.opened_at))
    ]
    tickets = [
        {"number": t.number, "camera_id": t.camera_id, "vendor": t.vendor, "state": str(t.state),
         "created_at": t.created_at, "visit_at": t.visit_at}
        for t in ticket_repo.list_tickets(session, open_only=True)
    ]
    notifications = dict(session.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all())
    findings = [{"camera": f.camera, "field": f.field, "registry": f.registry, "observed": f.observed,
                 "since": f.since, "evidence": dict(f.evidence)} for f in current_findings(session)]
    outbox = {(st, ch): int(n) for st, ch, n in session.execute(
        select(OutboxRow.status, OutboxRow.channel, func.count()).group_by(OutboxRow.status, OutboxRow.channel))}
    meta = {r.camera_id: r for r in session.scalars(select(CameraRow).where(CameraRow.disabled_at.is_(None)))}
    last = session.scalar(select(func.max(ObservationRow.t)))
    series = [] if last is None else [
        {"camera": o.camera_id, "area": meta[o.camera_id].area, "isp": meta[o.camera_id].isp,
         "up": o.reachable and bool(o.fps), "fps": o.fps, "rtt_ms": o.rtt_ms}
        for o in session.scalars(select(ObservationRow).where(ObservationRow.t == last)
                                 .order_by(ObservationRow.camera_id)) if o.camera_id in meta]
    drift = [{"camera": r.camera_id, "check": r.check, "expected": r.expected, "observed": r.observed,
              "severity": r.severity, "since": r.since, "corrected_at": r.corrected_at}
             for r in drift_findings(session)]
    works = [{"scope": w.scope, "values": list(w.values), "starts_at": w.starts_at, "ends_at": w.ends_at,
              "reason": w.reason} for w in maintenance_windows(session, now)]
    return {"generated_at": now, "cameras": cameras, "incidents": incidents, "tickets": tickets, "maintenance": works,
            "notifications": {str(k): int(v) for k, v in notifications.items()}, "findings": findings,
            "drift": drift, "outbox_by_channel": outbox, "camera_series": series}


def store_status_source(sessions: sessionmaker[Session], now: Callable[[], datetime]) -> Callable[[], dict]:
    """A ``status_source`` for :func:`monitor.web.app.make_app` over the store
     (blocking: the web calls it in a thread)."""
    def source() -> dict[str, Any]:
        with sessions() as s:
            return collect_status(s, now())
    return source


# -- the board ------------------------------------------------------------------------------------

def _label(table: Mapping[str, tuple[str, str]], key: str) -> dict[str, str]:
    ja, en = table.get(key, (key, key))
    return {"ja": ja, "en": en}


def _local(t: Any, tz: tzinfo) -> str:
    return t.astimezone(tz).strftime("%Y-%m-%d %H:%M") if isinstance(t, datetime) else ""


def _scope(scope: Any) -> list[dict[str, str]]:
    if not isinstance(scope, Mapping):
        return []
    out = []
    for k, v in scope.items():
        label = _label(SCOPE_LABELS, str(k))
        out.append({**label, "value": "" if v is True else str(v)})
    return out


def board_view(status: Mapping[str, Any], tz: tzinfo) -> dict[str, Any]:
    """Only the fields the board may show, formatted for the fleet's time zone."""
    cams = status.get("cameras") or {}
    return {
        "generated_at": _local(status.get("generated_at"), tz),
        "cameras": {s: int(cams.get(s, 0)) for s in CAMERA_STATES},
        "incidents": [
            {"id": str(i.get("id", "")), "cause": _label(CAUSE_LABELS, str(i.get("cause", ""))),
             "scope": _scope(i.get("scope")), "cameras": int(i.get("cameras", 0)),
             "opened_at": _local(i.get("opened_at"), tz)}
            for i in status.get("incidents") or ()
        ],
        "tickets": [
            {"number": str(t.get("number", "")), "camera_id": str(t.get("camera_id", "")),
             "vendor": str(t.get("vendor", "")), "state": _label(TICKET_STATE_LABELS, str(t.get("state", ""))),
             "created_at": _local(t.get("created_at"), tz), "visit_at": _local(t.get("visit_at"), tz)}
            for t in status.get("tickets") or ()
        ],
        "findings": [_finding(f, tz) for f in status.get("findings") or ()],
        "maintenance": [
            {"scope": _label(MAINTENANCE_LABELS, str(w.get("scope", ""))),
             "values": ", ".join(str(v) for v in w.get("values") or ()), "reason": str(w.get("reason", "")),
             "starts_at": _local(w.get("starts_at"), tz), "ends_at": _local(w.get("ends_at"), tz)}
            for w in status.get("maintenance") or ()
        ],
        "drift": [
            {"camera": str(d.get("camera", "")), "check": _label(DRIFT_LABELS, str(d.get("check", ""))),
             "expected": str(d.get("expected", "")), "observed": str(d.get("observed", "")),
             "urgent": d.get("severity") == "urgent", "since": _local(d.get("since"), tz),
             "corrected": _local(d.get("corrected_at"), tz)}
            for d in status.get("drift") or ()
        ],
    }


def _finding(f: Mapping[str, Any], tz: tzinfo) -> dict[str, Any]:
    evidence = f.get("evidence")
    evidence = evidence if isinstance(evidence, Mapping) else {}
    return {"camera": str(f.get("camera", "")), "field": _label(FIELD_LABELS, str(f.get("field", ""))),
            "registry": value_text(f.get("registry", "")), "observed": value_text(f.get("observed", "")),
            "since": _local(f.get("since"), tz),
            "evidence": {"ja": evidence_summary(evidence, "ja"), "en": evidence_summary(evidence, "en")}}
