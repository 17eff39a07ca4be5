"""Vendor tickets in the store: rows <-> :class:`monitor.core.tickets.Ticket`, and vendor API tokens.

Every function works in the caller's session and transaction (``with sessions.begin() as s: ...``).
Vendor tokens are random, shown once, and kept only as a SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.core.domain import Camera, Observation
from monitor.core.tickets import (
    OPEN_STATES,
    OwnerContact,
    StepTaken,
    Ticket,
    TicketAction,
    TicketState,
    TimelineEntry,
    UnknownTicket,
    new_ticket,
    parse_number,
    ticket_number,
    transition,
)
from monitor.store.ticket_models import TicketRow, VendorTokenRow

TOKEN_PREFIX = "mmv_"
SYSTEM = "mimamori"


# -- rows <-> values -------------------------------------------------------------------------------

def _t(s: str | None) -> datetime | None:
    return None if s is None else datetime.fromisoformat(s)


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat()


def evidence_of(o: Observation | dict[str, Any]) -> dict[str, Any]:
    """One probe as JSON-ready evidence (the scenario format's field names)."""
    if isinstance(o, dict):
        return dict(o)
    return {"t": _iso(o.t), "camera": o.camera, "reachable": o.reachable, "rtt_ms": o.rtt_ms,
            "onvif_ok": o.onvif_ok, "fps": o.fps, "max_gap_s": o.max_gap_s, "clock_skew_s": o.clock_skew_s}


def _entry_json(e: TimelineEntry) -> dict[str, Any]:
    return {"at": _iso(e.at), "by": e.by, "action": str(e.action), "state": str(e.state), "note": e.note,
            "visit_at": _iso(e.visit_at)}


def _entry(d: dict[str, Any]) -> TimelineEntry:
    return TimelineEntry(at=datetime.fromisoformat(d["at"]), by=d["by"], action=TicketAction(d["action"]),
                         state=TicketState(d["state"]), note=d.get("note", ""), visit_at=_t(d.get("visit_at")))


def to_ticket(row: TicketRow) -> Ticket:
    return Ticket(
        number=row.number, incident_id=row.incident_id, camera_id=row.camera_id, vendor=row.vendor,
        state=TicketState(row.state), address=row.address, owner=OwnerContact(**row.owner),
        steps_taken=tuple(StepTaken(at=datetime.fromisoformat(s["at"]), step=s["step"], detail=s.get("detail", ""))
                          for s in row.steps_taken),
        evidence=tuple(row.evidence), timeline=tuple(_entry(e) for e in row.timeline), visit_at=row.visit_at,
        created_at=row.created_at, updated_at=row.updated_at, closed_at=row.closed_at,
    )


def _fill(row: TicketRow, t: Ticket) -> None:
    row.state = str(t.state)
    row.timeline = [_entry_json(e) for e in t.timeline]
    row.visit_at, row.updated_at, row.closed_at = t.visit_at, t.updated_at, t.closed_at


def _new_row(t: Ticket) -> TicketRow:
    o = t.owner
    row = TicketRow(
        number=t.number, incident_id=t.incident_id, camera_id=t.camera_id, vendor=t.vendor, address=t.address,
        owner={"name": o.name, "contact": o.contact, "phone": o.phone, "email": o.email, "lang": o.lang},
        steps_taken=[{"at": _iso(s.at), "step": s.step, "detail": s.detail} for s in t.steps_taken],
        evidence=list(t.evidence), created_at=t.created_at,
    )
    _fill(row, t)
    return row


# -- tickets ---------------------------------------------------------------------------------------

def _existing(session: Session, incident_id: str, camera_id: str) -> TicketRow | None:
    return session.scalar(select(TicketRow).where(TicketRow.incident_id == incident_id,
                                                  TicketRow.camera_id == camera_id))


def _next_number(session: Session, year: int) -> str:
    last = session.scalar(select(TicketRow.number).where(TicketRow.number.like(f"T-{year:04d}-%"))
                          .order_by(TicketRow.number.desc()).limit(1))
    parsed = parse_number(last) if last else None
    return ticket_number(year, (parsed[1] if parsed else 0) + 1)


def open_ticket(
    session: Session, *, incident_id: str, camera: Camera, steps_taken: Sequence[StepTaken],
    evidence: Sequence[Observation | dict[str, Any]], now: datetime, tz: tzinfo = UTC,
) -> Ticket:
    """Open the vendor ticket for ``camera`` in ``incident_id``; if it exists already, return it unchanged.

    The ticket keeps a snapshot of the address and the owner's contact as they are now. Its number
    counts within the year of ``now`` in ``tz`` (the fleet's time zone).
    """
    row = _existing(session, incident_id, camera.camera_id)
    if row is not None:
        return to_ticket(row)
    owner = OwnerContact(name=camera.owner_name, contact=str(camera.contact), phone=camera.phone,
                         email=camera.email, lang=str(camera.lang))
    # Two writers may pick the same number, or open the same ticket, at once: on PostgreSQL a savepoint
    # lets us look again and retry. SQLite serialises writers, and pysqlite's SAVEPOINT would commit early
    # (it opens no transaction before it), so there a clash surfaces as IntegrityError to the caller.
    guarded = session.get_bind().dialect.name != "sqlite"
    for _ in range(5):
        ticket = new_ticket(
            number=_next_number(session, now.astimezone(tz).year), incident_id=incident_id,
            camera_id=camera.camera_id, vendor=camera.vendor, address=camera.address, owner=owner,
            steps_taken=tuple(steps_taken), evidence=tuple(evidence_of(o) for o in evidence), now=now, by=SYSTEM,
        )
        if not guarded:
            session.add(_new_row(ticket))
            session.flush()
            return ticket
        try:
            with session.begin_nested():
                session.add(_new_row(ticket))
        except IntegrityError:
            row = _existing(session, incident_id, camera.camera_id)
            if row is not None:
                return to_ticket(row)
            continue
        return ticket
    raise RuntimeError("could not allocate a ticket number after 5 attempts")


def get(session: Session, number: str, *, vendor: str | None = None) -> Ticket | None:
    """The ticket, or None; with ``vendor``, None too when it belongs to another vendor."""
    row = session.get(TicketRow, number)
    if row is None or (vendor is not None and row.vendor != vendor):
        return None
    return to_ticket(row)


def list_tickets(
    session: Session, vendor: str | None = None, state: TicketState | str | None = None, *, open_only: bool = False,
) -> list[Ticket]:
    q = select(TicketRow).order_by(TicketRow.created_at, TicketRow.number)
    if vendor is not None:
        q = q.where(TicketRow.vendor == vendor)
    if state is not None:
        q = q.where(TicketRow.state == str(TicketState(state)))
    if open_only:
        q = q.where(TicketRow.state.in_([str(s) for s in OPEN_STATES]))
    return [to_ticket(r) for r in session.scalars(q)]


def apply(
    session: Session, number: str, action: TicketAction | str, now: datetime, by: str, *,
    vendor: str | None = None, visit_at: datetime | None = None, note: str = "",
) -> Ticket:
    """Move one ticket; :class:`UnknownTicket` if absent (or, with ``vendor``, someone else's)."""
    row = session.scalar(select(TicketRow).where(TicketRow.number == number).with_for_update())
    if row is None or (vendor is not None and row.vendor != vendor):
        raise UnknownTicket(f"no ticket {number}")
    ticket = transition(to_ticket(row), action, now, by, visit_at=visit_at, note=note)
    _fill(row, ticket)
    session.flush()
    return ticket


def cancel_for_incident(
    session: Session, incident_id: str, now: datetime, *, camera_id: str | None = None,
    note: str = "camera recovered before the visit",
) -> list[Ticket]:
    """Cancel the incident's tickets that are still open (the camera recovered first); returns them."""
    q = (select(TicketRow).where(TicketRow.incident_id == incident_id,
                                 TicketRow.state.in_([str(s) for s in OPEN_STATES]))
         .order_by(TicketRow.number).with_for_update())
    if camera_id is not None:
        q = q.where(TicketRow.camera_id == camera_id)
    cancelled = []
    for row in session.scalars(q).all():
        ticket = transition(to_ticket(row), TicketAction.CANCEL, now, SYSTEM, note=note)
        _fill(row, ticket)
        cancelled.append(ticket)
    session.flush()
    return cancelled


# -- vendor tokens ---------------------------------------------------------------------------------

def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_vendor_token(session: Session, vendor: str, now: datetime) -> str:
    """A new API token for ``vendor``. Returns the plaintext, which is not kept anywhere: show it once."""
    if not vendor.strip():
        raise ValueError("vendor name is empty")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(VendorTokenRow(vendor=vendor, token_sha256=_digest(token), created_at=now))
    session.flush()
    return token


def revoke_vendor_tokens(session: Session, vendor: str, now: datetime) -> int:
    """Revoke every active token of ``vendor``; returns how many."""
    return session.execute(
        update(VendorTokenRow).where(VendorTokenRow.vendor == vendor, VendorTokenRow.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount


def vendor_for_token(session: Session, token: str) -> str | None:
    """The vendor an active token belongs to, or None. Hashes are compared in constant time."""
    if not token:
        return None
    presented = _digest(token)
    found = None
    for vendor, stored in session.execute(
        select(VendorTokenRow.vendor, VendorTokenRow.token_sha256).where(VendorTokenRow.revoked_at.is_(None))
    ):
        if hmac.compare_digest(presented, stored) and found is None:
            found = vendor  # no early exit: every active hash is compared
    return found
