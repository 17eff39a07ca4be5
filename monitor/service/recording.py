"""The recorder inside the service: its settings, its start and stop, and frame statistics from it.

The recorder already receives every frame of the cameras it pulls, so for those cameras the frame
rate and the longest gap of an observation come from its ingest (`RecorderFrames`). The RTSP sampling
probe runs only for cameras the recorder is not pulling: recording disabled, disabled for that
camera, no RTSP URL, or an id that cannot name a directory. A camera the recorder pulls but cannot
reach right now (it is backing off between reconnects) is still the recorder's: sampling it as well
would only add load on the owner's line.

`recorder` imports nothing of ours; this module adapts between the two (each has its own
`FrameStats`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.config.recorder import RecorderSettings
from monitor.core.domain import Camera
from monitor.core.errors import ConfigError
from monitor.probes.frames import FrameStatsSource
from monitor.probes.rtsp_sample import FrameStats
from recorder import Backoff, Recorder, RecorderConfig, RetentionPolicy
from recorder.domain import check_camera_id
from recorder.errors import RootTaken
from recorder.stats import FrameStats as RecorderFrameStats

if TYPE_CHECKING:
    from monitor.config.settings import Settings
    from monitor.service.app import Store

log = logging.getLogger("mimamori.recording")

STATUS_FILE = "recorder-status.json"


def recorder_settings(s: Settings) -> RecorderSettings:
    """The ``recorder`` section (its defaults while Settings does not carry the field yet)."""
    return getattr(s, "recorder", None) or RecorderSettings()


def recorder_root(s: Settings) -> Path:
    return recorder_settings(s).root or s.data_dir / "recordings"


def status_path(s: Settings) -> Path:
    return s.data_dir / STATUS_FILE


def recorder_config(s: Settings) -> RecorderConfig:
    r = recorder_settings(s)
    window = r.stats_window_s or s.probes.interval_s
    return RecorderConfig(
        root=recorder_root(s), segment_s=r.segment_s, open_timeout_s=r.open_timeout_s,
        read_timeout_s=r.read_timeout_s, stall_timeout_s=r.stall_timeout_s, read_batch_s=r.read_batch_s,
        backoff=Backoff(initial_s=r.backoff_initial_s, cap_s=r.backoff_cap_s),
        retention=RetentionPolicy(period=timedelta(days=r.retention_days),
                                  free_floor_bytes=int(r.free_floor_gb * 1024**3)),
        janitor_interval_s=r.janitor_interval_s, stats_horizon_s=max(900.0, 2 * window), node=s.cluster.node_id,
    )


def recordable(cameras: Iterable[Camera], r: RecorderSettings) -> list[tuple[str, str]]:
    """Pure: (camera_id, rtsp_url) of the cameras the recorder should pull."""
    if not r.enabled:
        return []
    disabled = set(r.cameras_disabled)
    out = []
    for c in cameras:
        if not c.rtsp_url or c.camera_id in disabled:
            continue
        try:
            check_camera_id(c.camera_id)
        except ValueError:
            log.warning("camera %r is not recorded: its id cannot name a directory", c.camera_id)
            continue
        out.append((c.camera_id, c.rtsp_url))
    return out


def as_observed(st: RecorderFrameStats) -> FrameStats:
    """Pure: the recorder's statistics in the monitor's terms. The monitor's `connected` means "a
    session delivered or could deliver frames in the window": a camera that sent frames during the
    window counts even if its session dropped just before the probe."""
    return FrameStats(frames=st.frames, fps=st.fps, max_gap_s=st.max_gap_s, bytes=st.bytes,
                      connected=st.connected or st.frames > 0)


class RecorderFrames:
    """The monitor's `FrameStatsSource`: the recorder's statistics over `window_s` for cameras it
    pulls; `fallback` (RTSP sampling) for any other camera."""

    def __init__(self, recorder: Recorder, fallback: FrameStatsSource, window_s: float):
        self._recorder = recorder
        self.fallback = fallback
        self.window_s = window_s

    async def stats(self, camera: Camera, window_s: float) -> FrameStats | None:
        st = await self._recorder.frame_source.stats(camera.camera_id, self.window_s)
        if st is not None:
            return as_observed(st)
        return await self.fallback.stats(camera, window_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionNotice:
    """For the operator: the disk guard left less footage than the retention period."""

    at: datetime
    text: str
    actual_retention: timedelta | None


def notice_due(last_sent: datetime | None, now: datetime, repeat: timedelta) -> bool:
    """Pure: tell the operator at once, then at most once per `repeat` while the shortfall lasts."""
    return last_sent is None or now - last_sent >= repeat


class RecorderRuntime:
    """The running recorder of one service process. Its blocking calls run in threads."""

    def __init__(self, recorder: Recorder, settings: RecorderSettings, window_s: float, status_file: Path):
        self.recorder = recorder
        self.settings = settings
        self.window_s = window_s
        self.status_file = status_file
        self._notice_sent: datetime | None = None
        self._syncing = asyncio.Lock()  # one sync at a time (the registry reload and the cluster's changes)

    def frames(self, fallback: FrameStatsSource) -> RecorderFrames:
        return RecorderFrames(self.recorder, fallback, self.window_s)

    @property
    def cameras(self) -> list[str]:
        return self.recorder.cameras

    async def sync(self, cameras: Iterable[Camera]) -> None:
        """Follow the registry (and, in a cluster, this node's share): pull new cameras, stop those
        removed, disabled or now recorded by another node."""
        wanted = recordable(cameras, self.settings)
        async with self._syncing:
            gone = set(self.recorder.cameras) - {c for c, _ in wanted}
            if gone:
                await asyncio.to_thread(self.recorder.stop_cameras, sorted(gone))
            await asyncio.to_thread(self.recorder.start, wanted)

    def retention_notice(self, now: datetime, repeat: timedelta = timedelta(days=1)) -> RetentionNotice | None:
        """The janitor's latest notice, if the operator should hear it now (call it from a job)."""
        last = self.recorder.last_janitor
        if last is None or last.plan.notice is None:
            self._notice_sent = None
            return None
        if not notice_due(self._notice_sent, now, repeat):
            return None
        self._notice_sent = now
        return RetentionNotice(at=now, text=last.plan.notice, actual_retention=last.plan.actual_retention)

    async def frame_table(self) -> dict[str, tuple[int, float, float | None, int, bool]]:
        """camera -> (frames, fps, longest gap, bytes, connected) over the stats window, for the cameras
        this node records: what it publishes for the decider (`store.cluster.publish_frames`)."""
        out = {}
        for cam in self.recorder.cameras:
            st = await self.recorder.frame_source.stats(cam, self.window_s)
            if st is not None:
                o = as_observed(st)
                out[cam] = (o.frames, o.fps, o.max_gap_s, o.bytes, o.connected)
        return out

    async def write_status(self) -> dict:
        """Write what `mimamori recorder status` shows (connected, fps), for a separate process; returns the
        per-camera part."""
        status = await asyncio.to_thread(self.recorder.status, self.window_s)
        now = datetime.now(UTC)
        doc = {
            "written_at": now.isoformat(), "window_s": self.window_s,
            "cameras": {c: {"connected": st.connected, "fps": round(st.fps, 3), "reconnects": st.reconnects,
                            "last_error": st.last_error, "segments": st.segments_written,
                            "bytes": st.bytes_written} for c, st in status.items()},
        }
        await asyncio.to_thread(_write_private, self.status_file, json.dumps(doc, indent=1))
        return doc["cameras"]

    async def stop(self) -> None:
        """Stop every worker (each closes and indexes its open segment) and the janitor."""
        await asyncio.to_thread(self.recorder.stop)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def read_status(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


async def start_recorder(s: Settings, store: Store, cameras: Iterable[Camera]) -> RecorderRuntime:
    """Reconcile the segment directory with the index, then pull every recordable camera."""
    r = recorder_settings(s)
    config = recorder_config(s)
    recorder = Recorder(config, store.sessions)
    runtime = RecorderRuntime(recorder, r, r.stats_window_s or s.probes.interval_s, status_path(s))
    wanted = recordable(cameras, r)
    try:
        await asyncio.to_thread(recorder.start, wanted)
    except RootTaken as e:
        raise ConfigError(str(e)) from None
    log.info("recording %d cameras to %s", len(wanted), config.root)
    return runtime
