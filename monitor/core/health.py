"""Pure per-observation health: the camera state an observation shows, and its hourly rollup share."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.core.domain import Observation


class CameraState(enum.StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


DEGRADED_FPS_RATIO = 0.5  # below half the expected frame rate a camera is recording poorly


def observation_state(obs: Observation, expected_fps: float) -> CameraState:
    if not obs.reachable:
        return CameraState.DOWN
    if obs.fps is not None and obs.fps < expected_fps * DEGRADED_FPS_RATIO:
        return CameraState.DEGRADED
    return CameraState.UP


@dataclass(frozen=True, slots=True, kw_only=True)
class RollupShare:
    hour: datetime
    probe_ok: bool
    frames_received: float
    frames_expected: float
    max_gap_s: float | None


def rollup_share(obs: Observation, expected_fps: float, interval_s: float) -> RollupShare:
    t = obs.t.astimezone(UTC)
    return RollupShare(
        hour=t.replace(minute=0, second=0, microsecond=0),
        probe_ok=obs.reachable,
        frames_received=(obs.fps or 0.0) * interval_s if obs.reachable else 0.0,
        frames_expected=expected_fps * interval_s,
        max_gap_s=obs.max_gap_s,
    )
