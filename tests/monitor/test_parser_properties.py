"""Property-based tests (Hypothesis) of every parser of outside input: the registry CSV, the
configuration file, the observation lines and the vendor API's JSON bodies. Whatever comes in, the
answer is the parsed value or the parser's own error naming the place, never a traceback; the vendor
API answers 4xx JSON and changes nothing it refused, on SQLite and PostgreSQL alike.

Fixed budget: derandomised (the same examples on every run, so CI is reproducible) and a set number of
examples per property; run with ``--hypothesis-seed`` or more examples locally to search further."""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config.registry import OPTIONAL, REQUIRED, parse_registry
from monitor.config.settings import load_settings
from monitor.core.domain import Camera, Observation, ReferenceObservation
from monitor.core.errors import ConfigError, ObservationFormatError, RegistryError
from monitor.replay.obsformat import parse_line

BUDGET = settings(max_examples=150, derandomize=True, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

GOOD = {"camera_id": "C1", "area": "A01", "isp": "nuro", "line_id": "A01-L1", "expected_fps": "15",
        "address": "東京都千代田区1-1", "owner_name": "山田太郎", "contact": "sms", "phone": "090-1234-5678",
        "email": "taro@example.com", "lang": "ja", "vendor": "v1", "rtsp_url": "rtsp://cam1.example.net:554/s",
        "onvif_url": "http://cam1.example.net/onvif/device_service"}
ROW_ERROR = re.compile(r"^row \d+, field [^:]+: .+$", re.S)

# text a person or a spreadsheet can put in a cell: any character, line breaks and NUL included
cells = st.text(st.characters(codec="utf-8"), max_size=80) | st.sampled_from(
    ["", " ", "\n", "\r\n", "\x00", "=1+2", "-1", "1e400", "nan", "inf", "0", "+819012345678", "a" * 300,
     "rtsp://[::1]:554/s", "http://x", "山田\n太郎", '"', ",", "sms", "email", "voice", "ja", "en"])


@st.composite
def registry_files(draw) -> bytes:
    """Mostly a good file with a few cells retyped; sometimes a wrong header, another encoding or noise."""
    columns = list(REQUIRED) + draw(st.lists(st.sampled_from(OPTIONAL + ("bogus",)), max_size=2))
    rows = []
    for i in range(draw(st.integers(0, 4))):
        row = {**GOOD, "camera_id": f"C{i}"}
        for col in draw(st.lists(st.sampled_from(columns), max_size=2)):
            row[col] = draw(cells)
        rows.append(row)
    header = columns if draw(st.integers(0, 7)) else draw(st.sampled_from([columns[:-1], columns + columns[:1]]))
    text = "\n".join([",".join(header)] + [",".join(json.dumps(r.get(c, "")) for c in header) for r in rows])
    encoding = "utf-8" if draw(st.integers(0, 3)) else draw(st.sampled_from(["utf-8-sig", "cp932", "utf-16"]))
    data = text.encode(encoding, errors="replace")
    if not draw(st.integers(0, 9)):
        data = draw(st.binary(max_size=200)) if draw(st.booleans()) else data + draw(st.binary(max_size=20))
    return data


@BUDGET
@given(registry_files())
def test_a_registry_file_parses_or_names_every_bad_row_and_field(data):
    try:
        cams = parse_registry(data)
    except RegistryError as e:
        assert e.errors, "an error without a row"
        assert all(ROW_ERROR.match(str(x)) for x in e.errors), [str(x) for x in e.errors]
        return
    assert cams and all(isinstance(c, Camera) for c in cams)
    assert len({c.camera_id for c in cams}) == len(cams)


KEYS = {"": ["data_dir", "timezone", "database_url", "colour"],
        "probes": ["interval_s", "tcp_timeout_s", "sample_s", "concurrency", "spread", "registry_reload_s"],
        "classifier": ["open_after_bad_intervals", "sync_window", "overlay_fps_share", "nonsense"],
        "escalation": ["quiet_start", "owner_delay", "reminder_after"],
        "web": ["port", "public_base_url", "host"], "store": ["raw_retention_days"],
        "report": ["send_at", "operators"], "city": ["name", "phone"],
        "notify": ["operators", "outbox_dir", "dispatch_every_s"],
        "notify.twilio": ["account_sid", "from_number", "status_callback_url"],
        "notify.smtp": ["host", "port", "username", "from_addr", "security"]}
values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=True) | cells,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["name", "email", "phone"]), inner,
                                                                max_size=3), max_leaves=6)


