"""The composition root of `mimamori run`: scheduler jobs, probe rounds, the store."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.config.settings import Settings
from monitor.core.decisions import (
    Audience,
    ChangeKind,
    Decision,
    FindingDecision,
    IncidentDecision,
    NotificationDecision,
)
from monitor.core.decisions import Kind as Step
from monitor.core.domain import Camera, Observation, ReferenceObservation
from monitor.core.health import observation_state
from monitor.probes.frames import FrameStatsSource, RtspSamplingSource
from monitor.probes.onvif import close_shared, onvif_reboot
from monitor.probes.round import ProbeConfig, probe_round, reference_round
from monitor.service.app import STORE_DOWN, Store, open_store, store_error_line
from monitor.service.clock import Clock, SystemClock, VirtualClock
from monitor.service.cluster import Leadership, SharedFrames
from monitor.service.decide import DecisionLoop, policies_of
from monitor.service.delivery import (
    Delivery,
    build_channels,
    describe_channels,
    folder_channels,
    person_recipient,
)
from monitor.service.held import HeldRounds
from monitor.service.holds import moot, resend_withdrawn
from monitor.service.jobs import (
    leave_cluster,
    quiet_jobstore_outages,
    schedule_cluster,
    schedule_drift,
    schedule_registry_and_recorder,
    stoppable,
)
from monitor.service.metrics import ServiceMetrics
from monitor.store.cluster import Deposed
from monitor.store.findings import evidence_summary, is_withdrawal, value_text
from monitor.store.observations import prune_raw
from notify.dispatch import Dispatcher, RetryPolicy
from notify.outbox import Outbox
from notify.render import Renderer

if TYPE_CHECKING:
    from monitor.service.recording import RecorderRuntime

log = logging.getLogger("mimamori.service")
Record = Observation | ReferenceObservation


def probe_config(s: Settings) -> ProbeConfig:
    p = s.probes
    return ProbeConfig(
        tcp_timeout_s=p.tcp_timeout_s, onvif_timeout_s=p.onvif_timeout_s, sample_s=p.sample_s,
        concurrency=p.concurrency,
    )


def sampling_source(s: Settings) -> RtspSamplingSource:
    """RTSP sampling for cameras the recorder is not pulling, on its own bounded thread pool."""
    from concurrent.futures import ThreadPoolExecutor

    workers = max(1, min(s.probes.concurrency, 64))
    return RtspSamplingSource(open_timeout_s=s.probes.tcp_timeout_s,
                              executor=ThreadPoolExecutor(workers, thread_name_prefix="rtsp-sample"))


async def probe_once(
    s: Settings, cameras: Sequence[Camera], *, clock: Clock | None = None, spread_s: float = 0.0,
    frames: FrameStatsSource | None = None,
) -> list[Record]:
    """One round: reference checks, then every camera; all records carry the round's time."""
    now = (clock or SystemClock()).now().replace(microsecond=0)
    refs = await reference_round([(r.name, r.host, r.port) for r in s.references], now, s.probes.tcp_timeout_s)
    frames = frames or sampling_source(s)
    obs = await probe_round(list(cameras), now, probe_config(s), frames, spread_s=spread_s)
    return [*refs, *obs]


async def probe_once_and_close(s: Settings, cameras: Sequence[Camera]) -> list[Record]:
    try:
        return await probe_once(s, cameras)
    finally:
        await close_shared()


def summarise(records: Sequence[Record], cameras: dict[str, Camera]) -> str:
    states = Counter(
        observation_state(r, cameras[r.camera].expected_fps).value
        for r in records if isinstance(r, Observation) and r.camera in cameras
    )
    refs_down = [r.reference for r in records if isinstance(r, ReferenceObservation) and not r.reachable]
    parts = [f"{states.get(k, 0)} {k}" for k in ("up", "degraded", "down")]
    if refs_down:
        parts.append("reference checks failing: " + ", ".join(refs_down))
    return ", ".join(parts)


def state_changes(last: dict[str, str], obs: Sequence[Observation], cameras: dict[str, Camera]) -> list[str]:
    """One line per camera whose probed state changed since the last round (``last`` is updated); the
    first round of a process names only the cameras not up."""
    lines = []
    for o in obs:
        cam = cameras.get(o.camera)
        if cam is None:
            continue
        now = observation_state(o, cam.expected_fps).value
        was = last.get(o.camera)
        last[o.camera] = now
        if now != was and not (was is None and now == "up"):
            seen = "unreachable" if not o.reachable else f"{o.fps or 0:g} fps of {cam.expected_fps:g}"
            lines.append(f"camera {o.camera}: {was or 'started'} -> {now} ({seen})")
    return lines


