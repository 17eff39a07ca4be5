"""The classifier on a small fleet like the whole-system test's (three areas of four households, small
ISPs): what a better group explains is gone, congestion is not an outage, and a camera whose stream
port is dead while ONVIF answers is a camera fault."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from monitor.core.classify.fleet import classify_fleet
from monitor.core.classify.state import FleetState
from monitor.core.domain import Camera, Cause, Observation, ReferenceObservation
from monitor.core.policy import ClassifierPolicy

JST = timezone(timedelta(hours=9))
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=JST)
ISPS = {"C11": "ocn", "C12": "nuro", "C13": "au", "C14": "sonet",
        "C21": "ocn", "C22": "au", "C23": "biglobe", "C24": "nuro",
        "C31": "sonet", "C32": "sonet", "C33": "sonet", "C34": "sonet"}
CAMERAS = {c: Camera(camera_id=c, area=f"A{c[1]}", isp=isp, line_id=f"L{c[1:]}", expected_fps=8.0)
           for c, isp in ISPS.items()}
A2 = ["C21", "C22", "C23", "C24"]
A3 = ["C31", "C32", "C33", "C34"]


def ok(cam, t):
    return Observation(t=t, camera=cam, reachable=True, rtt_ms=2.0, onvif_ok=True, fps=8.0, max_gap_s=0.3)


def down(cam, t):
    return Observation(t=t, camera=cam, reachable=False, rtt_ms=None, onvif_ok=False, fps=None, max_gap_s=None)


def slow(cam, t):
    return Observation(t=t, camera=cam, reachable=True, rtt_ms=600.0, onvif_ok=True, fps=3.0, max_gap_s=2.5)


def port_dead(cam, t):  # the stream port filtered or its server crashed; ONVIF still answers
    return Observation(t=t, camera=cam, reachable=False, rtt_ms=None, onvif_ok=True, fps=None, max_gap_s=None)


def play(script, minutes, cameras=CAMERAS, refs_bad=range(0), incidents=None):
    """script(cam, minute) -> observation maker; returns, per minute, each camera's causes. With a
    dict for `incidents`, every incident id ever opened is collected there with its causes."""
    state, seen = FleetState(), []
    for m in range(minutes):
        t = T0 + timedelta(minutes=m)
        obs = [script(c, m)(c, t) for c in cameras]
        refs = [ReferenceObservation(t=t, reference="gw", reachable=m not in refs_bad)]
        state, _ = classify_fleet(state, cameras, obs, refs, t, ClassifierPolicy())
        per: dict[str, set] = {}
        for inc in state.incidents.values():
            for c in inc.members:
                per.setdefault(c, set()).add(inc.cause)
            if incidents is not None:
                incidents.setdefault(inc.id, set()).add(inc.cause)
        seen.append(per)
    return seen


def fleet(isps: dict[str, str]) -> dict[str, Camera]:
    """Cameras named area letter + number, one household line each, on the given providers."""
    return {c: Camera(camera_id=c, area=c[0], isp=isp, line_id=f"L{c}", expected_fps=8.0) for c, isp in isps.items()}


def test_a_household_beside_an_area_outage_is_local_even_on_a_two_camera_isp():
    """C11 and C21 are the only 'ocn' cameras; C21 goes with its area, so C11 alone is its household.
    C11 fails 3 minutes after the area, beyond membership_sync_window: not the area's (a camera of
    another area failing within it would be held in the area's outage, as a mis-typed area would be)."""
    seen = play(lambda c, m: down if (2 <= m < 40 and c in A2) or (5 <= m < 40 and c == "C11") else ok, 30)
    assert seen[20]["C11"] == {Cause.LOCAL_OUTAGE}
    assert all(seen[20][c] == {Cause.AREA_OUTAGE} for c in A2)
    assert not any(Cause.ISP_OUTAGE in causes for m in seen for causes in m.values())


@pytest.mark.parametrize("drops", [[20, 21], [20, 21, 22], [10, 11, 30, 31]])
def test_probes_lost_under_congestion_are_not_an_area_outage(drops):
    """A whole congested area losing its probes for a few intervals together stays a congestion."""
    def script(c, m):
        if c not in A3 or not 2 <= m < 50:
            return ok
        return down if m in drops and c != "C34" else slow

    seen = play(script, 55)
    causes = {cause for m in seen for c, cs in m.items() if c in A3 for cause in cs}
    assert Cause.ISP_CONGESTION in causes
    assert causes <= {Cause.ISP_CONGESTION}, causes


def test_stream_port_dead_while_onvif_answers_is_a_camera_fault():
    seen = play(lambda c, m: port_dead if c == "C12" and m >= 2 else ok, 15)
    assert seen[10]["C12"] == {Cause.CAMERA_FAULT}


