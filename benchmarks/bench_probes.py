"""Probe cost on loopback: CPU per 1,000 probes and start lag, per probe kind.

    .venv/bin/python benchmarks/bench_probes.py [--endpoints 2000] [--rtsp 50]

- TCP and ONVIF: ``--endpoints`` simulated ONVIF devices in one responder process (one port each). The
  TCP probe connects to those same ports (plain listening sockets; 2,000 GStreamer RTSP servers would
  be too heavy here). Probes go through the real ``probe_round``, spread so they start at the
  production rate (10,000 cameras / 60 s = 167 probes/s).
- RTSP sampling: ``--rtsp`` real GStreamer RTSP cameras at 15 fps, 4 s samples with PyAV.

CPU is this process's user+system time (getrusage, all threads); the peer processes are reported
apart. Loopback only; stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.core.domain import Camera, Secret  # noqa: E402
from monitor.demo.simulate.fleet import ControlChild, SimulatedFleet  # noqa: E402
from monitor.probes import onvif as onvif_probe  # noqa: E402
from monitor.probes.frames import RtspSamplingSource  # noqa: E402
from monitor.probes.round import ProbeConfig, probe_round  # noqa: E402
from monitor.probes.rtsp_sample import FrameStats  # noqa: E402

FLEET, INTERVAL = 10_000, 60.0
RATE = FLEET / INTERVAL


class NoFrames:
    async def stats(self, camera: Camera, window_s: float) -> FrameStats | None:
        return None


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def p99(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[98] if len(xs) >= 2 else (xs[0] if xs else 0.0)


async def measure(
    name: str, n: int, run: Callable[[Callable[[str, float], None]], Awaitable[list]], peers: list[int]
) -> dict:
    lags: list[float] = []
    c0, w0 = cpu(), time.perf_counter()
    p0 = sum(proc_cpu(p) for p in peers)
    obs = await run(lambda _cam, lag: lags.append(lag))
    c1, w1 = cpu() - c0, time.perf_counter() - w0
    peer = sum(proc_cpu(p) for p in peers) - p0
    per_k = c1 / n * 1000
    row = {
        "kind": name,
        "probes": n,
        "wall_s": round(w1, 1),
        "cpu_s": round(c1, 2),
        "cpu_s_per_1000": round(per_k, 2),
        "lag_p99_ms": round(p99(lags) * 1000, 1),
        "lag_max_ms": round(max(lags, default=0) * 1000, 1),
        "cores_for_10k_at_60s": round(per_k * FLEET / 1000 / INTERVAL, 3),
        "peer_cpu_s": round(peer, 2),
        "ok": sum(1 for o in obs if o.reachable or o.onvif_ok),
        "with_frames": sum(1 for o in obs if o.fps),
    }
    print(json.dumps(row, ensure_ascii=False), flush=True)
    return row


async def naive_onvif_cost(port: int, n: int = 100) -> float:
    """CPU per call of the plain ONVIFCamera way (build camera + service per probe), for comparison."""
    from onvif import ONVIFCamera

    c0 = cpu()
    for _ in range(n):
        cam = ONVIFCamera("127.0.0.1", port, "admin", "pw", no_cache=True)
        await (await cam.create_devicemgmt_service()).GetSystemDateAndTime()
        await cam.close()
    return (cpu() - c0) / n


async def main(endpoints: int, rtsp: int) -> None:
    now = datetime.now(UTC)
    cfg = ProbeConfig(tcp_timeout_s=5, onvif_timeout_s=5, sample_s=4, concurrency=200, jitter_s=0.5)
    spread = endpoints / RATE
    print(f"# {endpoints} TCP/ONVIF endpoints (TCP probes hit the ONVIF responder's listening ports, "
          f"not RTSP servers), {rtsp} RTSP cameras; probes started at {RATE:.0f}/s over {spread:.1f} s; "
          f"concurrency {cfg.concurrency}; {os.cpu_count()} cores", flush=True)  # fmt: skip
    config = {
        "cameras": [
            {"id": f"B{i:05d}", "user": "admin", "password": "pw", "rtsp_url": "rtsp://127.0.0.1:9/x"}
            for i in range(endpoints)
        ]
    }
    child = ControlChild(
        [sys.executable, "-m", "monitor.demo.simulate.onvif_responder"], "onvif", first_line=json.dumps(config)
    )
    try:
        ports = child.read(120)["ports"]
        base = [
            Camera(camera_id=c, area="A", isp="i", line_id="L", expected_fps=15, onvif_user="admin",
                   onvif_password=Secret("pw"))
            for c in ports
        ]  # fmt: skip
        tcp_cams = [
            Camera(**{**_fields(c), "rtsp_url": f"rtsp://127.0.0.1:{ports[c.camera_id]}/stream1"}) for c in base
        ]
        onvif_cams = [
            Camera(**{**_fields(c), "onvif_url": f"http://127.0.0.1:{ports[c.camera_id]}/onvif/device_service"})
            for c in base
        ]
        await onvif_probe.onvif_check(onvif_cams[0].onvif_url, "admin", "pw", 5, now)  # warm the WSDL cache
        peers = [child.proc.pid]
        await measure("tcp", endpoints, lambda cb: probe_round(
            tcp_cams, now, cfg, NoFrames(), spread_s=spread, on_start=cb), peers)  # fmt: skip
        await measure("onvif", endpoints, lambda cb: probe_round(
            onvif_cams, now, cfg, NoFrames(), spread_s=spread, on_start=cb), peers)  # fmt: skip
        naive = await naive_onvif_cost(ports[base[0].camera_id])
        c0 = cpu()
        for c in onvif_cams[:100]:
            await onvif_probe.onvif_check(c.onvif_url, "admin", "pw", 5, now)
        cached = (cpu() - c0) / 100
        print(json.dumps({"kind": "onvif_check_sequential_per_call", "cpu_s_per_1000": round(cached * 1000, 2),
                          "cores_for_10k_at_60s": round(cached * FLEET / INTERVAL, 3)}), flush=True)  # fmt: skip
        print(json.dumps({"kind": "onvif_naive_ONVIFCamera_per_call", "cpu_s_per_1000": round(naive * 1000, 2),
                          "cores_for_10k_at_60s": round(naive * FLEET / INTERVAL, 3)}), flush=True)  # fmt: skip
        await onvif_probe.close_shared()
    finally:
        child.close()

    if rtsp:
        async with SimulatedFleet(rtsp, fps=15.0) as fleet:
            pids = [c.proc.pid for c in fleet._rtsp]
            with ThreadPoolExecutor(max_workers=rtsp) as pool:
                source = RtspSamplingSource(open_timeout_s=5, executor=pool)
                cams = [Camera(**{**_fields(c), "onvif_url": ""}) for c in fleet.cameras]
                spread_r = max(1.0, rtsp / RATE)
                row = await measure("rtsp_sample_4s", rtsp, lambda cb: probe_round(
                    cams, now, cfg, source, spread_s=spread_r, on_start=cb), pids)  # fmt: skip
            print(f"# rtsp: TCP connect + a 4 s PyAV sample each; {row['ok']}/{rtsp} reachable; the peer cpu "
                  f"is the GStreamer server process serving them", flush=True)  # fmt: skip


def _fields(c: Camera) -> dict:
    return {f: getattr(c, f) for f in Camera.__dataclass_fields__}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=2000)
    ap.add_argument("--rtsp", type=int, default=50)
    a = ap.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    asyncio.run(main(a.endpoints, a.rtsp))
