"""Acknowledge, silence and planned works from the console change what the owners receive, counted at the
peers (issue 17, point 1).

`mimamori run` (SQLite, recorder on) watches 12 simulated cameras on loopback and delivers through the
real peers: an aiosmtpd mailbox and Twilio's OpenAPI spec under Prism. Every owner here is reached by
e-mail, so each owner's messages are counted in the mailbox by address; Prism must see no SMS and no
call at all. An operator, in Debian's Chromium:

1. plans works on C0001's line from now for a quarter of an hour (the maintenance form);
2. then five household lines go down, one or two in each area: C0001, C0004, C0007, C0008 and C0010;
3. silences C0004's incident (reason, end) and acknowledges C0007's and C0008's, once each shows on the
   incidents page, before its owner is due to be asked;
4. withdraws C0008's acknowledgement once its request was cancelled: the request goes after all;
5. C0010 is the control: its owner is asked, reminded and, once the lines are back, thanked.

The owners of C0001, C0004 and C0007 receive nothing. Their request, reminder and thanks wait in the
outbox until the window's and the silence's end, where the dispatcher will cancel them all, the
incidents being closed and no request having gone (`tests/monitor/test_holds.py` follows that through).
The acknowledged incident's request is cancelled at once, and so are its reminder and thanks. C0008's
owner receives the request after the withdrawal, and the thanks. Last, a camera edit from the browser
leaves an entry in the audit chain, which still verifies.

Policy minutes are scaled as in the e2e city: one probe interval of 3 s stands for a minute.
"""

from __future__ import annotations

import os
import time
import urllib.request
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page

from monitor.core.domain import Contact, Lang
from monitor.demo.peers import DemoPeers
from monitor.demo.simulate.fleet import ISPS, SimulatedFleet, write_registry_csv
from monitor.store.db import make_engine, session_factory
from notify.outbox import Outbox
from recorder import AuditLog
from tests.cli import mimamori
from tests.console_browser import add_user, axe_problems, chromium, log_in, mimamori_run, require_browser_tools, shot
from tests.e2e.city import classifier_toml
from tests.notify_peers import free_port

pytestmark = pytest.mark.peers

TOKYO = ZoneInfo("Asia/Tokyo")
INTERVAL_S = 3.0
WORKS, SILENCED, ACKED, WITHDRAWN, CONTROL = "C0001", "C0004", "C0007", "C0008", "C0010"
DOWN = (WORKS, SILENCED, ACKED, WITHDRAWN, CONTROL)  # at most two of a group's three lines: no shared outage
PASSWORD = "operator-pass-1234"


def m(minutes: float) -> float:
    """Seconds of test for minutes of policy."""
    return round(minutes * INTERVAL_S, 1)


def config(peers: DemoPeers) -> str:
    return f"""
timezone = "Asia/Tokyo"

[probes]
interval_s = {INTERVAL_S}
sample_s = 2.0
tcp_timeout_s = 2.0
onvif_timeout_s = 2.0

[notify]
dispatch_every_s = 1.0
operators = [{{ name = "市民安全課", email = "anzen@city.example.jp" }}]
vendors = {{ "vendor-1" = {{ name = "保守センター", email = "dispatch@vendor.example.jp" }} }}

[notify.smtp]
host = "127.0.0.1"
port = {peers.smtp_port}
security = "none"
from_addr = "mimamori@city.example.jp"

[notify.twilio]
account_sid = "AC{'c' * 32}"
from_number = "+815012345678"
api_base_url = "{peers.prism_url}"

[drift]
enabled = false

{classifier_toml(m)}
[escalation]
quiet_start = "00:00"   # equal ends: no quiet hours, whatever the hour this test runs at
quiet_end = "00:00"
owner_delay = {m(20)}
reminder_after = {m(7)}
vendor_after = {m(24 * 60)}
"""


