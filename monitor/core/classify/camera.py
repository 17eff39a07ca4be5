"""Per-camera physics: one observation moves one camera's track by one interval.

This is the hot loop of the classifier (every observation passes through it once), so it works on
tuples unpacked into local variables. What it decides per camera and interval:

* down: not reachable, no ONVIF answer and no frames received;
* no frames: reachable with RTT normal but fps 0, or the stream port refusing while ONVIF still answers
  (the camera is powered and its line is up, but it streams nothing: a camera fault when it lasts);
* slow: frames do not keep up with expected_fps, the longest gap is long, RTT climbs above the camera's
  own baseline, or a probe timed out while frames still came (congestion when it persists).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from monitor.core.classify.state import NEW_TRACK, FleetIndex, Sample, Track
from monitor.core.policy import ClassifierPolicy

_make = tuple.__new__  # _make(Track, (...)): a Track from all its fields in order, at about a tuple's cost


class Advanced(NamedTuple):
    """The tracks after one interval, and who was seen in it."""

    tracks: dict[str, Track]
    observed: list[str]  # cameras observed in this interval (known cameras, their first sample only)
    troubled: list[str]  # those of them now down, without frames or congested, in the same order


class _Limits(NamedTuple):
    """The policy's per-camera thresholds, read once per interval."""

    fps_ratio: float
    gap_s: float
    rtt_min_ms: float
    rtt_factor: float
    rtt_alpha: float
    slow_mask: int  # the congestion window, as a mask over `Track.slow_bits`
    on_count: int
    off_count: int
    flap_window_s: int
    min_flap_run: int  # a lone failed probe is noise, not a flap

    @classmethod
    def of(cls, p: ClassifierPolicy) -> _Limits:
        return cls(p.congestion_fps_ratio, p.congestion_gap_s, p.congestion_rtt_min_ms, p.congestion_rtt_factor,
                   p.rtt_baseline_alpha, (1 << p.congestion_window) - 1, p.congestion_on_count,
                   p.congestion_off_count, int(p.flap_window.total_seconds()), p.sync_min_down_intervals)


def advance_tracks(tracks: Mapping[str, Track], index: FleetIndex, samples: Iterable[Sample | tuple], now: int,
                   policy: ClassifierPolicy) -> Advanced:
    """The tracks moved on by this interval's samples (of known cameras; the first for each camera)."""
    out = dict(tracks)
    observed: list[str] = []
    troubled: list[str] = []
    info, unseen, make = index.info, NEW_TRACK, _make
    fps_ratio, gap_s, rtt_min, rtt_factor, alpha, mask, on_n, off_n, flap_win, min_flap_run = _Limits.of(policy)
    for cam, reach, rtt, onvif, fps, gap in samples:
        ci = info.get(cam)
        if ci is None:
            continue
        tr = out.get(cam, unseen)
        (last_seen, down_run, down_since, up_run, nf_run, nf_since, frames_run, bits, cong, cong_run, uncong_run,
         cong_since, flaps, flap_end, base) = tr
        if last_seen >= now:  # a second observation for the same interval: keep the first
            continue
        observed.append(cam)
        if not reach and not fps and not onvif:
            out[cam] = _went_down(tr, now)
            troubled.append(cam)
            continue
        rtt_thr = rtt_min if (own := base * rtt_factor) < rtt_min else own
        slow = 0
        if (fps is not None and fps <= 0) or (not reach and not fps):  # no frames
            frames_run = 0
            if rtt is not None and rtt > rtt_thr:  # a stall under a congested path, not a dead camera
                slow, nf_run, nf_since = 1, 0, 0
            else:  # a run of intervals without frames goes on, or begins now
                nf_run, nf_since = nf_run + 1, nf_since if nf_run else now
        else:
            nf_run = nf_since = 0
            frames_run += 1
            # A longest gap longer than the camera has been back up began before it came back: that was
            # the outage (or the monitor's own gap), already counted, not frames coming in bursts.
            if (not reach or (fps is not None and fps < ci.expected_fps * fps_ratio)
                    or (gap is not None and gap > gap_s and gap <= (up_run + 1) * (now - last_seen))
                    or (rtt is not None and rtt > rtt_thr)):
                slow = 1
            elif rtt is not None:
                base = rtt if base <= 0.0 else base + (rtt - base) * alpha
        bits = ((bits << 1) | slow) & mask
        n = bits.bit_count()
        if n >= on_n:
            if not cong:
                cong, cong_since = 1, now
        elif n <= off_n:
            cong = 0
        if cong:
            cong_run, uncong_run = cong_run + 1, 0
        else:
            cong_run, uncong_run = 0, uncong_run + 1
        if down_run >= min_flap_run:  # a real down run just ended: one more flap if the last was recent
            flaps = flaps + 1 if now - flap_end <= flap_win else 1
            flap_end = now
        out[cam] = make(Track, (now, 0, down_since, up_run + 1, nf_run, nf_since, frames_run, bits, cong, cong_run,
                                uncong_run, cong_since, flaps, flap_end, base))
        if nf_run or cong:
            troubled.append(cam)
    return Advanced(out, observed, troubled)


def _went_down(tr: Track, now: int) -> Track:
    """A camera observed down. Its congestion bits stay as they were: an outage says nothing about congestion."""
    (_, down_run, down_since, _, _, _, _, bits, cong, cong_run, uncong_run, cong_since, flaps, flap_end, base) = tr
    cong_run, uncong_run = (cong_run + 1, 0) if cong else (0, uncong_run + 1)
    return _make(Track, (now, down_run + 1, down_since if down_run else now, 0, 0, 0, 0, bits, cong, cong_run,
                         uncong_run, cong_since, flaps, flap_end, base))
