"""The Monday mail: last week's report to the operators, exactly once per week.

- :func:`due_week` (pure) says which week's report is due at ``now``: the previous ISO week, from
  Monday ``send_at`` local time on (before that, the week before it).
- :class:`WeeklyReportDelivery` sends the due report if it has not been sent. The claim is a row in
  ``sent_reports`` keyed by the week, inserted before sending (an INSERT that a second sender loses)
  and marked ``sent`` afterwards; a failed or stale claim may be taken over by a conditional UPDATE.
- It is called by a persistent APScheduler job (cron, Monday ``send_at``, SQLAlchemy job store) and
  once at start-up, so a service that was down at 09:00 sends on start-up, and only once.

A crash between handing the mail to the server and marking it sent is retried after
``resend_stale_after``: the operators may then get the mail twice, with the same Message-ID (better
than never). Nothing else can send it twice.
"""

from __future__ import annotations

import enum
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from monitor.report.maths import Ticket, WeeklyReport, weekly_report
from monitor.report.queries import load_cameras, load_tickets, load_week
from monitor.report.render import RenderedReport, render_report
from monitor.report.week import IsoWeek
from monitor.store.models import HourlyRollupRow
from monitor.store.report_models import SentReportRow
from notify.channels.email import SmtpConfig, message_id_for, submit
from notify.message import DeliveryError

log = logging.getLogger("mimamori.report")
JOB_ID = "weekly-report"
JOB_FUNC = "monitor.service.weekly:weekly_report_job"  # the job store names it; see there


def due_week(now: datetime, tz: ZoneInfo, send_at: time = time(9, 0)) -> IsoWeek:
    """The week whose report is due at ``now``: last week once this Monday's ``send_at`` has passed."""
    this = IsoWeek.containing(now, tz)
    due_from = datetime.combine(this.monday, send_at, tzinfo=tz)
    return this.previous() if now >= due_from else this.previous().previous()


# -- the mail ----------------------------------------------------------------------------------------


