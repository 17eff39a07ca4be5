"""Shared fixtures. Store tests run on SQLite and PostgreSQL through one parametrised fixture.

PostgreSQL is always there in CI (.ci/run starts it if needed); a missing server fails the
PostgreSQL cases instead of skipping them.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

pytest_plugins = ["tests.peers", "tests.notify_peers"]

# The SMTP peers' threads (aiosmtpd) log every connection at INFO, also after pytest has closed the stream
# of a handler that an in-process command put on the root logger: a "Logging error" in the output, not a
# failure. Their chatter is not what any test reads.
logging.getLogger("mail.log").setLevel(logging.WARNING)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PG_ADMIN_URL = os.environ.get("MIMAMORI_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    name = f"mimamori_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # noqa: BLE001 - turned into a clear failure
        pytest.fail(f"PostgreSQL is required for these tests and is not reachable at {PG_ADMIN_URL}: {e}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_url(pg_server_url) -> Iterator[URL]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(pg_server_url).set(database=name)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mimamori.db'}"
        return
    yield request.getfixturevalue("pg_url").render_as_string(hide_password=False)


@pytest.fixture
def sessions(db_url):
    """Sessions on a freshly migrated database, on each backend (packages with their own tables override it)."""
    from monitor.store.db import make_engine, session_factory, upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def cli_env(db_url, tmp_path) -> dict[str, str]:
    """The environment of a `mimamori` subprocess on a fresh database of each backend, no config file."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("MIMAMORI_")}
    e.update(MIMAMORI_DATABASE_URL=db_url, MIMAMORI_DATA_DIR=str(tmp_path / "data"),
             MIMAMORI_CONFIG=str(tmp_path / "absent.toml"))
    (tmp_path / "absent.toml").write_text("")
    return e


@pytest.fixture
def fleet11() -> Path:
    return SHARED / "scenarios" / "fleet-11"
