"""Vendor tickets: every move of the pure state machine, then the repository on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text

from monitor.core.domain import Camera, Contact, Observation
from monitor.core.tickets import (
    IllegalTransition,
    InvalidTicketInput,
    OwnerContact,
    StepTaken,
    TicketAction,
    TicketState,
    UnknownTicket,
    new_ticket,
    parse_number,
    ticket_number,
    transition,
)
from monitor.store import tickets as repo
from monitor.store.db import make_engine, session_factory, upgrade

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
JST = timezone(timedelta(hours=9))
S, A = TicketState, TicketAction

# Every (state, action) pair: the state it leads to, or None when the move is illegal.
MOVES = [
    (S.OPEN, A.ACKNOWLEDGE, S.ACKNOWLEDGED),
    (S.OPEN, A.SCHEDULE, None),
    (S.OPEN, A.RESOLVE, None),
    (S.OPEN, A.CANCEL, S.CANCELLED),
    (S.ACKNOWLEDGED, A.ACKNOWLEDGE, None),
    (S.ACKNOWLEDGED, A.SCHEDULE, S.VISIT_SCHEDULED),
    (S.ACKNOWLEDGED, A.RESOLVE, S.RESOLVED),
    (S.ACKNOWLEDGED, A.CANCEL, S.CANCELLED),
    (S.VISIT_SCHEDULED, A.ACKNOWLEDGE, None),
    (S.VISIT_SCHEDULED, A.SCHEDULE, S.VISIT_SCHEDULED),  # a new visit time
    (S.VISIT_SCHEDULED, A.RESOLVE, S.RESOLVED),
    (S.VISIT_SCHEDULED, A.CANCEL, S.CANCELLED),
    (S.RESOLVED, A.ACKNOWLEDGE, None),
    (S.RESOLVED, A.SCHEDULE, None),
    (S.RESOLVED, A.RESOLVE, None),
    (S.RESOLVED, A.CANCEL, None),
    (S.CANCELLED, A.ACKNOWLEDGE, None),
    (S.CANCELLED, A.SCHEDULE, None),
    (S.CANCELLED, A.RESOLVE, None),
    (S.CANCELLED, A.CANCEL, None),
]


def test_the_table_covers_every_state_and_action():
    pairs = {(s, a) for s, a, _ in MOVES}
    assert pairs == {(s, a) for s in TicketState for a in TicketAction if a is not TicketAction.OPEN}


def ticket_in(state: TicketState):
    t = new_ticket(number="T-2026-000001", incident_id="I1", camera_id="C1", vendor="acme", address="1-2-3",
                   owner=OwnerContact(name="山田"), steps_taken=(), evidence=(), now=T0)
    path = {
        S.OPEN: [],
        S.ACKNOWLEDGED: [A.ACKNOWLEDGE],
        S.VISIT_SCHEDULED: [A.ACKNOWLEDGE, A.SCHEDULE],
        S.RESOLVED: [A.ACKNOWLEDGE, A.RESOLVE],
        S.CANCELLED: [A.CANCEL],
    }[state]
    for i, a in enumerate(path):
        now = T0 + timedelta(minutes=i + 1)
        t = transition(t, a, now, "test", visit_at=now + timedelta(days=1) if a is A.SCHEDULE else None)
    assert t.state is state
    return t


@pytest.mark.parametrize(("state", "action", "to"), MOVES, ids=[f"{s}-{a}" for s, a, _ in MOVES])
def test_transition(state, action, to):
    before = ticket_in(state)
    now = T0 + timedelta(hours=1)
    visit = now + timedelta(days=2) if action is A.SCHEDULE else None
    if to is None:
        with pytest.raises(IllegalTransition) as e:
            transition(before, action, now, "vendor:acme", visit_at=visit)
        assert f"cannot {action} ticket T-2026-000001: it is {state}" in str(e.value)
        return
    after = transition(before, action, now, "vendor:acme", visit_at=visit, note=" on my way ")
    assert after.state is to
    assert after.timeline[:-1] == before.timeline
    last = after.timeline[-1]
    assert (last.at, last.by, last.action, last.state, last.note) == (now, "vendor:acme", action, to, "on my way")
    assert after.updated_at == now
    assert after.closed_at == (now if to in (S.RESOLVED, S.CANCELLED) else None)
    if action is A.SCHEDULE:
        assert after.visit_at == visit and last.visit_at == visit
    assert before.state is state  # values are frozen: the old one is unchanged


def test_resolving_a_cancelled_ticket_says_why():
    message = r"cannot resolve ticket T-2026-000001: it is cancelled \(it is closed\)"
    with pytest.raises(IllegalTransition, match=message):
        transition(ticket_in(S.CANCELLED), "resolve", T0 + timedelta(hours=1), "vendor:acme")


@pytest.mark.parametrize(("action", "kw", "message"), [
    (A.SCHEDULE, {}, "visit_at is required"),
    (A.SCHEDULE, {"visit_at": T0 - timedelta(hours=1)}, "is in the past"),
    (A.SCHEDULE, {"visit_at": datetime(2026, 12, 1, 10, 0)}, "visit_at must carry a time zone"),
    (A.RESOLVE, {"visit_at": T0 + timedelta(days=1)}, "visit_at is only for schedule"),
    ("repair", {}, "unknown action 'repair'"),
])
def test_bad_input_is_refused(action, kw, message):
    with pytest.raises(InvalidTicketInput, match=message):
        transition(ticket_in(S.ACKNOWLEDGED), action, T0, "vendor:acme", **kw)


def test_naive_now_is_refused():
    with pytest.raises(InvalidTicketInput, match="now must carry"):
        transition(ticket_in(S.OPEN), A.ACKNOWLEDGE, datetime(2026, 11, 30, 10), "x")


def test_ticket_numbers():
    assert ticket_number(2026, 123) == "T-2026-000123"
    assert parse_number("T-2026-000123") == (2026, 123)
    assert parse_number("T-26-1") is None
    with pytest.raises(ValueError):
        ticket_number(2026, 0)


# -- the repository, on both backends --------------------------------------------------------------

def cam(cid="C1", vendor="acme", **kw) -> Camera:
    base = dict(camera_id=cid, area="A01", isp="nuro", line_id=f"L-{cid}", expected_fps=10.0, vendor=vendor,
                address="東京都千代田区1-2-3", owner_name="山田太郎", contact=Contact.SMS, phone="+819012345678",
                email="owner@example.jp")
    base.update(kw)
    return Camera(**base)


def probes(cid="C1"):
    return [Observation(t=T0 - timedelta(minutes=i), camera=cid, reachable=False) for i in range(3)]


STEPS = [StepTaken(at=T0 - timedelta(hours=24), step="owner.reboot_request", detail="sms"),
         StepTaken(at=T0 - timedelta(hours=12), step="owner.reminder")]


def test_open_is_idempotent_per_incident_and_camera(sessions):
    with sessions.begin() as s:
        first = repo.open_ticket(s, incident_id="I1", camera=cam(), steps_taken=STEPS, evidence=probes(), now=T0)
    with sessions.begin() as s:
        again = repo.open_ticket(s, incident_id="I1", camera=cam(address="changed"), steps_taken=[], evidence=[],
                                 now=T0 + timedelta(hours=1))
        other = repo.open_ticket(s, incident_id="I1", camera=cam("C2"), steps_taken=[], evidence=[], now=T0)
        later = repo.open_ticket(s, incident_id="I2", camera=cam(), steps_taken=[], evidence=[], now=T0)
    assert first.number == "T-2026-000001"
    assert again == first
    assert (other.number, later.number) == ("T-2026-000002", "T-2026-000003")
    with sessions() as s:
        stored = repo.get(s, first.number)
        assert len(repo.list_tickets(s)) == 3
    assert stored == first
    assert stored.owner == OwnerContact(name="山田太郎", contact="sms", phone="+819012345678",
                                        email="owner@example.jp", lang="ja")
    assert stored.address == "東京都千代田区1-2-3"
    assert [st.step for st in stored.steps_taken] == ["owner.reboot_request", "owner.reminder"]
    assert [e["reachable"] for e in stored.evidence] == [False] * 3
    assert stored.timeline[0].action is TicketAction.OPEN and stored.created_at == T0


def test_the_number_counts_within_the_fleets_year(sessions):
    new_year_jst = datetime(2026, 12, 31, 15, 30, tzinfo=UTC)  # 2027-01-01 00:30 in Tokyo
    with sessions.begin() as s:
        t = repo.open_ticket(s, incident_id="I9", camera=cam(), steps_taken=[], evidence=[], now=new_year_jst, tz=JST)
    assert t.number == "T-2027-000001"


def test_cancel_on_recovery_cancels_only_open_tickets(sessions):
    with sessions.begin() as s:
        a = repo.open_ticket(s, incident_id="I1", camera=cam("C1"), steps_taken=[], evidence=[], now=T0)
        b = repo.open_ticket(s, incident_id="I1", camera=cam("C2"), steps_taken=[], evidence=[], now=T0)
        c = repo.open_ticket(s, incident_id="I2", camera=cam("C3"), steps_taken=[], evidence=[], now=T0)
        repo.apply(s, b.number, "acknowledge", T0 + timedelta(minutes=5), "vendor:acme", vendor="acme")
        repo.apply(s, b.number, "resolve", T0 + timedelta(minutes=9), "vendor:acme", vendor="acme")
    with sessions.begin() as s:
        cancelled = repo.cancel_for_incident(s, "I1", T0 + timedelta(hours=1))
    assert [t.number for t in cancelled] == [a.number]
    with sessions() as s:
        assert repo.get(s, a.number).state is TicketState.CANCELLED
        assert repo.get(s, a.number).timeline[-1].note == "camera recovered before the visit"
        assert repo.get(s, b.number).state is TicketState.RESOLVED
        assert repo.get(s, c.number).state is TicketState.OPEN
        assert [t.number for t in repo.list_tickets(s, state="cancelled")] == [a.number]
    with sessions.begin() as s:
        assert repo.cancel_for_incident(s, "I1", T0 + timedelta(hours=2)) == []  # again: nothing left


def test_apply_is_scoped_to_the_vendor_and_checked(sessions):
    with sessions.begin() as s:
        t = repo.open_ticket(s, incident_id="I1", camera=cam(), steps_taken=[], evidence=[], now=T0)
    with sessions.begin() as s, pytest.raises(UnknownTicket):
        repo.apply(s, t.number, "acknowledge", T0, "vendor:other", vendor="other")
    with sessions.begin() as s, pytest.raises(UnknownTicket):
        repo.apply(s, "T-2026-999999", "acknowledge", T0, "operator")
    with sessions.begin() as s, pytest.raises(IllegalTransition):
        repo.apply(s, t.number, "resolve", T0, "vendor:acme", vendor="acme")
    visit = datetime(2026, 12, 2, 10, 0, tzinfo=JST)
    with sessions.begin() as s:
        repo.apply(s, t.number, "acknowledge", T0 + timedelta(minutes=1), "vendor:acme", vendor="acme")
        repo.apply(s, t.number, "schedule", T0 + timedelta(minutes=2), "vendor:acme", vendor="acme", visit_at=visit)
    with sessions() as s:
        got = repo.get(s, t.number)
        assert repo.get(s, t.number, vendor="other") is None
        assert repo.list_tickets(s, vendor="other") == []
    assert got.state is TicketState.VISIT_SCHEDULED and got.visit_at == visit
    assert [e.action for e in got.timeline] == ["open", "acknowledge", "schedule"]


def test_vendor_tokens_are_hashed_at_rest(sessions, db_url):
    with sessions.begin() as s:
        token = repo.create_vendor_token(s, "acme", T0)
        other = repo.create_vendor_token(s, "beta", T0)
    assert token.startswith("mmv_") and len(token) > 40 and token != other
    eng = create_engine(db_url)
    with eng.connect() as c:
        rows = [tuple(map(str, r)) for r in c.execute(text("SELECT * FROM vendor_tokens"))]
    eng.dispose()
    assert len(rows) == 2
    assert not any(token in v or token[4:] in v for r in rows for v in r)
    with sessions() as s:
        assert repo.vendor_for_token(s, token) == "acme"
        assert repo.vendor_for_token(s, other) == "beta"
        assert repo.vendor_for_token(s, token + "x") is None
        assert repo.vendor_for_token(s, "") is None
    with sessions.begin() as s:
        assert repo.revoke_vendor_tokens(s, "acme", T0 + timedelta(days=1)) == 1
    with sessions() as s:
        assert repo.vendor_for_token(s, token) is None
        assert repo.vendor_for_token(s, other) == "beta"


def test_migration_0003_matches_the_ticket_models(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from monitor.store.models import Base

    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    ours = [d for d in diffs if "tickets" in repr(d) or "vendor_tokens" in repr(d)]
    assert ours == []


# -- the CLI, as a user runs it --------------------------------------------------------------------

CLI = [sys.executable, "-c",
       "from monitor.cli.main import app, run_cli\n"
       "from monitor.cli.tickets import tickets_app\n"
       "if not any(g.name == 'tickets' for g in app.registered_groups):\n"
       "    app.add_typer(tickets_app, name='tickets')\n"
       "run_cli()"]


def test_cli_list_show_and_vendor_token(sessions, db_url, tmp_path):
    from cryptography.fernet import Fernet

    from monitor.config.secrets import PasswordBox
    from monitor.store.cameras import apply_registry

    with sessions.begin() as s:
        apply_registry(s, [cam(), cam("C2", vendor="beta")], PasswordBox(Fernet.generate_key()), T0)
        t = repo.open_ticket(s, incident_id="I1", camera=cam(), steps_taken=STEPS, evidence=probes(), now=T0)
        repo.open_ticket(s, incident_id="I1", camera=cam("C2", vendor="beta"), steps_taken=[], evidence=[], now=T0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMAMORI_")}
    (tmp_path / "absent.toml").write_text("")
    env.update(MIMAMORI_DATABASE_URL=db_url, MIMAMORI_DATA_DIR=str(tmp_path / "data"),
               MIMAMORI_CONFIG=str(tmp_path / "absent.toml"))

    def run(*args):
        return subprocess.run([*CLI, "tickets", *args], env=env, capture_output=True, text=True, timeout=120)

    p = run("list", "--vendor", "acme")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [f"{t.number}\topen\tC1\tacme\t2026-11-30T10:00+09:00\tI1"]
    assert len(run("list", "--state", "open").stdout.splitlines()) == 2
    assert run("list", "--state", "resolved").stdout == ""
    assert run("list", "--state", "bogus").returncode != 0

    p = run("show", t.number)
    assert p.returncode == 0, p.stderr
    assert "state: open" in p.stdout and "address: 東京都千代田区1-2-3" in p.stdout
    assert "owner.reboot_request" in p.stdout and "open -> open by mimamori" in p.stdout
    p = run("show", "T-2026-424242")
    assert p.returncode == 1 and "unknown ticket 'T-2026-424242'" in p.stderr

    p = run("vendor-token", "create", "acme")
    assert p.returncode == 0, p.stderr
    token = p.stdout.strip()
    assert token.startswith("mmv_") and "only time" in p.stderr and "warning" not in p.stderr
    with sessions() as s:
        assert repo.vendor_for_token(s, token) == "acme"
    p = run("vendor-token", "create", "acmee")
    assert "no camera in the registry names vendor 'acmee'" in p.stderr


def test_two_writers_opening_the_same_ticket_get_one_ticket_on_postgresql(pg_server_url):
    """PostgreSQL (the replicas' backend): a concurrent second open waits, then returns the first's ticket."""
    import threading
    import uuid

    from sqlalchemy.engine import make_url

    name = f"t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(pg_server_url).set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(engine)
        sessions = session_factory(engine)
        results = {}
        with sessions.begin() as a:
            results["a"] = repo.open_ticket(a, incident_id="I1", camera=cam(), steps_taken=[], evidence=[], now=T0)

            def second():
                with sessions.begin() as b:
                    results["b"] = repo.open_ticket(b, incident_id="I1", camera=cam(), steps_taken=[], evidence=[],
                                                    now=T0)
                    results["c"] = repo.open_ticket(b, incident_id="I2", camera=cam(), steps_taken=[], evidence=[],
                                                    now=T0)

            worker = threading.Thread(target=second)
            worker.start()
            worker.join(1.0)
            assert worker.is_alive()  # blocked on the first writer's uncommitted row
        worker.join(30)
        assert results["b"] == results["a"]
        assert results["c"].number == "T-2026-000002"
        with sessions() as s:
            assert [t.number for t in repo.list_tickets(s)] == ["T-2026-000001", "T-2026-000002"]
    finally:
        engine.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
