"""Congestion on top of congestion: a household saturating its own line while its provider is congested.

Both bottlenecks are in series, so the household's cameras get a share of what the congested provider
lets through: fewer frames, longer gaps and more delay than their provider's other congested cameras.
Each interval, every camera in an open provider congestion is compared with the median of that
congestion's congested cameras (at least `overlay_min_peers` of them): its RTT as a multiple of theirs
and its frame rate (as a share of its own expected rate) as a share of theirs. Both are smoothed over
`overlay_window` intervals (an exponential average of the logarithms, so one burst does not count). A
camera whose smoothed RTT is at least `overlay_rtt_factor` times its peers' and whose smoothed frame share
is at most `overlay_fps_share` of theirs, for `local_congestion_open_intervals` in a row, is a household
congestion for as long as it lasts; the provider's incident stays open for the others. A camera that first
kept pace with its peers for `overlay_window` intervals needs the fewer frames alone, measured against its own
share at par where that was above its peers' (a lighter stream gets more of the same bottleneck; losing half
of that is a second bottleneck even when it is still near its peers'). A household's queue
does not always add much delay on top of a deep provider queue, but a second bottleneck always makes the
frames come in longer bursts: a smoothed longest gap at least `overlay_gap_factor` times its peers' with a
frame share at most `overlay_fps_share_with_gaps` of theirs is the same evidence.

Pure: values in, values out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from statistics import median
from typing import NamedTuple

from monitor.core.policy import ClassifierPolicy

_FLOOR = 1e-3  # a share of 0 (no frame at all this interval) counts as this, so the logarithm exists
_GAP_FLOOR_S = 0.05  # a longest gap shorter than this (or unknown) counts as this
Values = tuple[float | None, float | None, float, float | None]  # RTT ms, fps, expected fps, longest gap s


class Overlay(NamedTuple):
    """One camera inside its provider's congestion, against its congested peers."""

    log_rtt_ratio: float  # smoothed log(RTT / the peers' median RTT)
    log_fps_share: float  # smoothed log(frame share / the peers' median frame share)
    worse_run: int  # consecutive intervals clearly worse than the peers
    better_run: int  # consecutive intervals not clearly worse
    worse_since: int  # epoch s: when the current worse run began (0: none)
    log_gap_ratio: float = 0.0  # smoothed log(longest gap / the peers' median longest gap)
    at_par: bool = False  # was at par with its peers for overlay_window intervals in this congestion
    par_level: float = 0.0  # at par: the mean smoothed log frame share (against the peers) while not worse
    par_n: int = 0  # intervals in that mean


