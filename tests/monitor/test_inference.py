"""Inference on a real city's fleet, table-driven through the pure engine (`engine.step`): a registry row
that names the wrong provider or frame rate, probes spread over the minute, a monitor restart, and a
household congested inside its provider's congestion. Every case drives minutes of observations and
reads the typed decisions, as the live service and replay do."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from monitor.core.decisions import FindingDecision, IncidentDecision, NotificationDecision
from monitor.core.domain import Camera, Cause, Observation, ReferenceObservation
from monitor.core.engine import EngineState, Policies, step
from monitor.core.escalate import Audience, Kind
from monitor.replay.obsformat import record_rows, rounds

JST = timezone(timedelta(hours=9))
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=JST)  # daytime: owners may be asked
Script = Callable[[str, int], Callable[[str, datetime], Observation] | None]


def ok(cam: str, t: datetime, fps: float = 15.0) -> Observation:
    return Observation(t=t, camera=cam, reachable=True, rtt_ms=12.0, onvif_ok=True, fps=fps, max_gap_s=0.2)


def down(cam: str, t: datetime) -> Observation:
    return Observation(t=t, camera=cam, reachable=False, rtt_ms=None, onvif_ok=False, fps=None, max_gap_s=None)


def congested(share: float, rtt: float, gap: float = 8.0) -> Callable[[str, datetime], Observation]:
    def make(cam: str, t: datetime) -> Observation:
        return Observation(t=t, camera=cam, reachable=True, rtt_ms=rtt, onvif_ok=True, fps=15.0 * share,
                           max_gap_s=gap)
    return make


EVENING = datetime(2026, 11, 2, 18, 30, tzinfo=JST)  # when providers congest


def provider_congested(rng: random.Random, *, gap_jitter: bool = False) -> Callable[[str, datetime], Observation]:
    """One interval of a provider's evening congestion: a third of the frames, RTT ~300 ms, 8 s gaps."""
    share, rtt = 0.33 * rng.uniform(0.7, 1.3), 300 * rng.uniform(0.8, 1.2)
    return congested(share, rtt, 8.0 * rng.uniform(0.9, 1.1)) if gap_jitter else congested(share, rtt)


def city(n_per_isp: int = 6, areas: int = 3, wrong: dict[str, dict] | None = None) -> dict[str, Camera]:
    """Providers P1..P3, each with `n_per_isp` households spread over areas A1..; `wrong` overrides
    registry fields (what the city typed) for some cameras."""
    cams = {}
    for p in range(1, 4):
        for i in range(n_per_isp):
            cid = f"C{p}{i:02d}"
            cams[cid] = Camera(camera_id=cid, area=f"A{i % areas + 1}", isp=f"P{p}", line_id=f"L{cid}",
                               expected_fps=15.0, contact="sms", phone="+819000000000")
    for cid, fields in (wrong or {}).items():
        cams[cid] = Camera(**{**{f: getattr(cams[cid], f) for f in ("camera_id", "area", "isp", "line_id",
                                                                     "expected_fps", "contact", "phone")}, **fields})
    return cams


def run(cameras: dict[str, Camera], script: Script, minutes: int, start: datetime = T0,
        skip: Callable[[int], bool] = lambda m: False, references: bool = True):
    """Minutes of probe rounds; `script(cam, minute)` returns an observation maker (None: no row)."""
    state, decisions = EngineState(), []
    for m in range(minutes):
        if skip(m):
            continue  # the monitor itself is down: no rows at all
        t = start + timedelta(minutes=m)
        obs = [make(c, t) for c in cameras if (make := script(c, m) or None)]
        refs = [ReferenceObservation(t=t, reference="gw", reachable=True)] if references else []
        res = step(state, cameras, obs, refs, t, Policies())
        state = res.state
        decisions += res.decisions
    return state, decisions


def asked(decisions, cam: str) -> list[NotificationDecision]:
    return [d for d in decisions if isinstance(d, NotificationDecision) and d.audience is Audience.OWNER
            and d.kind is Kind.REBOOT_REQUEST and d.camera == cam]


def incidents_of(decisions, cam: str) -> dict[str, Cause]:
    return {d.id: d.cause for d in decisions if isinstance(d, IncidentDecision) and cam in d.cameras}


