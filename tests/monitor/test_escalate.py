"""The escalation ladder, driven through the engine with a virtual clock (time travels by `now`)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from monitor.core.classify.state import FleetIndex
from monitor.core.decisions import ChangeKind, IncidentDecision, NotificationDecision
from monitor.core.domain import Camera, Contact
from monitor.core.engine import EngineState, Policies, engine_state_from_json, engine_state_to_json, step_samples
from monitor.core.escalate import EscalationState, in_quiet_hours
from monitor.core.policy import EscalationPolicy

JST = timezone(timedelta(hours=9))
AREAS, ISPS = ["A1", "A2", "A3", "A4"], ["ocn", "sonet", "nuro"]
INDEX = FleetIndex.from_cameras({
    f"C{i:02d}": Camera(camera_id=f"C{i:02d}", area=AREAS[i % 4], isp=ISPS[i % 3], line_id=f"L{i:02d}",
                        expected_fps=10.0, contact=Contact.SMS)
    for i in range(24)
})
POLICIES = Policies()
OK, DOWN, NOFRAMES, SLOW = "ok", "down", "noframes", "slow"
SAMPLE = {
    OK: (True, 20.0, True, 9.9, 0.2),
    DOWN: (False, None, False, 0.0, 60.0),
    NOFRAMES: (True, 20.0, True, 0.0, 60.0),
    SLOW: (True, 350.0, True, 1.2, 40.0),
}


def day(h: int, m: int = 0, d: int = 2) -> datetime:
    return datetime(2026, 11, d, h, m, tzinfo=JST)


def simulate(start: datetime, end: datetime, status, *, restart_every: timedelta | None = None):
    """status(cam, t) -> OK/DOWN/...; returns the decisions. Optionally round-trips the state
    through JSON (a restart) at a fixed cadence."""
    state, out, t, last_restart = EngineState(), [], start, start
    while t < end:
        samples = [(cam, *SAMPLE[status(cam, t)]) for cam in INDEX.info]
        res = step_samples(state, INDEX, samples, [True], t, POLICIES)
        state = res.state
        out += res.decisions
        if restart_every and t - last_restart >= restart_every:
            state = engine_state_from_json(json.loads(json.dumps(engine_state_to_json(state))))
            last_restart = t
        t += timedelta(minutes=1)
    return out


def notes(decisions, audience=None, kind=None, camera=None):
    return [d for d in decisions if isinstance(d, NotificationDecision) and (audience is None or d.audience == audience)
            and (kind is None or d.kind == kind) and (camera is None or d.camera == camera)]


def down_between(cam0: str, a: datetime, b: datetime, kind=DOWN):
    return lambda cam, t: kind if cam == cam0 and a <= t < b else OK


def at(d) -> datetime:
    return d.t.astimezone(ZoneInfo(POLICIES.escalation.tz))


# name, start, end, status, camera, expected [(kind, audience, time or None)], kinds that must not appear
LADDER = [
    ("daytime household outage: request ~15 min in, thanks on recovery",
     day(10), day(13), down_between("C05", day(10, 5), day(12)), "C05",
     [("reboot_request", "owner", day(10, 20)), ("recovered_thanks", "owner", None)], ["dispatch", "reminder"]),
    ("outage at 02:00 reaches the owner at 08:00",
     day(1), day(10), down_between("C05", day(2), day(9, 30)), "C05",
     [("reboot_request", "owner", day(8))], []),
    ("outage at 02:00 that recovered at 07:00 reaches nobody",
     day(1), day(10), down_between("C05", day(2), day(7)), "C05", [], ["reboot_request", "recovered_thanks"]),
    ("reminder after 12 h, vendor after 24 h, cancel on recovery",
     day(8), day(12, d=3), down_between("C05", day(8, 5), day(11, d=3)), "C05",
     [("reboot_request", "owner", day(8, 20)), ("reminder", "owner", day(20, 20)),
      ("dispatch", "vendor", day(8, 5, d=3)), ("dispatch_cancel", "vendor", None),
      ("recovered_thanks", "owner", None)], []),
    ("camera fault: ONVIF remote reboot first, then the owner",
     day(10), day(12), down_between("C07", day(10, 5), day(11, 30), NOFRAMES), "C07",
     [("remote_reboot", "camera", day(10, 7)), ("reboot_request", "owner", day(10, 20))], []),
]


@pytest.mark.parametrize("name,start,end,status,cam,expected,absent", LADDER, ids=[c[0] for c in LADDER])
def test_ladder(name, start, end, status, cam, expected, absent):
    out = simulate(start, end, status)
    for kind, audience, when in expected:
        got = notes(out, audience, kind, cam)
        assert len(got) == 1, (kind, got)
        if when is not None:
            assert at(got[0]) == when, (kind, at(got[0]))
    for kind in absent:
        assert not notes(out, kind=kind, camera=cam)
    assert not [d for d in notes(out, "owner") if in_quiet_hours(at(d), EscalationPolicy())]


def test_reminder_waits_for_the_morning():
    # request at 10:20 -> reminder due 22:20, quiet -> 08:00 next day
    out = simulate(day(10), day(9, d=3), down_between("C05", day(10, 5), day(9, d=3)))
    (r,) = notes(out, "owner", "reminder", "C05")
    assert at(r) == day(8, d=3)


def test_household_outage_during_isp_congestion_evening_reaches_owner():
    sonet = [c for c in INDEX.info if INDEX.info[c].isp == "sonet"]
    victim = sonet[0]

    def status(cam, t):
        if cam == victim and day(18, 30) <= t < day(20, 30):
            return DOWN
        return SLOW if cam in sonet and day(18) <= t < day(22) else OK

    out = simulate(day(17, 30), day(22, 30), status)
    causes = {d.cause for d in out if isinstance(d, IncidentDecision) and d.state is ChangeKind.OPEN}
    assert "isp_congestion" in causes
    (req,) = notes(out, "owner", "reboot_request")
    assert req.camera == victim and at(req) <= day(19)
    assert len(notes(out, "operator")) == 2  # one opened, one closed for the ISP event


def test_straggler_after_area_outage_reaches_owner_after_recovery():
    area = [c for c in INDEX.info if INDEX.info[c].area == "A2"]
    straggler = area[0]

    def status(cam, t):
        if cam in area and day(10) <= t < day(11):
            return DOWN
        return DOWN if cam == straggler and day(10) <= t < day(14) else OK

    out = simulate(day(9, 30), day(15), status)
    (req,) = notes(out, "owner", "reboot_request")
    assert req.camera == straggler and day(11) < at(req) <= day(11, 30)
    ops = notes(out, "operator")
    assert [d.kind for d in ops] == ["incident_opened", "incident_closed"]
    assert ops[0].count >= 5


def test_upstream_outage_never_contacts_owners():
    out = simulate(day(9), day(12), lambda cam, t: DOWN if INDEX.info[cam].isp == "nuro" and
                   day(9, 30) <= t < day(11, 30) else OK)
    assert not notes(out, "owner") and not notes(out, "vendor")
    assert len(notes(out, "operator")) == 2


@pytest.mark.parametrize("every", [timedelta(minutes=1), timedelta(minutes=7), timedelta(hours=5)])
def test_restart_mid_incident_sends_nothing_twice(every):
    status = down_between("C05", day(9, 5), day(11, d=3))
    plain = simulate(day(9), day(12, d=3), status)
    restarted = simulate(day(9), day(12, d=3), status, restart_every=every)
    assert restarted == plain
    keys = [(d.incident, d.kind, d.audience, d.camera) for d in notes(restarted)]
    assert len(keys) == len(set(keys))


def test_escalation_state_round_trips():
    from monitor.core.escalate import escalation_from_json, escalation_to_json

    assert escalation_from_json(escalation_to_json(EscalationState())) == EscalationState()


def test_night_household_outage_is_not_asked_about_during_a_morning_power_cut():
    """The household fault was there first (03:30), but at 08:00 the district has no power (07:10-09:00):
    nobody can tell whether the household is still at fault, so the owner is asked once power is back."""
    area = [c for c in INDEX.info if INDEX.info[c].area == "A2"]
    home = area[0]

    def status(cam, t):
        if cam == home and day(3, 30) <= t < day(13):
            return DOWN
        return DOWN if cam in area and day(7, 10) <= t < day(9) else OK

    out = simulate(day(3), day(14), status)
    (req,) = notes(out, "owner", "reboot_request")
    assert req.camera == home and day(9) < at(req) <= day(9, 30)
    assert not notes(out, "owner", "reboot_request", camera=area[1])


def test_household_outage_just_before_a_monitor_outage_dates_from_its_own_start():
    """The monitor's own outage hides everything for a while; the household that went down a minute
    before it is asked within the usual delay of its own start, not of the monitor's recovery."""
    home = next(iter(INDEX.info))

    def status(cam, t):
        if day(14, 55) <= t < day(15, 13):
            return DOWN
        return DOWN if cam == home and day(14, 54) <= t < day(18) else OK

    out = simulate(day(14), day(19), status)
    (req,) = notes(out, "owner", "reboot_request")
    assert req.camera == home and at(req) <= day(15, 24)


def test_a_camera_pruned_or_disabled_mid_incident_leaves_it_and_nobody_is_asked_about_it_again():
    """C05's owner was asked; then an operator disabled C05 (or pruned it from the registry): its incident
    closes with the departure "removed", no reminder, no dispatch, no thanks follow."""
    without = FleetIndex.from_cameras({k: v for k, v in INDEX.cameras.items() if k != "C05"})
    state, out, t = EngineState(), [], day(8)
    while t < day(12, d=3):
        index = INDEX if t < day(9) else without
        samples = [(cam, *SAMPLE[DOWN if cam == "C05" and t >= day(8, 5) else OK]) for cam in index.info]
        res = step_samples(state, index, samples, [True], t, POLICIES)
        state, out, t = res.state, out + res.decisions, t + timedelta(minutes=1)
    assert [d.kind for d in notes(out, camera="C05")] == ["reboot_request"]
    closed = [d for d in out if isinstance(d, IncidentDecision) and d.state == ChangeKind.CLOSED]
    assert [(d.id, d.t) for d in closed] == [("I1", day(9))]
    assert not state.escalation.ladders
