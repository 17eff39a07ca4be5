"""``mimamori tickets``: vendor tickets and vendor API tokens, for operators.

Registered in :mod:`monitor.cli.main` with ``app.add_typer(tickets_app, name="tickets")``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from monitor.cli.common import fail
from monitor.core.tickets import Ticket, TicketError, TicketState

tickets_app = typer.Typer(help="Vendor tickets.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens of maintenance vendors.", no_args_is_help=True)
tickets_app.add_typer(token_app, name="vendor-token")


def _store_and_tz():
    from monitor.cli.common import settings
    from monitor.service.app import open_store

    s = settings()
    return open_store(s), s.tz


def _local(t: datetime | None, tz) -> str:
    return "" if t is None else t.astimezone(tz).isoformat(timespec="minutes")


@tickets_app.command("list")
def tickets_list(
    vendor: Annotated[str | None, typer.Option(help="only this vendor's tickets")] = None,
    state: Annotated[TicketState | None, typer.Option(help="only tickets in this state")] = None,
) -> None:
    """One line per ticket: number, state, camera, vendor, opened, incident."""
    from monitor.store.tickets import list_tickets

    store, tz = _store_and_tz()
    with store.sessions() as s:
        tickets = list_tickets(s, vendor=vendor, state=state)
    for t in tickets:
        typer.echo(f"{t.number}\t{t.state}\t{t.camera_id}\t{t.vendor or '-'}\t{_local(t.created_at, tz)}\t"
                   f"{t.incident_id}")
    if not tickets:
        typer.echo("no tickets", err=True)


def _describe(t: Ticket, tz) -> list[str]:
    o = t.owner
    lines = [
        f"number: {t.number}", f"state: {t.state}", f"incident: {t.incident_id}", f"camera: {t.camera_id}",
        f"vendor: {t.vendor}", f"address: {t.address}",
        f"owner: {o.name} (contact by {o.contact or '-'}; phone {o.phone or '-'}; email {o.email or '-'}; {o.lang})",
        f"opened: {_local(t.created_at, tz)}", f"updated: {_local(t.updated_at, tz)}",
    ]
    if t.visit_at:
        lines.append(f"visit: {_local(t.visit_at, tz)}")
    if t.closed_at:
        lines.append(f"closed: {_local(t.closed_at, tz)}")
    lines.append("steps taken:")
    lines += [f"  {_local(s.at, tz)}  {s.step}{'  ' + s.detail if s.detail else ''}" for s in t.steps_taken] or ["  -"]
    lines.append("evidence (last probes):")
    lines += [f"  {json.dumps(e, ensure_ascii=False, sort_keys=True)}" for e in t.evidence] or ["  -"]
    lines.append("timeline:")
    for e in t.timeline:
        extra = f" visit {_local(e.visit_at, tz)}" if e.visit_at else ""
        note = f" - {e.note}" if e.note else ""
        lines.append(f"  {_local(e.at, tz)}  {e.action} -> {e.state} by {e.by}{extra}{note}")
    return lines


@tickets_app.command("show")
def tickets_show(number: str) -> None:
    """Everything about one ticket, with its timeline, steps taken and evidence."""
    from monitor.store.tickets import get

    store, tz = _store_and_tz()
    with store.sessions() as s:
        ticket = get(s, number)
    if ticket is None:
        raise fail(f"unknown ticket {number!r}")
    typer.echo("\n".join(_describe(ticket, tz)))


@tickets_app.command("cancel")
def tickets_cancel(
    number: str,
    note: Annotated[str, typer.Option(help="why, for the timeline")] = "cancelled by the operator",
) -> None:
    """Cancel an open ticket (the vendor is not told by this command)."""
    from monitor.store.tickets import apply

    store, _ = _store_and_tz()
    try:
        with store.sessions.begin() as s:
            ticket = apply(s, number, "cancel", datetime.now(UTC), "operator", note=note)
    except TicketError as e:
        raise fail(str(e)) from None
    typer.echo(f"{ticket.number} {ticket.state}")


@token_app.command("create")
def token_create(vendor: str) -> None:
    """Create an API token for VENDOR and print it once: it is stored only as a hash."""
    from sqlalchemy import select

    from monitor.store.models import CameraRow
    from monitor.store.tickets import create_vendor_token

    store, _ = _store_and_tz()
    try:
        with store.sessions.begin() as s:
            known = s.scalar(select(CameraRow.camera_id).where(CameraRow.vendor == vendor).limit(1)) is not None
            token = create_vendor_token(s, vendor, datetime.now(UTC))
    except ValueError as e:
        raise fail(str(e)) from None
    if not known:
        typer.echo(f"warning: no camera in the registry names vendor {vendor!r}; check the spelling", err=True)
    typer.echo(token)
    typer.echo(f"This is the only time the token for {vendor!r} is shown: hand it to the vendor over a safe "
               "channel and store it in a password manager. mimamori keeps only its hash.", err=True)


@token_app.command("revoke")
def token_revoke(vendor: str) -> None:
    """Revoke every active API token of VENDOR."""
    from monitor.store.tickets import revoke_vendor_tokens

    store, _ = _store_and_tz()
    with store.sessions.begin() as s:
        n = revoke_vendor_tokens(s, vendor, datetime.now(UTC))
    typer.echo(f"revoked {n} token(s) of {vendor!r}")
