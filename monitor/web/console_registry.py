"""The console's registry pages: edit one camera (checked as an import checks its row), disable or
enable it, import a registry CSV after a preview of what changes; every change an audit entry naming
the fields or counts (not their values: an owner's details stay out of the log)."""

from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime

from aiohttp import web
from aiohttp.web_request import FileField
from sqlalchemy.orm import Session

from monitor.config.registry import parse_row
from monitor.core.accounts import Page
from monitor.store.cameras import EDITABLE, edit_camera, get_camera, set_disabled
from monitor.web.console import ACCOUNT, CONSOLE, _db, _html, needs

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


@needs(Page.CAMERA_EDIT)
async def edit_form(request: web.Request) -> web.Response:
    cam = await _db(request, get_camera, request.match_info["camera"])
    if cam is None:
        return _no_camera(request)
    return _html(request, "console/camera_edit.html.j2", camera_id=cam.camera_id, values=_row(cam), fields=EDITABLE,
                 problems=[])


@needs(Page.CAMERA_EDIT)
async def edit(request: web.Request) -> web.Response:
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


@needs(Page.CAMERA_EDIT)
async def disable(request: web.Request) -> web.Response:
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
            web.post("/console/cameras/{camera}/{action:disable|enable}", disable),
            web.get("/console/registry", import_form), web.post("/console/registry/preview", import_preview),
            web.post("/console/registry/apply", import_apply)]


# -- a registry CSV import, previewed before it is applied ---------------------------------------

MAX_CSV = 8 * 1024 * 1024
PENDING_FOR = 15 * 60  # seconds a preview may be applied
PRUNE_LIMIT = 0.10  # as `mimamori cameras import --prune`: removing more of the fleet asks for a confirmation
PENDING = web.AppKey("mimamori_pending_imports", dict)


def _pending(request: web.Request) -> dict:
    """Previewed imports of this process: token -> (account, cameras, prune, expires). In memory only: the
    file (with the cameras' passwords) never goes back to the browser."""
    store = request.app[PENDING]
    now = time.monotonic()
    for t in [t for t, v in store.items() if v[3] < now]:
        del store[t]
    return store


@needs(Page.CAMERA_EDIT)
async def import_form(request: web.Request) -> web.Response:
    return _html(request, "console/registry.html.j2", preview=None, errors=[], token="", prune=False)


@needs(Page.CAMERA_EDIT)
async def import_preview(request: web.Request) -> web.Response:
    from monitor.config.registry import RegistryError, parse_registry
    from monitor.store.cameras import diff_registry

    box = request.app[CONSOLE].box
    if box is None:
        return _html(request, "console/error.html.j2", 503, message=(
            "この画面では取り込めません（鍵がありません）。", "Imports need the key: use `mimamori cameras import`."))
    form = await request.post()  # parsed (and its CSRF token checked) by the console's middleware
    upload, prune = form.get("file"), form.get("prune") == "on"
    data = upload.file.read(MAX_CSV + 1) if isinstance(upload, FileField) else b""
    if len(data) > MAX_CSV:
        return _html(request, "console/registry.html.j2", 400, preview=None, token="", prune=False,
                     errors=[f"the file is larger than {MAX_CSV // 1024 // 1024} MB"])
    try:
        cams = parse_registry(data)
    except RegistryError as e:
        return _html(request, "console/registry.html.j2", 400, preview=None, token="", prune=prune,
                     errors=[str(x) for x in e.errors])
    diff = await _db(request, lambda s: diff_registry(s, cams, box))
    token = secrets.token_urlsafe(24)
    _pending(request)[token] = (request[ACCOUNT].name, cams, prune, time.monotonic() + PENDING_FOR)
    return _html(request, "console/registry.html.j2", preview=diff, errors=[], token=token, prune=prune,
                 needs_yes=prune and diff.prune_share() > PRUNE_LIMIT, cameras=len(cams))


@needs(Page.CAMERA_EDIT)
async def import_apply(request: web.Request) -> web.Response:
    from monitor.store.cameras import apply_registry
    from recorder import AuditLog

    cfg, form, who = request.app[CONSOLE], await request.post(), request[ACCOUNT].name
    entry = _pending(request).pop(str(form.get("token", "")), None)
    if entry is None or entry[0] != who:
        return _html(request, "console/registry.html.j2", 400, preview=None, token="", prune=False,
                     errors=["the preview has expired or is not yours: upload the file again"])
    _, cams, prune, _ = entry
    now = cfg.now()

    def apply(s: Session):  # noqa: ANN202
        diff = apply_registry(s, cams, cfg.box, now, prune=prune)
        if prune and diff.prune_share() > PRUNE_LIMIT and form.get("yes") != "on":
            raise _NeedsYes(diff)
        AuditLog.append_in(s, actor=who, action="registry_import", now=now, detail={
            "cameras": len(cams), "added": len(diff.added), "changed": len(diff.changed),
            "removed": len(diff.missing) if prune else 0})
        return diff

    try:
        diff = await _db(request, apply, write=True)
    except _NeedsYes:
        return _html(request, "console/registry.html.j2", 400, preview=None, token="", prune=prune,
                     errors=[f"this import removes more than {PRUNE_LIMIT:.0%} of the fleet: tick the confirmation "
                             "(upload the file again)"])
    log.info("console: %s imported %d cameras (%d added, %d changed%s)", who, len(cams), len(diff.added),
             len(diff.changed), f", {len(diff.missing)} removed" if prune else "")
    raise web.HTTPSeeOther("/console")


class _NeedsYes(Exception):
    def __init__(self, diff) -> None:  # noqa: ANN001
        self.diff = diff
