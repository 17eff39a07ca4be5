"""One probe interval through the whole decision core: classify, then escalate, then decision records.

The live service and replay both call `step` (or `step_samples`, the same thing on light tuples);
only the clock and the source of observations differ. The state is checkpointed after every step
with `engine_state_to_json` so that a restart continues exactly where it stopped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from monitor.core.classify.fleet import classify_samples, to_sample
from monitor.core.classify.state import (
    ChangeKind,
    FleetIndex,
    FleetState,
    IncidentChange,
    Sample,
    as_index,
    state_from_json,
    state_to_json,
)
from monitor.core.domain import Camera, Observation, ReferenceObservation
from monitor.core.escalate import EscalationState, Notification, escalate, escalation_from_json, escalation_to_json
from monitor.core.policy import ClassifierPolicy, EscalationPolicy


@dataclass(frozen=True, slots=True, kw_only=True)
class Policies:
    classifier: ClassifierPolicy = field(default_factory=ClassifierPolicy)
    escalation: EscalationPolicy = field(default_factory=EscalationPolicy)


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineState:
    fleet: FleetState = field(default_factory=FleetState)
    escalation: EscalationState = field(default_factory=EscalationState)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepResult:
    state: EngineState
    decisions: list[dict]
    changes: list[IncidentChange]
    notifications: list[Notification]


def step(
    state: EngineState,
    cameras: Mapping[str, Camera] | FleetIndex,
    observations: Sequence[Observation],
    references: Sequence[ReferenceObservation],
    now: datetime,
    policies: Policies,
) -> StepResult:
    return step_samples(state, as_index(cameras), [to_sample(o) for o in observations],
                        [r.reachable for r in references], now, policies)


def step_samples(
    state: EngineState,
    index: FleetIndex,
    samples: Sequence[Sample | tuple],
    references_reachable: Sequence[bool],
    now: datetime,
    policies: Policies,
) -> StepResult:
    fleet, changes = classify_samples(state.fleet, index, samples, references_reachable,
                                      int(now.timestamp()), policies.classifier)
    esc, notes = escalate(state.escalation, fleet.incidents, changes, index.cameras, now, policies.escalation)
    if not changes and not notes:
        return StepResult(state=EngineState(fleet=fleet, escalation=esc), decisions=[], changes=changes,
                          notifications=notes)
    t = now.astimezone(ZoneInfo(policies.escalation.tz)).isoformat(timespec="seconds")
    decisions = [incident_record(t, ch) for ch in changes] + [notification_record(t, n) for n in notes]
    return StepResult(state=EngineState(fleet=fleet, escalation=esc), decisions=decisions, changes=changes,
                      notifications=notes)


def incident_record(t: str, ch: IncidentChange) -> dict[str, Any]:
    inc = ch.incident
    rec: dict[str, Any] = {"t": t, "type": "incident", "id": inc.id, "state": str(ch.kind), "cause": str(inc.cause)}
    if ch.kind is not ChangeKind.CLOSED:
        rec["cameras"] = sorted(inc.members)
        rec["scope"] = dict(inc.scope)
    rec["evidence"] = dict(inc.evidence)
    return rec


def notification_record(t: str, n: Notification) -> dict[str, Any]:
    rec: dict[str, Any] = {"t": t, "type": "notification", "audience": str(n.audience), "kind": str(n.kind)}
    if n.camera is not None:
        rec["camera"] = n.camera
    if n.channel is not None:
        rec["channel"] = n.channel
    rec["incident"] = n.incident
    if n.count is not None:
        rec["count"] = n.count
    if n.cause is not None:
        rec["cause"] = str(n.cause)
    return rec


def engine_state_to_json(state: EngineState) -> dict:
    return {"fleet": state_to_json(state.fleet), "escalation": escalation_to_json(state.escalation)}


def engine_state_from_json(d: Mapping[str, Any]) -> EngineState:
    return EngineState(fleet=state_from_json(d["fleet"]), escalation=escalation_from_json(d["escalation"]))
