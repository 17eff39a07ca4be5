"""The service's own HTTP server: status board, vendor ticket API, Twilio status callbacks, /metrics.

=========================================================  ===============================================
``GET /``                                                  status board (HTML, refreshes every 60 s)
``GET /metrics``                                           Prometheus text format
``POST /twilio/status``                                    Twilio delivery status callback (signed)
``GET /api/v1/tickets[?state=…]``                          the calling vendor's tickets
``GET /api/v1/tickets/{number}``                           one of them (another vendor's: 404)
``POST /api/v1/tickets/{number}/acknowledge|schedule|resolve``  move it; ``schedule`` takes ``visit_at``
=========================================================  ===============================================

The API authenticates each vendor with ``Authorization: Bearer <token>`` and answers in JSON,
errors included: ``{"error": "<code>", "message": "<what went wrong>"}``. Tokens, Twilio signatures
and the Twilio auth token are never logged. The store is synchronous: every query runs in a thread.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import jinja2
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from prometheus_client import CollectorRegistry
from sqlalchemy.orm import Session, sessionmaker

from monitor.core.tickets import (
    InvalidTicketInput,
    Ticket,
    TicketAction,
    TicketError,
    TicketState,
    UnknownTicket,
    check_note,
    parse_visit_at,
)
from monitor.store import tickets as ticket_repo
from monitor.web.console import CONSOLE, ConsoleConfig, console_auth
from monitor.web.console import routes as console_routes
from monitor.web.console_holds import routes as holds_routes
from monitor.web.console_registry import PENDING as PENDING_IMPORTS
from monitor.web.console_registry import routes as registry_routes
from monitor.web.console_tickets import routes as ticket_routes
from monitor.web.metrics import metrics_body
from monitor.web.sso import ProxySignOn
from monitor.web.status import board_view
from notify.dispatch import check_twilio_signature

log = logging.getLogger("mimamori.web")

TwilioStatusCallback = Callable[[str, str, str | None], Awaitable[None] | None]
API_PREFIX = "/api/"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BOARD_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; frame-ancestors 'none'"


@dataclass(frozen=True, slots=True, kw_only=True)
class WebConfig:
    sessions: sessionmaker[Session]
    tz: tzinfo
    twilio_auth_token: str | None
    public_base_url: str
    on_twilio_status: TwilioStatusCallback
    status_source: Callable[[], dict]
    now: Callable[[], datetime]
    templates: jinja2.Environment


CONFIG = web.AppKey("mimamori_web_config", WebConfig)
PROCESS_METRICS = web.AppKey("mimamori_process_metrics", object)
VENDOR = web.RequestKey("mimamori_vendor", str)  # the authenticated vendor


def make_app(
    *,
    sessions: sessionmaker[Session],
    tz: tzinfo,
    twilio_auth_token: str | None,
    public_base_url: str,
    on_twilio_status: TwilioStatusCallback,
    status_source: Callable[[], dict],
    now: Callable[[], datetime] | None = None,
    ready: Callable[[], tuple[bool, str]] | None = None,
    metrics_registry: CollectorRegistry | None = None,
    box: Any = None,
    recorder_live: Callable[[], Mapping[str, Mapping]] | None = None,
    sso: ProxySignOn | None = None,
    resend_withdrawn: Callable[[Session, str, datetime], int] | None = None,
) -> web.Application:
    """The aiohttp application. ``now`` (aware UTC) defaults to the system clock; ``ready`` answers
    /readyz (default: the store answers a query)."""
    templates = jinja2.Environment(loader=jinja2.PackageLoader("templates", "web"), autoescape=True,
                                   undefined=jinja2.StrictUndefined)
    templates.filters["local"] = lambda t: t.astimezone(tz).strftime("%Y-%m-%d %H:%M") if t else ""
    # a registry CSV of 10,000 cameras is about 3 MB: the console's import takes up to 8 MB
    app = web.Application(middlewares=[_api_errors, _vendor_auth, console_auth], client_max_size=9 * 1024 * 1024)
    app[CONFIG] = WebConfig(
        sessions=sessions, tz=tz, twilio_auth_token=twilio_auth_token or None,
        public_base_url=public_base_url.rstrip("/"), on_twilio_status=on_twilio_status, status_source=status_source,
        now=now or (lambda: datetime.now(UTC)), templates=templates,
    )
    app.add_routes([
        web.get("/", board),
        web.get("/metrics", metrics),
        web.post("/twilio/status", twilio_status),
        web.get("/api/v1/tickets", list_tickets),
        web.get("/api/v1/tickets/{number}", get_ticket),
        web.post("/api/v1/tickets/{number}/{action:acknowledge|schedule|resolve}", move_ticket),
        *console_routes(),
        *registry_routes(),
        *holds_routes(),
        *ticket_routes(),
    ])
    app[PROCESS_METRICS] = metrics_registry
    app[PENDING_IMPORTS] = {}
    app[CONSOLE] = ConsoleConfig(
        sessions=sessions, tz=tz, secure=public_base_url.startswith("https://"), now=app[CONFIG].now,
        ready=ready or (lambda: store_answers(sessions)),
        render=lambda template, **ctx: templates.get_template(template).render(**ctx), box=box,
        recorder_live=recorder_live or dict, sso=sso, resend_withdrawn=resend_withdrawn)
    return app


def store_answers(sessions: sessionmaker[Session]) -> tuple[bool, str]:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with sessions() as s:
            s.execute(text("SELECT 1"))
    except SQLAlchemyError as e:
        return False, f"the database does not answer ({type(e).__name__})"
    return True, ""


# -- JSON errors and vendor authentication (API only) ----------------------------------------------

def json_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status, headers=headers,
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


@web.middleware
async def _api_errors(request: web.Request, handler):
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    try:
        return await handler(request)
    except UnknownTicket as e:
        return json_error(404, "not_found", str(e))
    except InvalidTicketInput as e:
        return json_error(400, "bad_request", str(e))
    except TicketError as e:  # an illegal move
        return json_error(409, "illegal_transition", str(e))
    except web.HTTPException as e:
        if e.status < 400:
            raise
        messages = {404: "no such resource", 405: f"method {request.method} not allowed here"}
        return json_error(e.status, e.reason.lower().replace(" ", "_"), messages.get(e.status, e.reason))


@web.middleware
async def _vendor_auth(request: web.Request, handler):
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    challenge = {"WWW-Authenticate": 'Bearer realm="mimamori"'}
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return json_error(401, "unauthorized", "send your vendor token as 'Authorization: Bearer <token>'",
                          challenge)
    cfg = request.app[CONFIG]
    vendor = await asyncio.to_thread(_in_session, cfg, ticket_repo.vendor_for_token, token)
    if vendor is None:
        log.info("vendor API: unknown or revoked token from %s", request.remote)
        return json_error(401, "unauthorized", "unknown or revoked token", challenge)
    request[VENDOR] = vendor
    return await handler(request)


def _in_session(cfg: WebConfig, fn, *args, **kwargs):
    with cfg.sessions() as s:
        return fn(s, *args, **kwargs)


def _in_transaction(cfg: WebConfig, fn, *args, **kwargs):
    with cfg.sessions.begin() as s:
        return fn(s, *args, **kwargs)


# -- vendor ticket API -----------------------------------------------------------------------------

def ticket_json(t: Ticket, tz: tzinfo) -> dict[str, Any]:
    def iso(v: datetime | None) -> str | None:
        return None if v is None else v.astimezone(tz).isoformat()

    return {
        "number": t.number, "incident_id": t.incident_id, "camera_id": t.camera_id, "vendor": t.vendor,
        "state": str(t.state), "address": t.address,
        "owner": {"name": t.owner.name, "contact": t.owner.contact, "phone": t.owner.phone, "email": t.owner.email,
                  "lang": t.owner.lang},
        "steps_taken": [{"at": iso(s.at), "step": s.step, "detail": s.detail} for s in t.steps_taken],
        "evidence": list(t.evidence),
        "timeline": [{"at": iso(e.at), "by": e.by, "action": str(e.action), "state": str(e.state), "note": e.note,
                      **({"visit_at": iso(e.visit_at)} if e.visit_at else {})} for e in t.timeline],
        "visit_at": iso(t.visit_at), "created_at": iso(t.created_at), "updated_at": iso(t.updated_at),
        "closed_at": iso(t.closed_at),
    }


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def list_tickets(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    state = request.query.get("state")
    if state is not None and state not in set(TicketState):
        raise InvalidTicketInput(f"unknown state {state!r}; one of: {', '.join(TicketState)}")
    tickets = await asyncio.to_thread(_in_session, cfg, ticket_repo.list_tickets, request[VENDOR], state)
    return _json({"tickets": [ticket_json(t, cfg.tz) for t in tickets]})


async def get_ticket(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    number = request.match_info["number"]
    ticket = await asyncio.to_thread(_in_session, cfg, ticket_repo.get, number, vendor=request[VENDOR])
    if ticket is None:
        raise UnknownTicket(f"no ticket {number}")
    return _json(ticket_json(ticket, cfg.tz))


async def _body(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidTicketInput(f"the body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise InvalidTicketInput("the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidTicketInput(f"unknown field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    return body


async def move_ticket(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    number, action = request.match_info["number"], TicketAction(request.match_info["action"])
    allowed = {"note", "visit_at"} if action is TicketAction.SCHEDULE else {"note"}
    body = await _body(request, allowed)
    note = check_note(body.get("note", ""))
    visit_at = parse_visit_at(body.get("visit_at"), cfg.tz, cfg.now()) if action is TicketAction.SCHEDULE else None
    vendor = request[VENDOR]
    ticket = await asyncio.to_thread(
        _in_transaction, cfg, ticket_repo.apply, number, action, cfg.now(), f"vendor:{vendor}",
        vendor=vendor, visit_at=visit_at, note=note,
    )
    log.info("ticket %s: %s by vendor %s", number, action, vendor)
    return _json(ticket_json(ticket, cfg.tz))


# -- Twilio delivery status callback ---------------------------------------------------------------

_SID = re.compile(r"(SM|MM|CA)[0-9a-fA-F]{32}", re.ASCII)
_CALLBACK_STATUS = re.compile(r"[a-z][a-z-]{1,19}", re.ASCII)
_CODE = re.compile(r"[0-9]{1,8}", re.ASCII)


async def twilio_status(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    form = await request.post()
    params = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    signature = request.headers.get("X-Twilio-Signature", "")
    url = cfg.public_base_url + request.raw_path
    if cfg.twilio_auth_token is None:
        log.warning("Twilio status callback refused: no Twilio auth token is configured")
        return web.json_response({"error": "forbidden", "message": "callbacks are not accepted"}, status=403)
    if not signature or not check_twilio_signature(cfg.twilio_auth_token, url, params, signature):
        log.warning("Twilio status callback refused: bad or missing signature (from %s)", request.remote)
        return web.json_response({"error": "forbidden", "message": "bad signature"}, status=403)
    sid = params.get("MessageSid") or params.get("CallSid")
    status = params.get("MessageStatus") or params.get("CallStatus")
    code = params.get("ErrorCode") or None
    if not sid or not status:
        return web.json_response({"error": "bad_request", "message": "MessageSid/CallSid and status required"},
                                 status=400)
    # the shapes Twilio's spec gives (signed or not, nothing else reaches the outbox query)
    if not (_SID.fullmatch(sid) and _CALLBACK_STATUS.fullmatch(status) and (code is None or _CODE.fullmatch(code))):
        return web.json_response({"error": "bad_request", "message": "MessageSid/CallSid, status or ErrorCode "
                                  "not in Twilio's form"}, status=400)
    await _call(cfg.on_twilio_status, sid, status, code)
    return web.Response(status=204)


async def _call(fn: TwilioStatusCallback, *args: Any) -> None:
    """Await a coroutine function; run a plain function (it may touch the store) in a thread."""
    if inspect.iscoroutinefunction(fn):
        await fn(*args)
        return
    result = await asyncio.to_thread(fn, *args)
    if inspect.isawaitable(result):
        await result


# -- status board and metrics ----------------------------------------------------------------------

async def _status(cfg: WebConfig) -> dict | None:
    try:
        return await asyncio.to_thread(cfg.status_source)
    except Exception:  # noqa: BLE001 - the board says so instead of a stack trace
        log.exception("status source failed")
        return None


async def board(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    status = await _status(cfg)
    view = board_view(status, cfg.tz) if status is not None else None
    html = cfg.templates.get_template("board.html.j2").render(view=view)
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=200 if view else 503,
                        headers={"Cache-Control": "no-store", "Content-Security-Policy": BOARD_CSP,
                                 "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})


async def metrics(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    status = await _status(cfg)
    if status is None:
        return web.Response(status=503, text="status source failed\n")
    body = await asyncio.to_thread(metrics_body, status, request.app[PROCESS_METRICS])
    return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})


class PathOnlyAccessLogger(AbstractAccessLogger):
    """One access line per request without the query string, Referer or any header: a token or a phone
    number sent in a URL by mistake never reaches the log."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info('%s "%s %s" %s %s %.3fs', request.remote, request.method, request.path,
                         response.status, response.body_length, time)


async def start_server(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve ``app`` on host:port (port 0: any free port); ``await runner.cleanup()`` stops it."""
    runner = web.AppRunner(app, handle_signals=False, access_log_class=PathOnlyAccessLogger)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        raise
    for addr in runner.addresses:
        log.info("web: serving on %s", addr)
    return runner
