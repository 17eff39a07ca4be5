"""The scenario's ground truth as minutes by cause per camera, counted the way the report counts.

Two adjustments, both stated here rather than hidden in a tolerance:

- Overlapping truth events of one camera give each minute to one cause, with the report's precedence
  (``CAUSE_PRECEDENCE``): e.g. a local outage during an ISP congestion counts as local outage.
- A local congestion while the camera's ISP has a congestion event is unobservable as such: the
  camera is slow together with its ISP's other cameras, and the classifier (rightly, from what it can
  see) calls it ISP congestion. Those minutes are moved to ``isp_congestion`` and counted in
  ``relabelled``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitor.core.domain import Cause
from monitor.report.maths import CauseSpan, minutes_by_cause


@dataclass(frozen=True)
class TruthEvent:
    cause: Cause
    cameras: tuple[str, ...]
    start: datetime
    end: datetime
    scope: dict


def read_truth(path: Path) -> list[TruthEvent]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            out.append(TruthEvent(cause=Cause(d["cause"]), cameras=tuple(d["cameras"]),
                                  start=datetime.fromisoformat(d["start"]), end=datetime.fromisoformat(d["end"]),
                                  scope=d.get("scope", {})))
    return out


def truth_minutes(events: list[TruthEvent], isp_of: dict[str, str], lo: datetime, hi: datetime
                  ) -> tuple[dict[str, dict[Cause, float]], dict[str, int], float]:
    """(minutes by cause per camera, truth events per camera, minutes relabelled local -> ISP congestion)."""
    isp_cong = [e for e in events if e.cause is Cause.ISP_CONGESTION]
    spans: dict[str, list[CauseSpan]] = defaultdict(list)
    n_events: dict[str, int] = defaultdict(int)
    relabelled = 0.0
    for e in events:
        for cam in e.cameras:
            n_events[cam] += 1
            if e.cause is not Cause.LOCAL_CONGESTION:
                spans[cam].append(CauseSpan(camera=cam, cause=e.cause, start=e.start, end=e.end))
                continue
            # split the local congestion by the camera's ISP's congestion events
            cuts = sorted((max(i.start, e.start), min(i.end, e.end)) for i in isp_cong
                          if i.scope.get("isp") == isp_of[cam] and i.start < e.end and i.end > e.start)
            t = e.start
            for a, b in cuts:
                if a > t:
                    spans[cam].append(CauseSpan(camera=cam, cause=e.cause, start=t, end=a))
                spans[cam].append(CauseSpan(camera=cam, cause=Cause.ISP_CONGESTION, start=a, end=b))
                relabelled += (b - a).total_seconds() / 60
                t = max(t, b)
            if t < e.end:
                spans[cam].append(CauseSpan(camera=cam, cause=e.cause, start=t, end=e.end))
    return {cam: minutes_by_cause(sp, lo, hi) for cam, sp in spans.items()}, dict(n_events), relabelled
