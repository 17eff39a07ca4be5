"""The Monday mail on a virtual clock, to a real SMTP peer (aiosmtpd, STARTTLS + AUTH), on both backends."""

from __future__ import annotations

import email
from datetime import UTC, datetime, time, timedelta
from email.policy import default
from zoneinfo import ZoneInfo

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.report.delivery import (
    JOB_FUNC,
    JOB_ID,
    Outcome,
    WeeklyReportDelivery,
    claim_week,
    schedule_weekly_report,
    weekly_trigger,
)
from monitor.report.week import IsoWeek
from monitor.service.clock import VirtualClock
from monitor.store.db import make_engine, upgrade
from monitor.store.models import CameraRow, HourlyRollupRow
from monitor.store.report_models import SentReportRow
from notify.channels.email import SmtpConfig
from tests.notify_peers import SMTP_PASSWORD, SMTP_USER

TOKYO = ZoneInfo("Asia/Tokyo")
W44, W45 = IsoWeek.parse("2026-W44"), IsoWeek.parse("2026-W45")
OPERATORS = ["anzen@city.example.jp", "ops@city.example.jp"]


def seed(sessions) -> None:
    """Three cameras with two weeks of hourly rollups; W44's report went out last Monday."""
    now = datetime(2026, 10, 1, tzinfo=UTC)
    with sessions.begin() as s:
        for i, (area, isp) in enumerate([("A01", "nuro"), ("A01", "flets-ocn"), ("A02", "flets-ocn")]):
            s.add(CameraRow(camera_id=f"C{i}", area=area, isp=isp, line_id=f"L{i}", expected_fps=10.0, address="",
                            owner_name="", contact="sms", phone="", email="", lang="ja", vendor="", rtsp_url="",
                            onvif_url="", onvif_user="", created_at=now, updated_at=now))
        for week in (W44, W45):
            lo, _ = week.bounds(TOKYO)
            s.add_all(HourlyRollupRow(camera_id=f"C{i}", hour=lo + timedelta(hours=h), probes_ok=60 - i,
                                      probes_failed=i, frames_received=36000.0 - 900 * i, frames_expected=36000.0,
                                      max_gap_s=0.2) for i in range(3) for h in range(168))
        s.add(SentReportRow(week=W44.label, status="sent", claimed_at=now, sent_at=now, recipients=OPERATORS,
                            attempts=1))


def delivery(sessions, smtp_peer, smtp_tls, clock: VirtualClock) -> WeeklyReportDelivery:
    smtp = SmtpConfig(host="127.0.0.1", port=smtp_peer.port, username=SMTP_USER, password=SMTP_PASSWORD,
                      from_addr="mimamori@city.example.jp", from_name="mimamori", timeout_s=10)
    return WeeklyReportDelivery(sessions=sessions, tz=TOKYO, smtp=smtp, recipients=OPERATORS, clock=clock.now,
                                ssl_context=smtp_tls.client_context())


class ServiceLife:
    """One run of the service on the virtual clock: the start-up call, then the persistent Monday job
    fired by APScheduler's own cron trigger. ``next_run`` lives in the job store, so it survives a
    restart; a run missed while down fires once on start (misfire_grace_time=None, coalesce=True)."""

    store: dict = {}

    def __init__(self, d: WeeklyReportDelivery, clock: VirtualClock, log: list):
        self.d, self.clock, self.log = d, clock, log
        self.trigger = weekly_trigger(TOKYO, time(9, 0))

    def start(self) -> None:
        now = self.clock.now()
        self.log.append((now, "start-up", self.d.send_due().outcome))
        if "next_run" not in self.store:
            self.store["next_run"] = self.trigger.get_next_fire_time(None, now)
        self.tick()

    def tick(self) -> None:
        now = self.clock.now()
        if self.store["next_run"] <= now:  # due, or missed while the service was down: run once
            self.log.append((now, "job", self.d.send_due().outcome))
            self.store["next_run"] = self.trigger.get_next_fire_time(self.store["next_run"], now)
            while self.store["next_run"] <= now:
                self.store["next_run"] = self.trigger.get_next_fire_time(self.store["next_run"], now)


def run_minutes(life: ServiceLife, clock: VirtualClock, until: datetime) -> None:
    while clock.now() < until:
        clock.advance(timedelta(minutes=1))
        life.tick()


