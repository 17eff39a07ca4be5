"""The live decision loop on both backends: one code path with replay, state in the store, restarts safe."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from monitor.core.decisions import Decision
from monitor.core.domain import Camera, Contact, Observation
from monitor.core.engine import Policies
from monitor.replay.files import replay
from monitor.service.decide import DecisionLoop
from monitor.store.decisions import list_incidents, list_notifications

JST = timezone(timedelta(hours=9))
START = datetime(2026, 11, 2, 9, 0, tzinfo=JST)  # a weekday morning: owners may be contacted


def fleet() -> dict[str, Camera]:
    cams = {}
    for i in range(12):
        cid = f"C{i:03d}"
        cams[cid] = Camera(camera_id=cid, area=f"A{i // 6}", isp=("nuro", "flets")[i % 2], line_id=f"L{i}",
                           expected_fps=15.0, contact=Contact.SMS, phone="+819012345678")
    return cams


def rounds(n: int, down: str, down_from: int):
    for k in range(n):
        t = START + timedelta(minutes=k)
        obs = []
        for cid in fleet():
            bad = cid == down and k >= down_from
            obs.append(Observation(t=t, camera=cid, reachable=not bad, rtt_ms=None if bad else 12.0,
                                   onvif_ok=not bad, fps=None if bad else 15.0, max_gap_s=None if bad else 0.1))
        yield t, obs


def test_restart_mid_incident_decides_nothing_twice_and_matches_replay(sessions):
    cams, policies = fleet(), Policies()
    all_rounds = list(rounds(90, "C004", 10))
    live: list[Decision] = []
    loop = DecisionLoop(sessions, policies, 60)
    for i, (t, obs) in enumerate(all_rounds):
        if i in (20, 40):  # the service restarts: a new loop that knows only what is in the store
            loop = DecisionLoop(sessions, policies, 60)
        if i == 41:  # and once the same round arrives twice (a crash after commit, before the clock moved on)
            live += loop.round(cams, obs, [], all_rounds[40][0])
        live += loop.round(cams, obs, [], t)

    replayed = list(replay(list(cams.values()), [o for _, obs in all_rounds for o in obs], policies))
    assert live == replayed  # the live loop and replay take exactly the same decisions

    with sessions() as s:
        notes = list_notifications(s)
        (inc,) = list_incidents(s)
    reboot = [n for n in notes if n.kind == "reboot_request"]
    assert len(reboot) == 1 and reboot[0].camera_id == "C004" and reboot[0].channel == "sms"
    assert inc.cause == "local_outage" and inc.cameras == ["C004"] and inc.state == "open"
    assert inc.evidence  # the incident carries what decided it
