"""Fixtures for the notify tests. The peers live in tests/notify_peers.py; the databases (SQLite and
PostgreSQL, one parametrised fixture ``db_url``) come from tests/conftest.py.
"""

from __future__ import annotations

from tests.notify_peers import prism, smtp_peer, smtp_tls, webhook_peer  # noqa: F401
