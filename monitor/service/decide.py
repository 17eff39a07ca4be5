"""The live service's decision loop: the same `engine.step` as replay, state checkpointed in the store.

Each round's observations, the decisions they lead to and the core's next state are committed in
one transaction, so a restart (or a crash) resumes from the last committed round and never decides,
and so never queues, anything twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from monitor.config.settings import Settings, classifier_policy, escalation_policy
from monitor.core.decisions import Decision
from monitor.core.domain import Camera, Observation, ReferenceObservation
from monitor.core.engine import EngineState, Policies, engine_state_from_json, engine_state_to_json, step
from monitor.store.decisions import load_state, save_step, state_time
from monitor.store.observations import record_round


def policies_of(s: Settings) -> Policies:
    return Policies(classifier=classifier_policy(s), escalation=escalation_policy(s))


AfterStep = Callable[[Session, Sequence[Decision], Mapping[str, Camera], datetime], object]


class DecisionLoop:
    """``after_step`` runs inside the round's transaction (the outbox enqueues there)."""

    def __init__(self, sessions: sessionmaker[Session], policies: Policies, interval_s: float,
                 after_step: AfterStep | None = None, fence: Callable[[Session], object] | None = None):
        self.after_step = after_step
        self.fence = fence
        self.sessions = sessions
        self.policies = policies
        self.interval_s = interval_s
        self.reload()

    def reload(self) -> None:
        """Take the state from the last committed round (at start, and when this node becomes the decider:
        another one may have decided since)."""
        with self.sessions() as s:
            loaded = load_state(s)
        self.state = engine_state_from_json(loaded[1]) if loaded else EngineState()
        self.last_t: datetime | None = loaded[0] if loaded else None

    def round(
        self,
        cameras: Mapping[str, Camera],
        observations: Sequence[Observation],
        references: Sequence[ReferenceObservation],
        now: datetime,
    ) -> list[Decision]:
        """Store one round and decide on it; returns the round's decisions. With a fence, the round is
        written only while this process still holds the decider lease (else the fence raises)."""
        if self.last_t is not None and now <= self.last_t:
            return []  # this round was stored and decided before a restart: nothing twice
        with self.sessions.begin() as session:
            if self.fence is not None:
                self.fence(session)  # a deposed decider's round raises here and writes nothing
            if state_time(session) != self.last_t:  # another decider went on since this one read: from there
                stored = load_state(session)
                self.state = engine_state_from_json(stored[1]) if stored else EngineState()
                self.last_t = stored[0] if stored else None
                if self.last_t is not None and now <= self.last_t:
                    return []
            result = step(self.state, cameras, observations, references, now, self.policies)
            record_round(session, observations, references, cameras, self.interval_s)
            save_step(session, now, engine_state_to_json(result.state), result.decisions)
            if self.after_step is not None and result.decisions:
                self.after_step(session, result.decisions, cameras, now)
        self.state, self.last_t = result.state, now
        return result.decisions
