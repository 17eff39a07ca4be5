"""Replay a scenario into a database through the live service's own `DecisionLoop`.

``mimamori replay … --db URL`` uses this: every interval of the scenario is one
``loop.round(cameras, observations, references, now)``, exactly as the service runs a probe round, so
the database ends up with what the service would have stored (raw observations, hourly rollups, state
intervals, incidents and their member spans, decided notifications) and a weekly report can be made
from a replayed scenario.
"""

from __future__ import annotations

import time as _time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.fernet import Fernet

from monitor.config.registry import load_cameras
from monitor.config.secrets import PasswordBox
from monitor.core.decisions import ChangeKind, Decision, FindingDecision, IncidentDecision, NotificationDecision
from monitor.core.engine import Policies
from monitor.replay import obsformat
from monitor.service.decide import DecisionLoop
from monitor.service.ticketing import tickets_only
from monitor.store.cameras import apply_registry
from monitor.store.db import make_engine, session_factory, upgrade
from monitor.store.report_models import track_incident_spans


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayDbStats:
    cameras: int
    observations: int
    references: int
    intervals: int
    decisions: int
    incidents: int
    notifications: int
    findings: int  # registry findings (withdrawals included)
    first: datetime | None
    last: datetime | None
    seconds: float


def _tally(kinds: Counter[str], decisions: Sequence[Decision]) -> None:
    """Count a round's decisions: all of them, incidents opened, notifications, registry findings."""
    for d in decisions:
        if isinstance(d, IncidentDecision):
            kinds["opened" if d.state is ChangeKind.OPEN else "incident"] += 1
        elif isinstance(d, NotificationDecision):
            kinds["notification"] += 1
        elif isinstance(d, FindingDecision):
            kinds["finding"] += 1


def replay_into_db(
    registry_csv: Path | str,
    observations_path: Path | str,
    db_url: str,
    policies: Policies | None = None,
    *,
    interval_s: float = 60.0,
    box: PasswordBox | None = None,
) -> ReplayDbStats:
    """Import the registry, then drive one `DecisionLoop` round per scenario interval into ``db_url``.

    ``box`` seals ONVIF passwords of the registry (pass the store's box; by default a throwaway key,
    fine for scenarios, which carry none). A database that already holds a later round resumes after
    it (the loop skips rounds it has decided), so an interrupted replay can simply be run again.
    """
    cameras = load_cameras(registry_csv)
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        sessions = track_incident_spans(session_factory(engine))
        with sessions.begin() as s:
            apply_registry(s, cameras, box or PasswordBox(Fernet.generate_key()), datetime.now(UTC))
        by_id = {c.camera_id: c for c in cameras}
        policies = policies or Policies()
        loop = DecisionLoop(sessions, policies, interval_s,
                            after_step=tickets_only(ZoneInfo(policies.escalation.tz)))
        start = _time.perf_counter()
        n_obs = n_refs = n_rounds = 0
        kinds: Counter[str] = Counter()
        first = last = None
        for now, obs, refs in obsformat.rounds_of(obsformat.read(observations_path), interval_s):
            _tally(kinds, loop.round(by_id, obs, refs, now))
            n_obs, n_refs, n_rounds = n_obs + len(obs), n_refs + len(refs), n_rounds + 1
            first = first or now
            last = now
        return ReplayDbStats(cameras=len(cameras), observations=n_obs, references=n_refs, intervals=n_rounds,
                             decisions=kinds.total(), incidents=kinds["opened"], notifications=kinds["notification"],
                             findings=kinds["finding"], first=first, last=last, seconds=_time.perf_counter() - start)
    finally:
        engine.dispose()
