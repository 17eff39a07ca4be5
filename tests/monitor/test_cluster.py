"""One decider on a shared database: the lease, its fencing epoch, and the cameras each node records.

The store cases run on SQLite and PostgreSQL (the `sessions` fixture); the clocks are passed in, so a
lease lapses without waiting for it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from monitor.config.settings import ClusterSettings
from monitor.core.cluster import LeaseSeen, NodeSeen, alive, assign, cluster_status, leader, owner
from monitor.core.decisions import ChangeKind, IncidentDecision
from monitor.core.engine import Policies
from monitor.service.cluster import Leadership
from monitor.service.decide import DecisionLoop
from monitor.store.cluster import Deposed
from monitor.store.decisions import list_incidents, list_notifications, load_state

from .test_decide_live import fleet, rounds

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
CAMS = [f"C{i:04d}" for i in range(300)]


class Clock:
    def __init__(self, t: datetime = T0):
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def node(name: str, sessions, clock: Clock, lease_s: float = 30) -> Leadership:
    return Leadership(sessions, ClusterSettings(node_id=name, lease_s=lease_s, heartbeat_s=lease_s / 3), clock)


# --- which node records which camera (pure) -----------------------------------------------------------

def test_every_camera_goes_to_exactly_one_live_node_and_the_shares_are_even():
    shares = assign(CAMS, ["n1", "n2", "n3"])
    assert sorted(c for cs in shares.values() for c in cs) == CAMS
    assert all(70 <= len(cs) <= 130 for cs in shares.values()), {n: len(cs) for n, cs in shares.items()}
    assert assign(CAMS, ["n3", "n1", "n2"]) == shares  # the order the heartbeats were read in does not matter


def test_when_a_node_dies_only_its_cameras_move_and_when_one_joins_it_only_takes():
    before = assign(CAMS, ["n1", "n2", "n3"])
    after = assign(CAMS, ["n1", "n3"])
    for n in ("n1", "n3"):
        assert set(before[n]) <= set(after[n])  # nobody else's camera moved
    joined = assign(CAMS, ["n1", "n2", "n3", "n4"])
    for n in ("n1", "n2", "n3"):
        assert set(joined[n]) <= set(before[n])  # the newcomer took, nobody swapped
    assert 40 <= len(joined["n4"]) <= 110


def test_no_live_node_records_nothing_and_one_node_records_all():
    assert assign(CAMS[:5], []) == {}
    assert owner("C0001", []) is None
    assert assign(CAMS[:5], ["solo"]) == {"solo": CAMS[:5]}


def test_alive_leader_and_the_status_json():
    nodes = [NodeSeen("a", T0, T0 + timedelta(seconds=50)), NodeSeen("b", T0, T0)]
    now = T0 + timedelta(seconds=60)
    lease = timedelta(seconds=30)
    assert alive(nodes, now, lease) == ["a"]
    assert leader(LeaseSeen("a", 4, now + timedelta(seconds=1)), now) == "a"
    assert leader(LeaseSeen("a", 4, now), now) is None  # expired at this very instant
    assert leader(LeaseSeen(None, 4, None), now) is None
    doc = cluster_status(nodes, LeaseSeen("a", 4, now + lease), ["C1", "C2"], now, lease).to_json()
    assert doc == {"leader": "a", "epoch": 4, "nodes": [
        {"id": "a", "alive": True, "leader": True, "heartbeat_age_s": 10.0, "records": True, "decides": True,
         "cameras": ["C1", "C2"]},
        {"id": "b", "alive": False, "leader": False, "heartbeat_age_s": 60.0, "records": True, "decides": True,
         "cameras": []}]}


def test_a_node_that_only_decides_records_nothing():
    nodes = [NodeSeen("decider", T0, T0, records=False), NodeSeen("rec-0", T0, T0), NodeSeen("rec-1", T0, T0)]
    st = cluster_status(nodes, None, CAMS, T0, timedelta(seconds=30))
    assert st.alive == ("decider", "rec-0", "rec-1")
    assert set(st.cameras) == {"rec-0", "rec-1"} and sorted(st.cameras["rec-0"] + st.cameras["rec-1"]) == CAMS


# --- the lease in the store (SQLite and PostgreSQL) --------------------------------------------------

def test_the_first_node_leads_the_second_stands_by_until_the_lease_lapses(sessions):
    clock = Clock()
    a, b = node("a", sessions, clock), node("b", sessions, clock)
    assert a.tick() == "lead" and a.epoch == 1
    assert b.tick() is None and not b.leading
    clock.t += timedelta(seconds=20)
    assert a.tick() is None and a.leading  # renewed for its term: a lease less a beat, 20 s from now
    clock.t += timedelta(seconds=19)
    assert b.tick() is None and not b.leading  # still within the renewed term
    clock.t += timedelta(seconds=1)  # a missed every beat for a whole term (killed)
    assert b.tick() == "lead" and b.epoch == 2
    assert a.tick() == "standby" and not a.leading  # a comes back: deposed, one transition


def test_a_standby_tries_again_at_the_end_of_the_leaders_term_not_a_beat_later(sessions):
    """Real time: lease 3 s, beat 1 s. The leader's last renewal grants 2 s; the standby, beating 1.5 s
    after it, does not wait for its next beat (2.5 s) but tries at 2 s: it leads within one lease."""
    def wall() -> datetime:
        return datetime.now(UTC)

    a = Leadership(sessions, ClusterSettings(node_id="a", lease_s=3, heartbeat_s=1), wall)
    b = Leadership(sessions, ClusterSettings(node_id="b", lease_s=3, heartbeat_s=1), wall)
    assert a.tick() == "lead"
    renewed = time.monotonic()
    time.sleep(1.5)  # a is killed: it beats no more
    assert asyncio.run(b.atick()) == "lead"
    took = time.monotonic() - renewed
    assert 2.0 <= took < 3.0, f"b led {took:.2f}s after a's last renewal (its term ended at 2 s, its lease at 3 s)"


def test_a_recording_node_that_may_not_decide_never_takes_the_lease(sessions):
    clock = Clock()
    rec = Leadership(sessions, ClusterSettings(node_id="rec-0", lease_s=30, heartbeat_s=10, decide=False), clock)
    assert rec.tick() is None and not rec.leading  # the lease is free, and stays free
    dec = Leadership(sessions, ClusterSettings(node_id="decider-a", lease_s=30, heartbeat_s=10), clock, records=False)
    assert dec.tick() == "lead"
    rec.tick()
    assert rec.live == ("rec-0",) and not rec.leading  # the decider records nothing: not in the recording set
    assert rec.records("C0001") and not dec.records("C0001")


def test_a_clean_stop_hands_the_lease_over_at_the_next_beat(sessions):
    clock = Clock()
    a, b = node("a", sessions, clock), node("b", sessions, clock)
    a.tick(), b.tick()
    a.leave()
    clock.t += timedelta(seconds=1)
    assert b.tick() == "lead"


def test_a_restarted_node_waits_for_its_own_earlier_lease(sessions):
    """A node id names one process, but its next life is another instance: it may not write under the
    earlier one's epoch (that one may still be finishing a round), so it waits for that lease to lapse."""
    clock = Clock()
    first = node("a", sessions, clock)
    assert first.tick() == "lead"
    again = node("a", sessions, clock)  # killed and started again, 5 s later
    clock.t += timedelta(seconds=5)
    assert again.tick() is None and not again.leading
    clock.t += timedelta(seconds=25)
    assert again.tick() == "lead" and again.epoch == 2
    with sessions.begin() as s, pytest.raises(Deposed):
        first.fence(s)


