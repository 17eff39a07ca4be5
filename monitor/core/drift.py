"""Drift: what a reachable camera says now over ONVIF against what the city approved when it took it.

Pure: a camera's :class:`Baseline` (taken once and approved by an operator), its :class:`Answer` (what
one drift check read), the registry's expected frame rate and the limits in; :class:`Finding` values out.
Nothing here ever looks at a frame: every check works from the camera's own answers.

A check the camera does not offer (no PTZ service, no Media2 masks, no events) is *unsupported*: stated
as such, never a finding. A check that failed this time (a timeout, a fault) is neither: the finding
it had stays as it was. A part with no baseline is compared with nothing (the operator takes one).
"""

from __future__ import annotations

import enum
import hashlib
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


class Check(enum.StrEnum):
    CLOCK = "clock"
    PRIVACY_MASKS = "privacy_masks"
    VIEW = "view"
    ENCODER = "encoder"
    FIRMWARE = "firmware"
    TAMPER = "tamper"
    DEFAULT_CREDENTIALS = "default_credentials"


class Severity(enum.StrEnum):
    URGENT = "urgent"  # the operator and the vendor are told at once
    VISIT = "visit"  # someone must go there: a non-urgent vendor ticket
    RECORD = "record"  # recorded and shown, nobody sent


class Action(enum.StrEnum):
    SET_CLOCK = "set_clock"
    MOVE_BACK = "move_back"


