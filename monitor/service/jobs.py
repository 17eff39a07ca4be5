"""The scheduler's jobs of `mimamori run` around the probe rounds: the cluster heartbeat and the roles
it hands out, the weekly report (the decider's), the registry reload, the recorder's status and notices."""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import IntegrityError

from monitor.config.settings import Settings
from monitor.service.app import STORE_DOWN, Store, store_error_line
from monitor.service.cluster import publish_frames
from notify.message import Kind

# runner.ProbeService; runner imports this module, so the type is named, not imported (no import cycle)
Service = Any

log = logging.getLogger("mimamori.service")


def _not_a_jobstore_outage(record: logging.LogRecord) -> bool:
    """APScheduler warns, with the driver's whole multi-line message, at every wake-up that its job store
    (the service's own database) cannot be read; the service says once that the database went and once
    that it is back, so these say nothing new."""
    return not record.getMessage().startswith("Error getting due jobs from job store")


def quiet_jobstore_outages() -> None:
    sched_log = logging.getLogger("apscheduler.scheduler")
    if _not_a_jobstore_outage not in sched_log.filters:
        sched_log.addFilter(_not_a_jobstore_outage)


REPORT_JOBS = ("weekly-report-startup", "weekly-report-retry")


def schedule_reports(sched: AsyncIOScheduler, s: Settings, store: Store, svc: Service,
                     config_path: str | None) -> None:
    """The decider's: the persistent Monday job (SQLAlchemy job store in the service's database, which
    only the decider's scheduler opens); a start-up run and a half-hourly retry send a report missed while
    the service was down, once (the sent-report claim)."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    from monitor.report.delivery import schedule_weekly_report
    from monitor.service.weekly import delivery_from_settings

    sched.add_jobstore(SQLAlchemyJobStore(engine=store.engine, tablename="apscheduler_jobs"), "durable")
    schedule_weekly_report(sched, s.tz, s.report.send_at, config_path=config_path)
    weekly = delivery_from_settings(s, store.sessions, clock=svc.clock.now)
    sched.add_job(weekly.send_due, "date", run_date=svc.clock.now(), id="weekly-report-startup")
    sched.add_job(weekly.send_due, "interval", minutes=30, id="weekly-report-retry", coalesce=True)


def unschedule_reports(sched: AsyncIOScheduler) -> None:
    """A deposed decider's scheduler lets the weekly report go (the new decider's sends it)."""
    for job in REPORT_JOBS:
        if sched.get_job(job) is not None:
            sched.remove_job(job)
    sched.remove_jobstore("durable")


def schedule_cluster(sched: AsyncIOScheduler, s: Settings, store: Store, svc: Service,
                     config_path: str | None) -> Callable[[], Awaitable[None]]:
    """The heartbeat job (every `cluster.heartbeat_s`); the decider's own jobs follow the lease. Returns
    the beat, for a first one before the scheduler starts."""
    following: set[asyncio.Task] = set()

    async def follow() -> None:
        await svc.recorder.sync(svc.recorded_here())  # type: ignore[union-attr]

    async def beat() -> None:
        live = svc.leadership.live
        try:
            change = await svc.leadership.atick()
        except STORE_DOWN as e:  # the rounds say when the database goes and comes back; the lease waits
            log.debug("heartbeat not written: %s", store_error_line(e))
            return
        if svc.leadership.live != live and svc.recorder is not None:
            log.info("nodes alive: %s; this node records %d cameras", ", ".join(svc.leadership.live),
                     len(svc.recorded_here()))
            # a node came or went: the cameras follow, beside the beat (stopping a camera's session may
            # take seconds, and the next beat may not wait for it)
            task = asyncio.create_task(follow())
            following.add(task)
            task.add_done_callback(following.discard)
        if change == "lead":
            await asyncio.to_thread(svc.decisions.reload)
            schedule_reports(sched, s, store, svc, config_path)
        elif change == "standby":
            svc.held_rounds_drop()
            unschedule_reports(sched)

    async def publish() -> None:
        """A recording node that does not decide publishes its cameras' frame counts for the decider."""
        if svc.recorder is None or svc.leadership.leading:
            return
        try:
            await publish_frames(store.sessions, svc.leadership.node, svc.clock.now(), svc.recorder.window_s,
                                 await svc.recorder.frame_table())
        except STORE_DOWN as e:
            log.debug("frame counts not published: %s", store_error_line(e))
        except IntegrityError:  # a camera moving between two nodes, both publishing it: the next pass wins
            log.debug("frame counts not published this time: another node published one of them at once")

    sched.add_job(stoppable(beat), "interval", seconds=s.cluster.heartbeat_s, id="cluster-heartbeat",
                  max_instances=1, coalesce=True)
    sched.add_job(stoppable(publish), "interval", seconds=s.probes.interval_s / 2, id="cluster-frames",
                  max_instances=1, coalesce=True)
    return beat