def test_a_deposed_leaders_late_round_is_refused_and_writes_nothing(sessions):
    """The issue's reproduction: two decision loops wired as the service wires them, on one store. The
    old leader stalls past its lease (a long GC pause, a cut network), the standby takes over and decides;
    then the old leader's round arrives. It is refused whole: no state, no incident, no notification."""
    clock = Clock()
    a, b = node("a", sessions, clock), node("b", sessions, clock)
    cams, policies = fleet(), Policies()
    loop_a = DecisionLoop(sessions, policies, 60, fence=a.fence)
    loop_b = DecisionLoop(sessions, policies, 60, fence=b.fence)
    all_rounds = list(rounds(40, "C004", 5))
    assert a.tick() == "lead"
    b.tick()
    for t, obs in all_rounds[:20]:
        loop_a.round(cams, obs, [], t)
    clock.t += timedelta(seconds=31)  # a stalls
    assert b.tick() == "lead"
    loop_b.reload()
    for t, obs in all_rounds[20:30]:
        loop_b.round(cams, obs, [], t)
    with sessions() as s:
        state_before, (incidents_before, notes_before) = load_state(s), written(s)
    t, obs = all_rounds[30]
    with pytest.raises(Deposed):
        loop_a.round(cams, obs, [], t)
    with sessions() as s:
        assert load_state(s) == state_before
        assert written(s) == (incidents_before, notes_before)
    assert [n for n in notes_before if n[1] == "reboot_request"] == [("C004", "reboot_request", "queued")]
    assert [i[0] for i in incidents_before] == ["I1"]  # b went on from a's committed state: no I1 twice


