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
    run = _Escalation(state, cameras, now, policy)
    for ch in changes:
        run.take_change(ch)
    run.release_held()
    run.climb_ladders(incidents)
    return run.frozen(), run.out


class _Escalation:
    """One call of `escalate`: working copies of the state, and the notifications so far in order."""

    def __init__(self, state: EscalationState, cameras: Mapping[str, Camera], now: datetime,
                 policy: EscalationPolicy):
        self.cameras, self.policy = cameras, policy
        self.local_now = now.astimezone(_zone(policy))
        self.now_s = int(now.timestamp())
        self.quiet = in_quiet_hours(self.local_now, policy)
        self.out: list[Notification] = []
        self.ladders = dict(state.ladders)
        self.held = list(state.held)
        self.announced = set(state.announced)

    def note(self, audience: Audience, kind: Kind, incident: str, camera: str | None = None,
             channel: str | None = None, count: int | None = None, cause: Cause | None = None) -> None:
        self.out.append(Notification(t=self.local_now, audience=audience, kind=kind, incident=incident,
                                     camera=camera, channel=channel, count=count, cause=cause))

    def owner_channel(self, cam: str) -> str | None:
        c = self.cameras.get(cam)
        return str(c.contact) if c is not None else None

    # 1. What changed: shared incidents are announced to the operator; departures end ladders.
    def take_change(self, ch: IncidentChange) -> None:
        inc = ch.incident
        if inc.cause.upstream and self.policy.operator_notices_for_upstream:
            self._tell_operator(ch)
        for cam, why in ch.departed:
            self._end_ladder(inc.id, cam, why)

    def _tell_operator(self, ch: IncidentChange) -> None:
        inc = ch.incident
        if ch.kind is ChangeKind.OPEN and inc.id not in self.announced:
            self.announced.add(inc.id)
            self.note(Audience.OPERATOR, Kind.INCIDENT_OPENED, inc.id, count=len(inc.members), cause=inc.cause)
        elif ch.kind is ChangeKind.CLOSED and inc.id in self.announced:
            self.announced.discard(inc.id)
            self.note(Audience.OPERATOR, Kind.INCIDENT_CLOSED, inc.id, count=inc.peak, cause=inc.cause)

    def _end_ladder(self, incident: str, cam: str, why: Departure) -> None:
        """The camera left the incident: a vendor on the way is called off, an owner asked is thanked."""
        lad = self.ladders.pop(f"{incident}:{cam}", None)
        if lad is None:
            return
        if Kind.DISPATCH in lad.sent:
            self.note(Audience.VENDOR, Kind.DISPATCH_CANCEL, incident, cam, "email")
        if why is Departure.RECOVERED and Kind.REBOOT_REQUEST in lad.sent and self.policy.thank_owner_on_recovery:
            self.held.append(Held(due=self.now_s, audience=Audience.OWNER, kind=Kind.RECOVERED_THANKS,
                                  incident=incident, camera=cam, channel=self.owner_channel(cam)))

    # 2. Held owner messages go out when the night is over.
    def release_held(self) -> None:
        if self.quiet or not self.held:
            return
        for h in self.held:
            self.note(h.audience, h.kind, h.incident, h.camera, h.channel)
        self.held = []

    # 3. The ladder of every camera in an open local incident.
    def climb_ladders(self, incidents: Mapping[str, Incident]) -> None:
        covered = _covered_by_outage(incidents)
        live_keys = set()
        for inc in incidents.values():
            if not inc.cause.owner_fault:
                continue
            for cam, since in inc.members.items():
                k = f"{inc.id}:{cam}"
                live_keys.add(k)
                lad = self.ladders.get(k)
                if lad is None:
                    lad = Ladder(incident=inc.id, camera=cam, cause=inc.cause, since=since, sent=self._inherited(cam))
                self.ladders[k] = _climb(lad, cam, cam in covered, cam in inc.impaired, self.quiet, self.now_s,
                                         self.policy, self.note, self.owner_channel(cam))
        # Ladders of incidents that vanished without a departure record (should not happen): drop quietly.
        self.ladders = {k: v for k, v in self.ladders.items() if k in live_keys}

    def _inherited(self, cam: str) -> dict[str, int]:
        """Another open incident of this camera (a fault inside a fault) already climbed: inherit its steps."""
        return {kind: ts for other in self.ladders.values() if other.camera == cam
                for kind, ts in other.sent.items() if kind != Kind.REMOTE_REBOOT}

    def frozen(self) -> EscalationState:
        return EscalationState(ladders=self.ladders, held=tuple(self.held), announced=frozenset(self.announced))


def _covered_by_outage(incidents: Mapping[str, Incident]) -> set[str]:
    """Cameras in an open area or ISP outage.

    Power or ISP down: every household ladder in it waits, even one whose fault was there before. Its
    fault may have been fixed meanwhile without anyone being able to see it, and an owner asked to
    reboot during a district power cut is an owner bothered for nothing. It goes on once the shared
    outage recovers, if the camera is still down then."""
    covered: set[str] = set()
    for inc in incidents.values():
        if inc.cause in (Cause.AREA_OUTAGE, Cause.ISP_OUTAGE):
            covered.update(inc.members)
    return covered


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

