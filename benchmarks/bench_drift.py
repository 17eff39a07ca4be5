"""One full drift check of N simulated ONVIF endpoints: CPU seconds and wall time, beside a probe round.

    .venv/bin/python benchmarks/bench_drift.py [--endpoints 10000] [--concurrency 100]

N simulated cameras in one ONVIF responder process (one port each, every service offered: device,
media, Media2 masks, PTZ, events). Through the service's own path (`service.drift.DriftChecks.run` on a
SQLite store): every check of every camera, read, compared, stored.

1. the first run: no baselines yet (each camera's answers are then approved as its baseline, as
   `mimamori cameras baseline` does, written to the store);
2. the measured run: a full drift check against those baselines, with 1 % of the cameras drifted (masks
   removed), so findings, tickets and notices are written too;
3. the reference, side by side: one ONVIF probe round of the same endpoints (GetSystemDateAndTime, what
   `mimamori run` does every minute).

CPU is this process's (all threads); the responder's is reported apart. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.config.settings import Settings  # noqa: E402
from monitor.core.domain import Camera, Secret  # noqa: E402
from monitor.core.drift import baseline_from  # noqa: E402
from monitor.demo.simulate.fleet import ControlChild  # noqa: E402
from monitor.probes import onvif as onvif_probe  # noqa: E402
from monitor.probes.round import ProbeConfig, probe_round  # noqa: E402
from monitor.service.app import open_store  # noqa: E402
from monitor.service.drift import drift_checks  # noqa: E402
from monitor.store.drift import save_baseline  # noqa: E402


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class NoFrames:
    async def stats(self, camera: Camera, window_s: float) -> None:
        return None


async def timed(what: str, n: int, pid: int, coro) -> dict:  # noqa: ANN001
    c0, w0, p0 = cpu(), time.perf_counter(), proc_cpu(pid)
    result = await coro
    used, wall = cpu() - c0, time.perf_counter() - w0
    row = {"run": what, "cameras": n, "wall_s": round(wall, 1), "cpu_s": round(used, 1),
           "responder_cpu_s": round(proc_cpu(pid) - p0, 1), "cpu_s_per_1000": round(used / n * 1000, 2)}
    print(json.dumps(row), flush=True)
    return {**row, "result": result, "cpu": used, "wall": wall}


async def main(endpoints: int, concurrency: int) -> None:
    print(f"# {endpoints} simulated ONVIF cameras in one responder; drift concurrency {concurrency}; "
          f"{os.cpu_count()} cores", flush=True)
    config = {"cameras": [{"id": f"D{i:05d}", "user": "admin", "password": "pw", "rtsp_url": "rtsp://127.0.0.1:9/x"}
                          for i in range(endpoints)]}
    child = ControlChild([sys.executable, "-m", "monitor.demo.simulate.onvif_responder"], "onvif",
                         first_line=json.dumps(config))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            ports = child.read(300)["ports"]
            cams = [Camera(camera_id=c, area="A", isp="i", line_id="L", expected_fps=10, onvif_user="admin",
                           onvif_password=Secret("pw"), onvif_url=f"http://127.0.0.1:{p}/onvif/device_service")
                    for c, p in ports.items()]
            s = Settings(data_dir=Path(tmp), drift={"concurrency": concurrency})
            store = open_store(s)
            logging.getLogger("mimamori").setLevel(logging.ERROR)  # after the migrations' logging set-up
            checks = drift_checks(s, store.sessions, lambda: datetime.now(UTC))
            pid = child.proc.pid
            now = datetime.now(UTC)
            await onvif_probe.onvif_check(cams[0].onvif_url, "admin", "pw", 5, now)  # the WSDL cache, warm

            first = await timed("first check, no baselines", endpoints, pid, checks.run(cams, now))
            assert len(first["result"]) == endpoints
            with store.sessions.begin() as session:  # what `mimamori cameras baseline` stores, for every camera
                for answer in checks.answers.values():
                    save_baseline(session, baseline_from(answer, "bench"))
            drifted = cams[:: 100]
            for c in drifted:
                child.command(cmd="drift", cam=c.camera_id, what="masks", value=[])
            full = await timed("full drift check", endpoints, pid, checks.run(cams, datetime.now(UTC)))
            found = sum(len(o.findings) for o in full["result"].values())
            cfg = ProbeConfig(tcp_timeout_s=5, onvif_timeout_s=5, sample_s=0, concurrency=200, jitter_s=0)
            ref = await timed("reference: one ONVIF probe round", endpoints, pid,
                              probe_round(cams, datetime.now(UTC), cfg, NoFrames(), spread_s=0))
            await onvif_probe.close_shared()
            store.engine.dispose()
        finally:
            child.close()
    answered = sum(1 for o in full["result"].values() if o.checked)
    print(f"drift check: {endpoints} cameras in {full['wall_s']} s wall, {full['cpu_s']} CPU s here "
          f"(+{full['responder_cpu_s']} s in the responder); {answered} answered; {found} findings for "
          f"{len(drifted)} cameras drifted")
    print(f"drift / probe round: {full['cpu'] / ref['cpu']:.1f}x the CPU, {full['wall'] / ref['wall']:.1f}x the wall "
          f"time; hourly, the checks take {full['cpu'] / 3600 * 100:.2f}% of a core (the minute probes "
          f"{ref['cpu'] / 60 * 100:.1f}%)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=100)
    a = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)  # a finding's WARNING line per drifted camera says nothing here
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    asyncio.run(main(a.endpoints, a.concurrency))
