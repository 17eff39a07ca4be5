"""The service's HTTP server over real HTTP on loopback (aiohttp's TestServer and TestClient)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from aiohttp.test_utils import TestClient, TestServer
from twilio.request_validator import RequestValidator

from monitor.core.domain import Camera
from monitor.store import tickets as repo
from monitor.store.db import make_engine, session_factory, upgrade
from monitor.store.models import IncidentRow, StateIntervalRow
from monitor.web.app import make_app
from monitor.web.status import collect_status

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
JST = timezone(timedelta(hours=9))
PUBLIC = "https://mimamori.example.jp"
TWILIO_TOKEN = "twilio-auth-token-for-tests-0123456789"
PHONE = "+819012345678"

STATUS = {
    "generated_at": T0,
    "cameras": {"up": 120, "degraded": 7, "down": 5, "unknown": 0},
    "incidents": [
        {"id": "I-area-1", "cause": "area_outage", "scope": {"area": "A03"}, "cameras": 4, "opened_at": T0},
        {"id": "I-cam-2", "cause": "local_outage", "scope": {"camera": "C0042"}, "cameras": 1, "opened_at": T0},
    ],
    # a careless source: the board and /metrics must pick their fields and ignore the rest
    "tickets": [{"number": "T-2026-000007", "camera_id": "C0042", "vendor": "acme", "state": "acknowledged",
                 "created_at": T0, "visit_at": None, "phone": PHONE, "onvif_password": "hunter2"}],
    "notifications": {"queued": 2, "sent": 10, "delivered": 9, "undelivered": 1},
}


def cam(cid: str, vendor: str) -> Camera:
    return Camera(camera_id=cid, area="A01", isp="nuro", line_id=f"L-{cid}", expected_fps=10.0, vendor=vendor,
                  address="東京都千代田区1-2-3", owner_name="山田太郎", phone=PHONE)


@pytest.fixture
def sqlite_sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


class Calls:
    def __init__(self):
        self.seen: list[tuple] = []

    def __call__(self, sid, status, error_code):  # sync, like Dispatcher.mark_delivery_status
        self.seen.append((sid, status, error_code))


async def client_for(sessions, *, calls=None, status=None, token=TWILIO_TOKEN, now=None) -> TestClient:
    app = make_app(sessions=sessions, tz=JST, twilio_auth_token=token, public_base_url=PUBLIC + "/",
                   on_twilio_status=calls or Calls(), status_source=lambda: status or STATUS,
                   now=now or (lambda: T0 + timedelta(hours=1)))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


# -- Twilio status callback ------------------------------------------------------------------------

SMS_PARAMS = {"MessageSid": "SM0123456789abcdef0123456789abcdef", "MessageStatus": "undelivered",
              "ErrorCode": "30003", "AccountSid": "AC0123456789abcdef0123456789abcdef", "To": PHONE}


def signed(params, url=PUBLIC + "/twilio/status", token=TWILIO_TOKEN):
    return RequestValidator(token).compute_signature(url, params)


async def test_twilio_callback_with_a_good_signature_is_applied_once(sqlite_sessions, caplog):
    caplog.set_level(logging.DEBUG)
    calls = Calls()
    client = await client_for(sqlite_sessions, calls=calls)
    try:
        r = await client.post("/twilio/status", data=SMS_PARAMS, headers={"X-Twilio-Signature": signed(SMS_PARAMS)})
        assert r.status == 204
    finally:
        await client.close()
    assert calls.seen == [("SM0123456789abcdef0123456789abcdef", "undelivered", "30003")]
    assert TWILIO_TOKEN not in caplog.text and signed(SMS_PARAMS) not in caplog.text


async def test_voice_callback_and_async_callback(sqlite_sessions):
    seen = []

    async def on_status(sid, status, code):
        seen.append((sid, status, code))

    params = {"CallSid": "CA0123456789abcdef0123456789abcdef", "CallStatus": "no-answer"}
    client = await client_for(sqlite_sessions, calls=on_status)
    try:
        r = await client.post("/twilio/status", data=params, headers={"X-Twilio-Signature": signed(params)})
        assert r.status == 204
    finally:
        await client.close()
    assert seen == [("CA0123456789abcdef0123456789abcdef", "no-answer", None)]


@pytest.mark.parametrize("params", [
    {**SMS_PARAMS, "MessageSid": "SM0123\x00"},
    {**SMS_PARAMS, "MessageSid": "SM0123456789abcdef0123456789abcdef' OR 1=1"},
    {**SMS_PARAMS, "MessageStatus": "delivered\x00"},
    {**SMS_PARAMS, "ErrorCode": "30003; DROP"},
    {"CallSid": "XX0123456789abcdef0123456789abcdef", "CallStatus": "completed"},
], ids=["nul-sid", "quote-sid", "nul-status", "code", "not-a-call-sid"])
async def test_a_signed_callback_out_of_twilios_form_is_400_and_touches_nothing(sqlite_sessions, params):
    """Only Twilio can sign, but its fields still reach the outbox query: a NUL would be a 500 on PostgreSQL."""
    calls = Calls()
    client = await client_for(sqlite_sessions, calls=calls)
    try:
        r = await client.post("/twilio/status", data=params, headers={"X-Twilio-Signature": signed(params)})
        assert r.status == 400 and (await r.json())["error"] == "bad_request"
    finally:
        await client.close()
    assert calls.seen == []


@pytest.mark.parametrize("headers", [
    {"X-Twilio-Signature": signed(SMS_PARAMS, token="another-token")},
    {"X-Twilio-Signature": signed(SMS_PARAMS, url="http://127.0.0.1/twilio/status")},  # not the public URL
    {"X-Twilio-Signature": signed({**SMS_PARAMS, "MessageStatus": "delivered"})},  # params changed in flight
    {"X-Twilio-Signature": ""},
    {},
], ids=["wrong-token", "wrong-url", "tampered", "empty", "missing"])
async def test_twilio_callback_with_a_bad_signature_is_refused(sqlite_sessions, headers, caplog):
    calls = Calls()
    client = await client_for(sqlite_sessions, calls=calls)
    try:
        r = await client.post("/twilio/status", data=SMS_PARAMS, headers=headers)
        assert r.status == 403
    finally:
        await client.close()
    assert calls.seen == []
    assert "refused" in caplog.text
    assert TWILIO_TOKEN not in caplog.text
    if headers.get("X-Twilio-Signature"):
        assert headers["X-Twilio-Signature"] not in caplog.text


async def test_twilio_callback_without_a_configured_token_is_refused(sqlite_sessions):
    calls = Calls()
    client = await client_for(sqlite_sessions, calls=calls, token=None)
    try:
        r = await client.post("/twilio/status", data=SMS_PARAMS, headers={"X-Twilio-Signature": signed(SMS_PARAMS)})
        assert r.status == 403
    finally:
        await client.close()
    assert calls.seen == []


# -- vendor ticket API (both backends) -------------------------------------------------------------

@pytest.fixture
def api_store(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        mine = [repo.open_ticket(s, incident_id="I1", camera=cam(c, "acme"), steps_taken=[], evidence=[], now=T0)
                for c in ("C1", "C2")]
        theirs = repo.open_ticket(s, incident_id="I1", camera=cam("C3", "beta"), steps_taken=[], evidence=[], now=T0)
        acme = repo.create_vendor_token(s, "acme", T0)
        beta = repo.create_vendor_token(s, "beta", T0)
    yield sessions, [t.number for t in mine], theirs.number, acme, beta
    engine.dispose()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


async def test_vendor_api(api_store):
    sessions, mine, theirs, acme, beta = api_store
    client = await client_for(sessions)
    try:
        r = await client.get("/api/v1/tickets", headers=bearer(acme))
        assert r.status == 200
        body = await r.json()
        assert [t["number"] for t in body["tickets"]] == mine
        first = body["tickets"][0]
        assert first["owner"]["phone"] == PHONE and first["address"] == "東京都千代田区1-2-3"
        assert first["created_at"] == "2026-11-30T10:00:00+09:00"

        r = await client.get(f"/api/v1/tickets/{mine[0]}", headers=bearer(acme))
        assert r.status == 200 and (await r.json())["state"] == "open"

        # another vendor's ticket does not exist, as far as this vendor can tell
        for method, path in [("GET", f"/api/v1/tickets/{theirs}"), ("POST", f"/api/v1/tickets/{theirs}/acknowledge")]:
            r = await client.request(method, path, headers=bearer(acme))
            assert r.status == 404
            assert await r.json() == {"error": "not_found", "message": f"no ticket {theirs}"}
        r = await client.get("/api/v1/tickets", headers=bearer(beta))
        assert [t["number"] for t in (await r.json())["tickets"]] == [theirs]
        assert (await (await client.get(f"/api/v1/tickets/{theirs}", headers=bearer(beta))).json())["state"] == "open"

        # the whole life of a ticket
        r = await client.post(f"/api/v1/tickets/{mine[0]}/acknowledge", headers=bearer(acme),
                              json={"note": "担当: 佐藤"})
        assert r.status == 200 and (await r.json())["state"] == "acknowledged"
        r = await client.post(f"/api/v1/tickets/{mine[0]}/schedule", headers=bearer(acme),
                              json={"visit_at": "2026-12-02T10:00:00"})  # no offset: the fleet's zone
        body = await r.json()
        assert r.status == 200 and body["state"] == "visit_scheduled"
        assert body["visit_at"] == "2026-12-02T10:00:00+09:00"
        r = await client.post(f"/api/v1/tickets/{mine[0]}/resolve", headers=bearer(acme))
        body = await r.json()
        assert r.status == 200 and body["state"] == "resolved"
        assert [(e["action"], e["by"]) for e in body["timeline"]] == [
            ("open", "mimamori"), ("acknowledge", "vendor:acme"), ("schedule", "vendor:acme"),
            ("resolve", "vendor:acme")]
        assert body["timeline"][1]["note"] == "担当: 佐藤"

        # an illegal move
        r = await client.post(f"/api/v1/tickets/{mine[0]}/acknowledge", headers=bearer(acme))
        assert r.status == 409
        err = await r.json()
        assert err["error"] == "illegal_transition"
        assert err["message"].startswith(f"cannot acknowledge ticket {mine[0]}: it is resolved")
        r = await client.post(f"/api/v1/tickets/{mine[1]}/resolve", headers=bearer(acme))
        assert r.status == 409 and "acknowledge it first" in (await r.json())["message"]

        r = await client.get("/api/v1/tickets?state=resolved", headers=bearer(acme))
        assert [t["number"] for t in (await r.json())["tickets"]] == [mine[0]]
    finally:
        await client.close()
    with sessions() as s:
        assert repo.get(s, theirs).state == "open"  # untouched by the other vendor


@pytest.mark.parametrize(("path", "kwargs", "message"), [
    ("schedule", {"json": {}}, "visit_at is required"),
    ("schedule", {"json": {"visit_at": "next tuesday"}}, "not an ISO 8601 time"),
    ("schedule", {"json": {"visit_at": "2026-11-01T10:00:00+09:00"}}, "is in the past"),
    ("schedule", {"json": {"visit_at": "9999-12-31T23:59:59-12:00"}}, "not an ISO 8601 time"),  # past UTC's end
    ("schedule", {"json": {"visit_at": "0001-01-01T00:00:00+14:00"}}, "not an ISO 8601 time"),
    ("schedule", {"json": {"visit_at": "2036-12-02T10:00:00+09:00"}}, "must lie within 366 days of now"),
    ("acknowledge", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}, "not valid JSON"),
    ("acknowledge", {"json": ["a"]}, "must be a JSON object"),
    ("acknowledge", {"json": {"visit_at": "2026-12-02T10:00:00+09:00"}}, "unknown field(s): visit_at"),
])
async def test_vendor_api_bad_requests(sqlite_sessions, path, kwargs, message):
    with sqlite_sessions.begin() as s:
        t = repo.open_ticket(s, incident_id="I1", camera=cam("C1", "acme"), steps_taken=[], evidence=[], now=T0)
        token = repo.create_vendor_token(s, "acme", T0)
        if path == "schedule":
            repo.apply(s, t.number, "acknowledge", T0, "vendor:acme")
    client = await client_for(sqlite_sessions)
    try:
        headers = {**bearer(token), **kwargs.pop("headers", {})}
        r = await client.post(f"/api/v1/tickets/{t.number}/{path}", headers=headers, **kwargs)
        assert r.status == 400
        body = await r.json()
    finally:
        await client.close()
    assert body["error"] == "bad_request" and message in body["message"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic YWNtZTpwdw=="}, {"Authorization": "Bearer "},
                                     {"Authorization": "Bearer mmv_not-a-real-token"}],
                         ids=["none", "basic", "empty", "unknown"])
async def test_vendor_api_needs_a_token(sqlite_sessions, headers, caplog):
    client = await client_for(sqlite_sessions)
    try:
        for method, path in [("GET", "/api/v1/tickets"), ("GET", "/api/v1/tickets/T-2026-000001"),
                             ("POST", "/api/v1/tickets/T-2026-000001/acknowledge"), ("GET", "/api/v1/nothing")]:
            r = await client.request(method, path, headers=headers)
            assert r.status == 401, path
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
            assert (await r.json())["error"] == "unauthorized"
    finally:
        await client.close()
    assert "mmv_not-a-real-token" not in caplog.text


async def test_unknown_api_paths_answer_json(sqlite_sessions):
    with sqlite_sessions.begin() as s:
        token = repo.create_vendor_token(s, "acme", T0)
    client = await client_for(sqlite_sessions)
    try:
        r = await client.post("/api/v1/tickets/T-2026-000001/explode", headers=bearer(token))
        assert r.status == 404 and (await r.json())["error"] == "not_found"
        r = await client.get("/api/v1/tickets?state=lost", headers=bearer(token))
        assert r.status == 400 and "unknown state 'lost'" in (await r.json())["message"]
    finally:
        await client.close()


# -- /metrics and the board ------------------------------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})? '
                    r'(-?[0-9.eE+-]+|NaN|[+-]Inf)$')


def parse_metrics(text: str) -> dict[tuple[str, tuple], float]:
    """A strict reader of the Prometheus text format 0.0.4: every line must be a comment or a sample."""
    out, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert kind in ("gauge", "counter", "untyped")
            typed.add(name)
            continue
        if line.startswith("# HELP ") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, f"not a metric line: {line!r}"
        assert m.group(1) in typed, f"{m.group(1)} has no TYPE line"
        labels = tuple(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


async def test_metrics_parse(sqlite_sessions):
    client = await client_for(sqlite_sessions)
    try:
        r = await client.get("/metrics")
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await r.text()
    finally:
        await client.close()
    m = parse_metrics(text)
    assert m[("mimamori_cameras", (("state", "up"),))] == 120
    assert m[("mimamori_cameras", (("state", "down"),))] == 5
    assert m[("mimamori_open_incidents", (("cause", "area_outage"),))] == 1
    assert m[("mimamori_open_incidents", (("cause", "isp_congestion"),))] == 0
    assert m[("mimamori_open_tickets", (("state", "acknowledged"),))] == 1
    assert m[("mimamori_notifications", (("status", "undelivered"),))] == 1
    assert PHONE not in text and "hunter2" not in text


async def test_board_shows_only_what_it_may(sqlite_sessions):
    client = await client_for(sqlite_sessions)
    try:
        r = await client.get("/")
        assert r.status == 200
        html = await r.text()
        assert "img-src 'none'" in r.headers["Content-Security-Policy"]
    finally:
        await client.close()
    assert "カメラ稼働状況" in html and 'http-equiv="refresh" content="60"' in html
    assert 'id="count-up">120<' in html and 'id="count-down">5<' in html
    assert "地域の停電・回線断" in html and "area outage" in html and "A03" in html
    assert "T-2026-000007" in html and "受付済み" in html
    assert PHONE not in html and "hunter2" not in html and "<img" not in html


async def test_board_says_when_the_status_is_unavailable(sqlite_sessions):
    def broken():
        raise RuntimeError("database is down")

    app = make_app(sessions=sqlite_sessions, tz=JST, twilio_auth_token=None, public_base_url=PUBLIC,
                   on_twilio_status=Calls(), status_source=broken)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        r = await client.get("/")
        assert r.status == 503 and "Status is unavailable" in await r.text()
        assert (await client.get("/metrics")).status == 503


def test_collect_status_from_the_store(db_url):
    from cryptography.fernet import Fernet

    from monitor.config.secrets import PasswordBox
    from monitor.store.cameras import apply_registry

    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        apply_registry(s, [cam(f"C{i}", "acme") for i in range(5)], PasswordBox(Fernet.generate_key()), T0)
        for cid, state in [("C0", "up"), ("C1", "up"), ("C2", "down"), ("C3", "degraded")]:
            s.add(StateIntervalRow(camera_id=cid, state="up", start=T0 - timedelta(hours=2), end=T0))
            s.add(StateIntervalRow(camera_id=cid, state=state, start=T0, end=None))
        s.add(IncidentRow(id="I1", cause="local_outage", state="open", cameras=["C2"], scope={"camera": "C2"},
                          evidence={}, opened_at=T0, updated_at=T0))
        s.add(IncidentRow(id="I0", cause="area_outage", state="closed", cameras=["C1"], scope={"area": "A01"},
                          evidence={}, opened_at=T0, updated_at=T0, closed_at=T0))
        t = repo.open_ticket(s, incident_id="I1", camera=cam("C2", "acme"), steps_taken=[], evidence=[], now=T0)
    with sessions() as s:
        status = collect_status(s, T0)
    engine.dispose()
    assert status["cameras"] == {"up": 2, "degraded": 1, "down": 1, "unknown": 1}
    assert [(i["id"], i["cause"], i["cameras"]) for i in status["incidents"]] == [("I1", "local_outage", 1)]
    assert [(x["number"], x["state"]) for x in status["tickets"]] == [(t.number, "open")]
    assert status["notifications"] == {}
    assert PHONE not in repr(status) and "東京都" not in repr(status)


FINDINGS = [
    {"camera": "C0088", "field": "isp", "registry": "flets-sonet", "observed": "flets-biglobe", "since": T0,
     "evidence": {"incident": "I6", "cause": "isp_outage", "went_down_and_came_back_with": {"isp": "flets-biglobe"}},
     "phone": PHONE},
    {"camera": "C0023", "field": "expected_fps", "registry": 20.0, "observed": 10.0, "since": T0,
     "evidence": {"clean_intervals": 60, "learned_fps": 9.99, "tolerance": 0.15}},
    {"camera": "<script>alert(1)</script>", "field": "area", "registry": "A01", "observed": "<b>A02</b>",
     "since": T0, "evidence": {"incident": "<i>I7</i>"}},
]


async def test_board_lists_the_registry_rows_to_check_escaped(sqlite_sessions):
    client = await client_for(sqlite_sessions, status={**STATUS, "findings": FINDINGS})
    try:
        html = await (await client.get("/")).text()
        metrics = parse_metrics(await (await client.get("/metrics")).text())
    finally:
        await client.close()
    assert "登録内容の確認が必要なカメラ" in html and "Registry rows to check</span> (3)" in html
    section = html[html.index('id="registry-findings"'):]
    assert "C0088" in section and "回線事業者" in section and "flets-sonet" in section and "flets-biglobe" in section
    assert "フレームレート" in section and ">20<" in section and ">10<" in section
    assert "went down and came back with incident I6 (isp_outage: isp flets-biglobe)" in section
    assert "障害 I6" in section and "9.99 fps measured over 60 clean intervals" in section
    assert "2026-11-30 10:00" in section  # the fleet's time zone
    assert "<script>" not in html and "<b>A02" not in html and "<i>I7" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;A02&lt;/b&gt;" in html
    assert PHONE not in html
    assert metrics[("mimamori_registry_findings", (("field", "isp"),))] == 1
    assert metrics[("mimamori_registry_findings", (("field", "expected_fps"),))] == 1


async def test_board_says_when_no_registry_row_is_to_check(sqlite_sessions):
    client = await client_for(sqlite_sessions)
    try:
        html = await (await client.get("/")).text()
    finally:
        await client.close()
    assert "Registry rows to check</span> (0)" in html and "No registry rows to check." in html
    assert 'id="registry-findings"' not in html


def test_collect_status_has_the_current_registry_findings(db_url):
    from monitor.core.decisions import FindingDecision
    from monitor.store.decisions import save_step

    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        save_step(s, T0, {}, [
            FindingDecision(t=T0, camera="C0088", field="isp", registry="flets-sonet", observed="flets-biglobe",
                            evidence={"incident": "I6"}),
            FindingDecision(t=T0, camera="C0023", field="expected_fps", registry=20.0, observed=10.0, evidence={}),
        ])
    later = T0 + timedelta(hours=1)
    with sessions.begin() as s:  # withdrawn: off the board
        save_step(s, later, {}, [FindingDecision(t=later, camera="C0023", field="expected_fps", registry=20.0,
                                                 observed=20.0, evidence={})])
    with sessions() as s:
        status = collect_status(s, later)
    engine.dispose()
    assert status["findings"] == [{"camera": "C0088", "field": "isp", "registry": "flets-sonet",
                                   "observed": "flets-biglobe", "since": T0, "evidence": {"incident": "I6"}}]


async def test_the_access_log_never_holds_a_query_string(sqlite_sessions, caplog):
    """A vendor token (or anything else) sent in a URL by mistake is refused and not written to the log:
    the service's access lines carry the path only."""
    import aiohttp

    from monitor.web.app import start_server

    caplog.set_level(logging.INFO, logger="aiohttp.access")
    app = make_app(sessions=sqlite_sessions, tz=JST, twilio_auth_token=TWILIO_TOKEN, public_base_url=PUBLIC + "/",
                   on_twilio_status=Calls(), status_source=lambda: STATUS, now=lambda: T0)
    runner = await start_server(app, "127.0.0.1", 0)
    try:
        host, port = runner.addresses[0][:2]
        url = f"http://{host}:{port}/api/v1/tickets?token=mmv_secret-in-the-query&to=+8190"
        async with aiohttp.ClientSession() as http, http.get(
                url, headers={"Referer": "http://x/?token=mmv_secret-in-the-referer"}) as r:
            assert r.status == 401
    finally:
        await runner.cleanup()
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert access and '"GET /api/v1/tickets" 401' in access[0]
    assert "mmv_secret" not in caplog.text and "8190" not in caplog.text


