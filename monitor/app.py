"""Composition helpers for the shell: open the store, the password box, the registry."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .domain import Camera
from .secrets import PasswordBox, load_key
from .settings import Settings
from .store import cameras as camera_repo
from .store.db import make_engine, session_factory, upgrade


@dataclass(frozen=True, slots=True)
class Store:
    engine: Engine
    sessions: sessionmaker[Session]
    box: PasswordBox

    def cameras(self) -> list[Camera]:
        with self.sessions() as s:
            return camera_repo.list_cameras(s, self.box)


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    engine = make_engine(settings.effective_database_url)
    if migrate:
        upgrade(engine)
    key = load_key(settings.data_dir, settings.secret_key.get_secret_value() if settings.secret_key else None)
    return Store(engine=engine, sessions=session_factory(engine), box=PasswordBox(key))
