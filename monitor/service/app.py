"""Composition helpers for the shell: open the store, the password box, the registry."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from monitor.config.secrets import PasswordBox, load_key
from monitor.config.settings import Settings
from monitor.core.domain import Camera
from monitor.core.errors import StoreUnavailableError
from monitor.store import cameras as camera_repo
from monitor.store.db import make_engine, session_factory, upgrade
from monitor.store.report_models import track_incident_spans

STORE_DOWN = (OperationalError, InterfaceError)  # the database unreachable, or the connection lost


@dataclass(frozen=True, slots=True)
class Store:
    engine: Engine
    sessions: sessionmaker[Session]
    box: PasswordBox

    def cameras(self, *, with_disabled: bool = False) -> list[Camera]:
        """The cameras probed and recorded; ``with_disabled``: the whole registry."""
        with self.sessions() as s:
            return camera_repo.list_cameras(s, self.box, monitored=not with_disabled)


def store_error_line(e: DBAPIError) -> str:
    """The driver's own first line ("connection refused", "password authentication failed"), no SQL and
    no parameters."""
    text = str(e.orig) if e.orig is not None else str(e)
    return text.strip().splitlines()[0][:200] if text.strip() else type(e.orig).__name__


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """The store, migrated; :class:`StoreUnavailableError` in one line when the database cannot be reached."""
    engine = make_engine(settings.effective_database_url)
    try:
        if migrate:
            upgrade(engine)
        else:
            engine.connect().close()
    except OperationalError as e:
        engine.dispose()
        raise StoreUnavailableError(f"database {engine.url.render_as_string(hide_password=True)}: cannot connect "
                                    f"({store_error_line(e)}); is it running, and may this user log in?") from None
    key = load_key(settings.data_dir, settings.secret_key.get_secret_value() if settings.secret_key else None)
    # incident spans (who was in which incident, under which cause, when) follow every incident row written
    return Store(engine=engine, sessions=track_incident_spans(session_factory(engine)), box=PasswordBox(key))
