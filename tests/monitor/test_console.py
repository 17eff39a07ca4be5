"""The operators' console over HTTP (issue 17): login and logout, the session cookie's flags, CSRF,
throttling, what each role sees and is refused, no personal data without a login, the audit entry of
an acknowledgement, /healthz and /readyz. On SQLite and PostgreSQL, through aiohttp's test server.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet

from monitor.config.secrets import PasswordBox
from monitor.core.accounts import Account, Role, Throttle, check_new_account, locked_until
from monitor.core.domain import Camera
from monitor.store import tickets as repo
from monitor.store.accounts import add_user, disable_user
from monitor.store.cameras import apply_registry
from monitor.store.db import make_engine, session_factory, upgrade
from monitor.store.models import IncidentRow
from monitor.web.app import make_app
from monitor.web.console import COOKIE
from monitor.web.sso import ProxySignOn
from recorder import AuditLog
from recorder.index import SegmentRow

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
PHONE, ADDRESS, OWNER = "+819012345678", "千葉県松戸市小金1-2-3", "山田太郎"
PASSWORDS = {"tanaka": "operator-pass-1234", "acme1": "vendor-acme-pass-1", "beta1": "vendor-beta-pass-1",
             "audit1": "auditor-pass-12345", "root": "admin-pass-123456"}
ROLES = {"tanaka": (Role.OPERATOR, None), "acme1": (Role.VENDOR, "acme"), "beta1": (Role.VENDOR, "beta"),
         "audit1": (Role.AUDITOR, None), "root": (Role.ADMIN, None)}
CONSOLE_PAGES = ["/console", "/console/cameras/C1", "/console/incidents", "/console/tickets", "/console/audit"]


def cam(cid: str, vendor: str) -> Camera:
    return Camera(camera_id=cid, area="A01", isp="nuro", line_id=f"L-{cid}", expected_fps=10.0, vendor=vendor,
                  address=ADDRESS, owner_name=OWNER, phone=PHONE, lat=35.8 + int(cid[1:]) / 1000, lon=139.9,
                  rtsp_url=f"rtsp://192.0.2.{cid[1:]}:554/stream1")


@pytest.fixture
def world(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    box = PasswordBox(Fernet.generate_key())
    with sessions.begin() as s:
        apply_registry(s, [cam("C1", "acme"), cam("C2", "acme"), cam("C3", "beta")], box, T0)
        for name, (role, vendor) in ROLES.items():
            add_user(s, name, role, vendor, PASSWORDS[name], T0)
        acme = repo.open_ticket(s, incident_id="I1", camera=cam("C1", "acme"), steps_taken=[], evidence=[], now=T0)
        beta = repo.open_ticket(s, incident_id="I1", camera=cam("C3", "beta"), steps_taken=[], evidence=[], now=T0)
        s.add(IncidentRow(id="I1", cause="local_outage", state="open", cameras=["C1"], scope={"line": "L-C1"},
                          evidence={}, opened_at=T0, updated_at=T0))
    yield sessions, acme.number, beta.number, box
    engine.dispose()


async def client(sessions, public: str = "http://127.0.0.1:8080", box=None,  # https: Secure cookies
                 recorder_live=None, sso=None) -> TestClient:
    app = make_app(sessions=sessions, tz=UTC, twilio_auth_token=None, public_base_url=public,
                   on_twilio_status=lambda *a: None, status_source=lambda: {}, now=lambda: T0 + timedelta(hours=1),
                   box=box, recorder_live=recorder_live, sso=sso)
    c = TestClient(TestServer(app, host="127.0.0.1"))
    await c.start_server()
    return c


def hidden(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, f"no {name} field in:\n{html[:2000]}"
    return m.group(1)


async def login(c: TestClient, name: str, password: str | None = None, **extra) -> tuple[int, str]:
    form = await (await c.get("/login")).text()
    r = await c.post("/login", data={"username": name, "password": password or PASSWORDS[name],
                                     "csrf": hidden(form, "csrf"), **extra}, allow_redirects=False)
    return r.status, r.headers.get("Location", await r.text())


async def test_login_sets_a_strict_httponly_secure_cookie_and_logout_ends_the_session(world):
    sessions, *_ = world
    c = await client(sessions)
    try:
        status, where = await login(c, "tanaka")
        assert (status, where) == (303, "/console")
        r = await c.get("/console", allow_redirects=False)
        page = await r.text()
        assert r.status == 200 and "カメラ一覧" in page and "C1" in page
        r = await c.post("/logout", data={"csrf": hidden(page, "csrf")}, allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/login"
        r = await c.get("/console", allow_redirects=False)
        assert r.status == 303 and r.headers["Location"].startswith("/login")
    finally:
        await c.close()


async def test_the_session_cookie_flags(world):
    sessions, *_ = world
    for public, secure in (("https://mimamori.example.jp", True), ("http://127.0.0.1:8080", False)):
        c = await client(sessions, public)
        try:
            got = await c.get("/login")
            form, nonce = await got.text(), got.cookies["mimamori_login"].value
            # over https the browser sends the Secure login cookie back; this plain-http client is told to
            r = await c.post("/login", data={"username": "tanaka", "password": PASSWORDS["tanaka"],
                                             "csrf": hidden(form, "csrf")}, cookies={"mimamori_login": nonce},
                             allow_redirects=False)
            header = next(v for v in r.headers.getall("Set-Cookie") if v.startswith("mimamori_session="))
            assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/" in header
            assert ("Secure" in header) is secure, header
        finally:
            await c.close()


async def test_no_console_page_without_a_login_and_no_personal_data(world):
    sessions, acme, *_ = world
    c = await client(sessions)
    try:
        for path in [*CONSOLE_PAGES, f"/console/tickets/{acme}"]:
            r = await c.get(path, allow_redirects=False)
            body = await r.text()
            assert r.status == 303 and r.headers["Location"].startswith("/login?next="), path
            assert PHONE not in body and OWNER not in body and ADDRESS not in body
        r = await c.post("/console/incidents/I1/acknowledge", data={}, allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/login"
        health = await c.get("/healthz")
        assert health.status == 200 and await health.text() == "ok\n"
        ready = await c.get("/readyz")
        assert ready.status == 200
    finally:
        await c.close()


async def test_each_role_sees_its_pages_and_is_refused_the_rest(world):
    sessions, acme, beta, _ = world
    expect = {  # path -> status for each role
        "tanaka": {"/console": 200, "/console/cameras/C1": 200, "/console/incidents": 200, "/console/tickets": 200,
                   "/console/audit": 403, f"/console/tickets/{acme}": 200, f"/console/tickets/{beta}": 200},
        "acme1": {"/console": 403, "/console/cameras/C1": 403, "/console/incidents": 403, "/console/tickets": 200,
                  "/console/audit": 403, f"/console/tickets/{acme}": 200, f"/console/tickets/{beta}": 404},
        "audit1": {"/console": 403, "/console/cameras/C1": 403, "/console/incidents": 403, "/console/tickets": 403,
                   "/console/audit": 200, f"/console/tickets/{acme}": 403},
    }
    for name, pages in expect.items():
        c = await client(sessions)
        try:
            await login(c, name)
            got = {p: (await c.get(p, allow_redirects=False)).status for p in pages}
            assert got == pages, name
            if name == "acme1":
                listing = await (await c.get("/console/tickets")).text()
                assert acme in listing and beta not in listing
                own = await (await c.get(f"/console/tickets/{acme}")).text()
                assert PHONE in own and OWNER in own  # the owner contact its visit needs
                other = await (await c.get(f"/console/tickets/{beta}")).text()
                assert beta not in other and PHONE not in other
        finally:
            await c.close()


async def test_acknowledge_needs_the_csrf_token_and_leaves_an_audit_entry(world):
    sessions, *_ = world
    c = await client(sessions)
    try:
        await login(c, "tanaka")
        r = await c.post("/console/incidents/I1/acknowledge", data={"csrf": "forged"}, allow_redirects=False)
        assert r.status == 403
        r = await c.post("/console/incidents/I1/acknowledge", data={}, allow_redirects=False)
        assert r.status == 403
        page = await (await c.get("/console/incidents")).text()
        r = await c.post("/console/incidents/I1/acknowledge", data={"csrf": hidden(page, "csrf")},
                         allow_redirects=False)
        assert r.status == 303
        page = await (await c.get("/console/incidents")).text()
        assert "tanaka" in page and "Acknowledge</span></button>" not in page
    finally:
        await c.close()
    entries = AuditLog(sessions).entries()
    assert [(e.actor, e.action, e.detail) for e in entries] == [("tanaka", "incident_acknowledge", {"incident": "I1"})]


async def test_an_acknowledgement_can_be_withdrawn_once_audited_and_the_button_comes_back(world):
    sessions, *_ = world
    c = await client(sessions)
    try:
        await login(c, "tanaka")
        page = await (await c.get("/console/incidents")).text()
        csrf = hidden(page, "csrf")
        assert (await c.post("/console/incidents/I1/unacknowledge", data={"csrf": csrf},
                             allow_redirects=False)).status == 303  # not acknowledged: nothing to withdraw
        await c.post("/console/incidents/I1/acknowledge", data={"csrf": csrf})
        page = await (await c.get("/console/incidents")).text()
        assert "Withdraw</span></button>" in page and "Acknowledge</span></button>" not in page
        r = await c.post("/console/incidents/I1/unacknowledge", data={}, allow_redirects=False)
        assert r.status == 403  # no form token
        r = await c.post("/console/incidents/I1/unacknowledge", data={"csrf": csrf}, allow_redirects=False)
        assert r.status == 303
        page = await (await c.get("/console/incidents")).text()
        assert "Acknowledge</span></button>" in page and "Withdraw</span></button>" not in page
        assert "acknowledged by tanaka" in page and "acknowledgement withdrawn by tanaka" in page  # the timeline
    finally:
        await c.close()
    entries = [(e.actor, e.action, e.detail) for e in AuditLog(sessions).entries()]
    assert [a for _, a, _ in entries] == ["incident_acknowledge", "incident_unacknowledge"]
    actor, _, detail = entries[1]
    assert actor == "tanaka" and detail["incident"] == "I1" and detail["acknowledged_by"] == "tanaka"
    assert detail["queued_again"] == 0  # this app has no delivery wired: nothing was cancelled to send again


async def test_login_without_its_form_token_is_refused(world):
    sessions, *_ = world
    c = await client(sessions)
    try:
        r = await c.post("/login", data={"username": "tanaka", "password": PASSWORDS["tanaka"]},
                         allow_redirects=False)
        assert r.status == 403 and "mimamori_session" not in r.cookies
    finally:
        await c.close()


async def test_login_is_throttled_after_repeated_failures(world):
    sessions, *_ = world
    c = await client(sessions)
    try:
        for _ in range(5):
            status, _ = await login(c, "tanaka", "wrong-password-000")
            assert status == 401
        status, body = await login(c, "tanaka")  # the right password, now refused
        assert status == 429 and "Too many failed logins" in body
        status, _ = await login(c, "root")  # another name from the same address (a proxy's, maybe): not yet
        assert status == 303
        for i in range(15):
            assert (await login(c, f"guess{i}", "wrong-password-000"))[0] == 401
        status, _ = await login(c, "audit1")  # twenty failures from one address: it is locked too
        assert status == 429
    finally:
        await c.close()


def test_the_pure_rules():
    assert locked_until([T0] * 4, T0) is None
    assert locked_until([T0] * 5, T0) == T0 + Throttle().lock
    assert locked_until([T0] * 5, T0 + timedelta(minutes=16)) is None
    assert check_new_account("tanaka", "operator", None, "long-enough-pw") == []
    assert len(check_new_account("Bad Name", "king", "x", "short")) == 3
    assert check_new_account("acme1", "vendor", None, "long-enough-pw") == [
        "vendor: a vendor account needs --vendor (the registry's vendor column)"]
    assert Account(name="x", role=Role.ADMIN, disabled=True).role is Role.ADMIN


async def test_an_operator_silences_an_incident_and_plans_works_both_audited(world):
    from monitor.store.holds import silences, windows

    sessions, *_ = world
    now = T0 + timedelta(hours=1)
    c = await client(sessions)
    try:
        await login(c, "tanaka")
        page = await (await c.get("/console/incidents")).text()
        token = hidden(page, "csrf")
        r = await c.post("/console/incidents/I1/silence", data={"csrf": token, "reason": "業者が現地対応中",
                                                                 "until": "2099-01-01T00:00"}, allow_redirects=False)
        assert r.status == 303 and r.headers["Location"].endswith("error=silence")  # beyond 14 days
        r = await c.post("/console/incidents/I1/silence", data={"csrf": token, "reason": "業者が現地対応中",
                                                                 "until": "2026-12-01T12:00"}, allow_redirects=False)
        assert r.status == 303  # 12:00 UTC (the test's fleet zone): 11 hours on
        page = await (await c.get("/console/incidents")).text()
        assert "業者が現地対応中" in page and "Silence</span></button>" not in page
        bad = await c.post("/console/maintenance", data={
            "csrf": token, "scope": "area", "values": "", "starts_at": "2026-12-01T10:00",
            "ends_at": "2026-12-01T09:00", "reason": "x"})
        body = await bad.text()
        assert bad.status == 400 and "ends_at: after starts_at" in body and "values: at least one" in body
        good = await c.post("/console/maintenance", data={"csrf": token, "scope": "area", "values": "A01、A02",
                                                           "starts_at": "2026-12-01T13:00",
                                                           "ends_at": "2026-12-01T17:00", "reason": "NTT 光回線工事"},
                            allow_redirects=False)
        assert good.status == 303
        listing = await (await c.get("/console/maintenance")).text()
        assert "NTT 光回線工事" in listing and "A01, A02" in listing and "予定" in listing
    finally:
        await c.close()
    with sessions() as s:
        assert [(x.incident_id, x.by) for x in silences(s, now)] == [("I1", "tanaka")]
        assert [(w.scope, w.values) for w in windows(s, now)] == [("area", ("A01", "A02"))]
    assert [e.action for e in AuditLog(sessions).entries()] == ["incident_silence", "maintenance_plan"]
    v = await client(sessions)
    try:
        await login(v, "acme1")
        assert (await v.get("/console/maintenance", allow_redirects=False)).status == 403
    finally:
        await v.close()


async def test_a_camera_edit_is_checked_as_an_import_and_leaves_an_audit_entry(world):
    sessions, *_ = world
    c = await client(sessions)
    try:
        await login(c, "tanaka")
        form = await (await c.get("/console/cameras/C1/edit")).text()
        token = hidden(form, "csrf")
        fields = {f: hidden(form, f) for f in ("area", "isp", "line_id", "expected_fps", "address", "owner_name",
                                                "contact", "phone", "email", "lang", "vendor", "lat", "lon")}
        bad = await c.post("/console/cameras/C1/edit", data={**fields, "csrf": token, "phone": "12", "lat": "91"})
        body = await bad.text()
        assert bad.status == 400 and "phone: is not a" in body and "lat:" in body
        ok = await c.post("/console/cameras/C1/edit", data={**fields, "csrf": token, "area": "A02",
                                                            "phone": "090-1111-2222"}, allow_redirects=False)
        assert ok.status == 303
        page = await (await c.get("/console/cameras/C1")).text()
        assert "地区 A02" in page
        off = await c.post("/console/cameras/C1/disable", data={"csrf": token, "reason": "建物の解体"},
                           allow_redirects=False)
        assert off.status == 303 and "建物の解体" in await (await c.get("/console/cameras/C1")).text()
    finally:
        await c.close()
    entries = [(e.actor, e.action, e.detail) for e in AuditLog(sessions).entries()]
    assert entries == [("tanaka", "camera_edit", {"camera": "C1", "fields": ["area", "phone"]}),
                       ("tanaka", "camera_disable", {"camera": "C1", "reason": "建物の解体"})]
    v = await client(sessions)
    try:
        await login(v, "acme1")
        assert (await v.get("/console/cameras/C1/edit", allow_redirects=False)).status == 403
    finally:
        await v.close()


def registry_csv(rows: list[dict]) -> bytes:
    from monitor.config.registry import OPTIONAL, REQUIRED

    cols = [*REQUIRED, *OPTIONAL]
    lines = [",".join(cols)] + [",".join(str(r.get(c, "")) for c in cols) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def row(cid: str, area: str = "A01") -> dict:
    return {"camera_id": cid, "area": area, "isp": "nuro", "line_id": f"L-{cid}", "expected_fps": 10,
            "address": "見守り市本町1", "owner_name": "山田", "contact": "sms", "phone": "090-1111-2222", "email": "",
            "lang": "ja", "vendor": "acme", "rtsp_url": f"rtsp://192.0.2.{cid[1:]}:554/s", "onvif_url": ""}


async def upload(c: TestClient, data: bytes, prune: bool = False) -> tuple[int, str]:
    import aiohttp

    page = await (await c.get("/console/registry")).text()
    form = aiohttp.FormData()
    form.add_field("csrf", hidden(page, "csrf"))
    form.add_field("file", data, filename="cameras.csv", content_type="text/csv")
    if prune:
        form.add_field("prune", "on")
    r = await c.post("/console/registry/preview", data=form)
    return r.status, await r.text()


async def test_a_registry_import_is_previewed_then_applied_and_audited(world):
    from monitor.store.cameras import list_cameras

    sessions, _, _, box = world
    c = await client(sessions, box=box)
    try:
        await login(c, "tanaka")
        status, body = await upload(c, registry_csv([row("C1"), {**row("C4"), "phone": "", "lat": "200"}]))
        assert status == 400 and "row 3, field lat" in body and "row 3, field phone" in body
        status, body = await upload(c, registry_csv([row("C1", area="A09"), row("C2"), row("C3"), row("C4")]))
        assert status == 200 and "変更 changed: area" in body and "追加 added" in body
        with sessions() as s:
            assert "C4" not in {x.camera_id for x in list_cameras(s)}  # a preview changes nothing
        r = await c.post("/console/registry/apply", data={"csrf": hidden(body, "csrf"), "token": hidden(body, "token")},
                         allow_redirects=False)
        assert r.status == 303
        again = await c.post("/console/registry/apply", data={"csrf": hidden(body, "csrf"),
                                                               "token": hidden(body, "token")})
        assert again.status == 400 and "expired" in await again.text()  # a preview is applied once
        status, body = await upload(c, registry_csv([row("C1", area="A09")]), prune=True)
        assert status == 200 and 'id="yes"' in body and "削除 removed" in body
        r = await c.post("/console/registry/apply", data={"csrf": hidden(body, "csrf"), "token": hidden(body, "token")})
        assert r.status == 400 and "more than 10%" in await r.text()
    finally:
        await c.close()
    with sessions() as s:
        cams = {x.camera_id: x for x in list_cameras(s)}
    assert set(cams) == {"C1", "C2", "C3", "C4"} and cams["C1"].area == "A09"  # the refused prune removed nothing
    assert [(e.action, e.detail) for e in AuditLog(sessions).entries()] == [
        ("registry_import", {"cameras": 4, "added": 1, "changed": 3, "removed": 0})]


def test_the_fleet_list_shows_each_owners_last_request_and_its_delivery(world):
    from monitor.store import console as data
    from monitor.store.models import NotificationRow, StateIntervalRow
    from notify.outbox import OutboxRow

    sessions, *_ = world
    with sessions.begin() as s:
        s.add(StateIntervalRow(camera_id="C1", state="down", cause="local_outage", start=T0))
        key = "I1:reboot_request:owner:C1"
        s.add(NotificationRow(key=key, incident_id="I1", audience="owner", kind="reboot_request", camera_id="C1",
                              channel="sms", due_at=T0, status="queued", created_at=T0))
        for i, (k, status) in enumerate(((f"{key}:0", "fallback"), (f"{key}:0/voice", "delivered"))):
            s.add(OutboxRow(idempotency_key=k, kind="owner.reboot_request", lang="ja", audience="owner",
                            channel=("sms", "voice")[i], recipient={}, context={}, subject=None, text="…", html=None,
                            status=status, attempts=1, created_at=T0, next_attempt_at=T0, deadline=T0))
    with sessions() as s:
        rows = {r["camera_id"]: r for r in data.fleet(s)}
    assert rows["C1"]["state"] == "down" and rows["C1"]["since"] == T0 and rows["C1"]["cause"] == "local_outage"
    assert rows["C1"]["asked"] == {"at": T0, "kind": "reboot_request", "channel": "sms", "status": "delivered"}
    assert rows["C2"]["asked"] is None and rows["C2"]["state"] == "unknown"


async def test_an_incident_has_its_timeline(world):
    sessions, *_ = world
    c = await client(sessions)
    try:
        await login(c, "tanaka")
        page = await (await c.get("/console/incidents")).text()
        await c.post("/console/incidents/I1/acknowledge", data={"csrf": hidden(page, "csrf")})
        page = await (await c.get("/console/incidents")).text()
    finally:
        await c.close()
    assert "Timeline</span> (2)" in page and "opened: local_outage" in page and "acknowledged by tanaka" in page


async def test_a_camera_page_shows_its_recorder_status_and_footage_never_a_frame(world):
    sessions, *_ = world
    with sessions.begin() as s:
        for k in range(3):  # three 4-second segments of C1, the last ending 20 s before the page's now
            end = T0 + timedelta(hours=1) - timedelta(seconds=20 + 4 * (2 - k))
            s.add(SegmentRow(camera_id="C1", path=f"C1/{k}.mkv", start=end - timedelta(seconds=4), end=end, frames=40,
                             bytes=1048576, sha256="0" * 64, node="node-b"))
    live = {"C1": {"connected": True, "fps": 9.8, "reconnects": 2, "last_error": "read timeout"}}
    c = await client(sessions, recorder_live=lambda: live)
    try:
        await login(c, "tanaka")
        one, two = await (await c.get("/console/cameras/C1")).text(), await (await c.get("/console/cameras/C2")).text()
    finally:
        await c.close()
    assert "受信中" in one and "9.8 fps" in one and "reconnects</span> 2" in one and "read timeout" in one
    assert "3 区間 segments、3.0 MiB、ノード <span lang=\"en\">node</span> node-b" in one
    assert "The last segment ended 20 s ago." in one and ".mkv" not in one  # no path to a file, no frame
    assert "Not recorded on this node" in two and "No footage held." in two


async def test_single_sign_on_through_the_trusted_proxy_only_for_enabled_accounts(world):
    sessions, *_ = world
    with sessions.begin() as s:
        disable_user(s, "root", T0)
    as_user = lambda name: {"X-Remote-User": name}  # noqa: E731
    c = await client(sessions, sso=ProxySignOn.of("X-Remote-User", ["127.0.0.1/32", "::1"]))
    try:
        r = await c.get("/console", headers=as_user("Tanaka"), allow_redirects=False)
        assert r.status == 200 and "tanaka（operator）" in await r.text()
        assert COOKIE in r.cookies and r.cookies[COOKIE]["httponly"] and r.cookies[COOKIE]["samesite"] == "Strict"
        assert (await c.get("/console", allow_redirects=False)).status == 200  # the session goes on by its cookie
        r = await c.get("/console/tickets", headers=as_user("acme1"), allow_redirects=False)  # another user now
        assert r.status == 200 and "acme1（vendor: acme）" in await r.text()
        assert (await c.get("/console", allow_redirects=False)).status == 403  # as acme1: a vendor
        for name in ("nobody", "root"):  # unknown, disabled: refused, never made
            c.session.cookie_jar.clear()
            r = await c.get("/console", headers=as_user(name), allow_redirects=False)
            assert r.status == 403 and COOKIE not in r.cookies and "ask an administrator" in await r.text()
        r = await c.post("/console/incidents/I1/acknowledge", headers=as_user("tanaka"), allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/login"  # a form needs a session and its token
    finally:
        await c.close()
    c = await client(sessions, sso=ProxySignOn.of("X-Remote-User", ["192.0.2.10"]))  # the proxy is elsewhere
    try:
        r = await c.get("/console", headers=as_user("tanaka"), allow_redirects=False)
        assert r.status == 303 and r.headers["Location"].startswith("/login")  # the header is not believed
    finally:
        await c.close()


async def test_a_vendor_moves_its_own_tickets_from_the_console_and_not_another_vendors(world):
    sessions, acme, beta, _ = world
    c = await client(sessions)
    try:
        await login(c, "acme1")
        page = await (await c.get(f"/console/tickets/{acme}")).text()
        assert "受け付けた" in page and "訪問を予定する" not in page  # an open ticket: acknowledge first
        csrf = hidden(page, "csrf")
        move = lambda n, action, **form: c.post(f"/console/tickets/{n}/{action}",  # noqa: E731
                                                data={"csrf": csrf, **form}, allow_redirects=False)
        assert (await move(beta, "acknowledge")).status == 404  # another vendor's: as if it did not exist
        assert (await c.post(f"/console/tickets/{acme}/acknowledge", data={}, allow_redirects=False)).status == 403
        r = await move(acme, "acknowledge", note="明日伺います")
        assert r.status == 303 and r.headers["Location"] == f"/console/tickets/{acme}"
        r = await move(acme, "schedule", visit_at="not a time")
        assert r.status == 400 and "visit_at is not an ISO 8601 time" in await r.text()
        assert (await move(acme, "schedule", visit_at="2026-12-02T10:00", note="午前")).status == 303
        page = await (await c.get(f"/console/tickets/{acme}")).text()
        assert "visit_scheduled" in page and "2026-12-02 10:00" in page
        assert (await move(acme, "resolve", note="ルーターを交換")).status == 303
        r = await move(acme, "resolve")
        assert r.status == 409 and "resolved" in await r.text()
    finally:
        await c.close()
    with sessions() as s:
        (ticket,) = [t for t in repo.list_tickets(s, open_only=False) if t.number == acme]
        beta_state = next(t.state for t in repo.list_tickets(s, open_only=False) if t.number == beta)
    assert ticket.state == "resolved" and beta_state == "open"
    assert [e.by for e in ticket.timeline][-3:] == ["acme1 (acme)"] * 3
    moves = [(e.actor, e.action, e.detail["ticket"]) for e in AuditLog(sessions).entries()
             if e.action.startswith("ticket_")]
    assert moves == [("acme1", f"ticket_{a}", acme) for a in ("acknowledge", "schedule", "resolve")]