def describe(d: Decision) -> str:
    """One line for an operator's log: what was decided, never any contact detail."""
    if isinstance(d, IncidentDecision):
        if d.state is ChangeKind.CLOSED:
            return f"incident {d.id} closed: {d.cause}"
        return f"incident {d.id} {d.state}: {d.cause} {len(d.cameras)} camera(s) {dict(d.scope)}"
    if isinstance(d, FindingDecision):
        return describe_finding(d)
    who = d.camera or f"{'' if d.count is None else d.count} camera(s)"
    return f"{d.audience} {d.kind} for {who} via {'-' if d.channel is None else d.channel} (incident {d.incident})"


def describe_finding(d: FindingDecision) -> str:
    why = evidence_summary(d.evidence)
    if is_withdrawal(d):
        return f"registry finding for {d.camera} withdrawn: {d.field} is {value_text(d.registry)} as registered ({why})"
    return f"registry finding for {d.camera}: {d.field} {value_text(d.registry)} -> {value_text(d.observed)} ({why})"


@dataclass
class StoreOutage:
    since: datetime


class ProbeService:
    """Holds the registry in memory (rebuilt from the store) and runs rounds."""

    def __init__(self, s: Settings, store: Store, clock: Clock | None = None):
        self.settings = s
        self.store = store
        self.clock = clock or SystemClock()
        self.cameras: dict[str, Camera] = {}
        self.frames: FrameStatsSource = sampling_source(s)
        policies = policies_of(s)
        renderer = Renderer()
        self.delivery = Delivery(settings=s, renderer=renderer, escalation=policies.escalation,
                                 outbox=Outbox(store.sessions))
        self.leadership = Leadership(store.sessions, s.cluster, self.clock.now, records=s.recorder.enabled)
        self.metrics = ServiceMetrics()
        self.scheduler: AsyncIOScheduler | None = None  # set by serve
        self._last_states: dict[str, str] = {}  # camera -> its state in the last round (for the change lines)
        self.decisions = DecisionLoop(store.sessions, policies, s.probes.interval_s, after_step=self.delivery.enqueue,
                                      fence=self.leadership.fence)
        self.channels = build_channels(s)
        self.dispatcher = Dispatcher(store.sessions, self.channels, RetryPolicy(), self.clock, renderer=renderer,
                                     operators=[person_recipient(p) for p in s.notify.operators],
                                     moot=lambda item: moot(store.sessions, item))
        self._actions: set[asyncio.Task] = set()
        self._store_down: StoreOutage | None = None
        self.recorder: RecorderRuntime | None = None  # set by serve once recording has started
        self.reload_registry()
        # rounds probed while the database is unreachable, oldest first: stored and decided once it is back
        self._held = HeldRounds(s.data_dir / "held-rounds", s.store.hold_rounds)
        if n := self._held.load(self.cameras):
            log.warning("%d probe rounds held by an earlier run during a database outage: stored and decided, in "
                        "order, once this node decides", n)

    def ready(self, store: Store) -> tuple[bool, str]:
        """For /readyz: the store answers and the scheduler runs."""
        from monitor.web.app import store_answers

        ok, why = store_answers(store.sessions)
        if ok and not (self.scheduler is not None and self.scheduler.running):
            return False, "the scheduler is not running"
        return ok, why

    def recorded_here(self) -> list[Camera]:
        """The cameras this node records: its share of the live nodes (all of them on a lone node)."""
        return [c for c in self.cameras.values() if self.leadership.records(c.camera_id)]

    def reload_registry(self) -> bool:
        """Take the registry from the store; whether it changed."""
        cameras = {c.camera_id: c for c in self.store.cameras()}
        changed, self.cameras = cameras != self.cameras, cameras
        return changed

    async def round(self) -> tuple[list[Record], list[Decision]]:
        """Probe every camera, store what was seen, and decide on it (the decider only: a standby waits)."""
        self.metrics.leader.set(1 if self.leadership.leading else 0)
        if not self.leadership.leading:
            return [], []
        now = self.clock.now().replace(microsecond=0)
        spread = self.settings.probes.interval_s * self.settings.probes.spread
        with self.metrics.round_seconds.time():
            records = await probe_once(self.settings, list(self.cameras.values()), clock=VirtualClock(now),
                                       spread_s=spread, frames=self.frames)
        self.metrics.rounds.labels("probed").inc()
        obs = [r for r in records if isinstance(r, Observation)]
        refs = [r for r in records if isinstance(r, ReferenceObservation)]
        log.info("round %s: %s", now.astimezone(self.settings.tz).isoformat(timespec="seconds"),
                 summarise(records, self.cameras))
        for line in state_changes(self._last_states, obs, self.cameras):
            log.info("%s", line)
        self._held.append((now, obs, refs, dict(self.cameras)), on_disk=self._store_down is not None)
        decisions = await self._decide_held()
        for d in decisions:
            log.info("decision: %s", describe(d))
            if isinstance(d, NotificationDecision) and d.audience is Audience.CAMERA and d.kind is Step.REMOTE_REBOOT:
                task = asyncio.create_task(self.remote_reboot(d.camera, d.incident))
                self._actions.add(task)
                task.add_done_callback(self._actions.discard)
        return records, decisions

    async def _decide_held(self) -> list[Decision]:
        """Store and decide every held round, oldest first. While the database is unreachable the rounds
        stay held (at most ``store.hold_rounds``), with one warning when it goes and one when it is back."""
        out: list[Decision] = []
        while self._held:
            now, obs, refs, cameras = self._held.first()
            try:
                out += await asyncio.to_thread(self.decisions.round, cameras, obs, refs, now)
            except STORE_DOWN as e:
                self._note_store_down(e)
                return out
            except Deposed:
                self.leadership.deposed()
                self.held_rounds_drop()
                return out
            self._held.done()
        if self._store_down is not None:
            gone, self._store_down = self._store_down, None
            dropped, self._held.dropped = self._held.dropped, 0
            log.warning("database back after %ds: held rounds stored and decided%s",
                        (self.clock.now() - gone.since).total_seconds(),
                        f"; the {dropped} oldest were dropped (store.hold_rounds)" if dropped else "")
        return out

    def held_rounds_drop(self) -> None:
        """Deposed: rounds this node held are not its to store (the new decider probes for itself)."""
        self._held.clear()

    def _note_store_down(self, e: Exception) -> None:
        """One warning when the database goes (noticed by a round or by delivery, whichever is first)."""
        if self._store_down is None:
            self._store_down = StoreOutage(since=self.clock.now())
            self._held.spill()
            self._held.dropped = 0
            log.warning("database unreachable (%s): probe rounds are held, at most %d, in %s as well, and stored "
                        "and decided when it is back; delivery waits for it", store_error_line(e),
                        self.settings.store.hold_rounds, self._held.folder)

    async def remote_reboot(self, camera_id: str, incident: str) -> None:
        """ONVIF SystemReboot, decided once per incident by the policy; the outcome goes to the log."""
        cam = self.cameras.get(camera_id)
        if cam is None or not cam.onvif_url or cam.onvif_password is None:
            log.info("remote reboot of %s (incident %s) skipped: no ONVIF credentials", camera_id, incident)
            return
        try:
            await onvif_reboot(cam.onvif_url, cam.onvif_user, cam.onvif_password.reveal(),
                               self.settings.probes.onvif_timeout_s)
            log.info("remote reboot of %s requested (incident %s)", camera_id, incident)
        except Exception as e:  # noqa: BLE001 - a refused reboot is an outcome to report, not a crash
            log.warning("remote reboot of %s failed (incident %s): %s", camera_id, incident, e)

    async def dispatch(self) -> None:
        if self._store_down is not None:
            return  # the outbox is in the database: delivery resumes with it (the round says when)
        try:
            report = await self.dispatcher.adispatch_due()
        except STORE_DOWN as e:
            self._note_store_down(e)
            return
        if report.sent or report.retried or report.fell_back or report.failed:
            log.info("delivery: %d sent, %d to retry, %d fell back, %d failed", report.sent, report.retried,
                     report.fell_back, report.failed)

    def prune(self) -> None:
        before = self.clock.now() - timedelta(days=self.settings.store.raw_retention_days)
        try:
            with self.store.sessions.begin() as session:
                prune_raw(session, before)
        except STORE_DOWN as e:  # the next hourly pass prunes what this one could not
            log.warning("raw observations not pruned: database unreachable (%s)", store_error_line(e))


