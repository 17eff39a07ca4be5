"""`mimamori demo`: the embedded default made visible.

Starts simulated cameras (real GStreamer RTSP and ONVIF SOAP on 127.0.0.1), imports their registry
into a fresh SQLite database, and runs the service's own probe rounds against them, breaking some
cameras on purpose along the way. Finishes by itself and leaves no process behind.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from .app import open_store
from .domain import Observation
from .health import observation_state
from .probes.onvif import close_shared
from .registry import load_cameras
from .service import ProbeService, describe
from .settings import ProbeSettings, Settings
from .simulate.fleet import SimulatedFleet
from .store.cameras import apply_registry

Say = Callable[[str], None]


def _row(o: Observation, expected: float) -> str:
    def f(v, fmt):
        return "-" if v is None else format(v, fmt)

    state = observation_state(o, expected).value
    return (f"  {o.camera}  reachable={'yes' if o.reachable else 'NO ':3}  rtt={f(o.rtt_ms, '6.1f')} ms  "
            f"onvif={'ok' if o.onvif_ok else '--'}  fps={f(o.fps, '5.1f')}  max_gap={f(o.max_gap_s, '4.1f')} s  "
            f"{state}")


def _faults(fleet: SimulatedFleet) -> dict[int, list[tuple[str, Callable[[], None]]]]:
    ids = [c.camera_id for c in fleet.cameras]
    a, b, c = ids[1], ids[2], ids[3]
    return {
        2: [(f"{a}: the household's router is switched off (camera unreachable)",
             lambda: (fleet.stop(a), fleet.onvif_down(a))),
            (f"{b}: the camera answers but sends no frames (stalled)", lambda: fleet.stall(b)),
            (f"{c}: the household's line is congested (3 fps instead of 15)", lambda: fleet.throttle(c, 3))],
        4: [(f"{a}: the owner switched the router back on", lambda: (fleet.start(a), fleet.onvif_up(a))),
            (f"{b}, {c}: back to normal", lambda: (fleet.normal(b), fleet.normal(c)))],
    }


async def _rounds(svc: ProbeService, fleet: SimulatedFleet, rounds: int, interval_s: float, say: Say) -> None:
    try:
        await _play(svc, fleet, rounds, interval_s, say)
    finally:
        await close_shared()


async def _play(svc: ProbeService, fleet: SimulatedFleet, rounds: int, interval_s: float, say: Say) -> None:
    faults = _faults(fleet)
    for n in range(rounds):
        for text, act in faults.get(n, []):
            say(f"  >> fault injected: {text}")
            await asyncio.to_thread(act)
        started = time.monotonic()
        records, decisions = await svc.round()
        obs = sorted((r for r in records if isinstance(r, Observation)), key=lambda o: o.camera)
        local = obs[0].t.astimezone(svc.settings.tz).strftime("%H:%M:%S") if obs else "?"
        say(f"round {n + 1}/{rounds} at {local}:")
        for o in obs:
            say(_row(o, svc.cameras[o.camera].expected_fps))
        for d in decisions:
            say(f"  => {describe(d)}")
        if n + 1 < rounds:
            await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - started)))


def run_demo(*, cameras: int, rounds: int, interval_s: float, data_dir: Path, say: Say = print) -> Path:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    settings = Settings(
        data_dir=data_dir,
        probes=ProbeSettings(interval_s=interval_s, sample_s=3.0, tcp_timeout_s=2.0, onvif_timeout_s=3.0,
                             spread=0.2),
    )
    say(f"starting {cameras} simulated cameras on 127.0.0.1 (GStreamer RTSP + ONVIF SOAP)…")
    with SimulatedFleet(cameras, fps=15.0) as fleet:
        csv_path = fleet.write_csv(data_dir / "cameras.csv")
        store = open_store(settings)
        with store.sessions.begin() as session:
            diff = apply_registry(session, load_cameras(csv_path), store.box, datetime.now(UTC))
        say(f"imported {len(diff.added)} cameras from {csv_path} into {settings.effective_database_url}")
        svc = ProbeService(settings, store)
        asyncio.run(_rounds(svc, fleet, rounds, interval_s, say))
        store.engine.dispose()
    say(f"done; the database is {data_dir / 'mimamori.db'} (try: mimamori --config … cameras list)")
    return data_dir / "mimamori.db"
