"""The console's fleet page for N cameras: server time per request against the time of its store query.

    .venv/bin/python benchmarks/bench_console.py [--cameras 10000] [--requests 30]

A SQLite store with N cameras (positions, a current state each, an owner request for one in fifty), an
operator account; the real aiohttp app on 127.0.0.1. Each request is timed at the server (the
middleware's start to the response written); side by side, the store query alone
(`store.console.fleet`) over the same data. Also the list filtered to one area and a search.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from monitor.core.accounts import Role  # noqa: E402
from monitor.store import console as data  # noqa: E402
from monitor.store.accounts import add_user  # noqa: E402
from monitor.store.db import make_engine, session_factory, upgrade  # noqa: E402
from monitor.store.models import CameraRow, IncidentRow, NotificationRow, StateIntervalRow  # noqa: E402
from monitor.web.app import make_app, start_server  # noqa: E402

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
PASSWORD = "bench-operator-pass"


def seed(sessions, n: int) -> None:
    with sessions.begin() as s:
        s.add_all(CameraRow(camera_id=f"C{i:05d}", area=f"A{i // 100:03d}", isp=("nuro", "flets-ocn")[i % 2],
                            line_id=f"L{i}", expected_fps=10.0, address=f"見守り市本町{i}", owner_name=f"設置者{i}",
                            contact="sms", phone="+819012345678", email="", lang="ja", vendor="vendor-1",
                            rtsp_url=f"rtsp://10.0.{i // 250}.{i % 250}/s", onvif_url="", onvif_user="",
                            lat=35.7 + (i // 100) * 0.005, lon=139.8 + (i % 100) * 0.001, created_at=T0,
                            updated_at=T0) for i in range(n))
        s.add_all(StateIntervalRow(camera_id=f"C{i:05d}", state=("up", "up", "degraded", "down")[i % 4],
                                   start=T0 - timedelta(minutes=i % 600)) for i in range(n))
        s.add(IncidentRow(id="I1", cause="local_outage", state="open", cameras=[], scope={}, evidence={},
                          opened_at=T0, updated_at=T0))
        s.add_all(NotificationRow(key=f"I1:reboot_request:owner:C{i:05d}", incident_id="I1", audience="owner",
                                  kind="reboot_request", camera_id=f"C{i:05d}", channel="sms", due_at=T0,
                                  status="queued", created_at=T0) for i in range(0, n, 50))
        add_user(s, "bench", Role.OPERATOR, None, PASSWORD, T0)


def p99(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[98] if len(xs) > 1 else xs[0]


async def main(n: int, requests: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        sessions = session_factory(engine)
        seed(sessions, n)
        server_ms: list[float] = []

        @web.middleware
        async def timing(request, handler):  # noqa: ANN001, ANN202
            t0 = time.perf_counter()
            resp = await handler(request)
            if request.path == "/console":
                server_ms.append((time.perf_counter() - t0) * 1000)
            return resp

        app = make_app(sessions=sessions, tz=UTC, twilio_auth_token=None, public_base_url="http://127.0.0.1",
                       on_twilio_status=lambda *a: None, status_source=lambda: {})
        app.middlewares.insert(0, timing)
        runner = await start_server(app, "127.0.0.1", 0)
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            form = await (await http.get(base + "/login")).text()
            csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            r = await http.post(base + "/login", data={"username": "bench", "password": PASSWORD, "csrf": csrf})
            assert r.status == 200 and "/console" in str(r.url), r.status
            server_ms.clear()
            sizes = []
            for query in ["", "?area=A005", "?q=C0999"]:
                for _ in range(requests):
                    body = await (await http.get(base + "/console" + query)).read()
                    sizes.append((query, len(body)))
        await runner.cleanup()
        store_ms = []
        for _ in range(requests):
            t0 = time.perf_counter()
            with sessions() as s:
                rows = data.fleet(s)
            store_ms.append((time.perf_counter() - t0) * 1000)
        engine.dispose()
    assert len(rows) == n
    full = server_ms[:requests]
    print(f"# fleet page, {n:,} cameras on SQLite, {requests} requests each")
    print(f"store query alone (store.console.fleet): median {statistics.median(store_ms):.0f} ms, "
          f"p99 {p99(store_ms):.0f} ms")
    print(f"GET /console (all {n:,} listed, map of {n:,}): median {statistics.median(full):.0f} ms, "
          f"p99 {p99(full):.0f} ms, {max(s for q, s in sizes if q == '') / 1024:.0f} KiB")
    for k, label in ((1, "one area (?area=A005)"), (2, "a search (?q=C0999)")):
        part = server_ms[k * requests:(k + 1) * requests]
        print(f"GET /console {label}: median {statistics.median(part):.0f} ms, p99 {p99(part):.0f} ms")
    print(f"page / store query: {statistics.median(full) / statistics.median(store_ms):.2f}x (medians)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=30)
    a = ap.parse_args()
    asyncio.run(main(a.cameras, a.requests))
