"""The status board in real headless Chromium, served by aiohttp on 127.0.0.1 from a real store.

Chromium is a Debian package (``apt-get install -y chromium``); without it this test fails, it
never skips.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from cryptography.fernet import Fernet

from monitor.config.secrets import PasswordBox
from monitor.core.decisions import FindingDecision
from monitor.core.domain import Camera, Secret
from monitor.store import tickets as repo
from monitor.store.cameras import apply_registry
from monitor.store.db import make_engine, session_factory, upgrade
from monitor.store.decisions import save_step
from monitor.store.models import IncidentRow, StateIntervalRow
from monitor.web.app import make_app, start_server
from monitor.web.status import store_status_source

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
PHONE = "+819012345678"
PASSWORD = "onvif-pass-hunter2"
ADDRESS = "東京都千代田区霞が関1-2-3"
INSTALL = "apt-get install -y chromium"


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail(f"Chromium is required for the status board test and is not installed: run `{INSTALL}` "
                    "(Debian package 'chromium')")
    return exe


class ServedApp:
    """An aiohttp app on 127.0.0.1 (a free port), on its own event loop in a thread."""

    def __init__(self, app: web.Application):
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="web-under-test", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        runner = self.loop.run_until_complete(start_server(self.app, "127.0.0.1", 0))
        self.port = runner.addresses[0][1]
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())
        self.loop.close()

    def __enter__(self) -> ServedApp:
        self._thread.start()
        assert self._ready.wait(10), "the web app did not start"
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


def run_chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"chromium exited {p.returncode}\n{p.stderr[-3000:]}"
    return p


@pytest.fixture
def board_store(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'board.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    cams = [Camera(camera_id=f"C{i:04d}", area="A01" if i < 6 else "A02", isp="nuro", line_id=f"L{i}",
                   expected_fps=10.0, vendor="acme", address=ADDRESS, owner_name="山田太郎", phone=PHONE,
                   email="owner@example.jp", onvif_user="admin", onvif_password=Secret(PASSWORD))
            for i in range(10)]
    states = ["up"] * 6 + ["degraded"] * 2 + ["down"] * 2
    with sessions.begin() as s:
        apply_registry(s, cams, PasswordBox(Fernet.generate_key()), T0)
        for c, state in zip(cams, states, strict=True):
            s.add(StateIntervalRow(camera_id=c.camera_id, state=state, start=T0, end=None))
        s.add(IncidentRow(id="I-area-A02", cause="area_outage", state="open", cameras=["C0008", "C0009"],
                          scope={"area": "A02"}, evidence={}, opened_at=T0, updated_at=T0))
        s.add(IncidentRow(id="I-cam-C0007", cause="local_outage", state="open", cameras=["C0007"],
                          scope={"camera": "C0007"}, evidence={}, opened_at=T0, updated_at=T0))
        ticket = repo.open_ticket(s, incident_id="I-cam-C0007", camera=cams[7], steps_taken=[], evidence=[], now=T0)
        evidence = {"incident": "I6", "cause": "isp_outage", "went_down_and_came_back_with": {"isp": "flets-biglobe"}}
        save_step(s, T0, {}, [FindingDecision(t=T0, camera="C0003", field="isp", registry="nuro",
                                              observed="flets-biglobe", evidence=evidence)])
    yield sessions, ticket.number
    engine.dispose()


def test_status_board_in_headless_chromium(board_store, tmp_path):
    sessions, number = board_store
    app = make_app(sessions=sessions, tz=ZoneInfo("Asia/Tokyo"),
                   twilio_auth_token=None, public_base_url="http://127.0.0.1",
                   on_twilio_status=lambda *a: None, status_source=store_status_source(sessions, lambda: T0),
                   now=lambda: T0)
    shot = tmp_path / "board.png"
    with ServedApp(app) as served:
        dom = run_chromium(tmp_path, "--dump-dom", served.url).stdout
        run_chromium(tmp_path, "--window-size=1200,900", "--hide-scrollbars", f"--screenshot={shot}", served.url)

    assert "<h1>カメラ稼働状況" in dom and "Camera status" in dom
    counts = dict(re.findall(r'id="count-(\w+)">(\d+)<', dom))
    assert counts == {"up": "6", "degraded": "2", "down": "2", "unknown": "0"}
    assert "地域の停電・回線断" in dom and "設置先の回線断" in dom
    assert number in dom and "受付待ち" in dom
    findings = dom[dom.index('id="registry-findings"'):]
    assert "登録内容の確認が必要なカメラ" in dom and "C0003" in findings and "回線事業者" in findings
    assert "nuro" in findings and "flets-biglobe" in findings and "I6" in findings
    assert 'http-equiv="refresh" content="60"' in dom
    assert "2026-11-30 19:00" in dom  # the fleet's time zone
    for secret in (PHONE, "9012345678", PASSWORD, ADDRESS, "owner@example.jp", "山田太郎"):
        assert secret not in dom
    assert not re.search(r"password|パスワード", dom, re.IGNORECASE)
    assert "<img" not in dom and "<video" not in dom

    data = shot.read_bytes()
    assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"