async def test_board_lists_the_cameras_whose_settings_drifted_escaped(db_url, sqlite_sessions):
    """Issue 19: an open drift finding from the store reaches the board, escaped; a closed one does not."""
    from monitor.core.drift import Check, Finding, OpenFinding, Reconciled, Severity
    from monitor.store.drift import write

    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)

    def opened(camera: str, check: Check, observed: str, severity: Severity) -> Reconciled:
        f = Finding(camera_id=camera, check=check, expected="2 mask(s)", observed=observed, severity=severity)
        return Reconciled(opened=(OpenFinding(finding=f, since=T0, last_seen=T0),), kept=(), closed=())

    with sessions.begin() as s:
        write(s, opened("C0007", Check.PRIVACY_MASKS, "<b>0 mask(s)</b>", Severity.URGENT), T0)
        write(s, opened("C0009", Check.FIRMWARE, "firmware 2.0", Severity.RECORD), T0)
    with sessions.begin() as s:  # C0009's firmware taken as approved: closed
        write(s, Reconciled(opened=(), kept=(), closed=(opened("C0009", Check.FIRMWARE, "", Severity.RECORD)
                                                         .opened[0],)), T0)
    with sessions() as s:
        status = collect_status(s, T0)
    engine.dispose()
    assert [(d["camera"], d["check"]) for d in status["drift"]] == [("C0007", "privacy_masks")]
    client = await client_for(sqlite_sessions, status={**STATUS, "drift": status["drift"]})
    try:
        html = await (await client.get("/")).text()
    finally:
        await client.close()
    section = html[html.index('id="drift"'):]
    assert "C0007" in section and "至急" in section and "プライバシーマスク" in section and "privacy masks" in section
    assert "<b>0" not in html and "&lt;b&gt;0 mask(s)&lt;/b&gt;" in section and "C0009" not in html


