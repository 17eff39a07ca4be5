"""Where frame rate and gaps come from: the recorder's ingest, or a sampling probe for cameras the
recorder is not pulling."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Protocol

from monitor.core.domain import Camera
from monitor.probes.rtsp_sample import FrameStats, sample_rtsp_async


class FrameStatsSource(Protocol):
    async def stats(self, camera: Camera, window_s: float) -> FrameStats | None:
        """Frame statistics over the last ``window_s`` seconds, or None if this source has none."""
        ...


class RtspSamplingSource:
    """Opens the camera's RTSP stream for ``window_s`` seconds (PyAV, TCP, in a worker thread)."""

    def __init__(self, *, open_timeout_s: float = 5.0, executor: Executor | None = None):
        self.open_timeout_s = open_timeout_s
        self.executor = executor

    async def stats(self, camera: Camera, window_s: float) -> FrameStats | None:
        if not camera.rtsp_url:
            return None
        return await sample_rtsp_async(
            camera.rtsp_url, window_s, self.open_timeout_s, executor=self.executor
        )
