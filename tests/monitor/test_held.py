"""Probe rounds held while the database is away: on disk as well, so that a restart loses none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.core.domain import Observation, ReferenceObservation
from monitor.service.held import HeldRounds

from .test_decide_live import fleet

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def held(k: int):
    t = T0 + timedelta(minutes=k)
    return (t, [Observation(t=t, camera="C001", reachable=True, rtt_ms=12.5, onvif_ok=True, fps=14.9, max_gap_s=0.2,
                            clock_skew_s=-0.4),
                Observation(t=t, camera="C002", reachable=False)],
            [ReferenceObservation(t=t, reference="gateway", reachable=True)], fleet())


def test_rounds_held_during_an_outage_survive_a_restart_in_order_and_are_removed_once_stored(tmp_path):
    folder = tmp_path / "held"
    first = HeldRounds(folder, limit=10)
    first.append(held(0), on_disk=False)  # the database was still there: memory only
    first.spill()  # then it went away: the round under way goes to disk too
    first.append(held(1), on_disk=True)
    first.append(held(2), on_disk=True)
    assert sorted(p.name for p in folder.iterdir()) == [
        f"round-{int((T0 + timedelta(minutes=k)).timestamp()):012d}.json" for k in range(3)]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in folder.iterdir())

    again = HeldRounds(folder, limit=10)  # killed and started again
    assert again.load(fleet()) == 3
    assert again.first()[0] == T0
    assert again.first()[1:3] == held(0)[1:3]  # every field back, times with their offset
    again.done()
    assert len(again) == 2 and len(list(folder.iterdir())) == 2
    again.clear()
    assert list(folder.iterdir()) == []


def test_past_the_limit_the_oldest_are_dropped_file_and_all(tmp_path):
    rounds = HeldRounds(tmp_path, limit=3)
    for k in range(5):
        rounds.append(held(k), on_disk=True)
    assert len(rounds) == 3 and rounds.dropped == 2 and rounds.first()[0] == T0 + timedelta(minutes=2)
    assert len(list(tmp_path.glob("round-*.json"))) == 3
    assert HeldRounds(tmp_path, limit=2).load(fleet()) == 3  # a smaller limit keeps the newest 2 ...
    assert len(list(tmp_path.glob("round-*.json"))) == 2  # ... and forgets the oldest file


def test_an_unreadable_held_file_is_set_aside_not_a_crash(tmp_path, caplog):
    (tmp_path / "round-000000000001.json").write_text("{not json")
    rounds = HeldRounds(tmp_path, limit=3)
    rounds.append(held(0), on_disk=True)
    fresh = HeldRounds(tmp_path, limit=3)
    assert fresh.load(fleet()) == 1
    assert (tmp_path / "round-000000000001.json.bad").exists()
    assert "unreadable" in caplog.text
