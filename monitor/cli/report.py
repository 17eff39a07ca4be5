"""``mimamori report …`` (a typer sub-app) and the ``--db`` half of ``mimamori replay``.

Registered in cli.py with ``app.add_typer(report_app, name="report")``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from monitor.config.settings import Settings

report_app = typer.Typer(help="Weekly uptime reports.", no_args_is_help=True)


def _report_settings(s: Settings):
    from monitor.report.config import ReportSettings

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
    from monitor.report.delivery import build_report
    from monitor.report.render import render_report
    from monitor.report.week import IsoWeek
    from monitor.service.app import open_store

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


@report_app.command("weekly")
def weekly(
    out: Annotated[Path, typer.Option("--out", help="folder for the HTML, PDF and CSV")],
    week: Annotated[str | None, typer.Option("--week", help="ISO week, e.g. 2026-W45; default: last week")] = None,
) -> None:
    """Write one week's report (HTML, PDF, CSV) without mailing it."""
    from monitor.cli.main import fail, settings

    if week is not None:
        from monitor.report.week import IsoWeek

        try:
            IsoWeek.parse(week)
        except ValueError as e:
            raise fail(str(e)) from None
    paths = write_weekly_report(settings(), week, out, datetime.now(UTC))
    for p in paths:
        typer.echo(f"wrote {p}")


@report_app.command("send")
def send() -> None:
    """Mail the due weekly report now, if it has not been sent (what the Monday job does)."""
    from monitor.cli.main import settings
    from monitor.report.delivery import delivery_from_settings
    from monitor.service.app import open_store
    from monitor.store.report_models import track_incident_spans

    s = settings()
    store = open_store(s)
    try:
        result = delivery_from_settings(s, track_incident_spans(store.sessions)).send_due()
    finally:
        store.engine.dispose()
    typer.echo(f"{result.week}: {result.outcome}{' — ' + result.detail if result.detail else ''}")


def replay_into_database(registry: Path, observations: Path, db_url: str, s: Settings) -> str:
    """For ``mimamori replay … --db URL``: the same DecisionLoop as the service, into that database."""
    from monitor.replay.db import replay_into_db
    from monitor.service.decide import policies_of

    st = replay_into_db(registry, observations, db_url, policies_of(s), interval_s=s.probes.interval_s)
    span = f" from {st.first.isoformat()} to {st.last.isoformat()}" if st.first and st.last else ""
    return (f"stored {st.observations} observations of {st.cameras} cameras in {st.intervals} rounds{span}: "
            f"{st.incidents} incidents, {st.notifications} notifications in {st.seconds:.1f} s")
