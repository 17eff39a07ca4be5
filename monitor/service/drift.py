"""The drift checks in the service: read the due cameras over ONVIF, compare, correct, store, tell.

One path for `mimamori run` (a job every `drift.step_s` on the decider, each camera at its own point of
each check's interval) and `mimamori cameras drift --check` (every camera, every check, now):

1. read each camera's answers (`probes.drift.read_answer`), a bounded number at once;
2. compare them with the approved baselines (`core.drift.compare`);
3. correct what the city allows: a camera clock set over ONVIF, a PTZ view moved back to its preset;
4. store the clock offsets, and the findings opened, kept and closed (`core.drift.reconcile`), in one
   transaction with the notices: an urgent finding (masks lost, the maker's login accepted) goes to the
   operators and the vendor at once, one that needs a visit opens a vendor ticket; a camera's owner is
   never told (none of these is theirs to act on).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from monitor.config.settings import Settings
from monitor.core.domain import Camera
from monitor.core.drift import (
    CHECK_LABELS,
    Action,
    Answer,
    Baseline,
    Check,
    Finding,
    Outcome,
    Severity,
    baseline_from,
    compare,
    due,
    reconcile,
)
from monitor.probes.drift import move_back, offered, read_answer, set_clock
from monitor.probes.onvif import _ERRORS
from monitor.store import drift as db
from monitor.store import tickets as ticket_repo
from notify.message import Kind, Lang

log = logging.getLogger("mimamori.drift")

ACTIONS = {Action.SET_CLOCK: ("時計を合わせました", "the clock was set"),
           Action.MOVE_BACK: ("承認時の向きに戻しました", "moved back to the approved view")}


class DriftChecks:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings, delivery,  # noqa: ANN001 - Delivery
                 now: Callable[[], datetime]):
        self.sessions = sessions
        self.settings = settings
        self.s = settings.drift
        self.delivery = delivery
        self.now = now
        self.pullpoints: dict[str, str] = {}  # camera -> its event subscription, kept between checks
        self.answers: dict[str, Answer] = {}  # the last run's, by camera
        self.last_step: datetime | None = None

    def due_now(self, cameras: Sequence[Camera], now: datetime) -> dict[str, frozenset[Check]]:
        """The cameras with a check due since the last step (the first step looks one step back)."""
        since = self.last_step or now - timedelta(seconds=self.s.step_s)
        self.last_step = now
        every = self.s.every()
        out = {c.camera_id: d for c in cameras if c.onvif_url and (d := due(c.camera_id, since, now, every))}
        return out

    async def run(self, cameras: Sequence[Camera], now: datetime,
                  only: Mapping[str, frozenset[Check]] | None = None) -> dict[str, Outcome]:
        """Check ``cameras`` (``only``: these cameras and checks), correct, store and tell; the outcomes."""
        cams = [c for c in cameras if c.onvif_url and (only is None or c.camera_id in only)]
        if not cams:
            return {}
        sem = asyncio.Semaphore(self.s.concurrency)
        loop = asyncio.get_running_loop()
        t0 = loop.time()

        async def one(cam: Camera) -> Answer:
            async with sem:
                # the time of this camera's own reads (a clock offset is measured against it), as probe_round
                at = now + timedelta(seconds=loop.time() - t0)
                return await read_answer(
                    cam.camera_id, cam.onvif_url, None, cam.onvif_user or "",
                    cam.onvif_password.reveal() if cam.onvif_password else "", now=at, timeout=self.s.timeout_s,
                    defaults=self.s.logins(), pullpoints=self.pullpoints,
                    only=None if only is None else only[cam.camera_id])

        answers = await asyncio.gather(*(one(c) for c in cams))
        self.answers = {a.camera_id: a for a in answers}
        bases = await asyncio.to_thread(self._baselines)
        by_id = {c.camera_id: c for c in cams}
        outcomes = {a.camera_id: compare(bases.get(a.camera_id), a, expected_fps=by_id[a.camera_id].expected_fps,
                                         limits=self.s.limits()) for a in answers}
        corrected = await self._correct(by_id, bases, outcomes)
        await asyncio.to_thread(self._store, answers, outcomes, corrected, by_id, now)
        return outcomes

    def _baselines(self) -> dict[str, Baseline]:
        with self.sessions() as s:
            return db.baselines(s)

    async def _correct(self, cams: Mapping[str, Camera], bases: Mapping[str, Baseline],
                       outcomes: Mapping[str, Outcome]) -> set[tuple[str, Check]]:
        done: set[tuple[str, Check]] = set()
        for cid, outcome in outcomes.items():
            cam = cams[cid]
            user, pw = cam.onvif_user or "", cam.onvif_password.reveal() if cam.onvif_password else ""
            for f in outcome.findings:
                try:
                    if f.action is Action.SET_CLOCK and self.s.set_clock:
                        await set_clock(cam.onvif_url, user, pw, self.now, self.s.timeout_s)
                    elif f.action is Action.MOVE_BACK and self.s.move_back and bases[cid].position is not None:
                        ptz = (await offered(cam.onvif_url, user, pw)).get("http://www.onvif.org/ver20/ptz/wsdl")
                        if ptz is None:
                            continue
                        await move_back(ptz, user, pw, bases[cid].preset, bases[cid].position, self.s.timeout_s)
                    else:
                        continue
                except _ERRORS as e:
                    log.warning("drift: %s %s not corrected: %s", cid, f.check, type(e).__name__)
                    continue
                log.info("drift: %s %s corrected (%s)", cid, f.check, f.action)
                done.add((cid, f.check))
        return done

    def _store(self, answers: Sequence[Answer], outcomes: Mapping[str, Outcome], corrected: set[tuple[str, Check]],
               cams: Mapping[str, Camera], now: datetime) -> None:
        with self.sessions.begin() as s:
            for a in answers:
                if a.clock_skew_s is not None:
                    db.record_clock(s, a.camera_id, a.at, a.clock_skew_s, (a.camera_id, Check.CLOCK) in corrected)
            rec = reconcile(db.open_findings(s), outcomes, now)
            opened = db.write(s, rec, now)
            for cid, check in corrected:
                db.mark_corrected(s, cid, check, now)
            for o in rec.opened:
                f = o.finding
                fid = opened[(f.camera_id, f.check)]
                log.warning("drift: %s %s: %s (approved: %s)", f.camera_id, f.check, f.observed, f.expected)
                self._tell(s, f, fid, cams[f.camera_id], (f.camera_id, f.check) in corrected, now)
            for o in rec.closed:
                log.info("drift: %s %s back as approved", o.finding.camera_id, o.finding.check)

    def _tell(self, s: Session, f: Finding, fid: int, cam: Camera, corrected: bool, now: datetime) -> None:
        """The operators hear of an urgent finding, one that needs a visit, and a view that left the
        approved one; an urgent one or one that needs a visit opens a vendor ticket and tells the vendor.
        A clock set right or a firmware update is only recorded (`cameras drift`, the weekly report).
        Never the owner."""
        if f.severity is Severity.RECORD and f.check is not Check.VIEW:
            return
        ticket = None
        if f.severity in (Severity.URGENT, Severity.VISIT):
            ticket = ticket_repo.open_ticket(s, incident_id=f"DRIFT-{fid}", camera=cam, steps_taken=(), evidence=[{
                "t": now.isoformat(), "check": str(f.check), "expected": f.expected, "observed": f.observed}],
                now=now, tz=self.settings.tz)

        def context(lang: Lang) -> dict:
            ja = lang is Lang.JA
            return {"camera_id": cam.camera_id, "address": cam.address, "check": str(f.check),
                    "check_label": CHECK_LABELS[f.check][0 if ja else 1], "expected": f.expected,
                    "observed": f.observed,
                    "since": self.delivery._at(now, lang), "urgent": f.severity is Severity.URGENT,
                    "ticket_number": ticket.number if ticket else None, "owner_name": cam.owner_name,
                    "owner_phone": cam.phone,
                    "action_taken": ACTIONS[f.action][0 if ja else 1] if corrected and f.action else None}

        self.delivery.notify_about(s, Kind.OPERATOR_DRIFT, None, f"drift:{fid}:operator", context, now)
        if ticket is not None:
            self.delivery.notify_about(s, Kind.VENDOR_DRIFT, cam, f"drift:{fid}:vendor", context, now)


def drift_checks(s: Settings, sessions: sessionmaker[Session], now: Callable[[], datetime]) -> DriftChecks:
    """The checks with their own delivery (the outbox the running service dispatches from)."""
    from monitor.config.settings import escalation_policy
    from monitor.service.delivery import Delivery
    from notify.outbox import Outbox
    from notify.render import Renderer

    return DriftChecks(sessions, s, Delivery(settings=s, renderer=Renderer(), escalation=escalation_policy(s),
                                             outbox=Outbox(sessions)), now)


async def take_baseline(s: Settings, cam: Camera, approved_by: str, now: datetime) -> tuple[Baseline, Answer]:
    """Read the camera now and make its answers the approved baseline (the caller stores and audits it)."""
    answer = await read_answer(cam.camera_id, cam.onvif_url, None, cam.onvif_user or "",
                               cam.onvif_password.reveal() if cam.onvif_password else "", now=now,
                               timeout=s.drift.timeout_s)
    return baseline_from(answer, approved_by), answer