def test_a_spreading_area_power_cut_is_one_area_outage_not_first_a_provider():
    """Area D's three 'y' households lose power two minutes before the rest of D: one incident, the area."""
    isps = ["y", "y", "y", "o1", "o2", "o3", "o1", "o2"] + ["y"] * 5 + ["o1", "o2", "o3"]
    cams = {f"D{i}": Camera(camera_id=f"D{i}", area="D" if i < 8 else "E", isp=isp, line_id=f"L{i}", expected_fps=8.0)
            for i, isp in enumerate(isps)}
    incidents: dict = {}
    seen = play(lambda c, m: down if cams[c].area == "D" and (m >= 4 if cams[c].isp == "y" else m >= 6) and m < 40
                else ok, 30, cameras=cams, incidents=incidents)
    assert all(seen[20][c] == {Cause.AREA_OUTAGE} for c in cams if cams[c].area == "D")
    shared = [causes for causes in incidents.values() if causes & {Cause.AREA_OUTAGE, Cause.ISP_OUTAGE}]
    assert shared == [{Cause.AREA_OUTAGE}], incidents


def test_an_area_outage_that_began_inside_the_monitors_blind_spot_is_an_area_outage():
    """Everything is dark from minute 2 to 19 (the monitor's uplink); A2's power fails at minute 5 and
    stays off: when the monitor sees again, A2 is one area outage, not four households."""
    seen = play(lambda c, m: down if 2 <= m < 20 or (c in A2 and 5 <= m < 60) else ok, 45, refs_bad=range(2, 20))
    assert seen[10]["C21"] == {Cause.MONITOR_OUTAGE}
    for m in (25, 40):
        assert all(seen[m][c] == {Cause.AREA_OUTAGE} for c in A2), seen[m]
    # named from the first round in which the fleet answers again, while the monitor outage itself
    # waits one more round before it closes (a one-round blip of the uplink is not its end)
    assert all(Cause.AREA_OUTAGE in seen[20][c] for c in A2), seen[20]
    assert Cause.MONITOR_OUTAGE in seen[20]["C21"]


def test_a_camera_going_down_long_after_its_area_is_judged_on_its_own():
    """A2 fails at minute 2 but C24's household keeps power; C24's line goes down at minute 30."""
    seen = play(lambda c, m: down if (c in A2[:3] and 2 <= m < 80) or (c == "C24" and m >= 30) else ok, 60)
    assert seen[20]["C21"] == {Cause.AREA_OUTAGE} and "C24" not in seen[20]
    assert seen[50]["C24"] == {Cause.LOCAL_OUTAGE}


def test_one_provider_congesting_in_two_areas_is_one_isp_congestion():
    """Provider x in four areas; its cameras in B1 congest first, in B2 twenty minutes later (each area
    alone is below the whole-ISP fraction): one congestion of x, not one per area."""
    cams = {f"B{a}{i}": Camera(camera_id=f"B{a}{i}", area=f"B{a}", isp="x" if i < 4 else f"o{i}",
                              line_id=f"L{a}{i}", expected_fps=8.0) for a in (1, 2, 3, 4) for i in range(8)}
    busy = {c for c in cams if cams[c].isp == "x"}
    incidents: dict = {}
    play(lambda c, m: slow if c in busy and (m >= 2 if c[1] == "1" else m >= 22) and m < 70 else ok, 60,
         cameras=cams, incidents=incidents)
    congestions = [i for i, causes in incidents.items() if Cause.ISP_CONGESTION in causes]
    assert len(congestions) == 1, incidents


def area_b_then_provider_y(isps: dict[str, str], area_end: int, b1_end: int):
    """Area B dark from minute 2 to `area_end` (B1, its own household too, to `b1_end`); provider 'y'
    dark everywhere from minute 40 to 90."""
    def script(c, m):
        if c.startswith("B") and 2 <= m < (b1_end if c == "B1" else area_end):
            return down
        if isps[c] == "y" and 40 <= m < 90:
            return down
        return ok
    return script


def test_a_straggler_is_seen_when_its_area_recovers_though_a_provider_outage_holds_its_neighbours():
    """Area B's power cut ends at minute 60 with B1 still down (its household); B3 and B4 stay down
    only because their provider 'y' failed at minute 40 everywhere. The area is judged on the cameras
    the provider outage does not explain: B2 came back, so B1 is a household fault from then on, not
    kept in the area outage until the provider recovers at minute 90."""
    isps = {"B1": "x", "B2": "x", "B3": "y", "B4": "y", "D1": "y", "D2": "y", "D3": "y", "E1": "y", "E2": "y",
            "E3": "x", "D4": "x", "E4": "z"}
    seen = play(area_b_then_provider_y(isps, area_end=60, b1_end=150), 100, cameras=fleet(isps))
    assert seen[30]["B1"] == {Cause.AREA_OUTAGE}
    assert all(Cause.ISP_OUTAGE in seen[50][c] for c in ("D1", "D2", "E1"))
    assert seen[70]["B1"] == {Cause.LOCAL_OUTAGE}
    assert Cause.ISP_OUTAGE in seen[70]["B3"] and Cause.LOCAL_OUTAGE not in seen[70]["B3"]
    assert "B2" not in seen[70]


