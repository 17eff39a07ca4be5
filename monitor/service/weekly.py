"""The weekly report, composed: from the configured store to files (`report weekly`, the demo) or to
the operators' mailboxes (the Monday job, `report send`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from monitor.config.report import PASSWORD_ENV, ReportSettings
from monitor.config.settings import Settings, load_settings
from monitor.report.delivery import WeeklyReportDelivery, build_report
from monitor.report.render import render_report
from monitor.report.week import IsoWeek
from monitor.service.app import open_store
from monitor.service.clock import SystemClock
from monitor.store.report_models import track_incident_spans

log = logging.getLogger("mimamori.report")


def _report_settings(s: Settings):
    return getattr(s, "report", None) or ReportSettings()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def write_weekly_report(s: Settings, week_text: str | None, out: Path, now: datetime) -> list[Path]:
    """Make the report of ``week_text`` (default: last week) from the configured store into ``out``."""
    tz = s.tz
    week = IsoWeek.parse(week_text) if week_text else IsoWeek.last_complete(now, tz)
    rs = _report_settings(s)
    store = open_store(s)
    try:
        with store.sessions() as session:
            report = build_report(session, week, tz, now, chronic_below_pct=rs.chronic_below_pct)
    finally:
        store.engine.dispose()
    rendered = render_report(report, worst=rs.worst_cameras)
    out.mkdir(parents=True, exist_ok=True)
    files = [(out / f"{rendered.basename}.html", rendered.file_html.encode("utf-8")),
             (out / f"{rendered.basename}.pdf", rendered.pdf),
             (out / f"{rendered.basename}.csv", rendered.csv)]
    for path, data in files:
        _write_atomic(path, data)
    return [p for p, _ in files]




def delivery_from_settings(settings, sessions: sessionmaker[Session], clock: Callable[[], datetime] | None = None
                           ) -> WeeklyReportDelivery:
    """The delivery as configured (``[report]`` section; SMTP password from the environment)."""
    rs = settings.report
    return WeeklyReportDelivery(
        sessions=sessions, tz=settings.tz, smtp=rs.smtp.config(os.environ.get(PASSWORD_ENV)),
        recipients=rs.operators, clock=clock or SystemClock().now, send_at=rs.send_at,
        chronic_below_pct=rs.chronic_below_pct, worst_cameras=rs.worst_cameras,
        stale_after=timedelta(minutes=rs.resend_stale_after_min),
    )


def weekly_report_job(config_path: str | None = None) -> None:
    """What the persistent job runs (a module-level function, so the job store can name it)."""
    settings = load_settings(config_path)
    store = open_store(settings)
    try:
        result = delivery_from_settings(settings, track_incident_spans(store.sessions)).send_due()
        log.info("weekly report job: %s %s", result.week, result.outcome)
    finally:
        store.engine.dispose()
