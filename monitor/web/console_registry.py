"""The console's registry pages: edit one camera (checked as an import checks its row), disable or
enable it; every change an audit entry naming the fields (not their values: an owner's details stay out
of the log)."""

from __future__ import annotations

import logging
from datetime import datetime

from aiohttp import web
from sqlalchemy.orm import Session

from monitor.config.registry import parse_row
from monitor.core.accounts import Page
from monitor.store.cameras import EDITABLE, edit_camera, get_camera, set_disabled
from monitor.web.console import ACCOUNT, CONSOLE, _db, _html, _need

log = logging.getLogger("mimamori.web")
URL_FIELDS = ("camera_id", "rtsp_url", "onvif_url", "onvif_user", "access")


def _no_camera(request: web.Request) -> web.Response:
    return _html(request, "console/error.html.j2", 404, message=("そのカメラは登録されていません。", "No such camera."))


def _row(cam) -> dict[str, str]:  # noqa: ANN001 - a Camera
    out = {}
    for f in (*URL_FIELDS, *EDITABLE):
        v = getattr(cam, f)
        v = getattr(v, "value", v)
        out[f] = "" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))
    return out


async def edit_form(request: web.Request) -> web.Response:
    if (refused := _need(request, Page.CAMERA_EDIT)) is not None:
        return refused
    cam = await _db(request, get_camera, request.match_info["camera"])
    if cam is None:
        return _no_camera(request)
    return _html(request, "console/camera_edit.html.j2", camera_id=cam.camera_id, values=_row(cam), fields=EDITABLE,
                 problems=[])


async def edit(request: web.Request) -> web.Response:
    if (refused := _need(request, Page.CAMERA_EDIT)) is not None:
        return refused
    from recorder import AuditLog

    cfg, form, who = request.app[CONSOLE], await request.post(), request[ACCOUNT].name
    cam_id, now = request.match_info["camera"], cfg.now()
    cam = await _db(request, get_camera, cam_id)
    if cam is None:
        return _no_camera(request)
    row = _row(cam) | {f: str(form.get(f, "")) for f in EDITABLE}
    new, errors = parse_row(row)
    if new is None:
        return _html(request, "console/camera_edit.html.j2", 400, camera_id=cam_id, values=row, fields=EDITABLE,
                     problems=[f"{e.field}: {e.why}" for e in errors])

    def apply(s: Session) -> list[str]:
        changed = edit_camera(s, new, now) or []
        if changed:
            AuditLog.append_in(s, actor=who, action="camera_edit", now=now,
                               detail={"camera": cam_id, "fields": changed})
        return changed

    changed = await _db(request, apply, write=True)
    log.info("console: %s edited camera %s (%s)", who, cam_id, ", ".join(changed) or "nothing changed")
    raise web.HTTPSeeOther(f"/console/cameras/{cam_id}")


async def disable(request: web.Request) -> web.Response:
    if (refused := _need(request, Page.CAMERA_EDIT)) is not None:
        return refused
    from recorder import AuditLog

    cfg, form, who = request.app[CONSOLE], await request.post(), request[ACCOUNT].name
    cam_id, now = request.match_info["camera"], cfg.now()
    enable = request.match_info["action"] == "enable"
    reason = None if enable else str(form.get("reason", "")).strip()
    if not enable and (not reason or len(reason) > 200 or any(ord(c) < 32 for c in reason)):
        raise web.HTTPSeeOther(f"/console/cameras/{cam_id}/edit")

    def apply(s: Session, at: datetime = now) -> bool | None:
        changed = set_disabled(s, cam_id, at, reason)
        if changed:
            AuditLog.append_in(s, actor=who, action="camera_enable" if enable else "camera_disable", now=at,
                               detail={"camera": cam_id, **({} if enable else {"reason": reason})})
        return changed

    if await _db(request, apply, write=True) is None:
        return _no_camera(request)
    log.info("console: %s %s camera %s", who, "enabled" if enable else "disabled", cam_id)
    raise web.HTTPSeeOther(f"/console/cameras/{cam_id}")


def routes() -> list[web.RouteDef]:
    return [web.get("/console/cameras/{camera}/edit", edit_form), web.post("/console/cameras/{camera}/edit", edit),
            web.post("/console/cameras/{camera}/{action:disable|enable}", disable)]
