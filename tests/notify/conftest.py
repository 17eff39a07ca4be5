"""Fixtures for the notify tests. The peers live in tests/notify_peers.py.

``notify_db_url`` gives a fresh database on SQLite (a file) and on PostgreSQL, so the outbox
tests run on both backends (PostgreSQL at MIMAMORI_TEST_PG, always present in CI).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.notify_peers import prism, smtp_peer, smtp_tls, webhook_peer  # noqa: F401

PG_ADMIN_URL = os.environ.get("MIMAMORI_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def notify_db_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'notify.db'}"
        return
    name = f"ntf_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # noqa: BLE001 - turned into a clear failure
        admin.dispose()
        pytest.fail(f"PostgreSQL is required for these tests and is not reachable at {PG_ADMIN_URL}: {e}")
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
