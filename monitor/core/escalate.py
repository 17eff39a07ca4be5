"""The escalation ladder: incidents + what was already sent + policy + now -> notifications.

Pure: no clock, no I/O. Called once per probe interval after `classify_fleet`.

Local faults (local_outage, camera_fault), per camera of the incident:
  1. camera_fault: ONVIF remote reboot (audience "camera", channel "onvif");
  2. owner reboot_request `owner_delay` after the fault began;
  3. owner reminder `reminder_after` after the request;
  4. vendor dispatch `vendor_after` after the fault began;
  5. on recovery: owner recovered_thanks (if asked), vendor dispatch_cancel (if dispatched).
Each step at most once per incident and camera: what was sent is in `Ladder.sent`, which is part of
the state and survives a restart. Owner messages that fall due in quiet hours wait for the morning
(a reboot request or reminder is simply re-checked then, and dropped if the camera recovered);
thanks that fall due at night are held in `EscalationState.held` and delivered in the morning.
While a shared (upstream) incident covers a camera, its owner and vendor steps wait.

Shared causes (area, ISP, monitor, ISP congestion): owners are never contacted; the operator gets
one incident_opened and one incident_closed notice per incident, with the camera count.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from monitor.core.classify.state import ChangeKind, Departure, Incident, IncidentChange
from monitor.core.domain import Camera, Cause
from monitor.core.policy import EscalationPolicy


class Audience(enum.StrEnum):
    OWNER = "owner"
    VENDOR = "vendor"
    OPERATOR = "operator"
    CAMERA = "camera"  # an automatic action on the camera itself (ONVIF)


class Kind(enum.StrEnum):
    REMOTE_REBOOT = "remote_reboot"
    REBOOT_REQUEST = "reboot_request"
    REMINDER = "reminder"
    DISPATCH = "dispatch"
    RECOVERED_THANKS = "recovered_thanks"
    DISPATCH_CANCEL = "dispatch_cancel"
    INCIDENT_OPENED = "incident_opened"
    INCIDENT_CLOSED = "incident_closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    t: datetime
    audience: Audience
    kind: Kind
    incident: str
    camera: str | None = None
    channel: str | None = None
    count: int | None = None
    cause: Cause | None = None

    @property
    def key(self) -> str:
        """Idempotency key for the outbox: the same step of the same incident is never sent twice."""
        return f"{self.incident}:{self.kind}:{self.audience}:{self.camera}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ladder:
    """Where one camera of one local incident stands on the ladder."""

    incident: str
    camera: str
    cause: Cause
    since: int  # epoch s: when the fault began for this camera
    sent: Mapping[str, int] = field(default_factory=dict)  # kind -> epoch s sent
    held_since: int = 0  # epoch s a due owner step started waiting for the morning (0 = not held)


@dataclass(frozen=True, slots=True, kw_only=True)
class Held:
    due: int
    audience: Audience
    kind: Kind
    incident: str
    camera: str | None
    channel: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationState:
    ladders: Mapping[str, Ladder] = field(default_factory=dict)  # "incident:camera" -> ladder
    held: tuple[Held, ...] = ()
    announced: frozenset[str] = frozenset()  # shared incidents whose opening the operator was told


def in_quiet_hours(local: datetime, policy: EscalationPolicy) -> bool:
    t = local.time()
    start, end = policy.quiet_start, policy.quiet_end
    if start <= end:
        return start <= t < end
    return t >= start or t < end


def _zone(policy: EscalationPolicy) -> ZoneInfo:
    return ZoneInfo(policy.tz)


def escalate(
    state: EscalationState,
    incidents: Mapping[str, Incident],
    changes: Sequence[IncidentChange],
    cameras: Mapping[str, Camera],
    now: datetime,
    policy: EscalationPolicy,
) -> tuple[EscalationState, list[Notification]]:
    tz = _zone(policy)
    local_now = now.astimezone(tz)
    now_s = int(now.timestamp())
    quiet = in_quiet_hours(local_now, policy)
    out: list[Notification] = []
    ladders = dict(state.ladders)
    held = list(state.held)
    announced = set(state.announced)

    def note(audience: Audience, kind: Kind, incident: str, camera: str | None = None,
             channel: str | None = None, count: int | None = None, cause: Cause | None = None) -> None:
        out.append(Notification(t=local_now, audience=audience, kind=kind, incident=incident, camera=camera,
                                channel=channel, count=count, cause=cause))

    def owner_channel(cam: str) -> str | None:
        c = cameras.get(cam)
        return str(c.contact) if c is not None else None

    # 1. What changed: shared incidents are announced to the operator; departures end ladders.
    for ch in changes:
        inc = ch.incident
        if inc.cause.upstream and policy.operator_notices_for_upstream:
            if ch.kind is ChangeKind.OPEN and inc.id not in announced:
                announced.add(inc.id)
                note(Audience.OPERATOR, Kind.INCIDENT_OPENED, inc.id, count=len(inc.members), cause=inc.cause)
            elif ch.kind is ChangeKind.CLOSED and inc.id in announced:
                announced.discard(inc.id)
                note(Audience.OPERATOR, Kind.INCIDENT_CLOSED, inc.id, count=inc.peak, cause=inc.cause)
        for cam, why in ch.departed:
            lad = ladders.pop(f"{inc.id}:{cam}", None)
            if lad is None:
                continue
            if Kind.DISPATCH in lad.sent:
                note(Audience.VENDOR, Kind.DISPATCH_CANCEL, inc.id, cam, "email")
            if (why is Departure.RECOVERED and Kind.REBOOT_REQUEST in lad.sent
                    and policy.thank_owner_on_recovery):
                h = Held(due=now_s, audience=Audience.OWNER, kind=Kind.RECOVERED_THANKS, incident=inc.id,
                         camera=cam, channel=owner_channel(cam))
                held.append(h)

    # 2. Held owner messages go out when the night is over.
    if not quiet and held:
        for h in held:
            note(h.audience, h.kind, h.incident, h.camera, h.channel)
        held = []

    # 3. The ladder of every camera in an open local incident.
    # Power or ISP down: every household ladder in it waits, even one whose fault was there before. Its
    # fault may have been fixed meanwhile without anyone being able to see it, and an owner asked to
    # reboot during a district power cut is an owner bothered for nothing. It goes on once the shared
    # outage recovers, if the camera is still down then.
    covered: set[str] = set()
    for inc in incidents.values():
        if inc.cause in (Cause.AREA_OUTAGE, Cause.ISP_OUTAGE):
            covered.update(inc.members)
    live_keys = set()
    for inc in incidents.values():
        if not inc.cause.owner_fault:
            continue
        for cam, since in inc.members.items():
            k = f"{inc.id}:{cam}"
            live_keys.add(k)
            lad = ladders.get(k)
            if lad is None:
                # Another open incident of this camera (a fault inside a fault) already climbed: inherit.
                inherited = {kind: ts for other in ladders.values() if other.camera == cam
                             for kind, ts in other.sent.items() if kind != Kind.REMOTE_REBOOT}
                lad = Ladder(incident=inc.id, camera=cam, cause=inc.cause, since=since, sent=inherited)
            lad = _climb(lad, cam, cam in covered, cam in inc.impaired, quiet, now_s, policy, note,
                         owner_channel(cam))
            ladders[k] = lad
    # Ladders of incidents that vanished without a departure record (should not happen): drop quietly.
    ladders = {k: v for k, v in ladders.items() if k in live_keys}
    new = EscalationState(ladders=ladders, held=tuple(held), announced=frozenset(announced))
    return new, out


def _climb(lad: Ladder, cam: str, covered: bool, impaired: bool, quiet: bool, now_s: int,
           policy: EscalationPolicy, note: Any, channel: str | None) -> Ladder:
    sent = dict(lad.sent)
    held_since = lad.held_since
    inc = lad.incident
    if (lad.cause is Cause.CAMERA_FAULT and Kind.REMOTE_REBOOT not in sent and not covered
            and now_s >= lad.since + policy.remote_reboot_after.total_seconds()):
        note(Audience.CAMERA, Kind.REMOTE_REBOOT, inc, cam, "onvif")
        sent[Kind.REMOTE_REBOOT] = now_s
    if covered or not impaired:  # upstream outage, or the camera is coming back: wait
        return replace(lad, sent=sent) if sent != lad.sent else lad
    if Kind.REBOOT_REQUEST not in sent and now_s >= lad.since + policy.owner_delay.total_seconds():
        if quiet:
            held_since = held_since or now_s
        else:
            note(Audience.OWNER, Kind.REBOOT_REQUEST, inc, cam, channel)
            sent[Kind.REBOOT_REQUEST] = now_s
            held_since = 0
    asked = sent.get(Kind.REBOOT_REQUEST)
    if asked is not None and Kind.REMINDER not in sent and now_s >= asked + policy.reminder_after.total_seconds():
        if quiet:
            held_since = held_since or now_s
        else:
            note(Audience.OWNER, Kind.REMINDER, inc, cam, channel)
            sent[Kind.REMINDER] = now_s
            held_since = 0
    if (Kind.DISPATCH not in sent and now_s >= lad.since + policy.vendor_after.total_seconds()
            and not (quiet and policy.vendor_respects_quiet_hours)):
        note(Audience.VENDOR, Kind.DISPATCH, inc, cam, "email")
        sent[Kind.DISPATCH] = now_s
    if sent == lad.sent and held_since == lad.held_since:
        return lad
    return replace(lad, sent=sent, held_since=held_since)


# ---- JSON --------------------------------------------------------------------------------------

def escalation_to_json(state: EscalationState) -> dict:
    return {
        "ladders": [
            {"incident": x.incident, "camera": x.camera, "cause": str(x.cause), "since": x.since,
             "sent": dict(x.sent), "held_since": x.held_since}
            for x in state.ladders.values()
        ],
        "held": [
            {"due": h.due, "audience": str(h.audience), "kind": str(h.kind), "incident": h.incident,
             "camera": h.camera, "channel": h.channel}
            for h in state.held
        ],
        "announced": sorted(state.announced),
    }


def escalation_from_json(d: Mapping[str, Any]) -> EscalationState:
    ladders = {}
    for x in d.get("ladders", []):
        lad = Ladder(incident=x["incident"], camera=x["camera"], cause=Cause(x["cause"]), since=int(x["since"]),
                     sent={Kind(k): int(v) for k, v in x["sent"].items()}, held_since=int(x["held_since"]))
        ladders[f"{lad.incident}:{lad.camera}"] = lad
    held = tuple(
        Held(due=int(h["due"]), audience=Audience(h["audience"]), kind=Kind(h["kind"]), incident=h["incident"],
             camera=h["camera"], channel=h["channel"])
        for h in d.get("held", [])
    )
    return EscalationState(ladders=ladders, held=held, announced=frozenset(d.get("announced", [])))