async def start_web(s: Settings, store: Store, svc: ProbeService):
    """The status board, vendor ticket API, Twilio status callbacks and /metrics on [web] host:port."""
    from monitor.web.app import make_app, start_server
    from monitor.web.sso import ProxySignOn
    from monitor.web.status import store_status_source

    def on_twilio_status(provider_id: str, status: str, error_code: str | None) -> None:
        svc.dispatcher.mark_delivery_status(provider_id, status, error_code=error_code)  # blocking: run in a thread

    token = s.twilio_auth_token.get_secret_value() if s.twilio_auth_token else None
    if token is None:
        log.warning("MIMAMORI_TWILIO_AUTH_TOKEN is not set: Twilio status callbacks will be refused")
    app = make_app(sessions=store.sessions, tz=s.tz, twilio_auth_token=token, public_base_url=s.web.public_base_url,
                   on_twilio_status=on_twilio_status, status_source=store_status_source(store.sessions, svc.clock.now),
                   now=svc.clock.now, metrics_registry=svc.metrics.registry, ready=lambda: svc.ready(store),
                   box=store.box, recorder_live=lambda: svc.metrics.recorder_status,
                   sso=ProxySignOn.of(s.web.sso_header, s.web.sso_proxies),
                   resend_withdrawn=lambda session, inc, now: resend_withdrawn(session, inc, now, svc.delivery))
    return await start_server(app, s.web.host, s.web.port)