CHECK_LABELS = {
    Check.CLOCK: ("カメラの時計のずれ", "camera clock"),
    Check.PRIVACY_MASKS: ("プライバシーマスク（近隣の住まいを隠す設定）", "privacy masks"),
    Check.VIEW: ("撮影の向き", "camera view"),
    Check.ENCODER: ("映像の設定（方式・解像度・フレームレート・ビットレート）", "stream settings"),
    Check.FIRMWARE: ("機種・ファームウェア", "model and firmware"),
    Check.TAMPER: ("いたずら・遮蔽の検知", "tampering"),
    Check.DEFAULT_CREDENTIALS: ("メーカー初期パスワードでのログイン", "maker's default password"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftRecord:
    """A stored finding as reports and pages show it."""

    camera_id: str
    check: Check
    expected: str
    observed: str
    severity: Severity
    since: datetime
    closed_at: datetime | None = None
    corrected_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Mask:
    """One privacy mask: its polygon in the ONVIF normalised frame (-1..1), and whether it is on."""

    polygon: tuple[tuple[float, float], ...]
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Encoder:
    encoding: str  # "H264", "H265", "JPEG"
    width: int
    height: int
    fps_limit: float
    bitrate_kbps: int


@dataclass(frozen=True, slots=True)
class Identity:
    manufacturer: str
    model: str
    firmware: str
    serial: str


@dataclass(frozen=True, slots=True)
class Position:
    """A PTZ position in the ONVIF generic spaces (pan and tilt -1..1, zoom 0..1)."""

    pan: float
    tilt: float
    zoom: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Baseline:
    """What the city approved as right for one camera. A part left None was not taken (unsupported then)."""

    camera_id: str
    taken_at: datetime
    approved_by: str
    masks: tuple[Mask, ...] | None = None
    position: Position | None = None
    preset: str | None = None  # the preset to go back to, if the camera has one
    encoder: Encoder | None = None
    identity: Identity | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """What one drift check read from a camera at ``at``. A part is None when it was not read: see
    ``unsupported`` (the camera does not offer it) and ``failed`` (it did not answer this time)."""

    camera_id: str
    at: datetime
    clock_skew_s: float | None = None
    masks: tuple[Mask, ...] | None = None
    position: Position | None = None
    encoder: Encoder | None = None
    identity: Identity | None = None
    tamper_events: tuple[str, ...] | None = None  # event topics raised since the last pull
    default_credentials: bool | None = None  # the maker's default password was accepted
    unsupported: frozenset[Check] = frozenset()
    failed: frozenset[Check] = frozenset()
    not_read: frozenset[Check] = frozenset()  # not due this time


@dataclass(frozen=True, slots=True)
class Limits:
    clock_s: float = 5.0  # |camera clock - ours| beyond this is drift
    mask_tolerance: float = 0.01  # a polygon vertex may move this much (normalised) and still match
    position_tolerance: float = 0.02
    bitrate_tolerance: float = 0.2  # a fifth either way
    fps_tolerance: float = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    camera_id: str
    check: Check
    expected: str
    observed: str
    severity: Severity
    action: Action | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One camera's drift check: its findings, and the checks it could not answer (and why)."""

    findings: tuple[Finding, ...]
    unsupported: frozenset[Check] = frozenset()
    failed: frozenset[Check] = frozenset()
    unbaselined: frozenset[Check] = frozenset()  # read, but there is nothing approved to compare with
    not_read: frozenset[Check] = frozenset()

    @property
    def checked(self) -> frozenset[Check]:
        """The checks that ran and were compared: a finding of these not found now has ended."""
        return frozenset(Check) - self.unsupported - self.failed - self.unbaselined - self.not_read


def _masks_text(masks: tuple[Mask, ...]) -> str:
    on = sum(m.enabled for m in masks)
    return f"{len(masks)} mask(s), {on} enabled"


def _polygon_matches(a: Mask, b: Mask, tol: float) -> bool:
    return (a.enabled == b.enabled and len(a.polygon) == len(b.polygon)
            and all(abs(x1 - x2) <= tol and abs(y1 - y2) <= tol
                    for (x1, y1), (x2, y2) in zip(a.polygon, b.polygon, strict=True)))


def _masks(base: tuple[Mask, ...], now: tuple[Mask, ...], lim: Limits) -> str | None:
    """Why the masks no longer match the approved ones (None: they match). Order does not matter."""
    if sum(m.enabled for m in now) < sum(m.enabled for m in base):
        return "fewer masks enabled than approved"
    left = list(now)
    for m in base:
        hit = next((x for x in left if _polygon_matches(m, x, lim.mask_tolerance)), None)
        if hit is None:
            return "a mask's area or state differs from the approved one"
        left.remove(hit)
    return "more masks than approved" if left else None


def _position_text(p: Position) -> str:
    return f"pan {p.pan:+.3f}, tilt {p.tilt:+.3f}, zoom {p.zoom:.3f}"


def _moved(a: Position, b: Position, tol: float) -> bool:
    return abs(a.pan - b.pan) > tol or abs(a.tilt - b.tilt) > tol or abs(a.zoom - b.zoom) > tol


def _encoder_text(e: Encoder) -> str:
    return f"{e.encoding} {e.width}x{e.height}, {e.fps_limit:g} fps limit, {e.bitrate_kbps} kbit/s"


def _encoder_drift(base: Encoder | None, now: Encoder, expected_fps: float | None, lim: Limits) -> str | None:
    if base is not None:
        if (now.encoding, now.width, now.height) != (base.encoding, base.width, base.height):
            return "codec or resolution changed (a reset to defaults?)"
        if abs(now.fps_limit - base.fps_limit) > lim.fps_tolerance:
            return "frame rate limit changed"
        if abs(now.bitrate_kbps - base.bitrate_kbps) > lim.bitrate_tolerance * base.bitrate_kbps:
            return "bitrate changed"
    if expected_fps is not None and now.fps_limit + lim.fps_tolerance < expected_fps:
        return f"the registry expects {expected_fps:g} fps, more than the camera's limit"
    return None


def compare(baseline: Baseline | None, answer: Answer, *, expected_fps: float | None = None,
            limits: Limits = Limits()) -> Outcome:
    """One camera's answer against its baseline (and the registry's frame rate): the findings."""
    cam, b = answer.camera_id, baseline
    out: list[Finding] = []
    unbaselined: set[Check] = set()

    def found(check: Check, expected: str, observed: str, severity: Severity, action: Action | None = None) -> None:
        out.append(Finding(camera_id=cam, check=check, expected=expected, observed=observed, severity=severity,
                           action=action))

    if answer.clock_skew_s is not None and abs(answer.clock_skew_s) > limits.clock_s:
        found(Check.CLOCK, f"within {limits.clock_s:g} s of UTC", f"{answer.clock_skew_s:+.1f} s",
              Severity.RECORD, Action.SET_CLOCK)
    if answer.masks is not None:
        if b is None or b.masks is None:
            unbaselined.add(Check.PRIVACY_MASKS)
        elif (why := _masks(b.masks, answer.masks, limits)) is not None:
            found(Check.PRIVACY_MASKS, _masks_text(b.masks), f"{_masks_text(answer.masks)}: {why}", Severity.URGENT)
    if answer.position is not None:
        if b is None or b.position is None:
            unbaselined.add(Check.VIEW)
        elif _moved(b.position, answer.position, limits.position_tolerance):
            found(Check.VIEW, _position_text(b.position) + (f" (preset {b.preset})" if b.preset else ""),
                  _position_text(answer.position), Severity.RECORD, Action.MOVE_BACK)
    if answer.encoder is not None:
        if b is None or b.encoder is None:
            unbaselined.add(Check.ENCODER)
        why = _encoder_drift(None if b is None else b.encoder, answer.encoder, expected_fps, limits)
        if why is not None:
            expected = _encoder_text(b.encoder) if b is not None and b.encoder else f"at least {expected_fps:g} fps"
            found(Check.ENCODER, expected, f"{_encoder_text(answer.encoder)}: {why}", Severity.VISIT)
            unbaselined.discard(Check.ENCODER)
    if answer.identity is not None:
        if b is None or b.identity is None:
            unbaselined.add(Check.FIRMWARE)
        elif answer.identity != b.identity:
            swapped = (answer.identity.model, answer.identity.serial) != (b.identity.model, b.identity.serial)
            found(Check.FIRMWARE, _identity_text(b.identity), _identity_text(answer.identity),
                  Severity.VISIT if swapped else Severity.RECORD)
    if answer.tamper_events:
        found(Check.TAMPER, "no tampering event", ", ".join(sorted(set(answer.tamper_events))), Severity.VISIT)
    if answer.default_credentials:
        found(Check.DEFAULT_CREDENTIALS, "the maker's default password refused",
              "the maker's default password accepted", Severity.URGENT)
    return Outcome(findings=tuple(out), unsupported=answer.unsupported, failed=answer.failed,
                   unbaselined=frozenset(unbaselined), not_read=answer.not_read)


def slot(camera_id: str, interval_s: float) -> float:
    """Where in each interval a camera's check falls (seconds): spread evenly by a hash of its id."""
    h = int.from_bytes(hashlib.blake2b(camera_id.encode(), digest_size=4).digest(), "big")
    return (h / 2**32) * interval_s


def due(camera_id: str, since: datetime, now: datetime, every: Mapping[Check, float]) -> frozenset[Check]:
    """The checks of one camera whose slot fell in (since, now]: each check every ``every[check]`` seconds,
    at the camera's own point of that interval."""
    t0, t1 = since.timestamp(), now.timestamp()
    out = set()
    for check, interval in every.items():
        at = slot(camera_id, interval)
        # the last slot time at or before now; due if it is after since
        last = t1 - ((t1 - at) % interval)
        if last > t0:
            out.add(check)
    return frozenset(out)


def baseline_from(answer: Answer, approved_by: str) -> Baseline:
    """A camera's answers approved as its baseline. A PTZ camera's approved view is its preset 1 (the
    installer stores it so)."""
    return Baseline(camera_id=answer.camera_id, taken_at=answer.at, approved_by=approved_by, masks=answer.masks,
                    position=answer.position, preset="1" if answer.position is not None else None,
                    encoder=answer.encoder, identity=answer.identity)


def _identity_text(i: Identity) -> str:
    return f"{i.manufacturer} {i.model} serial {i.serial} firmware {i.firmware}"


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenFinding:
    """A finding as stored: open since ``since`` until a check no longer finds it."""

    finding: Finding
    since: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class Reconciled:
    opened: tuple[OpenFinding, ...]
    kept: tuple[OpenFinding, ...]  # still found (last_seen now) or not checked this time (unchanged)
    closed: tuple[OpenFinding, ...]


def reconcile(open_now: Iterable[OpenFinding], outcomes: Mapping[str, Outcome], now: datetime) -> Reconciled:
    """The stored open findings against this run's outcomes (by camera): which open, stay and close.

    A finding closes only when its check ran, was compared and did not find it; a camera or check not
    run this time keeps its findings as they were. A tamper event stays open until an operator takes a
    new baseline (an event is not repeated, so not seeing it again says nothing)."""
    current = {(o.finding.camera_id, o.finding.check): o for o in open_now}
    opened, kept, closed = [], [], []
    seen: set[tuple[str, Check]] = set()
    for cam, outcome in outcomes.items():
        for f in outcome.findings:
            key = (cam, f.check)
            seen.add(key)
            was = current.get(key)
            if was is None:
                opened.append(OpenFinding(finding=f, since=now, last_seen=now))
            else:
                kept.append(OpenFinding(finding=f, since=was.since, last_seen=now))
    for key, was in current.items():
        if key in seen:
            continue
        outcome = outcomes.get(key[0])
        if outcome is not None and key[1] in outcome.checked and key[1] is not Check.TAMPER:
            closed.append(was)
        else:
            kept.append(was)
    return Reconciled(opened=tuple(opened), kept=tuple(kept), closed=tuple(closed))


def segment_clock(readings: Sequence[tuple[datetime, float]], start: datetime, end: datetime,
                  reach: timedelta) -> dict:
    """What an export's manifest states of the camera clock over one segment [start, end): the offsets
    measured inside it, or else the nearest one before and after it within ``reach``. ``offset_s`` is
    camera UTC minus the recorder's (positive: the camera's on-screen time runs ahead of the index's)."""
    inside = [(t, o) for t, o in readings if start <= t < end]
    if not inside:
        before = [(t, o) for t, o in readings if start - reach <= t < start][-1:]
        after = [(t, o) for t, o in readings if end <= t < end + reach][:1]
        inside = before + after
    if not inside:
        return {"offset_s": None, "measured": "no measurement within "
                                              f"{reach.total_seconds() / 3600:g} h of the segment"}
    values = sorted(o for _, o in inside)
    return {"offset_s": round(statistics.median(values), 1), "min_s": round(values[0], 1),
            "max_s": round(values[-1], 1), "readings": len(values),
            "measured_from": inside[0][0].isoformat(), "measured_to": inside[-1][0].isoformat()}


def masks_missing(windows: Sequence[tuple[datetime, datetime | None]], start: datetime, end: datetime,
                  now: datetime) -> bool:
    """Whether a segment lies in a window where a camera's privacy masks were not as approved (a
    privacy_masks finding, from the last check that found them right until they were right again)."""
    return any(a < end and start < (b or now) for a, b in windows)