def findings(decisions) -> list[tuple[str, str, object, object]]:
    return [(d.camera, d.field, d.registry, d.observed) for d in decisions if isinstance(d, FindingDecision)]


@pytest.mark.parametrize(("real", "registered", "outage_minutes"), [
    ("P1", "P2", 40),   # an owner moved from P2 to P1 and did not tell the city
    ("P3", "P1", 25),
])
def test_a_camera_registered_under_the_wrong_provider_goes_with_its_real_providers_outage(
        real, registered, outage_minutes):
    mover = f"C{registered[1]}05"  # the registry says `registered`; its line is on `real`
    cams = city(wrong={mover: {"isp": registered}})
    really_on = {c for c, cam in cams.items() if cam.isp == real} | {mover}

    def script(c, m):
        return down if 30 <= m < 30 + outage_minutes and c in really_on else ok
    _, decisions = run(cams, script, 30 + outage_minutes + 20)
    assert asked(decisions, mover) == []  # its owner is never asked during the provider's outage
    assert Cause.ISP_OUTAGE in incidents_of(decisions, mover).values()
    assert Cause.LOCAL_OUTAGE not in incidents_of(decisions, mover).values()
    assert findings(decisions) == [(mover, "isp", registered, real)]


def test_a_household_that_happens_to_fail_with_an_outage_but_comes_back_alone_is_no_finding():
    cams = city()

    def script(c, m):
        if c.startswith("C1") and 30 <= m < 80:
            return down  # P1's outage, 50 minutes
        if c == "C205" and 31 <= m < 36:
            return down  # a P2 household off for 5 minutes at the same moment
        return ok
    _, decisions = run(cams, script, 100)
    assert findings(decisions) == []


def _spread(cams: dict[str, Camera], script: Script, minutes: int, rng: random.Random):
    """The same script as live probes spread over each minute write it: every row at its own second."""
    records = []
    for m in range(minutes):
        t = T0 + timedelta(minutes=m)
        records.append(ReferenceObservation(t=t, reference="gw", reachable=True))
        for c in cams:
            records.append(script(c, m)(c, t + timedelta(seconds=rng.randrange(0, 46))))
    records.sort(key=lambda r: r.t)
    return records


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_district_power_cut_seen_through_probes_spread_over_the_minute_is_one_area_incident(seed):
    cams = city(n_per_isp=8, areas=2)
    in_a1 = {c for c, cam in cams.items() if cam.area == "A1"}

    def script(c, m):
        return down if 20 <= m < 60 and c in in_a1 else ok
    state, decisions = EngineState(), []
    for t, obs, refs in rounds(record_rows(_spread(cams, script, 80, random.Random(seed))), 60):
        res = step(state, cams, obs, refs, t, Policies())
        state, decisions = res.state, decisions + res.decisions
    opened = [d for d in decisions if isinstance(d, IncidentDecision) and d.state == "open"]
    assert [(d.cause, dict(d.scope)) for d in opened] == [(Cause.AREA_OUTAGE, {"area": "A1"})]
    assert not [d for d in decisions if isinstance(d, NotificationDecision) and d.audience is Audience.OWNER]


@pytest.mark.parametrize("restart_at", [5, 33, 70])
def test_a_five_minute_monitor_restart_opens_nothing_and_sends_nothing_twice(restart_at):
    """C101's household is down from minute 30 (its owner is asked once); the monitor's own rows stop for
    5 minutes at `restart_at`: nothing opens or closes from the missing rows and nothing is sent twice."""
    cams = city()

    def script(c, m):
        return down if c == "C101" and m >= 30 else ok
    _, with_gap = run(cams, script, 120, skip=lambda m: restart_at <= m < restart_at + 5)
    _, without = run(cams, script, 120)
    shape = [(d.cause, d.state, d.cameras) for d in with_gap if isinstance(d, IncidentDecision)]
    assert shape == [(d.cause, d.state, d.cameras) for d in without if isinstance(d, IncidentDecision)]
    assert len(asked(with_gap, "C101")) == 1
    sent = [(d.audience, d.kind, d.camera) for d in with_gap if isinstance(d, NotificationDecision)]
    assert len(sent) == len(set(sent))


