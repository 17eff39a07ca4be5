"""The operators' console in Debian's Chromium, driven by Playwright, against `mimamori run` with simulated
cameras (issue 17, points 1 to 4; acknowledge, silence and planned works counted at the delivery peers are
in `test_console_holds_browser.py`).

Accounts are made with `mimamori users add` (the password on standard input). The browser logs in and
out; each role sees its pages and is refused the rest; a vendor opening another vendor's ticket by URL
gets 404, and it acknowledges its own from the ticket's page; an unauthenticated request for a page with
personal data ends at /login. axe-core (npm) runs on every main page: no serious or critical violation.
Screenshots go to the test's folder, and to `docs/` with ``MIMAMORI_UPDATE_DOCS=1``. Chromium and
axe-core are installed by `make test`; without them this test fails, it never skips.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from monitor.demo.simulate.fleet import SimulatedFleet
from monitor.store import tickets as repo
from monitor.store.db import make_engine, session_factory
from tests.cli import mimamori
from tests.console_browser import add_user, axe_problems, chromium, mimamori_run, require_browser_tools, shot
from tests.console_browser import log_in as _log_in
from tests.notify_peers import free_port

pytestmark = pytest.mark.peers

USERS = {"tanaka": ("operator", None, "operator-pass-1234"), "hoshu": ("vendor", "vendor-1", "vendor-pass-12345"),
         "kansa": ("auditor", None, "auditor-pass-1234")}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """`mimamori run` on SQLite with 6 simulated cameras, three accounts, and a ticket of another vendor."""
    require_browser_tools()
    tmp = tmp_path_factory.mktemp("console")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMAMORI_")}
    env.update(MIMAMORI_DATA_DIR=str(tmp / "data"), MIMAMORI_CONFIG=str(tmp / "mimamori.toml"),
               MIMAMORI_WEB__PORT=str(port))
    (tmp / "mimamori.toml").write_text("[notify]\nfolder_delivery = true\n[probes]\ninterval_s = 5\nsample_s = 1\n"
                                       "[drift]\nenabled = false\n")
    with SimulatedFleet(6, fps=5.0) as fleet:
        mimamori(["cameras", "import", str(fleet.write_csv(tmp / "cams.csv"))], env)
        for name, (role, vendor, password) in USERS.items():
            add_user(env, name, role, vendor, password)
        engine = make_engine(f"sqlite:///{tmp / 'data' / 'mimamori.db'}")
        with session_factory(engine).begin() as s:
            now = datetime.now(UTC)
            mine = repo.open_ticket(s, incident_id="I90", camera=fleet.camera("C0001"), steps_taken=[], evidence=[],
                                    now=now)
            theirs = repo.open_ticket(s, incident_id="I91", camera=replace(fleet.camera("C0002"), vendor="vendor-9"),
                                      steps_taken=[], evidence=[], now=now)
        engine.dispose()
        base = f"http://127.0.0.1:{port}"
        with mimamori_run(env, base, tmp / "service.log"):
            time.sleep(8)  # a probe round or two: states to show
            yield {"base": base, "tmp": tmp, "fleet": fleet, "mine": mine.number, "theirs": theirs.number,
                   "phone": fleet.camera("C0001").phone}


def log_in(page, base: str, name: str) -> None:
    _log_in(page, base, name, USERS[name][2])


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def test_an_operator_logs_in_sees_the_fleet_map_and_a_camera_and_logs_out(service, browser):
    base = service["base"]
    ctx = browser.new_context(bypass_csp=True, locale="ja-JP", viewport={"width": 1200, "height": 900})
    page = ctx.new_page()
    page.goto(base + "/console/cameras/C0001")
    assert page.url.startswith(base + "/login?next=")
    assert service["phone"] not in page.content()
    assert axe_problems(page) == []
    shot(page, service["tmp"], "console-login")
    page.fill("#username", "tanaka")
    page.fill("#password", USERS["tanaka"][2])
    page.click("button[type=submit]")
    assert page.url == base + "/console/cameras/C0001"  # back where the login was asked for
    assert axe_problems(page) == []
    shot(page, service["tmp"], "console-camera")
    page.goto(base + "/console")
    assert page.locator("h1").inner_text().startswith("カメラ一覧")
    assert page.locator("svg circle").count() == 6 and page.locator("#fleet tr").count() == 7
    assert axe_problems(page) == []
    shot(page, service["tmp"], "console-fleet")
    page.goto(base + "/console/incidents")
    assert axe_problems(page) == []
    for path in ("/console/cameras/C0001/edit", "/console/registry", "/console/maintenance"):
        page.goto(base + path)
        assert axe_problems(page) == [], path
    page.select_option("#scope", "cameras")  # planned works on C0006, from the browser's form
    page.fill("#values", "C0006")
    page.fill("#starts_at", "2026-12-20T09:00")
    page.fill("#ends_at", "2026-12-20T17:00")
    page.fill("#mreason", "NTT の光回線工事")
    page.click("main button[type=submit]")
    assert page.url == base + "/console/maintenance" and "NTT の光回線工事" in page.locator("#maintenance").inner_text()
    shot(page, service["tmp"], "console-maintenance")
    page.goto(base + "/console/tickets")
    assert service["mine"] in page.content() and service["theirs"] in page.content()
    assert page.goto(base + "/console/audit").status == 403
    page.goto(base + "/console")
    page.click("header button[type=submit]")  # log out
    assert page.url == base + "/login"
    assert page.goto(base + "/console").url.startswith(base + "/login")
    ctx.close()


def test_a_vendor_sees_only_its_own_tickets_and_another_is_404(service, browser):
    base = service["base"]
    ctx = browser.new_context(bypass_csp=True)
    page = ctx.new_page()
    log_in(page, base, "hoshu")
    assert page.url == base + "/console/tickets"
    assert service["mine"] in page.content() and service["theirs"] not in page.content()
    assert axe_problems(page) == []
    shot(page, service["tmp"], "console-tickets-vendor")
    own = page.goto(f"{base}/console/tickets/{service['mine']}")
    assert own.status == 200 and service["phone"] in page.content()  # the owner contact the visit needs
    page.fill("#ack-note", "本日中に連絡します")
    page.click('form[action$="/acknowledge"] button')
    assert page.locator("#ticket-state").inner_text() == "acknowledged"
    assert axe_problems(page) == []  # the schedule and resolve forms now
    assert page.goto(f"{base}/console/tickets/{service['theirs']}").status == 404
    assert page.goto(base + "/console").status == 403 and page.goto(base + "/console/cameras/C0001").status == 403
    ctx.close()


def test_the_auditor_sees_the_verified_log_and_nothing_else(service, browser):
    base = service["base"]
    ctx = browser.new_context(bypass_csp=True)
    page = ctx.new_page()
    log_in(page, base, "kansa")
    assert page.url == base + "/console/audit"
    assert "記録の改ざんはありません" in page.locator("#verdict").inner_text()
    assert axe_problems(page) == []
    shot(page, service["tmp"], "console-audit")
    for path in ("/console", "/console/incidents", "/console/tickets"):
        assert page.goto(base + path).status == 403, path
    ctx.close()


def test_health_needs_no_login_and_metrics_have_a_series_per_camera(service):
    base = service["base"]
    assert urllib.request.urlopen(base + "/healthz", timeout=5).read() == b"ok\n"
    text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
    ups = [line for line in text.splitlines() if line.startswith("mimamori_camera_up{")]
    assert len(ups) == 6, ups
    assert json.dumps(ups)  # plain text lines
