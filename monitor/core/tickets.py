"""Vendor tickets, pure: the ticket value, its states, and the one function that moves it.

    open ──acknowledge──► acknowledged ──schedule──► visit_scheduled ──resolve──► resolved
      │                        │   └──────────resolve──────────────────────────► resolved
      └──────cancel────────────┴──────────cancel─────── (and from visit_scheduled) ► cancelled

A scheduled visit can be rescheduled (``schedule`` again). Resolved and cancelled are final.
``transition`` never reads the clock: the caller passes ``now`` and who acted (``by``).

Errors (on :class:`monitor.core.errors.MimamoriError`)::

    TicketError
    ├── IllegalTransition   the move is not allowed from the ticket's state (HTTP 409)
    ├── InvalidTicketInput  a move is missing what it needs, e.g. ``schedule`` without a visit time (HTTP 400)
    └── UnknownTicket       no such ticket (or not one the caller may see) (HTTP 404)
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from monitor.core.errors import MimamoriError


class TicketError(MimamoriError):
    pass


class IllegalTransition(TicketError):
    pass


class InvalidTicketInput(TicketError):
    pass


class UnknownTicket(TicketError):
    pass


class TicketState(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    VISIT_SCHEDULED = "visit_scheduled"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"

    @property
    def closed(self) -> bool:
        return self in (TicketState.RESOLVED, TicketState.CANCELLED)


class TicketAction(enum.StrEnum):
    OPEN = "open"  # only as the first timeline entry, never through transition()
    ACKNOWLEDGE = "acknowledge"
    SCHEDULE = "schedule"
    RESOLVE = "resolve"
    CANCEL = "cancel"


OPEN_STATES = frozenset({TicketState.OPEN, TicketState.ACKNOWLEDGED, TicketState.VISIT_SCHEDULED})

#: (from state, action) -> to state. Everything not listed is illegal.
TRANSITIONS: dict[tuple[TicketState, TicketAction], TicketState] = {
    (TicketState.OPEN, TicketAction.ACKNOWLEDGE): TicketState.ACKNOWLEDGED,
    (TicketState.ACKNOWLEDGED, TicketAction.SCHEDULE): TicketState.VISIT_SCHEDULED,
    (TicketState.VISIT_SCHEDULED, TicketAction.SCHEDULE): TicketState.VISIT_SCHEDULED,
    (TicketState.ACKNOWLEDGED, TicketAction.RESOLVE): TicketState.RESOLVED,
    (TicketState.VISIT_SCHEDULED, TicketAction.RESOLVE): TicketState.RESOLVED,
    **{(s, TicketAction.CANCEL): TicketState.CANCELLED for s in OPEN_STATES},
}

_HINTS: dict[tuple[TicketState, TicketAction], str] = {
    (TicketState.OPEN, TicketAction.SCHEDULE): "acknowledge it first",
    (TicketState.OPEN, TicketAction.RESOLVE): "acknowledge it first",
    (TicketState.ACKNOWLEDGED, TicketAction.ACKNOWLEDGE): "it is already acknowledged",
    (TicketState.VISIT_SCHEDULED, TicketAction.ACKNOWLEDGE): "it is already acknowledged",
}

NUMBER_RE = re.compile(r"^T-(\d{4})-(\d{6})$")


def ticket_number(year: int, seq: int) -> str:
    """``T-2026-000123``: the year the ticket was opened and its sequence within that year."""
    if not (1 <= seq <= 999_999):
        raise ValueError(f"ticket sequence out of range: {seq}")
    return f"T-{year:04d}-{seq:06d}"


def parse_number(number: str) -> tuple[int, int] | None:
    m = NUMBER_RE.match(number)
    return (int(m.group(1)), int(m.group(2))) if m else None


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnerContact:
    """A snapshot of how to reach the owner, taken when the ticket opened."""

    name: str = ""
    contact: str = ""  # preferred channel: sms, email, voice
    phone: str = ""
    email: str = ""
    lang: str = "ja"


@dataclass(frozen=True, slots=True, kw_only=True)
class StepTaken:
    """Something already tried before the vendor was called (a remote reboot, an SMS to the owner)."""

    at: datetime
    step: str
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineEntry:
    at: datetime
    by: str
    action: TicketAction
    state: TicketState  # the state after the action
    note: str = ""
    visit_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ticket:
    number: str
    incident_id: str
    camera_id: str
    vendor: str
    state: TicketState
    address: str
    owner: OwnerContact
    steps_taken: tuple[StepTaken, ...] = ()
    evidence: tuple[dict[str, Any], ...] = ()  # the last probes, scenario format (JSON-ready)
    timeline: tuple[TimelineEntry, ...] = ()
    visit_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return not self.state.closed


def new_ticket(
    *, number: str, incident_id: str, camera_id: str, vendor: str, address: str, owner: OwnerContact,
    steps_taken: tuple[StepTaken, ...], evidence: tuple[dict[str, Any], ...], now: datetime, by: str = "mimamori",
) -> Ticket:
    _aware(now, "now")
    opened = TimelineEntry(at=now, by=by, action=TicketAction.OPEN, state=TicketState.OPEN)
    return Ticket(number=number, incident_id=incident_id, camera_id=camera_id, vendor=vendor, state=TicketState.OPEN,
                  address=address, owner=owner, steps_taken=steps_taken, evidence=evidence, timeline=(opened,),
                  created_at=now, updated_at=now)


def allowed_actions(state: TicketState) -> tuple[TicketAction, ...]:
    return tuple(a for (s, a) in TRANSITIONS if s is state)


def transition(
    ticket: Ticket, action: TicketAction | str, now: datetime, by: str, *,
    visit_at: datetime | None = None, note: str = "",
) -> Ticket:
    """The ticket after ``action``, with a timeline entry appended; :class:`IllegalTransition` if not allowed."""
    _aware(now, "now")
    try:
        action = TicketAction(action)
    except ValueError:
        raise InvalidTicketInput(f"unknown action {action!r}; one of: "
                                 + ", ".join(a for a in TicketAction if a is not TicketAction.OPEN)) from None
    target = TRANSITIONS.get((ticket.state, action))
    if target is None:
        hint = _HINTS.get((ticket.state, action))
        if hint is None:
            legal = allowed_actions(ticket.state)
            hint = ("it is closed" if not legal
                    else "allowed now: " + ", ".join(str(a) for a in legal))
        raise IllegalTransition(f"cannot {action} ticket {ticket.number}: it is {ticket.state} ({hint})")
    if action is TicketAction.SCHEDULE:
        if visit_at is None:
            raise InvalidTicketInput(f"schedule ticket {ticket.number}: visit_at is required")
        _aware(visit_at, "visit_at")
        if visit_at < now:
            raise InvalidTicketInput(f"schedule ticket {ticket.number}: visit_at {visit_at.isoformat()} is in the past")
    elif visit_at is not None:
        raise InvalidTicketInput(f"{action} ticket {ticket.number}: visit_at is only for schedule")
    entry = TimelineEntry(at=now, by=by, action=action, state=target, note=note.strip(),
                          visit_at=visit_at if action is TicketAction.SCHEDULE else None)
    return replace(
        ticket,
        state=target,
        timeline=(*ticket.timeline, entry),
        visit_at=visit_at if action is TicketAction.SCHEDULE else ticket.visit_at,
        updated_at=now,
        closed_at=now if target.closed else None,
    )


def _aware(t: datetime, name: str) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise InvalidTicketInput(f"{name} must carry a time zone offset: {t.isoformat()}")


# ---- what a ticket move takes from a person (the vendor API and the console) ----------------------

NOTE_MAX = 2000
VISIT_WITHIN = timedelta(days=366)
_NOTE_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def check_note(note: Any) -> str:
    """A move's note: a string of at most NOTE_MAX characters, without control characters."""
    if not isinstance(note, str) or len(note) > NOTE_MAX:
        raise InvalidTicketInput(f"note must be a string of at most {NOTE_MAX} characters")
    if _NOTE_CONTROL.search(note):  # PostgreSQL refuses NUL in text, SQLite keeps it: the same answer on both
        raise InvalidTicketInput("note must not contain control characters (line breaks and tabs are fine)")
    return note


def parse_visit_at(raw: Any, tz: tzinfo, now: datetime) -> datetime:
    """An ISO 8601 time within a year of ``now`` (an offset-less one in the fleet's time zone)."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidTicketInput("visit_at is required: an ISO 8601 time, e.g. 2026-12-01T10:00:00+09:00")
    try:
        t = datetime.fromisoformat(raw)
        t = t if t.tzinfo is not None else t.replace(tzinfo=tz)  # no offset: the fleet's time zone
        off_by = abs(t.astimezone(UTC) - now)
    except (ValueError, OverflowError):  # 9999-12-31T23:59:59-12:00 is past the last datetime in UTC
        raise InvalidTicketInput(f"visit_at is not an ISO 8601 time: {raw[:40]!r}") from None
    if off_by > VISIT_WITHIN:
        raise InvalidTicketInput(f"visit_at must lie within {VISIT_WITHIN.days} days of now: {raw[:40]!r}")
    return t
