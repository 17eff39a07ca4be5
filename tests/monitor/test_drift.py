"""Drift (issue 19): the pure comparison of a camera's answer with its approved baseline, one case per check.

Each row: what the camera answered, and the findings (check, severity, action) expected, or the check
stated unsupported, failed or unbaselined. Nothing here looks at a frame.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.core.drift import (
    Action,
    Answer,
    Baseline,
    Check,
    Encoder,
    Identity,
    Mask,
    OpenFinding,
    Position,
    Severity,
    compare,
    due,
    masks_missing,
    reconcile,
    segment_clock,
    slot,
)

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
DOOR = Mask(polygon=((-0.9, 0.2), (-0.5, 0.2), (-0.5, 0.8), (-0.9, 0.8)))
WINDOW = Mask(polygon=((0.4, 0.1), (0.8, 0.1), (0.8, 0.5), (0.4, 0.5)))
H264 = Encoder(encoding="H264", width=1920, height=1080, fps_limit=10, bitrate_kbps=2048)
SIM = Identity(manufacturer="Mimamori Sim", model="SIM-1", firmware="1.0.0", serial="C0001")
HOME = Position(pan=0.1, tilt=-0.2, zoom=0.0)
BASE = Baseline(camera_id="C0001", taken_at=T0, approved_by="tanaka", masks=(DOOR, WINDOW), position=HOME,
                preset="1", encoder=H264, identity=SIM)
ALL_RIGHT = Answer(camera_id="C0001", at=T0 + timedelta(days=3), clock_skew_s=0.4, masks=(WINDOW, DOOR),
                   position=HOME, encoder=H264, identity=SIM, tamper_events=(), default_credentials=False)

CASES = [
    # id, the answer, expected findings [(check, severity, action)], expected non-findings
    ("all as approved (mask order does not matter)", ALL_RIGHT, [], {}),
    ("clock 90 s ahead", replace(ALL_RIGHT, clock_skew_s=90.2),
     [(Check.CLOCK, Severity.RECORD, Action.SET_CLOCK)], {}),
    ("clock 4 s behind: within the limit", replace(ALL_RIGHT, clock_skew_s=-4.0), [], {}),
    ("masks gone after a factory reset", replace(ALL_RIGHT, masks=()),
     [(Check.PRIVACY_MASKS, Severity.URGENT, None)], {}),
    ("one mask switched off", replace(ALL_RIGHT, masks=(DOOR, replace(WINDOW, enabled=False))),
     [(Check.PRIVACY_MASKS, Severity.URGENT, None)], {}),
    ("a mask moved off the neighbour's door",
     replace(ALL_RIGHT, masks=(WINDOW, Mask(polygon=((-0.2, 0.2), (0.2, 0.2), (0.2, 0.8), (-0.2, 0.8))))),
     [(Check.PRIVACY_MASKS, Severity.URGENT, None)], {}),
    ("a mask a hair off (rounding in the camera): still a match",
     replace(ALL_RIGHT, masks=(WINDOW, Mask(polygon=tuple((x + 0.004, y) for x, y in DOOR.polygon)))), [], {}),
    ("PTZ turned towards a garden", replace(ALL_RIGHT, position=Position(pan=0.6, tilt=-0.2, zoom=0.0)),
     [(Check.VIEW, Severity.RECORD, Action.MOVE_BACK)], {}),
    ("encoder reset to defaults", replace(ALL_RIGHT, encoder=Encoder("H264", 1280, 720, 30, 4096)),
     [(Check.ENCODER, Severity.VISIT, None)], {}),
    ("bitrate halved", replace(ALL_RIGHT, encoder=replace(H264, bitrate_kbps=1024)),
     [(Check.ENCODER, Severity.VISIT, None)], {}),
    ("firmware updated: recorded, nobody sent", replace(ALL_RIGHT, identity=replace(SIM, firmware="1.1.0")),
     [(Check.FIRMWARE, Severity.RECORD, None)], {}),
    ("another camera in its place", replace(ALL_RIGHT, identity=replace(SIM, serial="X9999")),
     [(Check.FIRMWARE, Severity.VISIT, None)], {}),
    ("a scene change and a dark image",
     replace(ALL_RIGHT, tamper_events=("tns1:VideoSource/GlobalSceneChange/ImagingService",
                                       "tns1:VideoSource/ImageTooDark/ImagingService")),
     [(Check.TAMPER, Severity.VISIT, None)], {}),
    ("the maker's default password accepted", replace(ALL_RIGHT, default_credentials=True),
     [(Check.DEFAULT_CREDENTIALS, Severity.URGENT, None)], {}),
    ("a fixed camera without PTZ, Media2 or events: unsupported, not findings",
     replace(ALL_RIGHT, position=None, masks=None, tamper_events=None,
             unsupported=frozenset({Check.VIEW, Check.PRIVACY_MASKS, Check.TAMPER})),
     [], {"unsupported": {Check.VIEW, Check.PRIVACY_MASKS, Check.TAMPER}}),
    ("the encoder call timed out: failed, not a finding",
     replace(ALL_RIGHT, encoder=None, failed=frozenset({Check.ENCODER})), [], {"failed": {Check.ENCODER}}),
]


@pytest.mark.parametrize(("answer", "expected", "not_findings"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_compare(answer: Answer, expected: list, not_findings: dict) -> None:
    outcome = compare(BASE, answer, expected_fps=10)
    assert [(f.check, f.severity, f.action) for f in outcome.findings] == expected
    for f in outcome.findings:
        assert f.camera_id == "C0001" and f.expected and f.observed and f.expected != f.observed
    assert outcome.unsupported == frozenset(not_findings.get("unsupported", ()))
    assert outcome.failed == frozenset(not_findings.get("failed", ()))
    assert not (outcome.checked & (outcome.unsupported | outcome.failed))


def test_the_registry_frame_rate_above_the_cameras_limit_is_an_encoder_finding_even_without_a_baseline():
    answer = replace(ALL_RIGHT, encoder=replace(H264, fps_limit=5))
    outcome = compare(None, answer, expected_fps=10)
    assert [(f.check, f.expected) for f in outcome.findings] == [(Check.ENCODER, "at least 10 fps")]
    assert Check.PRIVACY_MASKS in outcome.unbaselined and Check.ENCODER not in outcome.unbaselined
    assert compare(None, ALL_RIGHT, expected_fps=10).findings == ()  # nothing approved, nothing to differ from


def test_a_finding_opens_stays_with_its_first_time_and_closes_only_when_its_check_ran_clean():
    masks_gone = compare(BASE, replace(ALL_RIGHT, masks=()), expected_fps=10)
    first = reconcile([], {"C0001": masks_gone}, T0)
    assert [(o.finding.check, o.since) for o in first.opened] == [(Check.PRIVACY_MASKS, T0)]
    later = T0 + timedelta(hours=1)
    again = reconcile(first.opened, {"C0001": masks_gone}, later)
    assert not again.opened and [(o.since, o.last_seen) for o in again.kept] == [(T0, later)]
    failed = compare(BASE, replace(ALL_RIGHT, masks=None, failed=frozenset({Check.PRIVACY_MASKS})))
    assert reconcile(again.kept, {"C0001": failed}, later).closed == ()  # not read: stays open
    assert reconcile(again.kept, {}, later).closed == ()  # camera not checked: stays open
    fixed = reconcile(again.kept, {"C0001": compare(BASE, ALL_RIGHT, expected_fps=10)}, later)
    assert [o.finding.check for o in fixed.closed] == [Check.PRIVACY_MASKS] and not fixed.kept


def test_a_tamper_event_stays_open_until_a_new_baseline():
    raised = compare(BASE, replace(ALL_RIGHT, tamper_events=("tns1:VideoSource/ImageTooBlurry/ImagingService",)))
    opened = reconcile([], {"C0001": raised}, T0).opened
    quiet = reconcile(opened, {"C0001": compare(BASE, ALL_RIGHT)}, T0 + timedelta(hours=1))
    assert not quiet.closed and [o.finding.check for o in quiet.kept] == [Check.TAMPER]


def test_open_finding_is_frozen():
    o = OpenFinding(finding=compare(BASE, replace(ALL_RIGHT, clock_skew_s=30)).findings[0], since=T0, last_seen=T0)
    with pytest.raises(AttributeError):
        o.since = T0  # type: ignore[misc]


def test_the_manifest_clock_of_a_segment_is_measured_inside_it_or_next_to_it():
    readings = [(T0 + timedelta(minutes=m), o) for m, o in ((0, 90.0), (1, 90.4), (61, 0.2))]
    inside = segment_clock(readings, T0, T0 + timedelta(minutes=2), timedelta(hours=1))
    assert (inside["offset_s"], inside["readings"], inside["min_s"], inside["max_s"]) == (90.2, 2, 90.0, 90.4)
    between = segment_clock(readings, T0 + timedelta(minutes=30), T0 + timedelta(minutes=31), timedelta(hours=1))
    assert between["readings"] == 2 and between["measured_to"] == (T0 + timedelta(minutes=61)).isoformat()
    far = segment_clock(readings, T0 + timedelta(hours=5), T0 + timedelta(hours=5, minutes=1), timedelta(hours=1))
    assert far["offset_s"] is None and "no measurement" in far["measured"]


def test_masks_missing_covers_the_segments_inside_a_finding_window_only():
    windows = [(T0, T0 + timedelta(hours=2)), (T0 + timedelta(hours=5), None)]
    at = [T0 - timedelta(minutes=1), T0 + timedelta(hours=1), T0 + timedelta(hours=3), T0 + timedelta(hours=6)]
    now = T0 + timedelta(hours=7)
    assert [masks_missing(windows, t, t + timedelta(minutes=1), now) for t in at] == [False, True, False, True]


def test_each_camera_is_due_once_per_interval_at_its_own_point():
    every = {Check.CLOCK: 600.0, Check.PRIVACY_MASKS: 3600.0}
    cams = [f"C{i:04d}" for i in range(200)]
    counts = {c: {Check.CLOCK: 0, Check.PRIVACY_MASKS: 0} for c in cams}
    t = T0
    for _ in range(120):  # two hours in one-minute steps
        nxt = t + timedelta(minutes=1)
        for c in cams:
            for check in due(c, t, nxt, every):
                counts[c][check] += 1
        t = nxt
    assert all(v == {Check.CLOCK: 12, Check.PRIVACY_MASKS: 2} for v in counts.values())
    points = {int(slot(c, 3600) // 60) for c in cams}
    assert len(points) > 40  # spread over the hour, not all at once
