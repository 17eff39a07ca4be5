"""Replay recorded observations through the decision core with a virtual clock.

The same `engine.step_samples` as the live service, one call per probe interval; the virtual clock
is simply the interval's time. Records must be in time order (the scenario format guarantees it).

    python -m monitor.replay.files --registry cameras.csv --observations observations.jsonl.gz --out decisions.jsonl
"""

from __future__ import annotations

import argparse
import json
import time as _time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor.config.registry import load_cameras
from monitor.core.classify.state import FleetIndex
from monitor.core.decisions import (
    ChangeKind,
    Decision,
    FindingDecision,
    IncidentDecision,
    NotificationDecision,
    to_record,
)
from monitor.core.domain import Camera, Observation, ReferenceObservation
from monitor.core.engine import EngineState, Policies, step_samples
from monitor.core.errors import ObservationFormatError
from monitor.replay.obsformat import read_rounds, rounds_of

GROUP_INTERVAL_S = 60  # the scenarios and the default probe interval: rounds by probe interval
Interval = tuple[str, list[tuple], list[bool]]  # (t as written, samples, reference reachabilities)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayStats:
    observations: int
    references: int
    intervals: int
    decisions: int
    incidents: int
    notifications: int
    findings: int  # registry findings (withdrawals included)
    seconds: float

    @property
    def observations_per_second(self) -> float:
        return self.observations / self.seconds if self.seconds > 0 else 0.0


def index_cameras(cameras: Iterable[Camera]) -> FleetIndex:
    return FleetIndex.from_cameras({c.camera_id: c for c in cameras})


def _intervals_from_records(records: Iterable[Observation | ReferenceObservation],
                            interval_s: float) -> Iterator[Interval]:
    for t, obs, refs in rounds_of(records, interval_s):
        yield (t.isoformat(), [(o.camera, o.reachable, o.rtt_ms, o.onvif_ok, o.fps, o.max_gap_s) for o in obs],
               [r.reachable for r in refs])


def read_intervals(path: Path | str, interval_s: float = GROUP_INTERVAL_S) -> Iterator[Interval]:
    """The scenario file in probe rounds, as light tuples (the fast path: no per-line dataclass)."""
    for t, samples, refs in read_rounds(path, interval_s):
        yield t.isoformat(), samples, refs


def _drive(index: FleetIndex, intervals: Iterable[Interval], policies: Policies,
           state: EngineState | None = None) -> Iterator[Decision]:
    state = state or EngineState()
    last: datetime | None = None
    for t_text, samples, refs in intervals:
        now = datetime.fromisoformat(t_text)
        if now.tzinfo is None:
            raise ObservationFormatError(f"time {t_text} has no UTC offset")
        if last is not None and now <= last:
            raise ObservationFormatError(f"records out of time order at {t_text}")
        last = now
        res = step_samples(state, index, samples, refs, now, policies)
        state = res.state
        yield from res.decisions


def replay(cameras: list[Camera] | FleetIndex, records: Iterable[Observation | ReferenceObservation],
           policies: Policies | None = None) -> Iterator[Decision]:
    """The decisions on a stream of time-ordered records, as the live service would have taken them."""
    index = cameras if isinstance(cameras, FleetIndex) else index_cameras(cameras)
    return _drive(index, _intervals_from_records(records, GROUP_INTERVAL_S), policies or Policies())


def replay_files(registry_csv: Path | str, observations_path: Path | str, out_path: Path | str,
                 policies: Policies | None = None, interval_s: float = GROUP_INTERVAL_S) -> ReplayStats:
    index = index_cameras(load_cameras(registry_csv))
    policies = policies or Policies()
    counts = {"obs": 0, "refs": 0, "intervals": 0}

    def counted() -> Iterator[Interval]:
        for iv in read_intervals(observations_path, interval_s):
            counts["obs"] += len(iv[1])
            counts["refs"] += len(iv[2])
            counts["intervals"] += 1
            yield iv

    start = _time.perf_counter()
    n = incidents = notes = findings = 0
    dumps, tz = json.dumps, ZoneInfo(policies.escalation.tz)
    with open(out_path, "w", encoding="utf-8") as out:
        for d in _drive(index, counted(), policies):
            out.write(dumps(to_record(d, tz), ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
            if isinstance(d, IncidentDecision):
                incidents += d.state is ChangeKind.OPEN
            elif isinstance(d, NotificationDecision):
                notes += 1
            elif isinstance(d, FindingDecision):
                findings += 1
    return ReplayStats(observations=counts["obs"], references=counts["refs"], intervals=counts["intervals"],
                       decisions=n, incidents=incidents, notifications=notes, findings=findings,
                       seconds=_time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m monitor.replay.files", description=__doc__.splitlines()[0])
    ap.add_argument("--registry", required=True)
    ap.add_argument("--observations", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    s = replay_files(a.registry, a.observations, a.out)
    print(f"{s.observations} observations, {s.intervals} intervals -> {s.decisions} decisions "
          f"({s.incidents} incidents, {s.notifications} notifications, {s.findings} registry findings) "
          f"in {s.seconds:.2f}s "
          f"= {s.observations_per_second:,.0f} obs/s")


if __name__ == "__main__":
    main()
