"""The console's vendor tickets: the list, one ticket with the owner contact a visit needs, and its moves
(acknowledge, schedule a visit, resolve), each audited. A vendor account sees and moves only its own
vendor's tickets; another vendor's answers 404, as if it did not exist."""

from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy.orm import Session

from monitor.core.accounts import Page, Role, sees_ticket_of
from monitor.core.tickets import (
    IllegalTransition,
    InvalidTicketInput,
    Ticket,
    TicketAction,
    UnknownTicket,
    allowed_actions,
    check_note,
    parse_visit_at,
)
from monitor.store import tickets as ticket_repo
from monitor.web.console import ACCOUNT, CONSOLE, _db, _html, needs

log = logging.getLogger("mimamori.web")

MOVES = (TicketAction.ACKNOWLEDGE, TicketAction.SCHEDULE, TicketAction.RESOLVE)


def _not_found(request: web.Request) -> web.Response:
    return _html(request, "console/error.html.j2", 404, message=("そのチケットはありません。", "No such ticket."))


@needs(Page.TICKETS)
async def tickets_page(request: web.Request) -> web.Response:
    account = request[ACCOUNT]
    rows = await _db(request, lambda s: ticket_repo.list_tickets(s, open_only=False))
    return _html(request, "console/tickets.html.j2", rows=[t for t in rows if sees_ticket_of(account, t.vendor)])


async def _ticket(request: web.Request, status: int = 200, problem: tuple[str, str] | None = None) -> web.Response:
    ticket = await _db(request, ticket_repo.get, request.match_info["number"])
    if ticket is None or not sees_ticket_of(request[ACCOUNT], ticket.vendor):
        return _not_found(request)
    moves = [str(m) for m in MOVES if m in allowed_actions(ticket.state)]
    return _html(request, "console/ticket.html.j2", status, t=ticket, moves=moves, problem=problem)


@needs(Page.TICKETS)
async def ticket_page(request: web.Request) -> web.Response:
    return await _ticket(request)


@needs(Page.TICKETS)
async def move_ticket(request: web.Request) -> web.Response:
    from recorder import AuditLog

    cfg, form, account = request.app[CONSOLE], await request.post(), request[ACCOUNT]
    number, now = request.match_info["number"], cfg.now()
    action = TicketAction(request.match_info["action"])
    try:
        note = check_note(str(form.get("note", "")).strip())
        visit_at = parse_visit_at(str(form.get("visit_at", "")), cfg.tz, now) if action is TicketAction.SCHEDULE \
            else None
    except InvalidTicketInput as e:
        return await _ticket(request, 400, ("入力を確認してください。", str(e)))
    vendor = account.vendor if account.role is Role.VENDOR else None
    by = f"{account.name} ({account.vendor})" if vendor else account.name

    def move(s: Session) -> Ticket:
        ticket = ticket_repo.apply(s, number, action, now, by, vendor=vendor, visit_at=visit_at, note=note)
        AuditLog.append_in(s, actor=account.name, action=f"ticket_{action}", now=now, detail={
            "ticket": number, "state": str(ticket.state), **({"visit_at": visit_at.isoformat()} if visit_at else {})})
        return ticket

    try:
        ticket = await _db(request, move, write=True)
    except UnknownTicket:
        return _not_found(request)
    except IllegalTransition as e:
        return await _ticket(request, 409, ("この操作は今の状態ではできません。", str(e)))
    log.info("console: %s moved ticket %s: %s -> %s", account.name, number, action, ticket.state)
    raise web.HTTPSeeOther(f"/console/tickets/{number}")


def routes() -> list[web.RouteDef]:
    return [web.get("/console/tickets", tickets_page), web.get("/console/tickets/{number}", ticket_page),
            web.post("/console/tickets/{number}/{action:acknowledge|schedule|resolve}", move_ticket)]
