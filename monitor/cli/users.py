"""``mimamori users …``: the operators' console accounts (admin, operator, vendor, auditor).

The password comes from ``MIMAMORI_NEW_PASSWORD`` or standard input, never the command line (it
would stay in the shell's history and in ``ps``). Every change is an entry in the audit log.
"""

from __future__ import annotations

import getpass
import os
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from monitor.cli.common import fail, settings

users_app = typer.Typer(help="The console's accounts.", no_args_is_help=True)
PASSWORD_ENV = "MIMAMORI_NEW_PASSWORD"


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _new_password() -> str:
    if PASSWORD_ENV in os.environ:
        return os.environ[PASSWORD_ENV]
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise fail("the two passwords differ; nothing changed")
        return first
    return sys.stdin.readline().rstrip("\r\n")


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[str, typer.Option(help="admin, operator, vendor or auditor")],
    vendor: Annotated[str | None, typer.Option(help="a vendor account's vendor (the registry's vendor column)")] = None,
) -> None:
    """Add an account; its password from MIMAMORI_NEW_PASSWORD or standard input (12 characters or more)."""
    from monitor.core.accounts import Role, check_new_account
    from monitor.service.app import open_store
    from monitor.store.accounts import add_user
    from recorder import AuditLog

    password = _new_password()
    problems = check_new_account(name, role, vendor, password)
    if problems:
        raise fail("; ".join(problems) + "; nothing changed")
    store = open_store(settings())
    now = datetime.now(UTC)
    try:
        with store.sessions.begin() as s:
            if not add_user(s, name, Role(role), vendor, password, now):
                raise fail(f"an account {name!r} exists; nothing changed")
            AuditLog.append_in(s, actor=_actor(), action="user_add", now=now,
                               detail={"user": name, "role": role, "vendor": vendor})
    finally:
        store.engine.dispose()
    typer.echo(f"account {name} added ({role}{', vendor ' + vendor if vendor else ''})")


@users_app.command("list")
def users_list() -> None:
    """One line per account: name, role, vendor, created, disabled."""
    from monitor.service.app import open_store
    from monitor.store.accounts import users

    store = open_store(settings())
    try:
        with store.sessions() as s:
            rows = users(s)
    finally:
        store.engine.dispose()
    for a, created in rows:
        typer.echo(f"{a.name}\t{a.role}\t{a.vendor or '-'}\tcreated {created:%Y-%m-%d %H:%M}Z"
                   + ("\tdisabled" if a.disabled else ""))
    if not rows:
        typer.echo("no accounts: add one with `mimamori users add NAME --role admin`")


@users_app.command("disable")
def users_disable(name: str) -> None:
    """Disable an account: it can no longer log in, and its open sessions end at once."""
    from monitor.service.app import open_store
    from monitor.store.accounts import disable_user
    from recorder import AuditLog

    store = open_store(settings())
    now = datetime.now(UTC)
    try:
        with store.sessions.begin() as s:
            changed = disable_user(s, name, now)
            if changed is None:
                raise fail(f"no account {name!r}; nothing changed")
            if changed:
                AuditLog.append_in(s, actor=_actor(), action="user_disable", now=now, detail={"user": name})
    finally:
        store.engine.dispose()
    typer.echo(f"account {name} {'disabled' if changed else 'was already disabled'}; its sessions are closed")
