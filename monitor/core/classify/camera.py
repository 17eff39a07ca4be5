"""Per-camera physics: one observation moves one camera's track by one interval.

This is the hot loop of the classifier (every observation passes through it once), so it works on
plain tuples and local variables. What it decides per camera and interval:

* down: not reachable, no ONVIF answer and no frames received;
* no frames: reachable with RTT normal but fps 0, or the stream port refusing while ONVIF still answers
  (the camera is powered and its line is up, but it streams nothing: a camera fault when it lasts);
* slow: frames do not keep up with expected_fps, the longest gap is long, RTT climbs above the camera's
  own baseline, or a probe timed out while frames still came (congestion when it persists).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from monitor.core.classify.state import NEW_TRACK, FleetIndex, Sample, Track
from monitor.core.policy import ClassifierPolicy


def advance_tracks(
    tracks: Mapping[str, Track],
    index: FleetIndex,
    samples: Iterable[Sample | tuple],
    now: int,
    policy: ClassifierPolicy,
) -> tuple[dict[str, Track], list[str]]:
    """Return the updated tracks and the cameras observed in this interval (known cameras only)."""
    out = dict(tracks)
    observed: list[str] = []
    info = index.info
    ratio = policy.congestion_fps_ratio
    gap_thr = policy.congestion_gap_s
    rtt_min = policy.congestion_rtt_min_ms
    rtt_factor = policy.congestion_rtt_factor
    alpha = policy.rtt_baseline_alpha
    mask = (1 << policy.congestion_window) - 1
    on_n = policy.congestion_on_count
    off_n = policy.congestion_off_count
    flap_win = int(policy.flap_window.total_seconds())
    min_flap_run = policy.sync_min_down_intervals  # a lone failed probe is noise, not a flap
    new = NEW_TRACK
    for s in samples:
        cam = s[0]
        ci = info.get(cam)
        if ci is None:
            continue
        tr = out.get(cam, new)
        if tr[0] >= now:  # a second observation for the same interval: keep the first
            continue
        observed.append(cam)
        reach, rtt, onvif, fps, gap = s[1], s[2], s[3], s[4], s[5]
        base = tr[14]
        rtt_thr = base * rtt_factor
        if rtt_thr < rtt_min:
            rtt_thr = rtt_min
        bits, cong = tr[7], tr[8]
        if not reach and not fps and not onvif:
            # Down. Congestion bits are left as they were: an outage says nothing about congestion.
            down = tr[1] + 1
            if down == 1:
                out[cam] = (now, 1, now, 0, 0, 0, 0, bits, cong,
                            tr[9] + 1 if cong else 0, 0 if cong else tr[10] + 1, tr[11], tr[12], tr[13], base)
            else:
                out[cam] = (now, down, tr[2], 0, 0, 0, 0, bits, cong,
                            tr[9] + 1 if cong else 0, 0 if cong else tr[10] + 1, tr[11], tr[12], tr[13], base)
            continue
        if (fps is not None and fps <= 0) or (not reach and not fps):
            if rtt is not None and rtt > rtt_thr:
                slow = 1  # a stall under a congested path, not a dead camera
                nf, nf_since = 0, 0
            else:
                slow = 0
                nf = tr[4] + 1
                nf_since = tr[5] if nf > 1 else now
            frames = 0
        else:
            nf, nf_since = 0, 0
            frames = tr[6] + 1
            slow = 0
            if (not reach or (fps is not None and fps < ci[3] * ratio)
                    or (gap is not None and gap > gap_thr) or (rtt is not None and rtt > rtt_thr)):
                slow = 1
            elif rtt is not None:
                base = rtt if base <= 0.0 else base + (rtt - base) * alpha
        bits = ((bits << 1) | slow) & mask
        n = bits.bit_count()
        if n >= on_n:
            if not cong:
                cong = 1
                cong_since = now
            else:
                cong_since = tr[11]
        elif n <= off_n:
            cong = 0
            cong_since = tr[11]
        else:
            cong_since = tr[11]
        if cong:
            cong_run, cong_off = tr[9] + 1, 0
        else:
            cong_run, cong_off = 0, tr[10] + 1
        flaps, flap_t = tr[12], tr[13]
        if tr[1] >= min_flap_run:  # a real down run just ended: one more flap if the last was recent
            flaps = flaps + 1 if now - flap_t <= flap_win else 1
            flap_t = now
        out[cam] = (now, 0, tr[2], tr[3] + 1, nf, nf_since, frames, bits, cong, cong_run, cong_off,
                    cong_since, flaps, flap_t, base)
    return out, observed
