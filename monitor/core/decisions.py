"""What the decision core decided, typed: the one contract between `engine.step` and every consumer.

A round decides incidents (opened, changed, closed: `IncidentDecision`) and notifications (a step of an
owner's or vendor's ladder, an action on a camera, an operator notice: `NotificationDecision`). The
store, delivery, ticketing, the service's log and replay all take these values and dispatch on their
types and enums. `to_record` is the only place a decision becomes the scenario format's dict (times as
local ISO strings), for the replay file and any other JSON dump; `notification_key` is the only maker of
a notification's idempotency key.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from monitor.core.classify.learning import RegistryFinding
from monitor.core.classify.state import ChangeKind, IncidentChange
from monitor.core.domain import Cause
from monitor.core.escalate import Audience, Kind, Notification

__all__ = [
    "Audience",
    "ChangeKind",
    "Decision",
    "FindingDecision",
    "IncidentDecision",
    "Kind",
    "NotificationDecision",
    "finding_decision",
    "incident_decision",
    "notification_decision",
    "notification_key",
    "to_record",
]


def _aware(t: datetime) -> None:
    if t.utcoffset() is None:
        raise ValueError(f"decision time {t.isoformat()} has no UTC offset")


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentDecision:
    """An incident opened, updated (cause, members or scope changed) or closed at ``t``."""

    t: datetime  # aware; the round's time, whole seconds
    id: str
    state: ChangeKind
    cause: Cause
    cameras: tuple[str, ...] = ()  # the members, sorted (the scenario format leaves them out on closing)
    scope: Mapping[str, Any] = field(default_factory=dict)
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _aware(self.t)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationDecision:
    """One notification (or camera action) of an incident, decided at ``t``."""

    t: datetime  # aware; the round's time, whole seconds
    audience: Audience
    kind: Kind
    incident: str
    camera: str | None = None
    channel: str | None = None
    count: int | None = None  # operator notices: how many cameras
    cause: Cause | None = None  # operator notices: the incident's cause

    def __post_init__(self) -> None:
        _aware(self.t)


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingDecision:
    """A registry row the observations contradict (classify.learning): the field, the registry's value,
    the value the evidence points to, and the evidence."""

    t: datetime  # aware; the round's time, whole seconds
    camera: str
    field: str  # isp, area or expected_fps
    registry: Any
    observed: Any
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _aware(self.t)


Decision = IncidentDecision | NotificationDecision | FindingDecision


def finding_decision(t: datetime, f: RegistryFinding) -> FindingDecision:
    return FindingDecision(t=t, camera=f.camera, field=f.field, registry=f.registry, observed=f.observed,
                           evidence=dict(f.evidence))


def incident_decision(t: datetime, ch: IncidentChange) -> IncidentDecision:
    inc = ch.incident
    return IncidentDecision(t=t, id=inc.id, state=ch.kind, cause=inc.cause, cameras=tuple(sorted(inc.members)),
                            scope=dict(inc.scope), evidence=dict(inc.evidence))


def notification_decision(t: datetime, n: Notification) -> NotificationDecision:
    return NotificationDecision(t=t, audience=n.audience, kind=n.kind, incident=n.incident, camera=n.camera,
                                channel=n.channel, count=n.count, cause=n.cause)


def notification_key(n: NotificationDecision) -> str:
    """The idempotency key of a decided notification: the same step of the same incident, for the same
    audience and camera, is decided (and sent) at most once. Stored in databases as it is: do not change."""
    return f"{n.incident}:{n.kind}:{n.audience}:{n.camera or '-'}"


def to_record(d: Decision, tz: tzinfo) -> dict[str, Any]:
    """The decision in the scenario format (key order included), its time local to ``tz``."""
    t = d.t.astimezone(tz).isoformat(timespec="seconds")
    if isinstance(d, IncidentDecision):
        return _incident_record(t, d)
    if isinstance(d, FindingDecision):
        return {"t": t, "type": "registry_finding", "camera": d.camera, "field": d.field, "registry": d.registry,
                "observed": d.observed, "evidence": dict(d.evidence)}
    return _notification_record(t, d)


def _incident_record(t: str, d: IncidentDecision) -> dict[str, Any]:
    rec: dict[str, Any] = {"t": t, "type": "incident", "id": d.id, "state": str(d.state), "cause": str(d.cause)}
    if d.state is not ChangeKind.CLOSED:
        rec["cameras"] = list(d.cameras)
        rec["scope"] = dict(d.scope)
    rec["evidence"] = dict(d.evidence)
    return rec


def _notification_record(t: str, d: NotificationDecision) -> dict[str, Any]:
    rec: dict[str, Any] = {"t": t, "type": "notification", "audience": str(d.audience), "kind": str(d.kind)}
    if d.camera is not None:
        rec["camera"] = d.camera
    if d.channel is not None:
        rec["channel"] = d.channel
    rec["incident"] = d.incident
    if d.count is not None:
        rec["count"] = d.count
    if d.cause is not None:
        rec["cause"] = str(d.cause)
    return rec