async def test_metrics_have_one_camera_up_series_per_camera_and_the_process_families(db_url, sqlite_sessions):
    """Issue 17's contract: one `mimamori_camera_up` series per monitored camera (labels camera, area, isp),
    read by prometheus_client's own parser; the process's families (probe rounds, leader) beside them."""
    from cryptography.fernet import Fernet
    from prometheus_client.parser import text_string_to_metric_families

    from monitor.config.secrets import PasswordBox
    from monitor.service.metrics import ServiceMetrics
    from monitor.store.cameras import apply_registry
    from monitor.store.models import ObservationRow

    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        apply_registry(s, [cam("C1", "acme"), cam("C2", "acme"), cam("C3", "beta")], PasswordBox(Fernet.generate_key()),
                       T0)
        for cid, ok, fps in (("C1", True, 10.0), ("C2", False, None), ("C3", True, 9.5)):
            s.add(ObservationRow(t=T0, camera_id=cid, reachable=ok, rtt_ms=12.0 if ok else None, onvif_ok=ok,
                                 fps=fps))
    with sessions() as s:
        status = collect_status(s, T0)
    engine.dispose()
    process = ServiceMetrics()
    process.round_seconds.observe(3.2)
    process.leader.set(1)
    app = make_app(sessions=sqlite_sessions, tz=JST, twilio_auth_token=None, public_base_url=PUBLIC,
                   on_twilio_status=Calls(), status_source=lambda: status, metrics_registry=process.registry)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        text = await (await client.get("/metrics")).text()
    finally:
        await client.close()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    up = {s.labels["camera"]: (s.value, s.labels["area"], s.labels["isp"])
          for s in families["mimamori_camera_up"].samples}
    assert up == {"C1": (1.0, "A01", "nuro"), "C2": (0.0, "A01", "nuro"), "C3": (1.0, "A01", "nuro")}
    assert {s.labels["camera"] for s in families["mimamori_camera_fps"].samples} == {"C1", "C3"}
    assert families["mimamori_probe_round_seconds"].type == "histogram"
    assert next(s.value for s in families["mimamori_leader"].samples) == 1.0