def test_a_camera_registered_at_20_fps_that_steadily_sends_10_is_not_degraded_for_ever_and_gets_a_finding():
    cams = city(wrong={"C103": {"expected_fps": 20.0}})
    rng = random.Random(4)

    def script(c, m):
        return (lambda cam, t: ok(cam, t, fps=10.0 * rng.uniform(0.96, 1.0))) if c == "C103" else ok
    state, decisions = run(cams, script, 6 * 60)
    assert findings(decisions) == [("C103", "expected_fps", 20.0, 10.0)]
    assert not any("C103" in i.members for i in state.fleet.incidents.values())  # judged at 10 fps now
    assert not state.fleet.tracks["C103"].congested


@pytest.mark.parametrize(("share", "rtt", "gap", "onset", "household"), [
    (0.1, 900, 8.0, 60, True),    # far fewer frames and far more delay
    (0.19, 320, 11.0, 60, True),  # its queue adds little delay to the provider's, but the frames come in longer bursts
    (0.19, 320, 8.0, 60, True),   # fewer frames alone, after 40 minutes at par with its peers: a second bottleneck
    (0.19, 320, 8.0, 20, False),  # fewer frames alone from the congestion's start: its share of the provider's
    (0.3, 900, 8.0, 60, False),   # more delay alone
])
def test_a_household_congested_during_its_providers_congestion_is_local_congestion(share, rtt, gap, onset, household):
    """P1's evening congestion (every P1 camera at a third of its frames, RTT ~300 ms, 8 s gaps) from minute
    20; C102's household saturates its own line on top from `onset` to 170: both bottlenecks in series."""
    cams = city(n_per_isp=8)
    rng = random.Random(7)

    def script(c, m):
        if not c.startswith("C1") or not 20 <= m < 200:
            return ok
        if c == "C102" and onset <= m < 170:
            return congested(share * rng.uniform(0.7, 1.3), rtt * rng.uniform(0.8, 1.2), gap * rng.uniform(0.9, 1.1))
        return provider_congested(rng, gap_jitter=True)
    state, decisions = run(cams, script, 230, start=EVENING)
    causes = incidents_of(decisions, "C102")
    assert (Cause.LOCAL_CONGESTION in causes.values()) is household
    assert Cause.ISP_CONGESTION in causes.values()  # the provider's incident stays for the others
    others = {c: incidents_of(decisions, c) for c in cams if c.startswith("C1") and c != "C102"}
    assert all(Cause.LOCAL_CONGESTION not in v.values() for v in others.values())
    assert not [d for d in decisions if isinstance(d, NotificationDecision) and d.audience is Audience.OWNER]


@pytest.mark.parametrize(("ahead", "after", "household"), [
    (1.5, 0.75, True),   # half of its own share gone: a second bottleneck, though still 0.75 of its peers'
    (1.5, 1.5, False),   # ahead of its peers all evening: a lighter stream through the same bottleneck
    (1.5, 1.15, False),  # a quarter less for a while: its share wanders, no second bottleneck
])
def test_a_camera_ahead_of_its_congested_peers_that_loses_half_its_share_is_its_households(ahead, after, household):
    """C102 sends a lighter stream, so inside P1's evening congestion (from minute 20) it gets `ahead` times
    its peers' frame share. From minute 80 to 170 it gets `after` times theirs, with their RTT and gaps."""
    cams = city(n_per_isp=8)
    rng = random.Random(11)

    def script(c, m):
        if not c.startswith("C1") or not 20 <= m < 200:
            return ok
        if c == "C102":
            k = after if 80 <= m < 170 else ahead
            return congested(0.33 * k * rng.uniform(0.7, 1.3), 300 * rng.uniform(0.8, 1.2), 8.0 * rng.uniform(0.9, 1.1))
        return provider_congested(rng, gap_jitter=True)
    _, decisions = run(cams, script, 230, start=EVENING)
    causes = set(incidents_of(decisions, "C102").values())
    assert (Cause.LOCAL_CONGESTION in causes) is household
    assert Cause.ISP_CONGESTION in causes
    assert not [d for d in decisions if isinstance(d, NotificationDecision) and d.audience is Audience.OWNER]


