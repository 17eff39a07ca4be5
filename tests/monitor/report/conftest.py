"""Fixtures of the report tests: the aiosmtpd peer, and fleet-11 replayed once into SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.notify_peers import smtp_peer, smtp_tls  # noqa: F401

FLEET11 = SHARED / "scenarios" / "fleet-11"


@pytest.fixture(scope="session")
def fleet11_db(tmp_path_factory) -> str:
    """fleet-11 replayed through the live DecisionLoop into SQLite, once per session (about 2 minutes
    on 2 shared cores: the loop stores every raw observation, rollup and state change, as live)."""
    from monitor.replay.db import replay_into_db

    db = tmp_path_factory.mktemp("fleet11") / "mimamori.db"
    url = f"sqlite:///{db}"
    stats = replay_into_db(FLEET11 / "cameras.csv", FLEET11 / "observations.jsonl.gz", url)
    assert stats.intervals == 3 * 24 * 60 and stats.cameras == 132
    return url


@pytest.fixture
def fleet11_dir() -> Path:
    return FLEET11