def test_restart_over_monday_nine_mails_the_report_once_at_start_up(sessions, smtp_peer, smtp_tls):
    seed(sessions)
    ServiceLife.store = {}
    clock = VirtualClock(datetime(2026, 11, 9, 8, 0, tzinfo=TOKYO))
    log: list = []
    life = ServiceLife(delivery(sessions, smtp_peer, smtp_tls, clock), clock, log)
    life.start()
    run_minutes(life, clock, datetime(2026, 11, 9, 8, 58, tzinfo=TOKYO))
    assert smtp_peer.messages == []  # W44 went out last week; W45 is not due before 09:00

    clock.set(datetime(2026, 11, 9, 9, 30, tzinfo=TOKYO))  # down from 08:59 to 09:30: the 09:00 run is missed
    life = ServiceLife(delivery(sessions, smtp_peer, smtp_tls, clock), clock, log)
    life.start()
    run_minutes(life, clock, datetime(2026, 11, 9, 12, 0, tzinfo=TOKYO))

    assert len(smtp_peer.messages) == 1
    sent = [(t.astimezone(TOKYO).strftime("%H:%M"), what) for t, what, out in log if out is Outcome.SENT]
    assert sent == [("09:30", "start-up")]
    assert [o for _, w, o in log if w == "job"] == [Outcome.ALREADY]  # the missed 09:00 run found it sent
    msg = email.message_from_bytes(smtp_peer.messages[0], policy=default)
    assert "2026-W45" in msg["Subject"] and "週次稼働レポート" in msg["Subject"]
    assert msg["Date"].datetime == datetime(2026, 11, 9, 9, 30, tzinfo=TOKYO)
    assert sorted(a.addr_spec for a in msg["To"].addresses) == OPERATORS
    files = {p.get_filename(): p.get_content_type() for p in msg.iter_attachments()}
    assert files == {"mimamori-weekly-2026-W45.pdf": "application/pdf", "mimamori-weekly-2026-W45.csv": "text/csv"}
    html = msg.get_body(("html",))
    assert "cid:heatmap" in html.get_content() and "週次稼働レポート" in html.get_content()
    related = {p.get("Content-ID") for p in msg.walk() if p.get_content_type() == "image/png"}
    assert related == {"<heatmap>", "<causes>"}
    with sessions() as s:
        row = s.get(SentReportRow, W45.label)
        assert row.status == "sent" and row.sent_at == datetime(2026, 11, 9, 0, 30, tzinfo=UTC)
        assert row.message_id == msg["Message-ID"]

    # a week later the job sends W46 (no data for it here: nothing to send, nothing claimed)
    clock.set(datetime(2026, 11, 16, 9, 0, tzinfo=TOKYO))
    life.tick()
    assert log[-1][1:] == ("job", Outcome.NO_DATA) and len(smtp_peer.messages) == 1


def test_a_failed_send_is_retried_and_a_claim_is_taken_once(sessions, smtp_peer, smtp_tls):
    seed(sessions)
    clock = VirtualClock(datetime(2026, 11, 9, 9, 0, tzinfo=TOKYO))
    d = delivery(sessions, smtp_peer, smtp_tls, clock)
    smtp_peer.stop()
    first = d.send_due()
    assert first.outcome is Outcome.FAILED and "cannot reach" in first.detail
    smtp_peer.start()
    clock.advance(timedelta(minutes=30))
    assert d.send_due().outcome is Outcome.SENT
    assert d.send_due().outcome is Outcome.ALREADY
    assert len(smtp_peer.messages) == 1
    with sessions() as s:
        assert s.get(SentReportRow, W45.label).attempts == 2

    # two senders racing for one week: exactly one claim wins; a stale claim can be taken over
    now = datetime(2026, 11, 16, 0, 5, tzinfo=UTC)
    w = IsoWeek.parse("2026-W46")
    assert claim_week(sessions, w, now, timedelta(hours=1)) is True
    assert claim_week(sessions, w, now, timedelta(hours=1)) is False
    assert claim_week(sessions, w, now + timedelta(minutes=61), timedelta(hours=1)) is True


async def test_the_monday_job_is_persistent(db_url):
    upgrade(make_engine(db_url))
    made = []
    for _ in range(2):  # a second scheduler (after a restart) finds the job in the store
        sched = AsyncIOScheduler(jobstores={"durable": SQLAlchemyJobStore(url=db_url)}, timezone=TOKYO)
        sched.start(paused=True)
        if not made:
            schedule_weekly_report(sched, TOKYO, time(9, 0), config_path="/etc/mimamori.toml")
        job = sched.get_job(JOB_ID, jobstore="durable")
        made.append((job.func_ref, job.kwargs, job.coalesce, job.misfire_grace_time))
        nxt = job.next_run_time.astimezone(TOKYO)
        assert (nxt.weekday(), nxt.hour, nxt.minute) == (0, 9, 0)
        sched.shutdown(wait=False)
    assert made[0] == made[1] == (JOB_FUNC, {"config_path": "/etc/mimamori.toml"}, True, None)
