"""The ``mimamori`` command."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.cameras import cameras_app
from monitor.cli.cluster import cluster_app
from monitor.cli.common import _State, fail, parse_time, settings
from monitor.cli.config import config_app
from monitor.cli.recorder import register as register_recorder_commands
from monitor.cli.report import report_app
from monitor.cli.tickets import tickets_app
from monitor.cli.users import users_app
from monitor.core.errors import MimamoriError
from monitor.replay import obsformat

app = typer.Typer(help="mimamori: keeps a city's street cameras online.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
obs_app = typer.Typer(help="Stored observations.", no_args_is_help=True)
app.add_typer(cameras_app, name="cameras")
app.add_typer(db_app, name="db")
app.add_typer(obs_app, name="observations")
app.add_typer(tickets_app, name="tickets")
app.add_typer(report_app, name="report")
app.add_typer(config_app, name="config")
app.add_typer(cluster_app, name="cluster")
app.add_typer(users_app, name="users")
register_recorder_commands(app)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="mimamori.toml (or $MIMAMORI_CONFIG)")]


@app.callback()
def main(config: ConfigOpt = None) -> None:
    _State.config = config


def run_cli() -> None:
    try:
        app()
    except MimamoriError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the current schema."""
    from monitor.store.db import current_revision, make_engine, upgrade

    s = settings()
    engine = make_engine(s.effective_database_url)
    upgrade(engine)
    typer.echo(f"database at revision {current_revision(engine)}")


@obs_app.command("export")
def observations_export(
    since: Annotated[str, typer.Option(help="ISO 8601; without offset, the fleet's time zone")],
    until: Annotated[str, typer.Option(help="ISO 8601, exclusive")],
    out: Annotated[Path, typer.Option(help="FILE.jsonl or FILE.jsonl.gz")],
) -> None:
    """Write stored observations in the scenario format, for replay."""
    from monitor.service.app import open_store
    from monitor.store.observations import iter_records

    s = settings()
    store = open_store(s)
    tz = s.tz
    if not out.name or out.is_dir():
        raise fail(f"--out {out}: give a file name (FILE.jsonl or FILE.jsonl.gz)")
    tmp = out.with_name(out.name + ".part")
    tmp = tmp if not str(out).endswith(".gz") else Path(str(tmp) + ".gz")
    lo, hi = parse_time(since, s), parse_time(until, s)
    try:
        with store.sessions() as session:
            records = (replace(r, t=r.t.astimezone(tz)) for r in iter_records(session, lo, hi))
            n = obsformat.write(tmp, records)
        tmp.replace(out)
    except OSError as e:  # a folder that is missing or not writable: nothing is left half-written
        tmp.unlink(missing_ok=True)
        raise fail(f"--out {out}: {e.strerror or e}") from None
    typer.echo(f"wrote {n} records to {out}")


@app.command()
def probe(
    once: Annotated[bool, typer.Option("--once", help="one round, printed as JSON lines")] = True,
    camera: Annotated[str | None, typer.Option(help="only this camera")] = None,
) -> None:
    """Probe every camera once and print the observations (scenario format)."""
    import asyncio

    from monitor.service.app import open_store
    from monitor.service.runner import probe_once_and_close

    s = settings()
    store = open_store(s)
    cams = store.cameras()
    if camera:
        cams = [c for c in cams if c.camera_id == camera]
        if not cams:
            raise fail(f"unknown camera {camera!r}")
    for rec in asyncio.run(probe_once_and_close(s, cams)):
        typer.echo(json.dumps(obsformat.to_dict(replace(rec, t=rec.t.astimezone(s.tz))), ensure_ascii=False))