def build_report_mail(rendered: RenderedReport, recipients: Sequence[str], config: SmtpConfig,
                      now: datetime) -> EmailMessage:
    """multipart/mixed: (text | html with the charts by cid) + the PDF + the CSV."""
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = rendered.subject
    msg["From"] = Address(display_name=config.from_name, addr_spec=config.from_addr)
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(now)
    domain = config.from_addr.rpartition("@")[2] or "mimamori.invalid"
    msg["Message-ID"] = message_id_for(rendered.basename, domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(rendered.text, subtype="plain", charset="utf-8")
    msg.add_alternative(rendered.mail_html, subtype="html", charset="utf-8")
    html_part = msg.get_payload()[1]
    for chart in rendered.charts:
        html_part.add_related(chart.png, maintype="image", subtype="png", cid=f"<{chart.cid}>",
                              filename=chart.filename)
    msg.add_attachment(rendered.pdf, maintype="application", subtype="pdf", filename=f"{rendered.basename}.pdf")
    msg.add_attachment(rendered.csv, maintype="text", subtype="csv", filename=f"{rendered.basename}.csv")
    return msg


def send_mail(msg: EmailMessage, config: SmtpConfig, ssl_context: ssl.SSLContext | None = None) -> None:
    """Hand one mail to the SMTP server, as notify's e-mail channel does. Raises DeliveryError."""
    submit(msg, config, ssl_context)


# -- the claim ---------------------------------------------------------------------------------------


def claim_week(sessions: sessionmaker[Session], week: IsoWeek, now: datetime, stale_after: timedelta) -> bool:
    """True if this caller may send ``week``'s report now (and has recorded that it is sending it)."""
    try:
        with sessions.begin() as s:
            s.add(SentReportRow(week=week.label, status="sending", claimed_at=now, recipients=[], attempts=1))
        return True
    except IntegrityError:
        pass
    with sessions.begin() as s:
        row = s.get(SentReportRow, week.label)
        if row is None or row.status == "sent":
            return False
        if row.status == "sending" and row.claimed_at > now - stale_after:
            return False  # someone is sending it right now
        changed = s.execute(
            update(SentReportRow)
            .where(SentReportRow.week == week.label, SentReportRow.status == row.status,
                   SentReportRow.claimed_at == row.claimed_at)
            .values(status="sending", claimed_at=now, attempts=SentReportRow.attempts + 1)
        ).rowcount
        return changed == 1


def _finish(sessions: sessionmaker[Session], week: IsoWeek, **values) -> None:
    with sessions.begin() as s:
        s.execute(update(SentReportRow).where(SentReportRow.week == week.label).values(**values))


class Outcome(enum.StrEnum):
    SENT = "sent"
    ALREADY = "already sent or being sent"
    NO_DATA = "no data for that week"
    NO_RECIPIENTS = "no operator addresses configured"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    week: IsoWeek
    outcome: Outcome
    detail: str = ""


def build_report(session: Session, week: IsoWeek, tz: ZoneInfo, now: datetime, *, chronic_below_pct: float = 95.0,
                 tickets: Sequence[Ticket] = ()) -> WeeklyReport:
    """Load ``week`` and the week before from the store and do the maths."""
    tickets = tickets or load_tickets(session)
    cams = load_cameras(session)
    current = load_week(session, week, tz, cameras=cams, tickets=tickets)
    previous = load_week(session, week.previous(), tz, cameras=cams, tickets=tickets)
    return weekly_report(current, previous, tz=tz, now=now, chronic_below_pct=chronic_below_pct)


def has_data(session: Session, week: IsoWeek, tz: ZoneInfo) -> bool:
    lo, hi = week.bounds(tz)
    n = session.scalar(select(func.count()).select_from(HourlyRollupRow)
                       .where(HourlyRollupRow.hour >= lo, HourlyRollupRow.hour < hi))
    return bool(n)


class WeeklyReportDelivery:
    """Sends the due weekly report once. ``clock`` is the shell's clock (virtual in tests)."""

    def __init__(self, *, sessions: sessionmaker[Session], tz: ZoneInfo, smtp: SmtpConfig,
                 recipients: Sequence[str], clock: Callable[[], datetime], send_at: time = time(9, 0),
                 chronic_below_pct: float = 95.0, worst_cameras: int = 20,
                 stale_after: timedelta = timedelta(hours=1), ssl_context: ssl.SSLContext | None = None,
                 tickets: Callable[[Session, IsoWeek], Sequence[Ticket]] | None = None) -> None:
        self.sessions, self.tz, self.smtp, self.recipients = sessions, tz, smtp, list(recipients)
        self.clock, self.send_at, self.chronic_below_pct = clock, send_at, chronic_below_pct
        self.worst_cameras, self.stale_after, self.ssl_context = worst_cameras, stale_after, ssl_context
        self.tickets = tickets or (lambda _s, _w: ())

    def send_due(self) -> SendResult:
        now = self.clock()
        week = due_week(now, self.tz, self.send_at)
        if not self.recipients:
            return SendResult(week=week, outcome=Outcome.NO_RECIPIENTS)
        with self.sessions() as s:
            if not has_data(s, week, self.tz):
                return SendResult(week=week, outcome=Outcome.NO_DATA)
        if not claim_week(self.sessions, week, now, self.stale_after):
            return SendResult(week=week, outcome=Outcome.ALREADY)
        try:
            with self.sessions() as s:
                report = build_report(s, week, self.tz, now, chronic_below_pct=self.chronic_below_pct,
                                      tickets=self.tickets(s, week))
            rendered = render_report(report, worst=self.worst_cameras)
            msg = build_report_mail(rendered, self.recipients, self.smtp, now)
            send_mail(msg, self.smtp, self.ssl_context)
        except Exception as e:
            detail = str(e) if isinstance(e, DeliveryError) else f"{type(e).__name__}: {e}"
            _finish(self.sessions, week, status="failed", last_error=detail[:500])
            log.warning("weekly report %s not sent: %s", week, detail)
            return SendResult(week=week, outcome=Outcome.FAILED, detail=detail)
        _finish(self.sessions, week, status="sent", sent_at=now, recipients=self.recipients,
                message_id=msg["Message-ID"], last_error=None)
        log.info("weekly report %s mailed to %d operator(s)", week, len(self.recipients))
        return SendResult(week=week, outcome=Outcome.SENT)


# -- scheduling --------------------------------------------------------------------------------------


def weekly_trigger(tz: ZoneInfo, send_at: time = time(9, 0)):
    from apscheduler.triggers.cron import CronTrigger

    return CronTrigger(day_of_week="mon", hour=send_at.hour, minute=send_at.minute, timezone=tz)


def schedule_weekly_report(scheduler, tz: ZoneInfo, send_at: time = time(9, 0), *, jobstore: str = "durable",
                           config_path: str | None = None) -> None:
    """The persistent Monday job. A run missed while the service was down runs once at start-up
    (``misfire_grace_time=None``, ``coalesce=True``); the sent-report claim keeps it to one mail."""
    scheduler.add_job(JOB_FUNC, weekly_trigger(tz, send_at), id=JOB_ID, jobstore=jobstore,
                      kwargs={"config_path": config_path}, replace_existing=True, coalesce=True,
                      misfire_grace_time=None, max_instances=1)