def toml_value(v) -> str:
    if v is None:
        return '""'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v == float("inf") else "-inf" if v == float("-inf") else repr(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string is JSON's, for what json.dumps writes
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"


@st.composite
def config_files(draw) -> str:
    out = []
    for section in draw(st.lists(st.sampled_from(sorted(KEYS)), unique=True, max_size=4)):
        if section:
            out.append(f"[{section}]")
        for key in draw(st.lists(st.sampled_from(KEYS[section]), unique=True, max_size=4)):
            out.append(f"{key} = {toml_value(draw(values))}")
    text = "\n".join(out) + "\n"
    return text if draw(st.integers(0, 9)) else text + draw(st.text(max_size=20))


@BUDGET
@given(config_files())
def test_a_configuration_file_loads_or_names_the_file_and_key(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("cfg") / "mimamori.toml"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_settings(p, env={})
    except ConfigError as e:
        lines = str(e).splitlines()
        assert lines and all(line.startswith(f"{p}: ") or line.startswith(f"{p}.") for line in lines), str(e)


OBS_KEYS = ["t", "camera", "reference", "reachable", "rtt_ms", "onvif_ok", "fps", "max_gap_s", "clock_skew_s"]
obs_values = (st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=True)
              | st.sampled_from(["2026-11-02T00:00:00+09:00", "2026-11-02T00:00:00", "yesterday", "C0001", ""])
              | st.text(max_size=10))


@st.composite
def observation_lines(draw) -> str:
    if draw(st.integers(0, 5)) == 0:
        return draw(st.text(max_size=60))
    d = {"t": "2026-11-02T00:00:00+09:00", "camera": "C0001", "reachable": True, "rtt_ms": 12.5,
         "onvif_ok": True, "fps": 15.0, "max_gap_s": 0.2}
    for key in draw(st.lists(st.sampled_from(OBS_KEYS), max_size=4)):
        if draw(st.booleans()):
            d.pop(key, None)
        else:
            d[key] = draw(obs_values)
    line = json.dumps(d, ensure_ascii=draw(st.booleans()), allow_nan=True)
    return line if draw(st.integers(0, 9)) else line[:draw(st.integers(0, len(line)))]


@BUDGET
@given(observation_lines(), st.integers(1, 10**6))
def test_an_observation_line_parses_or_names_the_line(line, n):
    try:
        rec = parse_line(line, n)
    except ObservationFormatError as e:
        assert re.match(rf"line {n}(, field [a-z_]+)?: .", str(e)), str(e)
        return
    assert isinstance(rec, Observation | ReferenceObservation)
    assert rec.t.tzinfo is not None


# -- the vendor API's JSON bodies, on both stores ----------------------------------------------------

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
notes = st.fixed_dictionaries({"note": cells | st.text(st.characters(max_codepoint=0x9f), max_size=8)},
                               optional={"visit_at": st.sampled_from([
                                   "2026-12-02T10:00:00+09:00", "soon", "", "9999-12-31T23:59:59-12:00",
                                   "0001-01-01T00:00:00+14:00", "2036-12-02T10:00:00"])})
bodies = (st.binary(max_size=60)
          | notes.map(lambda d: json.dumps(d, ensure_ascii=False).encode("utf-8", "surrogatepass"))
          | st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | cells,
                         lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(st.sampled_from(["note", "visit_at", "x"]) | st.text(max_size=5), inner,
                                           max_size=3), max_leaves=5).map(
              lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")))


@contextmanager
def served(app):
    """``app`` on a real loopback server, for a synchronous Hypothesis test: yields ``call(request, *args)``,
    which runs ``request(client, *args)`` to its end."""
    from aiohttp.test_utils import TestClient, TestServer

    loop = asyncio.new_event_loop()
    client = TestClient(TestServer(app, host="127.0.0.1"), loop=loop)
    loop.run_until_complete(client.start_server())
    try:
        yield lambda request, *args: loop.run_until_complete(request(client, *args))
    finally:
        loop.run_until_complete(client.close())
        loop.close()


@pytest.mark.parametrize("action", ["acknowledge", "schedule"])
def test_a_vendor_api_body_is_applied_or_refused_in_json_never_a_server_error(sessions, action):
    from monitor.core.domain import Camera
    from monitor.store import tickets as repo
    from monitor.web.app import make_app

    with sessions.begin() as s:
        cam = Camera(camera_id="C1", area="A01", isp="nuro", line_id="L1", expected_fps=15.0, vendor="acme",
                     rtsp_url="rtsp://c1.example.net/s", phone="+819012345678")
        t = repo.open_ticket(s, incident_id="I1", camera=cam, steps_taken=[], evidence=[], now=T0)
        token = repo.create_vendor_token(s, "acme", T0)
        if action == "schedule":
            repo.apply(s, t.number, "acknowledge", T0, "vendor:acme")
    app = make_app(sessions=sessions, tz=UTC, twilio_auth_token=None, public_base_url="http://127.0.0.1/",
                   on_twilio_status=lambda *a: None, status_source=lambda: {}, now=lambda: T0)

    async def post(client, body: bytes):
        r = await client.post(f"/api/v1/tickets/{t.number}/{action}", data=body,
                              headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        return r.status, await r.json()

    seen: list[int] = []
    with served(app) as call:
        @BUDGET
        @given(bodies)
        def check(body):
            with sessions() as s:
                before = repo.get(s, t.number)
            status, answer = call(post, body)
            seen.append(status)
            assert status in (200, 400, 409), (status, answer)
            note = _note_of(body)
            if note is not None and re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", note):
                assert status == 400, "a note with control characters is stored differently by each store"
            if status != 200:
                assert answer["error"] in ("bad_request", "illegal_transition") and answer["message"]
                with sessions() as s:
                    assert repo.get(s, t.number) == before  # a refused body changed nothing
        check()
    assert 400 in seen


# -- Twilio's status callbacks, signed, on both stores -------------------------------------------------

CALLBACK_TOKEN = "twilio-token-for-properties"
twilio_fields = st.fixed_dictionaries({}, optional={
    "MessageSid": st.sampled_from(["SM0123456789abcdef0123456789abcdef", "SM1"]) | cells,
    "CallSid": st.sampled_from(["CA0123456789abcdef0123456789abcdef"]) | cells,
    "MessageStatus": st.sampled_from(["delivered", "undelivered", "sent", "failed"]) | cells,
    "CallStatus": st.sampled_from(["completed", "no-answer", "busy"]) | cells,
    "ErrorCode": st.sampled_from(["30003", ""]) | cells,
})


def test_a_signed_twilio_callback_is_applied_or_refused_never_a_server_error(sessions):
    """Only Twilio can sign, yet what it signs reaches the outbox query: whatever the fields hold, the
    answer is 204 or 400, on both stores (a NUL in a SID used to be a 500 on PostgreSQL)."""
    from twilio.request_validator import RequestValidator

    from monitor.web.app import make_app
    from notify.outbox import Outbox, OutboxStatus

    outbox = Outbox(sessions)
    applied: list[str] = []

    def on_status(sid: str, status: str, code: str | None) -> None:
        applied.append(sid)
        outbox.set_delivery_status(sid, OutboxStatus.DELIVERED, now=T0)

    base = "https://mimamori.example.jp"
    app = make_app(sessions=sessions, tz=UTC, twilio_auth_token=CALLBACK_TOKEN, public_base_url=base + "/",
                   on_twilio_status=on_status, status_source=lambda: {}, now=lambda: T0)
    validator = RequestValidator(CALLBACK_TOKEN)

    async def post(client, params: dict[str, str]) -> int:
        sig = validator.compute_signature(base + "/twilio/status", params)
        r = await client.post("/twilio/status", data=params, headers={"X-Twilio-Signature": sig})
        return r.status

    seen: list[int] = []
    with served(app) as call:
        @BUDGET
        @given(twilio_fields)
        def check(params):
            status = call(post, params)
            seen.append(status)
            assert status in (204, 400), (status, params)
        check()
    assert 204 in seen and 400 in seen
    assert all(re.fullmatch(r"(SM|MM|CA)[0-9a-fA-F]{32}", sid) for sid in applied)


def _note_of(body: bytes) -> str | None:
    try:
        d = json.loads(body)
    except ValueError:
        return None
    return d.get("note") if isinstance(d, dict) and isinstance(d.get("note"), str) else None


def test_the_generated_examples_reach_past_the_first_check():
    """The strategies are not all refused at the first hurdle: some registry files and configurations
    parse, so the properties above also cover what comes after."""
    ok = {"registry": 0}

    @settings(max_examples=100, derandomize=True, database=None, deadline=None)
    @given(registry_files())
    def reg(data):
        try:
            parse_registry(data)
            ok["registry"] += 1
        except RegistryError:
            pass
    reg()
    assert ok["registry"] > 0