async def serve(s: Settings, store: Store, stop: asyncio.Event, config_path: str | None = None) -> None:
    from monitor.service.recording import start_recorder

    svc = ProbeService(s, store)
    sched = AsyncIOScheduler(timezone=s.tz)
    svc.scheduler = sched
    quiet_jobstore_outages()
    await schedule_cluster(sched, s, store, svc, config_path)()  # the role and the live nodes, before anything
    svc.recorder = recorder = await start_recorder(s, store, svc.recorded_here())
    # the recorder's own frame counts; then those other nodes publish for the cameras they record; RTSP
    # sampling for the rest
    svc.frames = recorder.frames(SharedFrames(store.sessions, svc.frames, timedelta(seconds=s.probes.interval_s),
                                              svc.clock.now))
    now = svc.clock.now()
    sched.add_job(stoppable(svc.round), "interval", seconds=s.probes.interval_s, next_run_time=now,
                  id="probe-round", max_instances=1, coalesce=True, misfire_grace_time=None)
    sched.add_job(stoppable(svc.dispatch), "interval", seconds=s.notify.dispatch_every_s, id="dispatch",
                  max_instances=1, coalesce=True)

    hangup = schedule_registry_and_recorder(sched, s, svc, recorder, now)
    schedule_drift(sched, s, store, svc)
    sched.start()
    web_runner = await start_web(s, store, svc) if s.web.enabled else None
    log.info("%s %d cameras every %gs; notifications by %s",
             "probing" if svc.leadership.leading else "standby: will probe, once this node decides,",
             len(svc.cameras), s.probes.interval_s, describe_channels(svc.channels))
    filed = folder_channels(svc.channels)
    if filed:
        log.warning("no provider is configured for %s: those messages are filed in the outbox folder (status "
                    "'filed') and nobody is contacted; configure [notify.twilio] / [notify.smtp]", ", ".join(filed))
    try:
        await stop.wait()
    finally:
        hangup()
        if web_runner is not None:
            await web_runner.cleanup()
        sched.shutdown(wait=False)
        await recorder.stop()  # closes and indexes the open segments
        await leave_cluster(svc)
        await close_shared()
        log.info("stopped")


def run_service(s: Settings, config_path: str | None = None) -> None:
    """The service until SIGTERM or SIGINT; logging is set up by the caller (:func:`monitor.cli.main.run`)."""
    from monitor.service.startup import check_delivery, check_port_free

    check_delivery(s)  # before anything starts: no half-started service
    if s.web.enabled:
        check_port_free(s.web.host, s.web.port)
    store = open_store(s)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(s, store, stop, config_path)

    asyncio.run(main())