def advance_overlay(
    overlay: Mapping[str, Overlay],
    congestions: Iterable[Iterable[str]],
    congested: Mapping[str, bool],
    values: Mapping[str, Values],
    now: int,
    policy: ClassifierPolicy,
) -> dict[str, Overlay]:
    """The next overlay state. ``congestions``: the members of each open provider congestion;
    ``congested``: each camera's own congested state; ``values``: camera -> (RTT ms, fps, expected fps,
    longest gap s) for the cameras observed reachable this interval. Cameras in no open congestion are dropped."""
    out: dict[str, Overlay] = {}
    alpha = 2.0 / (policy.overlay_window + 1)
    rtt_on, fps_on = math.log(policy.overlay_rtt_factor), math.log(policy.overlay_fps_share)
    gap_on, fps_gap_on = math.log(policy.overlay_gap_factor), math.log(policy.overlay_fps_share_with_gaps)
    par_on = math.log(policy.overlay_par_share)
    for members in congestions:
        members = list(members)
        med = congested_medians(members, congested, values, policy.overlay_min_peers)
        if med is None:
            out.update({c: overlay[c] for c in members if c in overlay})
            continue
        med_share, med_rtt, med_gap = med
        for cam in members:
            v = values.get(cam)
            prev = overlay.get(cam)
            if v is None or not v[0]:
                if prev is not None:
                    out[cam] = prev  # not seen this interval: unknown, nothing moves
                continue
            lr = math.log(v[0] / med_rtt)
            lq = math.log(max(_FLOOR, _share(v)) / med_share)
            lg = math.log(_gap(v) / med_gap)
            if prev is None:
                r, q, g = lr, lq, lg
                worse, better, since, par, level, n = 0, 0, 0, False, 0.0, 0
            else:
                r = prev.log_rtt_ratio + alpha * (lr - prev.log_rtt_ratio)
                q = prev.log_fps_share + alpha * (lq - prev.log_fps_share)
                g = prev.log_gap_ratio + alpha * (lg - prev.log_gap_ratio)
                worse, better, since = prev.worse_run, prev.better_run, prev.worse_since
                par, level, n = prev.at_par, prev.par_level, prev.par_n
            # A camera at par is judged against its own share of the congestion: one that got more frames
            # than its peers (a lighter stream) and then lost half of them has a second bottleneck too.
            fell = q <= fps_on + (max(0.0, level) if par else 0.0)
            if (fell and (r >= rtt_on or par)) or (q <= fps_gap_on and g >= gap_on):
                out[cam] = Overlay(r, q, worse + 1, 0, since or now, g, par, level, n)
            elif worse and better + 1 < policy.overlay_tolerate_intervals:
                out[cam] = Overlay(r, q, worse, better + 1, since, g, par, level, n)  # near a threshold: the run holds
            else:
                par = par or (better + 1 >= policy.overlay_window and q >= par_on)
                if par and (n == 0 or q >= level + par_on):  # at par with its own share: a slide is not
                    level, n = level + (q - level) / (n + 1), n + 1
                out[cam] = Overlay(r, q, 0, better + 1, 0, g, par, level, n)
    return out


def congested_medians(members: Iterable[str], congested: Mapping[str, bool] | Callable[[str], bool],
                      values: Mapping[str, Values], min_peers: int) -> tuple[float, float, float] | None:
    """(median frame share, median RTT, median longest gap) of the congested cameras among ``members``
    seen reachable this interval, or None with fewer than ``min_peers`` of them."""
    is_congested = congested.get if isinstance(congested, Mapping) else congested
    peers = [values[c] for c in members if c in values and values[c][0] and is_congested(c)]
    if len(peers) < min_peers:
        return None
    return (max(_FLOOR, median(_share(v) for v in peers)), median(v[0] for v in peers),  # type: ignore[type-var]
            median(_gap(v) for v in peers))


def _share(v: Values) -> float:
    return (v[1] or 0.0) / (v[2] or 1.0)


def _gap(v: Values) -> float:
    return max(_GAP_FLOOR_S, v[3] or 0.0)


def overlay_evidence(o: Overlay, need: int) -> dict:
    return {"congested_intervals": o.worse_run, "threshold_intervals": need, "shared_congestion": True,
            "rtt_vs_provider": round(math.exp(o.log_rtt_ratio), 2),
            "frames_vs_provider": round(math.exp(o.log_fps_share), 2),
            "longest_gap_vs_provider": round(math.exp(o.log_gap_ratio), 2),
            **({"frames_vs_its_share_at_par": round(math.exp(o.log_fps_share - o.par_level), 2)}
               if o.at_par and o.par_level > 0 else {})}


def overlay_to_json(overlay: Mapping[str, Overlay]) -> dict:
    return {c: [round(o.log_rtt_ratio, 6), round(o.log_fps_share, 6), o.worse_run, o.better_run, o.worse_since,
                round(o.log_gap_ratio, 6), int(o.at_par), round(o.par_level, 6), o.par_n] for c, o in overlay.items()}


def overlay_from_json(d: Mapping[str, list] | None) -> dict[str, Overlay]:
    """An older checkpoint's entries have no gap ratio (it starts at 0: no longer than the peers'), no
    at-par flag (not yet at par) and no par level (0: the peers' share)."""
    return {c: Overlay(float(v[0]), float(v[1]), int(v[2]), int(v[3]), int(v[4]), float(v[5]) if len(v) > 5 else 0.0,
                       bool(v[6]) if len(v) > 6 else False, float(v[7]) if len(v) > 7 else 0.0,
                       int(v[8]) if len(v) > 8 else 0)
            for c, v in (d or {}).items()}
