"""Console accounts, sessions and failed logins in the store. Passwords are hashed with argon2
(argon2-cffi's defaults, RFC 9106's second recommended profile); a session token is kept only as its
SHA-256, so a copy of the database opens no session."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from monitor.core.accounts import Account, Role
from monitor.store.account_models import IncidentAckRow, LoginFailureRow, UserRow, WebSessionRow

HASHER = PasswordHasher()
# verified when the name is unknown, so that an unknown name takes as long as a wrong password
_DUMMY = HASHER.hash(secrets.token_urlsafe(16))


def _account(row: UserRow) -> Account:
    return Account(name=row.name, role=Role(row.role), vendor=row.vendor, disabled=row.disabled_at is not None)


def add_user(session: Session, name: str, role: Role, vendor: str | None, password: str, now: datetime) -> bool:
    """A new account; False when the name is taken (nothing changed)."""
    if session.get(UserRow, name) is not None:
        return False
    session.add(UserRow(name=name, role=str(role), vendor=vendor, password_hash=HASHER.hash(password),
                        created_at=now))
    return True


def users(session: Session) -> list[tuple[Account, datetime]]:
    return [(_account(r), r.created_at) for r in session.scalars(select(UserRow).order_by(UserRow.name))]


def get_user(session: Session, name: str) -> Account | None:
    row = session.get(UserRow, name)
    return None if row is None else _account(row)


def disable_user(session: Session, name: str, now: datetime) -> bool | None:
    """Disable an account and end its sessions; None when unknown, False when already disabled."""
    row = session.get(UserRow, name)
    if row is None:
        return None
    session.execute(delete(WebSessionRow).where(WebSessionRow.user == name))
    if row.disabled_at is not None:
        return False
    row.disabled_at = now
    return True


def check_password(session: Session, name: str, password: str) -> Account | None:
    """The account if the name and password match an enabled account, else None (in constant work)."""
    row = session.get(UserRow, name)
    try:
        HASHER.verify(row.password_hash if row is not None else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled_at is not None:
        return None
    if HASHER.check_needs_rehash(row.password_hash):
        row.password_hash = HASHER.hash(password)
    return _account(row)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, name: str, now: datetime, lifetime: timedelta) -> tuple[str, str]:
    """A new session for ``name``: (its token for the cookie, its CSRF token for the forms)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(WebSessionRow(token_sha256=_digest(token), user=name, csrf=csrf, created_at=now, last_seen=now,
                              expires_at=now + lifetime))
    return token, csrf


def session_account(session: Session, token: str, now: datetime, idle: timedelta) -> tuple[Account, str] | None:
    """The account and CSRF token of a live session (it is seen now), or None: unknown, expired, idle too
    long, or its account disabled."""
    row = session.get(WebSessionRow, _digest(token))
    if row is None:
        return None
    if row.expires_at <= now or now - row.last_seen > idle:
        session.delete(row)
        return None
    user = session.get(UserRow, row.user)
    if user is None or user.disabled_at is not None:
        return None
    row.last_seen = now
    return _account(user), row.csrf


def close_session(session: Session, token: str) -> None:
    session.execute(delete(WebSessionRow).where(WebSessionRow.token_sha256 == _digest(token)))


def record_failure(session: Session, keys: list[str], now: datetime) -> None:
    session.add_all(LoginFailureRow(key=k, t=now) for k in keys)


def failures(session: Session, key: str, since: datetime) -> list[datetime]:
    return list(session.scalars(select(LoginFailureRow.t).where(LoginFailureRow.key == key,
                                                                LoginFailureRow.t >= since)))


def clear_failures(session: Session, key: str) -> None:
    session.execute(delete(LoginFailureRow).where(LoginFailureRow.key == key))


def acknowledge(session: Session, incident_id: str, by: str, now: datetime) -> bool:
    """Acknowledge an incident (once: the first acknowledgement stands); False if it already was."""
    if session.get(IncidentAckRow, incident_id) is not None:
        return False
    session.add(IncidentAckRow(incident_id=incident_id, by=by, at=now))
    return True


def withdraw_ack(session: Session, incident_id: str) -> tuple[str, datetime] | None:
    """Withdraw an incident's acknowledgement; who gave it and when (None: it was not acknowledged)."""
    row = session.get(IncidentAckRow, incident_id)
    if row is None:
        return None
    session.delete(row)
    return row.by, row.at


def acks(session: Session) -> dict[str, tuple[str, datetime]]:
    return {r.incident_id: (r.by, r.at) for r in session.scalars(select(IncidentAckRow))}
