"""Who may do what in the operators' console, and when a login is throttled. Pure.

Roles (issue 17):

- ``admin``: everything an operator may, and the accounts;
- ``operator``: the fleet, cameras, incidents (acknowledge), tickets;
- ``vendor``: bound to one vendor: only that vendor's tickets, with the owner contacts they need;
- ``auditor``: the lawful-request and export log and its verification, nothing else.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
PASSWORD_MIN = 12


class Role(enum.StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VENDOR = "vendor"
    AUDITOR = "auditor"


class Page(enum.StrEnum):
    FLEET = "fleet"  # counts, map, the camera list
    CAMERA = "camera"  # one camera: states, incidents, messages, ticket, recorder, findings
    CAMERA_EDIT = "camera_edit"  # edit, disable or enable one camera
    INCIDENTS = "incidents"
    ACKNOWLEDGE = "acknowledge"  # and silence
    MAINTENANCE = "maintenance"
    TICKETS = "tickets"
    AUDIT = "audit"
    USERS = "users"


ALLOWED: dict[Page, frozenset[Role]] = {
    Page.FLEET: frozenset({Role.ADMIN, Role.OPERATOR}),
    Page.CAMERA: frozenset({Role.ADMIN, Role.OPERATOR}),
    Page.CAMERA_EDIT: frozenset({Role.ADMIN, Role.OPERATOR}),
    Page.INCIDENTS: frozenset({Role.ADMIN, Role.OPERATOR}),
    Page.ACKNOWLEDGE: frozenset({Role.ADMIN, Role.OPERATOR}),
    Page.MAINTENANCE: frozenset({Role.ADMIN, Role.OPERATOR}),
    Page.TICKETS: frozenset({Role.ADMIN, Role.OPERATOR, Role.VENDOR}),
    Page.AUDIT: frozenset({Role.AUDITOR}),
    Page.USERS: frozenset({Role.ADMIN}),
}
HOME = {Role.ADMIN: Page.FLEET, Role.OPERATOR: Page.FLEET, Role.VENDOR: Page.TICKETS, Role.AUDITOR: Page.AUDIT}


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    name: str
    role: Role
    vendor: str | None = None  # a vendor account's vendor (the registry's vendor column)
    disabled: bool = False


def may(account: Account, page: Page) -> bool:
    return not account.disabled and account.role in ALLOWED[page]


def sees_ticket_of(account: Account, vendor: str) -> bool:
    """A vendor account sees only its own vendor's tickets; operators and admins see all."""
    if not may(account, Page.TICKETS):
        return False
    return account.role is not Role.VENDOR or account.vendor == vendor


def check_new_account(name: str, role: str, vendor: str | None, password: str) -> list[str]:
    """What is wrong with an account to be made (empty: nothing). The password is never quoted."""
    problems = []
    if not NAME.match(name):
        problems.append("name: 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
    try:
        r = Role(role)
    except ValueError:
        problems.append(f"role: one of {', '.join(Role)}")
        r = None
    if r is Role.VENDOR and not vendor:
        problems.append("vendor: a vendor account needs --vendor (the registry's vendor column)")
    if r is not None and r is not Role.VENDOR and vendor:
        problems.append("vendor: only a vendor account is bound to a vendor")
    if len(password) < PASSWORD_MIN:
        problems.append(f"password: at least {PASSWORD_MIN} characters")
    if any(ord(c) < 32 for c in password):
        problems.append("password: no control characters")
    return problems


@dataclass(frozen=True, slots=True)
class Throttle:
    failures: int = 5  # failed logins for one name (or from one address) within the window ...
    window: timedelta = timedelta(minutes=15)
    lock: timedelta = timedelta(minutes=15)  # ... lock it this long after the last of them


def locked_until(failures: Sequence[datetime], now: datetime, rule: Throttle = Throttle()) -> datetime | None:
    """Until when logins are refused, given the times of the recent failures (None: not locked)."""
    recent = sorted(t for t in failures if now - t < rule.window)
    if len(recent) < rule.failures:
        return None
    until = recent[-1] + rule.lock
    return until if until > now else None
