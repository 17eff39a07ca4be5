"""Incident spans recorded through the live DecisionLoop, read back for the report, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from monitor.core.domain import Camera, Cause, Contact, Observation
from monitor.core.engine import Policies
from monitor.report.delivery import build_report
from monitor.report.week import IsoWeek
from monitor.service.decide import DecisionLoop
from monitor.store.cameras import apply_registry
from monitor.store.db import make_engine, session_factory, upgrade
from monitor.store.report_models import IncidentSpanRow, track_incident_spans

JST = timezone(timedelta(hours=9))
START = datetime(2026, 11, 2, 9, 0, tzinfo=JST)


def fleet() -> dict[str, Camera]:
    return {f"C{i:03d}": Camera(camera_id=f"C{i:03d}", area=f"A{i // 6}", isp=("nuro", "flets")[i % 2],
                                line_id=f"L{i}", expected_fps=15.0, contact=Contact.SMS, phone="+819012345678")
            for i in range(12)}


@pytest.fixture
def sessions(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    yield track_incident_spans(session_factory(engine))
    engine.dispose()


def test_a_local_outage_becomes_a_span_and_the_report_counts_its_minutes(sessions):
    from cryptography.fernet import Fernet

    from monitor.config.secrets import PasswordBox

    cams = fleet()
    with sessions.begin() as s:
        apply_registry(s, list(cams.values()), PasswordBox(Fernet.generate_key()), datetime.now(UTC))
    loop = DecisionLoop(sessions, Policies(), 60)
    track_incident_spans(sessions)  # idempotent
    for k in range(60):
        t = START + timedelta(minutes=k)
        obs = []
        for cid in cams:
            bad = cid == "C004" and 10 <= k < 30  # 20 minutes down
            obs.append(Observation(t=t, camera=cid, reachable=not bad, rtt_ms=None if bad else 12.0,
                                   onvif_ok=not bad, fps=None if bad else 15.0, max_gap_s=None if bad else 0.1))
        loop.round(cams, obs, [], t)
    with sessions() as s:
        spans = s.scalars(select(IncidentSpanRow)).all()
        assert [(sp.camera_id, sp.cause, sp.end is not None) for sp in spans] == [("C004", "local_outage", True)]
        assert abs((spans[0].end - spans[0].start) - timedelta(minutes=20)) <= timedelta(minutes=2)
        report = build_report(s, IsoWeek.parse("2026-W45"), ZoneInfo("Asia/Tokyo"), START + timedelta(hours=1))
    c4 = next(f for f in report.cameras if f.name == "C004")
    assert 18 <= c4.by_cause[Cause.LOCAL_OUTAGE] <= 22 and c4.down_minutes == 20
    assert c4.uptime_pct == pytest.approx(100 * 40 / 60)
    assert report.fleet.cameras == 12 and not report.complete
    assert report.fleet.by_cause[Cause.LOCAL_OUTAGE] == c4.by_cause[Cause.LOCAL_OUTAGE]


def test_migrations_create_the_report_tables_as_declared(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import monitor.store.report_models  # noqa: F401 - registers the report tables on Base
    from monitor.store.models import Base
    from notify.outbox import NotifyBase
    from recorder.index import RecorderBase

    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn),
                                 [Base.metadata, NotifyBase.metadata, RecorderBase.metadata])
    engine.dispose()
    ours = {"incident_spans", "sent_reports"}  # other tables belong to other migrations and models

    def table_of(d) -> str | None:
        d = d[0] if isinstance(d, list) else d
        if d[0].startswith("modify_"):
            return d[2]
        obj = d[1] if len(d) > 1 else None
        return getattr(obj, "name", None) if d[0].endswith("_table") else getattr(getattr(obj, "table", None),
                                                                                  "name", None)

    assert [d for d in diffs if table_of(d) in ours] == []
    with make_engine(db_url).connect() as conn:
        from sqlalchemy import inspect

        assert ours <= set(inspect(conn).get_table_names())
