"""Table-driven cases for the classifier: one per cause, plus hysteresis, stragglers and restarts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from monitor.core.classify.fleet import classify_fleet
from monitor.core.classify.keys import GroupKey, GroupKind
from monitor.core.classify.state import TRACK_JSON_FIELDS, FleetState, Track, state_from_json, state_to_json
from monitor.core.domain import Camera, Cause, Observation, ReferenceObservation
from monitor.core.policy import ClassifierPolicy

JST = timezone(timedelta(hours=9))
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=JST)
AREAS, ISPS = ["A1", "A2", "A3", "A4"], ["ocn", "sonet", "nuro"]
# 24 cameras: 6 per area, 8 per ISP, each on its own line except C01/C02 (one household).
CAMERAS = {
    f"C{i:02d}": Camera(camera_id=f"C{i:02d}", area=AREAS[i % 4], isp=ISPS[i % 3],
                        line_id="L01" if i in (1, 2) else f"L{i:02d}", expected_fps=10.0)
    for i in range(24)
}
CAMERAS["C02"] = Camera(camera_id="C02", area=CAMERAS["C01"].area, isp=CAMERAS["C01"].isp, line_id="L01",
                        expected_fps=10.0)
POLICY = ClassifierPolicy()


def ok(cam: str, t: datetime) -> Observation:
    return Observation(t=t, camera=cam, reachable=True, rtt_ms=20.0, onvif_ok=True, fps=9.9, max_gap_s=0.2)


def down(cam: str, t: datetime) -> Observation:
    return Observation(t=t, camera=cam, reachable=False, rtt_ms=None, onvif_ok=False, fps=0.0, max_gap_s=60.0)


def no_frames(cam: str, t: datetime) -> Observation:
    return Observation(t=t, camera=cam, reachable=True, rtt_ms=20.0, onvif_ok=True, fps=0.0, max_gap_s=60.0)


def slow(cam: str, t: datetime) -> Observation:
    return Observation(t=t, camera=cam, reachable=True, rtt_ms=350.0, onvif_ok=True, fps=1.2, max_gap_s=40.0)


def run(bad: dict, minutes: int, *, refs_bad=range(0), with_refs=True, state=None):
    """bad: camera -> (kind, first minute, last minute exclusive). Returns the state and, per minute,
    which causes each camera is in."""
    state = state or FleetState()
    seen = []
    for m in range(minutes):
        t = T0 + timedelta(minutes=m)
        obs = []
        for cam in CAMERAS:
            kind, a, b = bad.get(cam, (ok, 0, 0))
            obs.append(kind(cam, t) if a <= m < b else ok(cam, t))
        refs = [ReferenceObservation(t=t, reference="gw", reachable=m not in refs_bad)] if with_refs else []
        state, _ = classify_fleet(state, CAMERAS, obs, refs, t, POLICY)
        per_cam: dict[str, set] = {}
        for inc in state.incidents.values():
            for c in inc.members:
                per_cam.setdefault(c, set()).add(inc.cause)
        seen.append(per_cam)
    return state, seen


def area_cams(area):
    return [c for c, cam in CAMERAS.items() if cam.area == area]


def isp_cams(isp):
    return [c for c, cam in CAMERAS.items() if cam.isp == isp]


CASES = [
    # name, bad spec, minute to look at, camera, expected cause
    ("local outage", {"C05": (down, 2, 40)}, 20, "C05", Cause.LOCAL_OUTAGE),
    ("household line: both cameras", {"C01": (down, 2, 40), "C02": (down, 2, 40)}, 20, "C02",
     Cause.LOCAL_OUTAGE),
    ("camera fault", {"C07": (no_frames, 2, 40)}, 20, "C07", Cause.CAMERA_FAULT),
    ("local congestion", {"C09": (slow, 2, 60)}, 30, "C09", Cause.LOCAL_CONGESTION),
    ("isp congestion", {c: (slow, 2, 60) for c in isp_cams("sonet")}, 30, isp_cams("sonet")[0],
     Cause.ISP_CONGESTION),
    ("area outage", {c: (down, 2, 40) for c in area_cams("A2")}, 20, area_cams("A2")[0], Cause.AREA_OUTAGE),
    ("isp outage", {c: (down, 2, 40) for c in isp_cams("nuro")}, 20, isp_cams("nuro")[1], Cause.ISP_OUTAGE),
    ("monitor outage", {c: (down, 2, 20) for c in CAMERAS}, 10, "C03", Cause.MONITOR_OUTAGE),
]


@pytest.mark.parametrize("name,bad,minute,cam,cause", CASES, ids=[c[0] for c in CASES])
def test_cause(name, bad, minute, cam, cause):
    _, seen = run(bad, minute + 1, refs_bad=range(2, 20) if cause is Cause.MONITOR_OUTAGE else range(0))
    assert seen[minute].get(cam) == {cause}


def test_shared_outage_never_yields_local_incidents():
    _, seen = run({c: (down, 2, 40) for c in area_cams("A2")}, 45)
    assert all(Cause.LOCAL_OUTAGE not in causes for m in seen for causes in m.values())


def test_monitor_outage_without_references_from_whole_fleet_simultaneity():
    _, seen = run({c: (down, 2, 20) for c in CAMERAS}, 11, with_refs=False)
    assert seen[10]["C03"] == {Cause.MONITOR_OUTAGE}
    assert seen[3]["C03"] == {Cause.MONITOR_OUTAGE}  # the second bad interval already tells


@pytest.mark.parametrize("pattern", [[5], [5, 9], [5, 6], [5, 7, 9, 11]])
def test_lone_bad_probes_never_open_an_incident(pattern):
    state = FleetState()
    for m in range(20):
        t = T0 + timedelta(minutes=m)
        obs = [down(c, t) if (c == "C05" and m in pattern) else ok(c, t) for c in CAMERAS]
        state, changes = classify_fleet(state, CAMERAS, obs, [], t, POLICY)
        assert not changes


def test_straggler_after_area_recovery_becomes_local_from_recovery():
    cams = area_cams("A3")
    bad = {c: (down, 2, 40) for c in cams}
    bad[cams[0]] = (down, 2, 120)
    state, seen = run(bad, 60)
    assert seen[20][cams[0]] == {Cause.AREA_OUTAGE}
    assert seen[50][cams[0]] == {Cause.LOCAL_OUTAGE}
    (inc,) = [i for i in state.incidents.values() if i.cause is Cause.LOCAL_OUTAGE]
    assert inc.members[cams[0]] == int((T0 + timedelta(minutes=40)).timestamp())  # from the recovery on
    assert inc.evidence["still_down_after_shared_recovery"] is True


@pytest.mark.parametrize(("back_at", "local"), [
    (43, False),  # back 3 minutes after its area (booting after the power cut): never its household's fault
    (44, False),
    (80, True),  # still down past the grace: a local outage, dated from the area's recovery
])
def test_a_straggler_back_within_the_boot_grace_is_no_local_outage(back_at, local):
    cams = area_cams("A3")
    bad = {c: (down, 2, 40) for c in cams} | {cams[0]: (down, 2, back_at)}
    incidents: set = set()
    state = FleetState()
    for m in range(90):
        t = T0 + timedelta(minutes=m)
        obs = [down(c, t) if c in bad and bad[c][1] <= m < bad[c][2] else ok(c, t) for c in CAMERAS]
        state, _ = classify_fleet(state, CAMERAS, obs, [ReferenceObservation(t=t, reference="gw", reachable=True)],
                                  t, POLICY)
        if m in (41, 47):  # a restart while it is waiting out the grace: the wait is in the checkpoint
            state = state_from_json(json.loads(json.dumps(state_to_json(state))))
        incidents |= {(i.id, i.cause, i.members.get(cams[0])) for i in state.incidents.values()
                      if cams[0] in i.members and i.cause is Cause.LOCAL_OUTAGE}
    recovered = int((T0 + timedelta(minutes=40)).timestamp())
    assert incidents == ({("I2", Cause.LOCAL_OUTAGE, recovered)} if local else set()), incidents


def test_missing_observation_is_no_data_not_down():
    state = FleetState()
    for m in range(15):
        t = T0 + timedelta(minutes=m)
        obs = [ok(c, t) for c in CAMERAS if not (c == "C05" and m >= 3)]
        state, changes = classify_fleet(state, CAMERAS, obs, [], t, POLICY)
        assert not changes


def test_state_survives_json_mid_incident():
    state, _ = run({"C05": (down, 2, 40)}, 10)
    text = json.dumps(state_to_json(state))
    again = state_from_json(json.loads(text))
    assert again == state
    assert again.incidents and next(iter(again.incidents.values())).evidence["down_intervals"] >= 3


def test_waiting_stragglers_survive_json_and_an_older_checkpoint_without_them_still_loads():
    state = FleetState(last_t=1_000, stragglers_waiting=(("C05", 940),))
    assert state_from_json(json.loads(json.dumps(state_to_json(state)))) == state
    older = state_to_json(state)
    del older["stragglers_waiting"]
    assert state_from_json(older).stragglers_waiting == ()


def test_congestion_explained_survives_json_and_an_older_checkpoint_still_loads():
    state = FleetState(last_t=1_000, congestion_explained=(("C05", 940, 7),))
    assert state_from_json(json.loads(json.dumps(state_to_json(state)))) == state
    older = {**state_to_json(state), "congestion_explained": ["C05"]}  # bare ids, before they were dated
    assert state_from_json(older).congestion_explained == (("C05", 1_000, -1),)


# A checkpoint as written before the tracks had names (the layout it is still written in).
OLD_CHECKPOINT = {
    "version": 1,
    "track_fields": ["last", "down", "down_since", "up", "nf", "nf_since", "frames", "slow_bits", "congested",
                     "cong_run", "cong_off", "cong_since", "flaps", "onset", "rtt_base"],
    "tracks": {"C05": [1_060, 0, 900, 2, 0, 0, 2, 5, 1, 4, 0, 1_000, 2, 1_000, 21.5]},
    "incidents": [], "next_id": 3, "reference_bad_run": 0, "references_seen": True, "last_t": 1_060,
    "congestion_explained": [], "stragglers_waiting": [],
}


def test_a_checkpoint_with_the_old_track_layout_loads_into_named_tracks_and_is_written_the_same():
    state = state_from_json(OLD_CHECKPOINT)
    tr = state.tracks["C05"]
    assert tr == Track(last_seen=1_060, down_run=0, down_since=900, up_run=2, no_frames_run=0, no_frames_since=0,
                       frames_run=2, slow_bits=5, congested=1, congested_run=4, uncongested_run=0,
                       congested_since=1_000, flaps=2, last_flap_end=1_000, rtt_base_ms=21.5)
    assert isinstance(tr.rtt_base_ms, float) and all(type(v) is int for v in tr[:-1])
    assert len(TRACK_JSON_FIELDS) == len(Track._fields)
    written = json.loads(json.dumps(state_to_json(state)))
    # what the old checkpoint held is written back the same; what the registry learning adds is empty
    assert {k: v for k, v in written.items() if k in OLD_CHECKPOINT} == OLD_CHECKPOINT
    assert {k: written[k] for k in written.keys() - OLD_CHECKPOINT.keys()} == {
        "overlay": {}, "co_congestion": {}, "registry": {"rates": {}, "moved": {}, "fits": {}}}


def test_a_checkpoint_with_another_track_layout_is_refused():
    with pytest.raises(ValueError, match="track layout"):
        state_from_json({**OLD_CHECKPOINT, "track_fields": list(Track._fields)})


@pytest.mark.parametrize(("text", "key", "scope"), [
    ("area:A01", GroupKey(GroupKind.AREA, "A01"), {"area": "A01"}),
    ("isp:ocn", GroupKey(GroupKind.ISP, "ocn"), {"isp": "ocn"}),
    ("ispa:ocn/A01", GroupKey(GroupKind.ISP_IN_AREA, "ocn", "A01"), {"isp": "ocn", "area": "A01"}),
    ("line:L01", GroupKey(GroupKind.LINE, "L01"), {"line": "L01"}),
    ("lcong:L01", GroupKey(GroupKind.LINE_CONGESTION, "L01"), {"line": "L01"}),
    ("cam:C05", GroupKey(GroupKind.CAMERA, "C05"), {"camera": "C05"}),
    ("monitor", GroupKey(GroupKind.MONITOR), {"monitor": True}),
])
def test_group_keys_read_and_write_the_incident_key_text(text, key, scope):
    assert GroupKey.parse(text) == key
    assert str(key) == text and f"{Cause.AREA_OUTAGE}|{key}" == f"area_outage|{text}"
    assert key.scope() == scope


def test_an_overlay_entry_written_before_the_gap_ratio_loads_with_no_gap_difference():
    from monitor.core.classify.overlay import Overlay, overlay_from_json, overlay_to_json
    old = {"C05": [0.4, -0.9, 3, 0, 1_000]}
    assert overlay_from_json(old) == {"C05": Overlay(0.4, -0.9, 3, 0, 1_000, 0.0)}
    assert overlay_to_json(overlay_from_json(old)) == {"C05": [0.4, -0.9, 3, 0, 1_000, 0.0, 0, 0.0, 0]}


def test_an_overlay_entry_written_before_the_at_par_flag_loads_as_not_yet_at_par():
    from monitor.core.classify.overlay import Overlay, overlay_from_json, overlay_to_json
    old = {"C05": [0.4, -0.9, 0, 12, 0, 0.1]}
    assert overlay_from_json(old) == {"C05": Overlay(0.4, -0.9, 0, 12, 0, 0.1, False)}
    assert overlay_from_json(overlay_to_json({"C05": Overlay(0.0, 0.0, 0, 12, 0, 0.0, True)}))["C05"].at_par


def test_an_overlay_entry_written_before_the_par_level_loads_at_its_peers_share():
    from monitor.core.classify.overlay import Overlay, overlay_from_json, overlay_to_json
    old = {"C05": [0.4, -0.9, 0, 12, 0, 0.1, 1]}
    assert overlay_from_json(old) == {"C05": Overlay(0.4, -0.9, 0, 12, 0, 0.1, True, 0.0, 0)}
    kept = Overlay(0.0, 0.0, 0, 12, 0, 0.0, True, 0.31, 14)
    assert overlay_from_json(overlay_to_json({"C05": kept})) == {"C05": kept}
