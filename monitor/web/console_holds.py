"""The console's incident actions and holds: acknowledge or silence an incident, plan maintenance windows
(owner and vendor contact waits until they end, `core.holds`); each audited."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, tzinfo

from aiohttp import web
from sqlalchemy.orm import Session

from monitor.core.accounts import Page
from monitor.core.holds import Maintenance, Silence, check_window
from monitor.store import accounts as db
from monitor.store import holds as holds_db
from monitor.web.console import ACCOUNT, CONSOLE, _db, _html, needs

log = logging.getLogger("mimamori.web")


def _local_time(raw: str, tz: tzinfo) -> datetime | None:
    """A form's datetime-local value (the fleet's time zone) as an aware time, or None."""
    try:
        t = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return t.replace(tzinfo=tz) if t.tzinfo is None else t


@needs(Page.ACKNOWLEDGE)
async def silence(request: web.Request) -> web.Response:
    from recorder import AuditLog

    cfg, form = request.app[CONSOLE], await request.post()
    incident, who, now = request.match_info["incident"], request[ACCOUNT].name, cfg.now()
    reason, until = str(form.get("reason", "")).strip(), _local_time(str(form.get("until", "")), cfg.tz)
    if not reason or len(reason) > 200 or until is None or not now < until <= now + timedelta(days=14):
        raise web.HTTPSeeOther("/console/incidents?error=silence")

    def add(s: Session) -> None:
        holds_db.add_silence(s, Silence(incident_id=incident, ends_at=until, reason=reason, by=who), now)
        AuditLog.append_in(s, actor=who, action="incident_silence", now=now,
                           detail={"incident": incident, "until": until.isoformat(), "reason": reason})

    await _db(request, add, write=True)
    log.info("console: %s silenced incident %s until %s", who, incident, until.isoformat())
    raise web.HTTPSeeOther("/console/incidents")


@needs(Page.MAINTENANCE)
async def maintenance_page(request: web.Request) -> web.Response:
    now = request.app[CONSOLE].now()
    rows = await _db(request, lambda s: holds_db.windows(s, now, since=now - timedelta(days=7)))
    return _html(request, "console/maintenance.html.j2", rows=rows, now=now, problems=[], form={})


@needs(Page.MAINTENANCE)
async def plan_maintenance(request: web.Request) -> web.Response:
    from recorder import AuditLog

    cfg, form = request.app[CONSOLE], await request.post()
    who, now = request[ACCOUNT].name, cfg.now()
    scope, reason = str(form.get("scope", "")), str(form.get("reason", "")).strip()
    values = tuple(v.strip() for v in str(form.get("values", "")).replace("、", ",").split(",") if v.strip())
    starts, ends = (_local_time(str(form.get(k, "")), cfg.tz) for k in ("starts_at", "ends_at"))
    problems = (["starts_at, ends_at: a date and time each"] if starts is None or ends is None
                else check_window(scope, values, starts, ends, reason))
    if problems:
        rows = await _db(request, lambda s: holds_db.windows(s, now, since=now - timedelta(days=7)))
        return _html(request, "console/maintenance.html.j2", 400, rows=rows, now=now, problems=problems,
                     form={k: str(form.get(k, "")) for k in ("scope", "values", "starts_at", "ends_at", "reason")})
    window = Maintenance(id=0, scope=scope, values=values, starts_at=starts, ends_at=ends, reason=reason, by=who)

    def add(s: Session) -> int:
        wid = holds_db.add_window(s, window, now)
        AuditLog.append_in(s, actor=who, action="maintenance_plan", now=now, detail={
            "id": wid, "scope": scope, "values": list(values), "starts_at": starts.isoformat(),
            "ends_at": ends.isoformat(), "reason": reason})
        return wid

    wid = await _db(request, add, write=True)
    log.info("console: %s planned maintenance %d (%s %s) %s to %s", who, wid, scope, ",".join(values),
             starts.isoformat(), ends.isoformat())
    raise web.HTTPSeeOther("/console/maintenance")


@needs(Page.ACKNOWLEDGE)
async def acknowledge(request: web.Request) -> web.Response:
    from recorder import AuditLog

    incident, who, now = request.match_info["incident"], request[ACCOUNT].name, request.app[CONSOLE].now()

    def ack(s: Session) -> bool:
        done = db.acknowledge(s, incident, who, now)
        if done:
            AuditLog.append_in(s, actor=who, action="incident_acknowledge", now=now, detail={"incident": incident})
        return done

    if await _db(request, ack, write=True):
        log.info("console: %s acknowledged incident %s", who, incident)
    raise web.HTTPSeeOther("/console/incidents")


@needs(Page.ACKNOWLEDGE)
async def withdraw(request: web.Request) -> web.Response:
    """Undo an acknowledgement (a slip, or nobody reached the owner after all): the owner requests it
    cancelled are queued again, the request from now and its reminder behind it, never at night."""
    from recorder import AuditLog

    cfg = request.app[CONSOLE]
    incident, who, now = request.match_info["incident"], request[ACCOUNT].name, cfg.now()

    def undo(s: Session) -> int | None:
        given = db.withdraw_ack(s, incident)
        if given is None:
            return None
        again = cfg.resend_withdrawn(s, incident, now) if cfg.resend_withdrawn is not None else 0
        AuditLog.append_in(s, actor=who, action="incident_unacknowledge", now=now, detail={
            "incident": incident, "acknowledged_by": given[0], "at": given[1].isoformat(), "queued_again": again})
        return again

    again = await _db(request, undo, write=True)
    if again is not None:
        log.info("console: %s withdrew the acknowledgement of incident %s (%d owner messages queued again)",
                 who, incident, again)
    raise web.HTTPSeeOther("/console/incidents")


def routes() -> list[web.RouteDef]:
    return [web.post("/console/incidents/{incident}/acknowledge", acknowledge),
            web.post("/console/incidents/{incident}/unacknowledge", withdraw),
            web.post("/console/incidents/{incident}/silence", silence),
            web.get("/console/maintenance", maintenance_page), web.post("/console/maintenance", plan_maintenance)]