def written(s) -> tuple[list, list]:
    return ([(i.id, i.state, i.cameras, i.updated_at) for i in list_incidents(s)],
            [(n.camera_id, n.kind, n.status) for n in list_notifications(s)])


def test_a_new_leader_goes_on_from_the_last_committed_round_even_before_it_reloads(sessions):
    """b's loop was built when the service started (its state empty). It takes the lease and its first
    round comes before anything reloads it: it still goes on from a's committed state, so a's incident is
    not opened again and its owner is not asked twice."""
    clock = Clock()
    a, b = node("a", sessions, clock), node("b", sessions, clock)
    cams, policies = fleet(), Policies()
    loop_b = DecisionLoop(sessions, policies, 60, fence=b.fence)  # loaded now: nothing yet
    loop_a = DecisionLoop(sessions, policies, 60, fence=a.fence)
    a.tick(), b.tick()
    all_rounds = list(rounds(40, "C004", 5))
    for t, obs in all_rounds[:20]:
        loop_a.round(cams, obs, [], t)
    clock.t += timedelta(seconds=31)
    assert b.tick() == "lead"
    decided_by_b = [d for t, obs in all_rounds[20:] for d in loop_b.round(cams, obs, [], t)]
    assert not [d for d in decided_by_b if isinstance(d, IncidentDecision) and d.state is ChangeKind.OPEN]
    with sessions() as s:
        incidents, notes = written(s)
    assert [i[0] for i in incidents] == ["I1"]
    assert [n for n in notes if n[1] == "reboot_request"] == [("C004", "reboot_request", "queued")]


def test_a_standby_decides_nothing(sessions):
    clock = Clock()
    a, b = node("a", sessions, clock), node("b", sessions, clock)
    a.tick(), b.tick()
    loop_b = DecisionLoop(sessions, Policies(), 60, fence=b.fence)
    t, obs = next(rounds(1, "C004", 0))
    with pytest.raises(Deposed):
        loop_b.round(fleet(), obs, [], t)
    with sessions() as s:
        assert load_state(s) is None


def test_a_lapsed_lease_nobody_took_is_renewed_at_its_epoch(sessions):
    """A database outage longer than the lease, for every node: the leader keeps its epoch and stores
    the rounds it held (nobody decided in between)."""
    clock = Clock()
    a = node("a", sessions, clock)
    a.tick()
    clock.t += timedelta(seconds=90)
    assert a.tick() is None and a.epoch == 1


# --- the decider reads the frame counts other nodes publish --------------------------------------------

class Sampler:
    """Stands in for RTSP sampling (the real one opens the camera's stream): records who was sampled."""

    def __init__(self):
        self.sampled: list[str] = []

    async def stats(self, camera, window_s):
        self.sampled.append(camera.camera_id)
        return None


def test_the_decider_takes_frame_counts_from_the_node_that_records_instead_of_opening_the_stream(sessions):
    import asyncio

    from monitor.service.cluster import SharedFrames, publish_frames

    clock = Clock()
    cams = fleet()
    asyncio.run(publish_frames(sessions, "n2", clock.t, 60.0, {"C001": (600, 10.0, 0.3, 123_456, True)}))
    asyncio.run(publish_frames(sessions, "n3", clock.t - timedelta(seconds=120), 60.0,
                               {"C002": (600, 10.0, 0.3, 1, True)}))  # n3 stopped publishing two minutes ago
    sampler = Sampler()
    frames = SharedFrames(sessions, sampler, timedelta(seconds=60), clock)
    st = asyncio.run(frames.stats(cams["C001"], 60.0))
    assert (st.frames, st.fps, st.max_gap_s, st.bytes, st.connected) == (600, 10.0, 0.3, 123_456, True)
    assert asyncio.run(frames.stats(cams["C002"], 60.0)) is None  # too old: sampled instead
    assert asyncio.run(frames.stats(cams["C003"], 60.0)) is None  # nobody records it: sampled
    assert sampler.sampled == ["C002", "C003"]
    # the camera moved to n3, which publishes it now: one row per camera, the latest writer's
    asyncio.run(publish_frames(sessions, "n3", clock.t, 60.0, {"C001": (300, 5.0, 2.0, 9, True)}))
    clock.t += timedelta(seconds=2)
    assert asyncio.run(frames.stats(cams["C001"], 60.0)).fps == 5.0
