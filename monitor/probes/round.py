"""One probe round: every camera once, spread over the interval, with bounded concurrency.

Per camera: a TCP connect to the RTSP port (reachable, RTT), ONVIF GetSystemDateAndTime (onvif_ok,
clock skew), and frame rate / longest gap from a FrameStatsSource, all folded into one Observation.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from monitor.core.domain import Camera, Observation, ReferenceObservation
from monitor.probes.frames import FrameStatsSource
from monitor.probes.onvif import OnvifResult, onvif_check
from monitor.probes.rtsp_sample import FrameStats
from monitor.probes.tcp import tcp_connect_rtt

RTSP_PORT = 554


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeConfig:
    tcp_timeout_s: float = 5.0
    onvif_timeout_s: float = 5.0
    sample_s: float = 4.0
    concurrency: int = 200
    jitter_s: float = 2.0


def rtsp_endpoint(url: str) -> tuple[str, int] | None:
    """Pure: host and port of an rtsp:// URL (IPv6 literals unbracketed), None if there is no host."""
    try:
        parts = urlsplit(url)
        port = parts.port or RTSP_PORT
    except ValueError:
        return None
    return (parts.hostname, port) if parts.hostname else None


def start_offset(camera_id: str, spread_s: float, jitter_s: float, rng: random.Random) -> float:
    """Stable per-camera slot in [0, spread_s) from a hash of its id, plus a little jitter."""
    if spread_s <= 0:
        return 0.0
    h = int.from_bytes(hashlib.blake2b(camera_id.encode(), digest_size=8).digest(), "big")
    base = (h / 2**64) * spread_s
    return min(max(base + rng.uniform(-jitter_s, jitter_s), 0.0), spread_s)


def fold(
    camera: Camera,
    t: datetime,
    rtt_ms: float | None,
    onvif: OnvifResult,
    frames: FrameStats | None,
    window_s: float,
) -> Observation:
    """Pure: the three probe results -> one scenario-format observation."""
    reachable = rtt_ms is not None
    fps: float | None = None
    max_gap: float | None = None
    if reachable and frames is not None:
        if frames.connected and frames.fps > 0:
            fps, max_gap = frames.fps, frames.max_gap_s
        else:  # reachable, but no frames came through during the window
            fps, max_gap = 0.0, frames.max_gap_s if frames.connected and frames.max_gap_s else window_s
    return Observation(
        t=t,
        camera=camera.camera_id,
        reachable=reachable,
        rtt_ms=rtt_ms,
        onvif_ok=onvif.ok,
        fps=fps,
        max_gap_s=max_gap,
        clock_skew_s=onvif.clock_skew_s,
    )


async def probe_camera(
    camera: Camera, now: datetime, cfg: ProbeConfig, frames: FrameStatsSource, *, t: datetime | None = None
) -> Observation:
    """Probe one camera. ``now`` is the current time (for the clock skew); ``t`` labels the observation
    (the round's time; defaults to ``now``)."""
    endpoint = rtsp_endpoint(camera.rtsp_url)

    async def tcp() -> float | None:
        return None if endpoint is None else await tcp_connect_rtt(*endpoint, cfg.tcp_timeout_s)

    async def onvif() -> OnvifResult:
        if not camera.onvif_url:
            return OnvifResult(ok=False)
        pw = camera.onvif_password.reveal() if camera.onvif_password is not None else ""
        return await onvif_check(camera.onvif_url, camera.onvif_user or "", pw, cfg.onvif_timeout_s, now)

    async def tcp_then_frames() -> tuple[float | None, FrameStats | None]:
        rtt = await tcp()
        if rtt is None:
            return None, None
        return rtt, await frames.stats(camera, cfg.sample_s)

    (rtt, stats), onv = await asyncio.gather(tcp_then_frames(), onvif())
    return fold(camera, t or now, rtt, onv, stats, cfg.sample_s)


async def probe_round(
    cameras: Sequence[Camera],
    now: datetime,
    cfg: ProbeConfig,
    frames: FrameStatsSource,
    *,
    spread_s: float,
    on_start: Callable[[str, float], None] | None = None,
    rng: random.Random | None = None,
) -> list[Observation]:
    """Probe every camera once, in input order. Each starts at its stable slot within ``spread_s``
    (plus jitter) and waits for one of ``cfg.concurrency`` permits. ``on_start(camera_id, lag_s)``
    is told how late each probe started against its slot."""
    loop = asyncio.get_running_loop()
    rng = rng or random.Random()
    sem = asyncio.Semaphore(max(1, cfg.concurrency))
    t0 = loop.time()

    async def one(camera: Camera) -> Observation:
        slot = t0 + start_offset(camera.camera_id, spread_s, cfg.jitter_s, rng)
        await asyncio.sleep(max(0.0, slot - loop.time()))
        async with sem:
            started = loop.time()
            if on_start is not None:
                on_start(camera.camera_id, started - slot)
            at = now + timedelta(seconds=started - t0)
            return await probe_camera(camera, at, cfg, frames, t=now)

    return list(await asyncio.gather(*(one(c) for c in cameras)))


async def reference_round(
    targets: list[tuple[str, str, int]], now: datetime, timeout: float
) -> list[ReferenceObservation]:
    """TCP-connect each (name, host, port) of the monitor's own network (gateway, resolver)."""
    rtts = await asyncio.gather(*(tcp_connect_rtt(host, port, timeout) for _n, host, port in targets))
    return [
        ReferenceObservation(t=now, reference=name, reachable=rtt is not None)
        for (name, _h, _p), rtt in zip(targets, rtts, strict=True)
    ]