def owner(cam: str) -> str:
    return f"owner-{cam.lower()}@example.jp"


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """Four areas of three cameras, each on its own line, every owner by e-mail; the peers; an operator."""
    require_browser_tools()
    tmp = tmp_path_factory.mktemp("holds")
    with DemoPeers(tmp / "peers") as peers, SimulatedFleet(12, fps=5.0) as fleet:
        if peers.missing:
            pytest.fail(f"the delivery peers must run here: {peers.missing} (make test installs them)")
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MIMAMORI_")}
        env.update(MIMAMORI_DATA_DIR=str(tmp / "data"), MIMAMORI_CONFIG=str(tmp / "mimamori.toml"),
                   MIMAMORI_WEB__PORT=str(port), MIMAMORI_TWILIO_AUTH_TOKEN="test-token-not-a-secret")
        (tmp / "mimamori.toml").write_text(config(peers))
        cams = [replace(c, area=f"A{i // 3 + 1:02d}", isp=ISPS[i % 4], line_id=f"A{i // 3 + 1:02d}-L{i:03d}",
                        contact=Contact.EMAIL, email=owner(c.camera_id), lang=Lang.JA, vendor="vendor-1")
                for i, c in enumerate(fleet.cameras)]
        mimamori(["cameras", "import", str(write_registry_csv(cams, tmp / "cams.csv"))], env)
        add_user(env, "tanaka", "operator", None, PASSWORD)
        base = f"http://127.0.0.1:{port}"
        with mimamori_run(env, base, tmp / "service.log"):
            wait_for("every camera up", lambda: all_up(base, 12), 90, tmp / "service.log")
            yield {"base": base, "tmp": tmp, "fleet": fleet, "peers": peers, "db": tmp / "data" / "mimamori.db"}


def to_owner(peers: DemoPeers, cam: str) -> list[str]:
    """The subjects of the mails the owner of ``cam`` received at the SMTP peer."""
    return [subject for rcpts, subject in list(peers.mailbox.received) if owner(cam) in rcpts]


