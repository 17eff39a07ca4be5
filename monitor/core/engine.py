"""One probe interval through the whole decision core: classify, then escalate, then typed decisions.

The live service and replay both call `step` (or `step_samples`, the same thing on light tuples);
only the clock and the source of observations differ. A step's decisions are the typed values of
`monitor.core.decisions`; the scenario format's dicts are made from them (`to_record`) only where a
file is written. The state is checkpointed after every step with `engine_state_to_json` so that a
restart continues exactly where it stopped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.core.classify.fleet import classify_round, to_sample
from monitor.core.classify.state import (
    FleetIndex,
    FleetState,
    IncidentChange,
    Sample,
    as_index,
    state_from_json,
    state_to_json,
)
from monitor.core.decisions import Decision, finding_decision, incident_decision, notification_decision
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
    decisions: list[Decision]  # incidents first, then notifications, in the order the core made them
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
    fleet, changes, findings = classify_round(state.fleet, index, samples, references_reachable,
                                              int(now.timestamp()), policies.classifier)
    esc, notes = escalate(state.escalation, fleet.incidents, changes, index.cameras, now, policies.escalation)
    if not changes and not notes and not findings:
        return StepResult(state=EngineState(fleet=fleet, escalation=esc), decisions=[], changes=changes,
                          notifications=notes)
    t = now.replace(microsecond=0)  # decisions are to the second, as the scenario format writes them
    decisions: list[Decision] = [incident_decision(t, ch) for ch in changes]
    decisions += [notification_decision(t, n) for n in notes]
    decisions += [finding_decision(t, f) for f in findings]
    return StepResult(state=EngineState(fleet=fleet, escalation=esc), decisions=decisions, changes=changes,
                      notifications=notes)


def engine_state_to_json(state: EngineState) -> dict:
    return {"fleet": state_to_json(state.fleet), "escalation": escalation_to_json(state.escalation)}


def engine_state_from_json(d: Mapping[str, Any]) -> EngineState:
    return EngineState(fleet=state_from_json(d["fleet"]), escalation=escalation_from_json(d["escalation"]))