@app.command()
def run() -> None:
    """Start the service: probe every camera each interval and store what is seen, until stopped."""
    import os

    from monitor.config.logs import setup_logging

    # before the service's imports: onvif-zeep calls logging.basicConfig(level=INFO) on import (a no-op once
    # this is set), and alembic logs its plugin set-up at INFO
    setup_logging()
    s = settings()
    setup_logging(s.log.level, s.log.format)
    from monitor.service.runner import run_service

    config = _State.config or os.environ.get("MIMAMORI_CONFIG")
    run_service(s, str(config) if config else None)


@app.command()
def simulate(
    cameras: Annotated[int, typer.Option(help="how many simulated cameras")] = 8,
    out: Annotated[Path, typer.Option(help="where to write the fleet's registry CSV")] = Path("data/sim-cameras.csv"),
    fps: Annotated[float, typer.Option(help="frame rate of every camera")] = 15.0,
) -> None:
    """Start simulated cameras (real RTSP + ONVIF on 127.0.0.1) until Ctrl-C."""
    from monitor.demo.simulate.fleet import main as sim_main

    out.parent.mkdir(parents=True, exist_ok=True)
    sim_main(cameras=cameras, csv_out=out, fps=fps)


@app.command()
def demo(
    cameras: Annotated[int, typer.Option(help="simulated cameras (areas of ten)")] = 16,
    rounds: Annotated[int, typer.Option(help="rounds (virtual minutes) before the demo ends")] = 38,
    pace: Annotated[float, typer.Option(help="real seconds per round")] = 4.0,
    data_dir: Annotated[Path, typer.Option(help="fresh folder for the demo's SQLite database")] = Path("data/demo"),
) -> None:
    """Simulated cameras on loopback, monitored and escalated live in SQLite, with faults injected on the way."""
    from monitor.demo.run import run_demo

    run_demo(cameras=cameras, rounds=rounds, pace_s=pace, data_dir=data_dir, say=typer.echo)


@app.command()
def replay(
    registry: Annotated[Path, typer.Option(help="cameras.csv of the fleet")],
    observations: Annotated[Path, typer.Option(help="observations.jsonl(.gz), scenario format, in time order")],
    out: Annotated[Path | None, typer.Option(help="decisions.jsonl to write")] = None,
    db: Annotated[str | None, typer.Option("--db", help="also store what was seen (rollups, intervals, incidents) "
                                                        "in this database, through the live service's path")] = None,
) -> None:
    """Run recorded observations through the live decision core on a virtual clock."""
    from monitor.core.errors import RegistryError
    from monitor.replay.files import replay_files
    from monitor.service.decide import policies_of

    s = settings()
    if out is None and db is None:
        raise fail("give --out FILE, --db URL, or both")
    if out is not None:
        tmp = out.with_name(out.name + ".part")
        try:
            stats = replay_files(registry, observations, tmp, policies_of(s))
        except RegistryError as e:
            tmp.unlink(missing_ok=True)
            for err in e.errors:
                typer.echo(str(err), err=True)
            raise fail(f"{registry}: {len(e.errors)} error(s)") from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(out)
        typer.echo(f"{stats.observations} observations in {stats.intervals} intervals -> {stats.decisions} "
                   f"decisions ({stats.incidents} incidents, {stats.notifications} notifications, "
                   f"{stats.findings} registry findings) in "
                   f"{stats.seconds:.1f} s ({stats.observations_per_second:,.0f} observations/s); wrote {out}")
    if db is not None:
        from monitor.cli.report import replay_into_database

        typer.echo(replay_into_database(registry, observations, db, s))


incidents_app = typer.Typer(help="Incidents the decision core opened.", no_args_is_help=True)
notifications_app = typer.Typer(help="Notifications the policy decided.", no_args_is_help=True)
app.add_typer(incidents_app, name="incidents")
app.add_typer(notifications_app, name="notifications")


