"""``mimamori report …`` (a typer sub-app) and the ``--db`` half of ``mimamori replay``.

Registered in cli.py with ``app.add_typer(report_app, name="report")``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from monitor.config.settings import Settings

report_app = typer.Typer(help="Weekly uptime reports.", no_args_is_help=True)


@report_app.command("weekly")
def weekly(
    out: Annotated[Path, typer.Option("--out", help="folder for the HTML, PDF and CSV")],
    week: Annotated[str | None, typer.Option("--week", help="ISO week, e.g. 2026-W45; default: last week")] = None,
) -> None:
    """Write one week's report (HTML, PDF, CSV) without mailing it."""
    from monitor.cli.common import fail, settings

    if week is not None:
        from monitor.report.week import IsoWeek

        try:
            IsoWeek.parse(week)
        except ValueError as e:
            raise fail(str(e)) from None
    if out.exists() and not out.is_dir():
        raise fail(f"--out {out}: is a file; give a folder (it is created if missing)")
    from monitor.service.weekly import write_weekly_report

    try:
        paths = write_weekly_report(settings(), week, out, datetime.now(UTC))
    except OSError as e:  # a folder that cannot be made or written: the report is not half-written (atomic files)
        raise fail(f"--out {out}: {e.strerror or e}") from None
    for p in paths:
        typer.echo(f"wrote {p}")


@report_app.command("send")
def send() -> None:
    """Mail the due weekly report now, if it has not been sent (what the Monday job does)."""
    from monitor.cli.common import settings
    from monitor.service.app import open_store
    from monitor.service.weekly import delivery_from_settings
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
            f"{st.incidents} incidents, {st.notifications} notifications, {st.findings} registry findings "
            f"in {st.seconds:.1f} s")
