"""The store on SQLite and PostgreSQL alike (one parametrised fixture)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from monitor.config.registry import load_cameras
from monitor.config.secrets import PasswordBox
from monitor.core.domain import Camera, Observation, ReferenceObservation, Secret
from monitor.store.cameras import apply_registry, diff_registry, get_camera, list_cameras
from monitor.store.db import current_revision, head_revision, make_engine, session_factory, upgrade
from monitor.store.models import CameraRow, HourlyRollupRow, StateIntervalRow
from monitor.store.observations import iter_records, prune_raw, record_round

JST = timezone(timedelta(hours=9))
T0 = datetime(2026, 11, 2, 18, 0, tzinfo=JST)


@pytest.fixture
def store(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def box():
    return PasswordBox(Fernet.generate_key())


def cam(cid="C1", **kw) -> Camera:
    base = dict(camera_id=cid, area="A01", isp="nuro", line_id=f"L-{cid}", expected_fps=10.0,
                rtsp_url=f"rtsp://{cid.lower()}.example.net/s", phone="+819012345678")
    base.update(kw)
    return Camera(**base)


def test_migrations_reach_head(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    upgrade(engine)  # idempotent
    engine.dispose()


def test_fleet_import_and_reimport_in_place(store, box, fleet11):
    cams = load_cameras(fleet11 / "cameras.csv")
    now = datetime.now(UTC)
    with store.begin() as s:
        d = apply_registry(s, cams, box, now)
    assert len(d.added) == 132
    with store() as s:
        assert len(list_cameras(s, box)) == 132
    edited = [replace(c, address="新住所 1-2-3") if c.camera_id == "C0005" else c for c in cams]
    with store.begin() as s:
        d = apply_registry(s, edited, box, now + timedelta(days=1))
    assert d.added == () and d.changed == (("C0005", ("address",)),) and d.unchanged == 131
    with store() as s:
        row = s.get(CameraRow, "C0005")
        assert row.address == "新住所 1-2-3"
        assert row.created_at == now.replace(microsecond=now.microsecond)  # kept, aware
        assert row.updated_at.tzinfo is not None


def test_password_encrypted_at_rest_and_diffed_without_showing(store, box):
    c = cam(onvif_user="admin", onvif_password=Secret("hunter2"))
    with store.begin() as s:
        apply_registry(s, [c], box, datetime.now(UTC))
    with store() as s:
        row = s.get(CameraRow, "C1")
        assert row.onvif_password_enc and "hunter2" not in row.onvif_password_enc
        assert get_camera(s, "C1", box).onvif_password.reveal() == "hunter2"
        d = diff_registry(s, [replace(c, onvif_password=Secret("new"))], box)
    assert d.changed == (("C1", ("onvif_password",)),)
    assert "hunter2" not in d.summary() and "new" not in d.summary().replace("not in file", "")


def test_record_round_rollups_intervals_and_aware_times(store):
    cams = {"C1": cam("C1"), "C2": cam("C2")}
    with store.begin() as s:
        apply_registry(s, list(cams.values()), PasswordBox(Fernet.generate_key()), datetime.now(UTC))
    for i in range(3):
        t = T0 + timedelta(minutes=i)
        obs = [
            Observation(t=t, camera="C1", reachable=True, rtt_ms=10, onvif_ok=True, fps=10.0, max_gap_s=0.2),
            Observation(t=t, camera="C2", reachable=i != 1, rtt_ms=None, onvif_ok=i != 1,
                        fps=9.0 if i != 1 else None, max_gap_s=0.3 if i != 1 else None),
        ]
        with store.begin() as s:
            record_round(s, obs, [ReferenceObservation(t=t, reference="gw", reachable=True)], cams, 60)
    with store() as s:
        roll = {r.camera_id: r for r in s.scalars(select(HourlyRollupRow))}
        assert roll["C1"].probes_ok == 3 and roll["C1"].frames_expected == 1800
        assert roll["C2"].probes_failed == 1 and roll["C2"].frames_received == pytest.approx(1080)
        assert roll["C1"].hour == datetime(2026, 11, 2, 9, tzinfo=UTC)
        ivs = s.scalars(select(StateIntervalRow).where(StateIntervalRow.camera_id == "C2")
                        .order_by(StateIntervalRow.start)).all()
        assert [(iv.state, iv.start, iv.end) for iv in ivs] == [
            ("up", T0, T0 + timedelta(minutes=1)),
            ("down", T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)),
            ("up", T0 + timedelta(minutes=2), None),
        ]
        recs = list(iter_records(s, T0, T0 + timedelta(hours=1)))
    assert len(recs) == 9 and isinstance(recs[0], ReferenceObservation)
    assert all(r.t.tzinfo is not None for r in recs)
    assert recs[1].t == T0
    with store.begin() as s:
        assert prune_raw(s, T0 + timedelta(minutes=1)) == 3
    with store() as s:
        assert len(list(iter_records(s, T0, T0 + timedelta(hours=1)))) == 6


def test_migrations_match_the_models(db_url):
    """Every table of the three packages is created by a migration, as declared (no drift)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from monitor.store.models import Base
    from notify.outbox import NotifyBase
    from recorder.index import RecorderBase

    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        diffs = compare_metadata(ctx, [Base.metadata, NotifyBase.metadata, RecorderBase.metadata])
    diffs = [d for d in diffs if not (d[0] == "remove_table" and d[1].name == "apscheduler_jobs")]  # its own table
    engine.dispose()
    assert diffs == []


def test_a_store_error_never_prints_the_statement_parameters(db_url):
    """An owner's phone number in a failing statement stays out of the error (hide_parameters)."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    engine = make_engine(db_url)
    with pytest.raises(DBAPIError) as err, engine.connect() as c:
        c.execute(text("SELECT no_such_column FROM no_such_table WHERE x = :phone"), {"phone": "+819012345678"})
    assert "+819012345678" not in str(err.value)
    assert "hidden due to hide_parameters" in str(err.value)


def test_the_sqlite_file_is_private_to_the_service(tmp_path):
    import stat

    db = tmp_path / "data" / "mimamori.db"
    upgrade(make_engine(f"sqlite:///{db}"))
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or stat.S_IMODE(wal.stat().st_mode) == 0o600
    db.chmod(0o644)  # an older install's file is narrowed at the next start
    make_engine(f"sqlite:///{db}")
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_the_longest_cells_the_registry_accepts_are_stored_on_both_stores(store, box):
    """What parse_registry lets through, every store keeps (no DataError on PostgreSQL alone)."""
    from monitor.config.registry import MAX_LENGTH

    longest = cam("C" + "9" * 63, area="あ" * MAX_LENGTH["area"], isp="i" * MAX_LENGTH["isp"],
                  line_id="l" * MAX_LENGTH["line_id"], vendor="v" * MAX_LENGTH["vendor"],
                  owner_name="山" * MAX_LENGTH["owner_name"], address="住" * MAX_LENGTH["address"],
                  email="a" * 64 + "@" + "e" * 178 + ".example.jp", onvif_user="u" * MAX_LENGTH["onvif_user"],
                  onvif_password=Secret("p" * MAX_LENGTH["onvif_password"]))
    with store.begin() as s:
        apply_registry(s, [longest], box, datetime.now(UTC))
    with store() as s:
        (got,) = list_cameras(s, box)
    assert got.area == longest.area and got.owner_name == longest.owner_name and got.address == longest.address