@incidents_app.command("list")
def incidents_list(open_only: Annotated[bool, typer.Option("--open", help="only open incidents")] = False) -> None:
    """One line per incident, with its cause, scope and cameras."""
    from monitor.service.app import open_store
    from monitor.store.decisions import list_incidents

    s = settings()
    store = open_store(s)
    with store.sessions() as session:
        for i in list_incidents(session, open_only=open_only):
            when = i.opened_at.astimezone(s.tz).isoformat(timespec="minutes")
            closed = i.closed_at.astimezone(s.tz).isoformat(timespec="minutes") if i.closed_at else ""
            typer.echo(f"{i.id}\t{i.state}\t{i.cause}\t{json.dumps(i.scope, ensure_ascii=False)}\t"
                       f"{len(i.cameras)} camera(s)\t{when}\t{closed}")


_STATUS_HELP = "queued, sent, filed (written to the outbox folder: nobody contacted), delivered, failed, …"


@notifications_app.command("list")
def notifications_list(status: Annotated[str | None, typer.Option(help=_STATUS_HELP)] = None,
                       ) -> None:
    """The outbox: one line per message, with its delivery status (names only, no phone numbers)."""
    from monitor.service.app import open_store
    from notify.outbox import Outbox

    s = settings()
    store = open_store(s)
    for i in Outbox(store.sessions).all():
        if status and i.status != status:
            continue
        err = f"\t{i.last_error}" if i.last_error else ""
        typer.echo(f"{i.id}\t{i.created_at.astimezone(s.tz).isoformat(timespec='minutes')}\t{i.status}\t"
                   f"{i.message.kind}\t{i.message.channel}\t{i.recipient.name}\tattempts={i.attempts}{err}")


@notifications_app.command("retry")
def notifications_retry(
    row_id: int,
    hours: Annotated[float, typer.Option(min=0.1, max=24 * 14, help="new deadline, in hours from now")] = 12.0,
) -> None:
    """Queue a failed or undelivered message again."""
    from datetime import UTC, timedelta

    from monitor.service.app import open_store
    from notify.outbox import Outbox

    store = open_store(settings())
    now = datetime.now(UTC)
    if not Outbox(store.sessions).requeue(row_id, now=now, deadline=now + timedelta(hours=hours)):
        raise fail(f"message {row_id} is not failed or undelivered (see `mimamori notifications list`)")
    typer.echo(f"message {row_id} queued again")


@notifications_app.command("decided")
def notifications_decided() -> None:
    """What the escalation policy decided, when (the decision log, before delivery)."""
    from monitor.service.app import open_store
    from monitor.store.decisions import list_notifications

    s = settings()
    store = open_store(s)
    with store.sessions() as session:
        for n in list_notifications(session):
            typer.echo(f"{n.due_at.astimezone(s.tz).isoformat(timespec='minutes')}\t{n.audience}\t"
                       f"{n.kind}\t{n.camera_id or '-'}\t{n.channel or '-'}\t{n.incident_id}")


messages_app = typer.Typer(help="Message templates.", no_args_is_help=True)
app.add_typer(messages_app, name="messages")


@messages_app.command("preview")
def messages_preview(
    kind: Annotated[str, typer.Option(help="e.g. reboot_request, reminder, recovered_thanks, congestion_notice, "
                                           "dispatch, dispatch_cancel, incident_opened, delivery_failed")],
    lang: Annotated[str, typer.Option(help="ja or en")] = "ja",
    channel: Annotated[str, typer.Option(help="sms, voice or email")] = "sms",
    camera: Annotated[str | None, typer.Option(help="fill in this camera's details")] = None,
    cause: Annotated[str | None, typer.Option(help="the incident's cause, e.g. camera_fault (an owner is then asked "
                                                   "to restart the camera alone); default local_outage for owners "
                                                   "and vendors, area_outage for operators")] = None,
) -> None:
    """Print a rendered message; for SMS also its encoding and `segments: N`."""
    from monitor.service.preview import preview

    typer.echo(preview(settings(), kind=kind, lang=lang, channel=channel, camera_id=camera, cause=cause))