def test_an_area_still_out_where_a_provider_outage_hides_most_of_it_stays_an_area_outage():
    """The same, but the area has not recovered: its one camera the provider outage does not explain
    is still down, so nobody is a household fault."""
    isps = {"B1": "x", "B2": "y", "B3": "y", "B4": "y", "D1": "y", "D2": "y", "D3": "y", "E1": "y", "E2": "y",
            "E3": "x", "D4": "x", "E4": "z"}
    seen = play(area_b_then_provider_y(isps, area_end=80, b1_end=80), 100, cameras=fleet(isps))
    assert all(Cause.LOCAL_OUTAGE not in seen[m].get("B1", set()) for m in range(100))
    assert seen[70]["B1"] == {Cause.AREA_OUTAGE}


def test_both_households_of_a_two_camera_area_failing_together_are_that_area():
    """Area B has two households, on different lines of one provider that is fine elsewhere; both go
    dark in the same minute and stay dark for an hour: that is the area (a power cut), and neither
    owner is a household fault. A lone household of the area failing is still its own."""
    isps = {"B1": "y", "B2": "y", "D1": "y", "D2": "y", "D3": "x", "E1": "y", "E2": "x", "E3": "x"}
    cams = fleet(isps)
    seen = play(lambda c, m: down if c in ("B1", "B2") and 2 <= m < 60 else ok, 70, cameras=cams)
    for m in (10, 30, 55):
        assert seen[m]["B1"] == seen[m]["B2"] == {Cause.AREA_OUTAGE}, seen[m]
    seen = play(lambda c, m: down if c == "B1" and 2 <= m < 60 else ok, 70, cameras=cams)
    assert seen[30]["B1"] == {Cause.LOCAL_OUTAGE}


def test_when_one_of_a_two_camera_area_comes_back_the_other_is_its_household():
    """Both of area B's households go dark at minute 2; at minute 40 B2 is back and B1 is not: the
    area's cause is over (one household left is no shared cause), so B1's owner is asked from then
    on, not only when B1 itself recovers."""
    isps = {"B1": "y", "B2": "y", "D1": "y", "D2": "y", "D3": "x", "E1": "y", "E2": "x", "E3": "x"}
    cams = fleet(isps)
    seen = play(lambda c, m: down if (c == "B1" and 2 <= m < 120) or (c == "B2" and 2 <= m < 40) else ok, 120,
                cameras=cams)
    assert seen[30]["B1"] == {Cause.AREA_OUTAGE}
    assert seen[50]["B1"] == {Cause.LOCAL_OUTAGE}



def test_a_household_still_congested_long_after_its_providers_evening_is_its_own_congestion():
    """Provider 'sonet' (A3 and C14) is congested from minute 2 to 60; C31's own line stays saturated
    until minute 120. Up to the provider's recovery C31 is part of its congestion; once it has
    outlasted it by the time a household congestion needs to show, it is a local congestion, dated
    from the provider's recovery. Its neighbours that recovered are in nothing."""
    sonet = [c for c, isp in ISPS.items() if isp == "sonet"]
    seen = play(lambda c, m: slow if c in sonet and 2 <= m < (120 if c == "C31" else 60) else ok, 130)
    assert all(seen[40][c] == {Cause.ISP_CONGESTION} for c in sonet), seen[40]
    assert seen[100]["C31"] == {Cause.LOCAL_CONGESTION}, seen[100]
    assert not any(c in seen[100] for c in sonet if c != "C31")


TEN_ON_ONE_PROVIDER = fleet({f"A{i}": "sonet" for i in range(10)})


def test_a_provider_congestion_reaching_its_households_one_by_one_opens_no_household_congestion_first():
    """Three of ten households on one provider slow down six minutes apart. Until the third, it could be
    the first household's own line; but another is slow too, so it is not called that yet, and when the
    provider's share shows, all three are the provider's congestion: no local incident opened and closed."""
    starts = {"A0": 2, "A1": 8, "A2": 14}
    incidents: dict = {}
    seen = play(lambda c, m: slow if c in starts and m >= starts[c] else ok, 45, cameras=TEN_ON_ONE_PROVIDER,
                incidents=incidents)
    assert all(seen[40][c] == {Cause.ISP_CONGESTION} for c in starts), seen[40]
    assert not [i for i, causes in incidents.items() if Cause.LOCAL_CONGESTION in causes], incidents


@pytest.mark.parametrize(("others", "opened_at"), [
    ({}, 13),  # alone on its provider: after the usual 10 congested intervals
    ({"A5": 4}, 33),  # another household slow too (two of ten: no provider congestion): after the 30 of the hold
])
def test_a_household_congestion_is_its_own_when_the_provider_share_never_shows(others, opened_at):
    starts = {"A0": 2} | others
    seen = play(lambda c, m: slow if c in starts and m >= starts[c] else ok, 60, cameras=TEN_ON_ONE_PROVIDER)
    first = next(m for m, per in enumerate(seen) if Cause.LOCAL_CONGESTION in per.get("A0", ()))
    assert first == opened_at
    assert all(seen[59][c] == {Cause.LOCAL_CONGESTION} for c in starts), seen[59]
    assert not any(Cause.ISP_CONGESTION in cs for per in seen for cs in per.values())