@pytest.mark.parametrize(("onset", "household"), [
    (21, False),  # with P1's cameras: P1's congestion
    (50, True),   # clean through P1's whole ramp and half an hour after it: not behind P1's bottleneck
])
def test_a_camera_first_congested_after_its_providers_ramp_is_its_own_households(onset, household):
    """C205's line is really on P2 (calm this evening); the registry says P1, whose evening congestion
    reaches all its cameras at minute 20. C205 is congested from `onset` to 150, just as deep."""
    cams = city(n_per_isp=8, wrong={"C205": {"isp": "P1"}})
    rng = random.Random(17)

    def script(c, m):
        if (c.startswith("C1") and 20 <= m < 200) or (c == "C205" and onset <= m < 150):
            return provider_congested(rng)
        return ok
    _, decisions = run(cams, script, 240, start=EVENING)
    causes = set(incidents_of(decisions, "C205").values())
    assert (Cause.LOCAL_CONGESTION in causes) is household
    assert (Cause.ISP_CONGESTION in causes) is not household
    assert not [d for d in decisions if isinstance(d, NotificationDecision) and d.audience is Audience.OWNER]


def test_a_camera_congested_with_another_provider_before_its_own_congests_stays_with_that_provider():
    """C205 is registered on P2 but its line is on P1. P1's evening congestion begins at minute 20 and
    reaches C205 with the rest of P1; P2's begins 30 minutes later, just as deep. From then on the
    depths cannot tell them apart: the onset placed C205, and P2's incident does not take it in."""
    cams = city(n_per_isp=8, wrong={"C205": {"isp": "P2"}})
    rng = random.Random(11)

    def script(c, m):
        on_p1 = c.startswith("C1") or c == "C205"
        if (on_p1 and 20 <= m < 200) or (c.startswith("C2") and c != "C205" and 50 <= m < 200):
            return provider_congested(rng)
        return ok
    _, decisions = run(cams, script, 240, start=EVENING)
    scopes = {d.id: dict(d.scope) for d in decisions if isinstance(d, IncidentDecision) and d.scope}
    joined = {scopes.get(i, {}).get("isp") for i, cause in incidents_of(decisions, "C205").items()
              if cause is Cause.ISP_CONGESTION}
    assert "P2" not in joined
    assert ("C205", "isp", "P2", "P1") in findings(decisions)


def test_a_camera_that_stayed_out_of_its_providers_congestion_is_not_put_in_it_when_two_begin_together():
    """C205 is registered on P2 but its line is on P1. On the first evening P2 congests and C205 stays
    clean through it. On the second, P1 and P2 congest two minutes apart, equally deep, and C205 with
    them: nothing in the depths tells which provider it is on, and the registry is the one thing known
    to be doubtful, so C205 is not put into P2's congestion (its notices would count for P1's event)."""
    cams = city(n_per_isp=8, wrong={"C205": {"isp": "P2"}})
    rng = random.Random(23)
    day = 24 * 60

    def script(c, m):
        evening, mm = divmod(m, day)
        on_p1, on_p2 = c.startswith("C1") or c == "C205", c.startswith("C2") and c != "C205"
        if evening == 0 and on_p2 and 20 <= mm < 200:
            return provider_congested(rng)
        if evening == 1 and ((on_p1 and 20 <= mm < 200) or (on_p2 and 22 <= mm < 200)):
            return provider_congested(rng)
        return ok
    _, decisions = run(cams, script, day + 240, start=EVENING)
    scopes = {d.id: dict(d.scope) for d in decisions if isinstance(d, IncidentDecision) and d.scope}
    joined = {scopes.get(i, {}).get("isp") for i, cause in incidents_of(decisions, "C205").items()
              if cause is Cause.ISP_CONGESTION}
    assert "P2" not in joined
    p2 = {i for i, sc in scopes.items() if sc.get("isp") == "P2"}
    assert len(p2) == 2  # both evenings' P2 congestions were found, C205 in neither
    assert not asked(decisions, "C205")


@pytest.mark.parametrize(("onset", "finding"), [
    (22, True),    # with P1's own cameras: its line is on P1
    (50, False),   # half an hour after P1's cameras were all congested: its own household, not P1
])
def test_only_a_camera_congested_within_another_providers_ramp_is_found_on_that_provider(onset, finding):
    """P1's evening congestion reaches all its cameras at minute 20. C205 (registered on P2, whose
    evening is calm) is congested from `onset` until P1's congestion ends, just as deep."""
    cams = city(n_per_isp=8)
    rng = random.Random(13)

    def script(c, m):
        if (c.startswith("C1") and 20 <= m < 200) or (c == "C205" and onset <= m < 200):
            return provider_congested(rng)
        return ok
    _, decisions = run(cams, script, 240, start=EVENING)
    assert (("C205", "isp", "P2", "P1") in findings(decisions)) is finding
    assert not [f for f in findings(decisions) if f[0] != "C205"]


