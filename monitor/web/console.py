"""The operators' console: login, roles, and the pages behind them (issue 17).

=========================================  =============================================================
``GET|POST /login``, ``POST /logout``      the login form (fields ``username``, ``password``), logout
``GET /console``                           the fleet: counts, map, list with filters (admin, operator)
``GET /console/cameras/{id}``              one camera (edit, disable, registry import: `console_registry`)
``GET /console/incidents``                 incidents (acknowledge, silence: `console_holds`)
``GET|POST /console/maintenance``          planned works (`console_holds`): owner and vendor contact waits
``GET /console/tickets[/{number}]``        tickets; a vendor account sees only its vendor's (others: 404)
``GET /console/audit``                     the lawful-request and export log, verified (auditor)
``GET /healthz``, ``GET /readyz``          the process lives; the store answers and the scheduler runs
=========================================  =============================================================

A session is a random token in a cookie (HttpOnly, SameSite=Strict, Secure when the public URL is
https) whose SHA-256 the store keeps; it ends after 12 hours, or 2 hours unused. Every form carries the
session's CSRF token (the login form a cookie-bound one), and a POST without it is refused. Five
failed logins for one name (twenty from one address: behind a proxy all logins share one) within 15
minutes lock it for 15 minutes. Every
change an account makes is an entry in the audit log. An unauthenticated request for any console page
is redirected to ``/login``; a page the role may not see is 403, another vendor's ticket 404.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from monitor.core.accounts import HOME, Account, Page, Throttle, locked_until, may
from monitor.core.holds import Silence
from monitor.store import accounts as db
from monitor.store import console as data
from monitor.store import holds as holds_db
from monitor.web.sso import ProxySignOn

log = logging.getLogger("mimamori.web")

COOKIE, LOGIN_COOKIE = "mimamori_session", "mimamori_login"
LIFETIME, IDLE = timedelta(hours=12), timedelta(hours=2)
LOCK_WINDOW = timedelta(minutes=15)
RULES = (Throttle(), Throttle(failures=20))  # per name, per address
CSP = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; " \
      "frame-ancestors 'none'; base-uri 'none'"
LAWFUL_ACTIONS = ("request", "approve", "approve_refused", "export", "export_refused")
HOME_PATHS = {Page.FLEET: "/console", Page.TICKETS: "/console/tickets", Page.AUDIT: "/console/audit"}
ACCOUNT = web.RequestKey("mimamori_account", Account)
CSRF = web.RequestKey("mimamori_csrf", str)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleConfig:
    sessions: sessionmaker[Session]
    tz: tzinfo
    secure: bool  # the public URL is https: cookies are Secure
    now: Callable[[], datetime]
    ready: Callable[[], tuple[bool, str]]  # for /readyz: (ready, why not)
    render: Callable[..., str]  # template name, **context -> HTML
    box: Any = None  # the store's PasswordBox, for registry imports (None: imports only from the command line)
    recorder_live: Callable[[], Mapping[str, Mapping]] = dict  # this node's recorder, per camera (connected, fps…)
    sso: ProxySignOn | None = None  # the city's single sign-on through its reverse proxy, if configured
    # an acknowledgement withdrawn: queue again the owner requests it cancelled (the service's delivery;
    # None: nothing is queued again, only what is still to come goes)
    resend_withdrawn: Callable[[Session, str, datetime], int] | None = None


CONSOLE = web.AppKey("mimamori_console", ConsoleConfig)


def routes() -> list[web.RouteDef]:
    """These pages' routes (the registry's, holds' and tickets' are in their modules)."""
    return [
        web.get("/login", login_form), web.post("/login", login), web.post("/logout", logout),
        web.get("/console", fleet_page), web.get("/console/cameras/{camera}", camera_page),
        web.get("/console/incidents", incidents_page),
        web.get("/console/audit", audit_page),
        web.get("/healthz", healthz), web.get("/readyz", readyz),
    ]


def _html(request: web.Request, template: str, status: int = 200, **ctx: Any) -> web.Response:
    cfg = request.app[CONSOLE]
    account = request.get(ACCOUNT)
    body = cfg.render(template, account=account, csrf=request.get(CSRF, ""), may=lambda p: account is not None
                      and may(account, Page(p)), **ctx)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8", headers={
        "Cache-Control": "no-store", "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"})


async def _db(request: web.Request, fn: Callable[..., Any], *args: Any, write: bool = False) -> Any:
    sessions = request.app[CONSOLE].sessions

    def run() -> Any:
        if write:
            with sessions.begin() as s:
                return fn(s, *args)
        with sessions() as s:
            return fn(s, *args)

    return await asyncio.to_thread(run)


@web.middleware
async def console_auth(request: web.Request, handler):  # noqa: ANN001, ANN201
    """The console's pages need a live session, and its forms the session's CSRF token."""
    if not (request.path.startswith("/console") or request.path == "/logout"):
        return await handler(request)
    cfg = request.app[CONSOLE]
    token = request.cookies.get(COOKIE)
    found = None if not token else await _db(request, db.session_account, token, cfg.now(), IDLE, write=True)
    proxied = cfg.sso.user(request.headers, request.remote) if cfg.sso is not None else None
    if proxied is not None and request.method == "GET" and (found is None or found[0].name != proxied):
        return await _signed_on(request, handler, proxied)
    if found is None:
        if request.method != "GET":
            raise web.HTTPSeeOther("/login")
        raise web.HTTPSeeOther("/login?next=" + quote(request.path_qs, safe="/"))
    request[ACCOUNT], request[CSRF] = found
    if request.method == "POST":
        form = await request.post()
        if not hmac.compare_digest(str(form.get("csrf", "")).encode(), found[1].encode()):
            log.warning("console: a form without its CSRF token was refused (%s %s)", request.method, request.path)
            return _html(request, "console/error.html.j2", 403, message=("フォームの有効期限が切れました。",
                                                                         "The form has expired; reload the page."))
    return await handler(request)


async def _signed_on(request: web.Request, handler, name: str):  # noqa: ANN001, ANN202
    """A session for the account the sign-on proxy names (an enabled one only), its cookie on the page."""
    cfg, now = request.app[CONSOLE], request.app[CONSOLE].now()

    def start(s: Session) -> tuple[Account, str, str] | None:
        account = db.get_user(s, name)
        if account is None or account.disabled:
            return None
        return account, *db.open_session(s, account.name, now, LIFETIME)

    started = await _db(request, start, write=True)
    if started is None:
        log.warning("console: the sign-on proxy named %r, which is no enabled account", name)
        return _html(request, "console/error.html.j2", 403, message=(
            "このアカウントは登録されていないか、停止されています。管理者に連絡してください。",
            "This account is not registered here, or is disabled: ask an administrator."))
    account, token, csrf = started
    log.info("console: %s signed on through the proxy (%s)", account.name, account.role)
    request[ACCOUNT], request[CSRF] = account, csrf
    try:
        resp = await handler(request)
    except web.HTTPException as e:  # a redirect (or a 404) still carries the new session
        _session_cookie(e, token, cfg.secure)
        raise
    _session_cookie(resp, token, cfg.secure)
    return resp


def _session_cookie(resp: web.StreamResponse, token: str, secure: bool) -> None:
    resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=secure, path="/",
                    max_age=int(LIFETIME.total_seconds()))


def _forbidden(request: web.Request) -> web.Response:
    return _html(request, "console/error.html.j2", 403, message=("この画面を見る権限がありません。",
                                                                 "Your role may not see this page."))


def needs(page: Page) -> Callable:
    """A page handler that answers 403 to a role that may not see ``page`` (the session is the middleware's)."""
    def wrap(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Callable:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            return await handler(request) if may(request[ACCOUNT], page) else _forbidden(request)
        return guarded
    return wrap


def _safe_next(raw: str | None) -> str | None:
    """Only a path of this site (no scheme, no host, no '//')."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return None
    parts = urlsplit(raw)
    return raw if not parts.scheme and not parts.netloc else None


# -- login and logout ----------------------------------------------------------------------------

def _login_response(request: web.Request, status: int = 200, error: tuple[str, str] | None = None,
                    name: str = "") -> web.Response:
    nonce = secrets.token_urlsafe(24)
    resp = _html(request, "console/login.html.j2", status, login_csrf=nonce, error=error, name=name,
                 next=_safe_next(request.query.get("next")) or "")
    resp.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="Strict", secure=request.app[CONSOLE].secure,
                    path="/login", max_age=3600)
    return resp


async def login_form(request: web.Request) -> web.Response:
    return _login_response(request)


async def login(request: web.Request) -> web.Response:
    cfg = request.app[CONSOLE]
    form = await request.post()
    name, password = str(form.get("username", "")).strip().lower(), str(form.get("password", ""))
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not hmac.compare_digest(str(form.get("csrf", "")).encode(), cookie.encode()):
        return _login_response(request, 403, ("フォームの有効期限が切れました。もう一度お試しください。",
                                              "The form has expired; please try again."), name)
    now = cfg.now()
    keys = [f"name:{name}"[:128], f"addr:{request.remote or '-'}"[:128]]

    def attempt(s: Session) -> tuple[Account | None, datetime | None]:
        # an address counts more failures before it locks: behind the city's proxy every login comes from it
        locks = [locked_until(db.failures(s, k, now - LOCK_WINDOW), now, rule) for k, rule in zip(keys, RULES,
                                                                                                  strict=True)]
        until = max((u for u in locks if u is not None), default=None)
        if until is not None:
            return None, until
        account = db.check_password(s, name, password)
        if account is None:
            db.record_failure(s, keys, now)
        else:
            db.clear_failures(s, keys[0])
        return account, None

    account, until = await _db(request, attempt, write=True)
    if until is not None:
        log.warning("console: login for %r refused: locked after repeated failures", name[:64])
        mins = max(1, int((until - now).total_seconds() // 60) + 1)
        return _login_response(request, 429, (f"ログインの失敗が続いたため、約{mins}分間ログインできません。",
                                              f"Too many failed logins: try again in about {mins} minutes."), name)
    if account is None:
        log.info("console: failed login for %r", name[:64])
        return _login_response(request, 401, ("ユーザー名またはパスワードが違います。",
                                              "Wrong user name or password."), name)
    token, _ = await _db(request, db.open_session, account.name, now, LIFETIME, write=True)
    log.info("console: %s logged in (%s)", account.name, account.role)
    target = _safe_next(str(form.get("next", ""))) or HOME_PATHS[HOME[account.role]]
    resp = web.HTTPSeeOther(target)
    _session_cookie(resp, token, cfg.secure)
    resp.del_cookie(LOGIN_COOKIE, path="/login")
    raise resp


async def logout(request: web.Request) -> web.Response:
    await _db(request, db.close_session, request.cookies.get(COOKIE, ""), write=True)
    log.info("console: %s logged out", request[ACCOUNT].name)
    resp = web.HTTPSeeOther("/login")
    resp.del_cookie(COOKIE, path="/")
    raise resp


# -- pages ---------------------------------------------------------------------------------------

@needs(Page.FLEET)
async def fleet_page(request: web.Request) -> web.Response:
    rows = await _db(request, data.fleet)
    q, state, area = (request.query.get(k, "").strip() for k in ("q", "state", "area"))
    shown = [r for r in rows if (not state or r["state"] == state) and (not area or r["area"] == area)
             and (not q or q.lower() in f"{r['camera_id']} {r['address']} {r['isp']}".lower())]
    counts = {k: sum(r["state"] == k for r in rows) for k in ("up", "degraded", "down", "unknown", "disabled")}
    pages = max(1, -(-len(shown) // PAGE))
    try:
        page = min(max(1, int(request.query.get("page", "1"))), pages)
    except ValueError:
        page = 1
    return _html(request, "console/fleet.html.j2", rows=shown[(page - 1) * PAGE:page * PAGE], shown=len(shown),
                 total=len(rows), counts=counts, q=q, state=state, area=area, page=page, pages=pages,
                 areas=sorted({r["area"] for r in rows}), points=map_points(rows))


PAGE = 200  # list rows a page (the counts and the map always cover the whole fleet)


MAP_W, MAP_H, MAP_PAD = 640, 420, 20


def map_points(rows: list[dict]) -> list[dict]:
    """The cameras with a position, placed on a MAP_W x MAP_H drawing (north up, no tiles from anywhere)."""
    located = [r for r in rows if r["lat"] is not None and r["lon"] is not None]
    if not located:
        return []
    lats, lons = [r["lat"] for r in located], [r["lon"] for r in located]
    south, west = min(lats), min(lons)
    span = max(max(lats) - south, max(lons) - west, 1e-4)
    scale = min(MAP_W, MAP_H) - 2 * MAP_PAD
    return [{"x": round(MAP_PAD + (r["lon"] - west) / span * scale, 1),
             "y": round(MAP_H - MAP_PAD - (r["lat"] - south) / span * scale, 1),
             "camera_id": r["camera_id"], "state": r["state"], "area": r["area"]} for r in located]


@needs(Page.CAMERA)
async def camera_page(request: web.Request) -> web.Response:
    doc = await _db(request, data.camera, request.match_info["camera"], request.app[CONSOLE].now())
    if doc is None:
        return _html(request, "console/error.html.j2", 404, message=("そのカメラは登録されていません。",
                                                                     "No such camera."))
    live = request.app[CONSOLE].recorder_live().get(request.match_info["camera"])
    return _html(request, "console/camera.html.j2", doc=doc, live=live)


@needs(Page.INCIDENTS)
async def incidents_page(request: web.Request) -> web.Response:
    now, tz = request.app[CONSOLE].now(), request.app[CONSOLE].tz

    def read(s: Session) -> tuple[list, dict, dict]:
        quiet: dict[str, Silence] = {}
        for x in holds_db.silences(s, now):
            quiet[x.incident_id] = x
        return data.incidents(s, now, tz), db.acks(s), quiet

    rows, acks, quiet = await _db(request, read)
    return _html(request, "console/incidents.html.j2", rows=rows, acks=acks, silences=quiet,
                 error=request.query.get("error", ""))


@needs(Page.AUDIT)
async def audit_page(request: web.Request) -> web.Response:
    from recorder import AuditLog

    log_ = AuditLog(request.app[CONSOLE].sessions)
    entries, verdict = await asyncio.to_thread(lambda: (log_.entries(), log_.verify()))
    return _html(request, "console/audit.html.j2", verdict=verdict,
                 entries=[e for e in entries if e.action in LAWFUL_ACTIONS])


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    ok, why = await asyncio.to_thread(request.app[CONSOLE].ready)
    return web.Response(text=("ready\n" if ok else f"not ready: {why}\n"), status=200 if ok else 503)