def wait_for(what: str, check, timeout: float, log=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(1)
    raise AssertionError(f"{what}: not within {timeout} s" + (f"\n{log.read_text()[-4000:]}" if log else ""))


def open_incident_of(page: Page, base: str, cam: str) -> str | None:
    """The id of the open household incident (local_outage) that lists ``cam`` on the incidents page, if
    there is one yet."""
    page.goto(base + "/console/incidents")
    rows = page.locator("#incidents tr", has=page.locator(f'a[href="/console/cameras/{cam}"]'))
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")
        if cells.nth(1).inner_text() == "local_outage" and cells.nth(2).inner_text() == "open":
            return cells.nth(0).inner_text()
    return None


def owner_outbox(db: Path) -> dict[str, list[tuple[str, str, datetime]]]:
    """Per camera, its owner's messages in the outbox: (kind, status, next attempt)."""
    engine = make_engine(f"sqlite:///{db}")
    try:
        owners: dict[str, list] = {}
        for item in Outbox(session_factory(engine)).all():
            _incident, _kind, audience, cam, _ = item.key.split("/", 1)[0].split(":")
            if audience == "owner":
                owners.setdefault(cam, []).append((str(item.message.kind), str(item.status), item.next_attempt_at))
        return owners
    finally:
        engine.dispose()


def all_up(base: str, n: int) -> bool:
    text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
    return sum(line.startswith("mimamori_camera_up{") and line.endswith(" 1.0") for line in text.splitlines()) == n


def local_minute(t: datetime) -> str:
    return t.astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M")


def test_acknowledge_silence_and_planned_works_change_what_the_owners_receive(city):
    base, fleet, peers, log = city["base"], city["fleet"], city["peers"], city["tmp"] / "service.log"
    with chromium() as browser:
        ctx = browser.new_context(bypass_csp=True, locale="ja-JP", viewport={"width": 1200, "height": 900})
        page = ctx.new_page()
        log_in(page, base, "tanaka", PASSWORD)
        now = datetime.now(TOKYO)
        page.goto(base + "/console/maintenance")  # 1. planned works on C0001's line, from this minute on
        page.select_option("#scope", "cameras")
        page.fill("#values", WORKS)
        page.fill("#starts_at", local_minute(now))
        page.fill("#ends_at", local_minute(now + timedelta(minutes=15)))
        page.fill("#mreason", "NTT の光回線工事（C0001 の回線）")
        page.click("main button[type=submit]")
        assert "C0001 の回線" in page.locator("#maintenance").inner_text()

        for cam in DOWN:  # 2. five household lines go down
            fleet.stop(cam)
            fleet.onvif_down(cam)
        down_at = time.monotonic()

        silenced = wait_for("C0004's incident on the page", lambda: open_incident_of(page, base, SILENCED), 60, log)
        page.fill(f"#reason-{silenced}", "保守業者が現地で対応中")  # 3. silence it, a quarter of an hour
        page.fill(f"#until-{silenced}", local_minute(datetime.now(TOKYO) + timedelta(minutes=15)))
        page.locator(f'form[action="/console/incidents/{silenced}/silence"] button').click()
        acked = wait_for("C0007's incident on the page", lambda: open_incident_of(page, base, ACKED), 60, log)
        page.locator(f'form[action="/console/incidents/{acked}/acknowledge"] button').click()
        slip = wait_for("C0008's incident on the page", lambda: open_incident_of(page, base, WITHDRAWN), 60, log)
        page.locator(f'form[action="/console/incidents/{slip}/acknowledge"] button').click()
        acted_after = time.monotonic() - down_at
        assert acted_after < m(20) - 2 * INTERVAL_S, f"acted {acted_after:.0f} s after the fault: too late to tell"
        assert "tanaka" in page.locator("#incidents").inner_text()

        # 4. C0008's request is cancelled when due; its acknowledgement withdrawn, the request goes after all
        wait_for("C0008's request cancelled", lambda: ("owner.reboot_request", "cancelled") in {
            (k, s) for k, s, _ in owner_outbox(city["db"]).get(WITHDRAWN, ())}, 90, log)
        assert to_owner(peers, WITHDRAWN) == []
        page.goto(base + "/console/incidents")
        page.locator(f'form[action="/console/incidents/{slip}/unacknowledge"] button').click()
        wait_for("C0008's request after the withdrawal", lambda: to_owner(peers, WITHDRAWN), 30, log)

        # 5. the control's owner is asked and reminded; the others receive nothing meanwhile
        wait_for("the control's request and reminder", lambda: len(to_owner(peers, CONTROL)) >= 2, 120, log)
        for cam in DOWN:
            fleet.normal(cam)
        wait_for("the control's thanks", lambda: len(to_owner(peers, CONTROL)) >= 3, 120, log)
        wait_for("every line's recovery decided", lambda: all(
            any(k == "owner.recovered_thanks" for k, _, _ in owner_outbox(city["db"]).get(cam, ()))
            for cam in (WORKS, SILENCED, ACKED, WITHDRAWN)), 60, log)
        time.sleep(3)  # a few dispatch periods more: anything else due would have gone by now
        assert len(to_owner(peers, CONTROL)) == 3, to_owner(peers, CONTROL)
        for cam in (WORKS, SILENCED, ACKED):
            assert to_owner(peers, cam) == [], cam
        went = {k for k, s, _ in owner_outbox(city["db"])[WITHDRAWN] if s in ("sent", "delivered")}
        assert {"owner.reboot_request", "owner.recovered_thanks"} <= went, owner_outbox(city["db"])[WITHDRAWN]
        assert len(to_owner(peers, WITHDRAWN)) == len(went)  # each once at the peer, the reminder if it came
        assert peers.twilio_requests() == {"Messages": 0, "Calls": 0}  # every owner here is reached by e-mail

        page.goto(base + "/console/incidents")
        for summary in page.locator("#incidents details summary").all():
            summary.click()  # the timelines open: acknowledged by tanaka, the cancelled request
        timelines = page.locator("#incidents").inner_text()
        assert "acknowledged by tanaka" in timelines and "(email): cancelled" in timelines, timelines
        assert "acknowledgement withdrawn by tanaka" in timelines, timelines
        assert "(email): queued until" in timelines and "(held)" in timelines, timelines
        assert "reachable: False" in timelines  # the evidence, one fact a line
        assert axe_problems(page) == []
        shot(page, city["tmp"], "console-incidents")

        page.goto(base + "/console/cameras/C0012/edit")  # 6. a camera edit from the browser
        page.fill("#f-address", "松戸市松戸1-2-3 (moved to the corner)")
        page.locator('form[action="/console/cameras/C0012/edit"] button').click()
        ctx.close()

    owners = owner_outbox(city["db"])
    engine = make_engine(f"sqlite:///{city['db']}")
    try:
        sessions = session_factory(engine)
        # the request and the thanks, and the reminder if its time came before the line was back (each
        # camera's fault is dated by its own first failed round): all waiting, or all cancelled
        asked = {"owner.reboot_request", "owner.recovered_thanks"}
        for cam, status in ((WORKS, "queued"), (SILENCED, "queued"), (ACKED, "cancelled")):
            kinds = {k for k, _, _ in owners[cam]}
            assert asked <= kinds <= asked | {"owner.reminder"}, (cam, owners[cam])
            assert {s for _, s, _ in owners[cam]} == {status}, (cam, owners[cam])
        held = owners[WORKS] + owners[SILENCED]
        assert min(at for *_, at in held) > datetime.now(TOKYO) + timedelta(minutes=5)  # the ends, not now
        audit = AuditLog(sessions)
        edits = [e for e in audit.entries() if e.action == "camera_edit"]
        assert [(e.actor, e.detail.get("camera")) for e in edits] == [("tanaka", "C0012")], edits
        assert {e.action for e in audit.entries()} >= {"maintenance_plan", "incident_silence", "incident_acknowledge",
                                                       "incident_unacknowledge"}
        assert audit.verify().ok
    finally:
        engine.dispose()