def test_a_provider_congestion_that_reaches_its_cameras_one_by_one_keeps_them_all():
    """P1's evening congestion reaches three of its eight cameras at minute 20, then one more every 8 minutes
    (to minute 60): its ramp is still under way, so none of them is a household's own congestion."""
    cams = city(n_per_isp=8)
    rng = random.Random(19)

    def script(c, m):
        if c.startswith("C1") and 20 + 8 * max(0, int(c[2:]) - 2) <= m < 200:
            return provider_congested(rng)
        return ok
    _, decisions = run(cams, script, 240, start=EVENING)
    p1 = {c: set(incidents_of(decisions, c).values()) for c in cams if c.startswith("C1")}
    assert all(v == {Cause.ISP_CONGESTION} for v in p1.values()), p1


def no_frames(cam: str, t: datetime) -> Observation:
    return Observation(t=t, camera=cam, reachable=True, rtt_ms=12.0, onvif_ok=True, fps=0.0, max_gap_s=60.0)


@pytest.mark.parametrize(("stream_back_after", "fault"), [
    (4, False),     # the camera boots with its line and streams again 4 minutes later: no fault
    (None, True),   # it never streams again: a camera fault, once the boot grace is over
])
def test_a_camera_back_on_its_line_without_frames_gets_the_boot_grace_before_a_fault(stream_back_after, fault):
    """Area A1's power cut from minute 10 to 40: every A1 camera down. C100 is back on the network at
    40 (ONVIF answers) but sends no frame for a while."""
    cams = city()
    a1 = {c for c, cam in cams.items() if cam.area == "A1"}
    assert "C100" in a1

    def script(c, m):
        if c in a1 and 10 <= m < 40:
            return down
        if c == "C100" and m >= 40 and (stream_back_after is None or m < 40 + stream_back_after):
            return no_frames
        return ok
    _, decisions = run(cams, script, 70)
    faults = [d for d in decisions if isinstance(d, IncidentDecision) and d.cause is Cause.CAMERA_FAULT]
    assert bool(faults) is fault
    if fault:
        assert faults[0].t >= T0 + timedelta(minutes=40) + Policies().classifier.straggler_grace


def test_a_monitor_outage_first_seen_in_one_area_is_the_monitors_and_no_registry_finding():
    """No reference checks. The monitor's own line fails at minute 30; that minute's probes of area A1
    came after the failure, the rest before, so A1 looks dark a minute ahead of the fleet. The area
    outage this opens is the monitor's first glimpse: it closes into the monitor's outage, and the
    cameras of A2 and A3 that came back with it are no evidence that their registry rows are wrong."""
    cams = city()
    a1 = {c for c, cam in cams.items() if cam.area == "A1"}

    def script(c, m):
        return down if (30 <= m < 45 and c in a1) or 31 <= m < 45 else ok
    _, decisions = run(cams, script, 70, references=False)
    causes = {d.cause for d in decisions if isinstance(d, IncidentDecision)}
    assert Cause.MONITOR_OUTAGE in causes
    assert findings(decisions) == []
    assert asked(decisions, "C100") == []


@pytest.mark.parametrize("dark_first", ["A1", "C100 C101 C200 C201 C300 C301"])
def test_a_fleet_going_dark_over_two_rounds_names_no_area_and_tells_the_operator_once(dark_first):
    """The monitor's line fails between two probes of the same round: part of the fleet (all of area A1,
    or a scattering of cameras) is seen down a round before the rest. Nothing is opened for an area or
    a provider from that first glimpse, so operators hear of the monitor's outage alone."""
    cams = city()
    first = {c for c, cam in cams.items() if cam.area == dark_first} or set(dark_first.split())

    def script(c, m):
        return down if (30 <= m < 45 and c in first) or 31 <= m < 45 else ok
    _, decisions = run(cams, script, 70)
    causes = {d.cause for d in decisions if isinstance(d, IncidentDecision)}
    assert causes == {Cause.MONITOR_OUTAGE}
    notices = [d for d in decisions if isinstance(d, NotificationDecision) and d.audience is Audience.OPERATOR]
    assert len({d.incident for d in notices}) == 1