def stoppable(job: Callable[..., Awaitable[object]]) -> Callable[..., Awaitable[object]]:
    """A coroutine job that the stop cancels ends quietly: the scheduler's shutdown cancels the jobs under
    way, which it would log as an ERROR with a CancelledError traceback. What a round writes is one
    transaction (in a worker thread that asyncio.run waits for), so nothing is left half-written."""
    @functools.wraps(job)
    async def run(*args: object, **kwargs: object) -> object:
        try:
            return await job(*args, **kwargs)
        except asyncio.CancelledError:
            log.info("%s interrupted by the stop", getattr(job, "__qualname__", job))
            return None
    return run


def schedule_registry_and_recorder(sched: AsyncIOScheduler, s: Settings, svc: Service, recorder,
                                   now: datetime) -> Callable[[], None]:
    """The jobs that follow the registry (every `probes.registry_reload_s`, and at once on SIGHUP) and the
    recorder (its status file, the retention notice), and the raw-observation prune; returns the undo of
    the SIGHUP handler."""
    from monitor.service.recording import recorder_settings

    async def reload_registry(why: str = "") -> None:
        try:
            changed = await asyncio.to_thread(svc.reload_registry)
        except STORE_DOWN as e:  # the registry is in the database: the cameras known so far go on
            log.warning("registry not reloaded%s: database unreachable (%s)", why, store_error_line(e))
            return
        if changed or why:
            log.info("registry reloaded%s: %d cameras", why, len(svc.cameras))
        await recorder.sync(svc.recorded_here())  # new, removed and moved cameras (a changed URL reconnects)

    def retention_notice() -> None:
        now = svc.clock.now()
        notice = recorder.retention_notice(now)
        if notice is not None:
            log.warning("recording retention short: %s", notice.text)
            svc.delivery.notify_operators(
                Kind.OPERATOR_RETENTION_SHORT, f"retention:{now.astimezone(s.tz):%Y-%m-%d}",
                {"days_kept": notice.actual_retention.total_seconds() / 86400, "period_days": f"{rs.retention_days:g}",
                 "detail": notice.text}, now)

    rs = recorder_settings(s)
    sched.add_job(stoppable(reload_registry), "interval", seconds=s.probes.registry_reload_s, id="reload-registry")
    hangup = on_sighup(lambda: asyncio.ensure_future(reload_registry(" (SIGHUP)")))
    sched.add_job(svc.prune, "interval", hours=1, next_run_time=now, id="prune-raw")

    async def recorder_status() -> None:
        svc.metrics.recorder(await recorder.write_status())

    sched.add_job(stoppable(recorder_status), "interval", seconds=rs.status_interval_s, next_run_time=now,
                  id="recorder-status", max_instances=1, coalesce=True)
    sched.add_job(retention_notice, "interval", seconds=rs.janitor_interval_s, id="recorder-notice")
    return hangup


def schedule_drift(sched: AsyncIOScheduler, s: Settings, store: Store, svc: Service) -> None:
    """The decider's drift checks: every `drift.step_s`, the cameras whose point in a check's interval has
    come (`core.drift.due`); the camera clock readings are kept as long as footage, for exports."""
    from datetime import timedelta

    from monitor.service.drift import DriftChecks
    from monitor.store.drift import prune_clock

    if not s.drift.enabled:
        return
    checks = DriftChecks(store.sessions, s, svc.delivery, svc.clock.now)
    keep = timedelta(days=s.recorder.retention_days + 1)

    async def step() -> None:
        if not svc.leadership.leading:
            checks.last_step = None  # a new decider starts from its own first step
            return
        now = svc.clock.now()
        cams = list(svc.cameras.values())
        due = checks.due_now(cams, now)
        if not due:
            return
        try:
            await checks.run(cams, now, only=due)
        except STORE_DOWN as e:  # the next step checks the cameras due then; these wait an interval
            log.warning("drift checks of %d cameras not stored: %s", len(due), store_error_line(e))

    def prune() -> None:
        if svc.leadership.leading:
            with store.sessions.begin() as session:
                prune_clock(session, svc.clock.now() - keep)

    sched.add_job(stoppable(step), "interval", seconds=s.drift.step_s, id="drift", max_instances=1, coalesce=True)
    sched.add_job(prune, "interval", hours=6, id="drift-prune", coalesce=True)


async def leave_cluster(svc: Service) -> None:
    try:
        await asyncio.to_thread(svc.leadership.leave)
    except STORE_DOWN as e:  # the lease and the heartbeat lapse by themselves
        log.warning("could not leave the cluster cleanly: %s", store_error_line(e))


def on_sighup(callback: Callable[[], object]) -> Callable[[], None]:
    """Call ``callback`` on SIGHUP (the Unix habit: reload); returns the undo. Only the main thread's loop
    can take signals: elsewhere (tests driving `serve`) nothing is installed."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, callback)
    except (RuntimeError, ValueError, NotImplementedError):
        return lambda: None
    return lambda: loop.remove_signal_handler(signal.SIGHUP)