def test_a_gap_that_began_before_the_camera_came_back_is_the_outage_not_congestion():
    """Area A1 dark from minute 10 to 30. For its first three intervals back, C100's longest gap still
    reaches back to its last frame before the power cut (the recorder counts from the previous frame):
    that gap was the outage, already counted, so C100 is not slow. A gap inside the time it has been
    back up still is (minute 50)."""
    cams = city()
    a1 = {c for c, cam in cams.items() if cam.area == "A1"}

    def stale(cam: str, t: datetime) -> Observation:
        return Observation(t=t, camera=cam, reachable=True, rtt_ms=12.0, onvif_ok=True, fps=15.0,
                           max_gap_s=(t - T0).total_seconds() - 10 * 60)

    def gappy(cam: str, t: datetime) -> Observation:
        return Observation(t=t, camera=cam, reachable=True, rtt_ms=12.0, onvif_ok=True, fps=15.0, max_gap_s=9.0)

    def script(c, m):
        if c in a1 and 10 <= m < 30:
            return down
        if c == "C100" and 30 <= m < 33:
            return stale
        return gappy if c == "C100" and 50 <= m < 53 else ok
    state, _ = run(cams, script, 33)
    assert state.fleet.tracks["C100"].slow_bits == 0 and not state.fleet.tracks["C100"].congested
    state, _ = run(cams, script, 53)
    assert state.fleet.tracks["C100"].congested


@pytest.mark.parametrize("apart", [3, 4, 6])
def test_a_district_outage_whose_first_line_fails_a_round_early_is_the_area_not_a_provider_with_a_household(apart):
    """The city in a box, in miniature (and as CI once met it live): A1's C101 is a household down on its
    own from minute 10; `apart` minutes later A2's uplink fails. A2's C201, on C101's provider, is probed
    just after the cut and its three neighbours just before, so C201 is seen down a round before them. For
    that one round C101 and C201 are every line of their provider down together; a round later all of A2
    is down. The better explanation is the area: A2's cameras are one area outage, C101 stays its
    household's (its incident is not closed into a provider outage, and its owner is asked)."""
    isps = {"C101": "X", "C102": "Y", "C103": "Z", "C104": "W",
            "C201": "X", "C202": "Z", "C203": "V", "C204": "Y"}
    cams = {c: Camera(camera_id=c, area=f"A{c[1]}", isp=isp, line_id=f"L{c}", expected_fps=15.0,
                      contact="sms", phone="+819000000000") for c, isp in isps.items()}
    cut = 10 + apart

    def script(c, m):
        if c == "C101" and m >= 10:
            return down
        if c == "C201" and m >= cut - 1 or c.startswith("C2") and m >= cut:
            return down
        return ok
    _, decisions = run(cams, script, cut + 20)
    opened = [(d.cause, dict(d.scope), d.cameras) for d in decisions
              if isinstance(d, IncidentDecision) and d.state == "open" and "C101" not in d.cameras]
    assert [(cause, scope) for cause, scope, _ in opened] == [(Cause.AREA_OUTAGE, {"area": "A2"})]
    assert set(incidents_of(decisions, "C101").values()) == {Cause.LOCAL_OUTAGE}
    assert len(asked(decisions, "C101")) == 1
    assert not [c for c in ("C201", "C202", "C203", "C204") if asked(decisions, c)]


def test_a_misregistered_camera_seen_down_a_round_before_its_real_providers_outage_is_never_its_household():
    """C205 is registered on P2 but its line is P1's. P1 fails at minute 30, and C205 is seen down from
    minute 29 (its probe landed just after the cut, theirs just before): when P1's outage opens, C205 has
    been down for as long as a household's outage needs. It joins the outage in that same round; no
    household incident opens for it, even for a minute (the city in a box met this live)."""
    mover = "C205"
    cams = city(wrong={mover: {"isp": "P2"}})
    real = {c for c, cam in cams.items() if cam.isp == "P1"} | {mover}

    def script(c, m):
        start = 29 if c == mover else 30
        return down if start <= m < 70 and c in real else ok
    _, decisions = run(cams, script, 90)
    assert set(incidents_of(decisions, mover).values()) == {Cause.ISP_OUTAGE}
    assert asked(decisions, mover) == []
    assert findings(decisions) == [(mover, "isp", "P2", "P1")]
