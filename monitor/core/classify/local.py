"""What is left once shared causes are known, one classification round: local outages (per household
line), camera faults (per camera) and local congestion (per line), on a `classify.groups.Round`."""

from __future__ import annotations

from typing import NamedTuple

from monitor.core.classify.congestion import late_onset
from monitor.core.classify.groups import Round
from monitor.core.classify.overlay import overlay_evidence
from monitor.core.classify.state import Departure, Track
from monitor.core.domain import Cause
from monitor.core.policy import ClassifierPolicy

_LOCAL = (Cause.LOCAL_OUTAGE, Cause.CAMERA_FAULT, Cause.LOCAL_CONGESTION)


class _Explained(NamedTuple):
    """The cameras a shared cause already explains this round."""

    upstream_out: set[str]  # members of an open monitor, area or ISP outage
    congested_shared: set[str]  # congested as part of a shared congestion (open, or closed not long ago)
    outlasted: dict[str, int]  # camera -> close of the shared congestion it outlasted (now its own congestion)


def local_faults(rnd: Round) -> None:
    """Local outages (per line), camera faults (per camera), local congestion (per line)."""
    explained = _explained(rnd)
    _leave_recovered(rnd)
    in_local = rnd.members_of(Cause.LOCAL_OUTAGE)
    in_fault = rnd.members_of(Cause.CAMERA_FAULT)
    in_lcong = rnd.members_of(Cause.LOCAL_CONGESTION)
    slow_lines = _congested_lines(rnd)
    _stragglers_to_local(rnd, in_local, explained.upstream_out)
    p, tracks, waiting = rnd.policy, rnd.tracks, rnd.stragglers_waiting
    for cam in rnd.troubled:  # the others have nothing local to open
        tr = tracks[cam]
        if cam in explained.upstream_out:
            continue
        if tr.down_run:
            if cam not in in_local and cam not in waiting:
                _local_outage(rnd, cam, tr, congested=bool(tr.congested) or cam in explained.congested_shared)
            continue
        if (tr.no_frames_run >= p.open_after_bad_intervals and cam not in in_fault and not tr.congested
                and not _booting(tr, rnd.now, p)):
            rnd.join_local(Cause.CAMERA_FAULT, cam, cam, tr.no_frames_since, {
                "no_frame_intervals": tr.no_frames_run, "threshold_intervals": p.open_after_bad_intervals,
                "reachable": True,
            })
        if tr.congested and cam not in in_lcong and cam not in explained.congested_shared:
            _local_congestion(rnd, cam, tr, explained.outlasted.get(cam), slow_lines)
        elif tr.congested and cam not in in_lcong and cam in rnd.overlay:
            _congestion_on_congestion(rnd, cam)


def _booting(tr: Track, now: int, p: ClassifierPolicy) -> bool:
    """Back on the network after being down, and no frame since: a camera powered up with its line (after
    a power cut, a router switched back on) takes a while to stream again. Not a fault before
    `straggler_grace`, counted from when it came back."""
    return bool(tr.down_since) and tr.no_frames_run == tr.up_run and now - tr.no_frames_since < (
        p.straggler_grace.total_seconds())


def _explained(rnd: Round) -> _Explained:
    p, tracks = rnd.policy, rnd.tracks
    # A camera still congested when its shared congestion closed is part of it, until it has outlasted
    # it as long as a household congestion needs to show: then it is its own, from the close on.
    outlasted = {c: at for c, (at, run) in rnd.congestion_explained.items()
                 if tracks[c].congested_run - run >= p.local_congestion_open_intervals}
    return _Explained(
        upstream_out=rnd.members_of(Cause.MONITOR_OUTAGE, Cause.AREA_OUTAGE, Cause.ISP_OUTAGE),
        congested_shared=rnd.members_of(Cause.ISP_CONGESTION) | (rnd.congestion_explained.keys() - outlasted.keys()),
        outlasted=outlasted,
    )


def _close_needed(tr: Track, p: ClassifierPolicy) -> int:
    if tr.flaps >= p.flap_threshold:
        return p.close_after_good_intervals_flapping
    return p.close_after_good_intervals


def _leave_recovered(rnd: Round) -> None:
    """Recovered cameras leave their local incidents."""
    p, tracks = rnd.policy, rnd.tracks
    for w in rnd.open_of(*_LOCAL):
        for cam in list(w.members):
            tr = tracks.get(cam)
            if tr is None:
                continue
            if w.cause is Cause.LOCAL_OUTAGE:
                recovered = tr.up_run >= _close_needed(tr, p)
            elif w.cause is Cause.CAMERA_FAULT:
                recovered = tr.frames_run >= _close_needed(tr, p)  # a camera that goes down meanwhile stays faulty
            else:
                o = rnd.overlay.get(cam)  # inside a provider congestion: recovered once no worse than its peers
                recovered = tr.uncongested_run >= p.congestion_leave_intervals or (
                    o is not None and o.better_run >= p.congestion_leave_intervals)
            if recovered:
                w.leave(cam, Departure.RECOVERED)


def _congested_lines(rnd: Round) -> dict[str, set[str]]:
    """Provider -> its household lines congested now."""
    tracks, info = rnd.tracks, rnd.index.info
    lines: dict[str, set[str]] = {}
    for cam in rnd.troubled:
        tr = tracks[cam]
        if tr.congested and not tr.down_run:
            ci = info[cam]
            lines.setdefault(ci.isp, set()).add(ci.line)
    return lines


def _stragglers_to_local(rnd: Round, in_local: set[str], upstream_out: set[str]) -> None:
    """Stragglers of shared outages that recovered: local from the recovery on, once they have stayed
    down the grace a power cut's equipment needs to boot (dated earlier, a household fault that was
    already there before the monitor's blind spot is local at once). Adds them to `in_local`."""
    p, waiting = rnd.policy, rnd.stragglers_waiting
    grace = int(p.straggler_grace.total_seconds())
    for cam, since in rnd.stragglers:
        waiting.setdefault(cam, since)
    for cam, since in list(waiting.items()):
        tr = rnd.tracks.get(cam)
        if tr is None or not tr.down_run or cam in in_local or cam in upstream_out:
            del waiting[cam]  # back, or explained otherwise
        elif rnd.now - since >= grace:
            del waiting[cam]
            rnd.join_local(Cause.LOCAL_OUTAGE, rnd.index.info[cam].line, cam, since,
                           _outage_evidence(tr, p, straggler=True))
            in_local.add(cam)


def _local_outage(rnd: Round, cam: str, tr: Track, *, congested: bool) -> None:
    p = rnd.policy
    need = p.open_after_bad_intervals_congested if congested else p.open_after_bad_intervals
    if tr.down_run >= need:
        rnd.join_local(Cause.LOCAL_OUTAGE, rnd.index.info[cam].line, cam, tr.down_since,
                       _outage_evidence(tr, p, straggler=False))


def _local_congestion(rnd: Round, cam: str, tr: Track, outlasted_at: int | None,
                      slow_lines: dict[str, set[str]]) -> None:
    """A congested camera no shared congestion explains: its own household's, once it lasts.

    It must last longer while other lines of its provider are congested too (a provider's congestion
    reaches its cameras one by one and may yet show as shared); one that outlasted a shared congestion
    counts from that close."""
    p, ci = rnd.policy, rnd.index.info[cam]
    peers = 0 if outlasted_at is not None else len(slow_lines.get(ci.isp, ()) - {ci.line})
    # Congested long after its provider's congestion opened: that congestion's ramp is over, so it is
    # not the provider's share still showing (classify.congestion leaves such a camera out of it).
    ramped = any(w.group.name == ci.isp and late_onset(tr, w.opened, rnd.late_after(w))
                 for w in rnd.open_of(Cause.ISP_CONGESTION))
    need = p.local_congestion_hold_intervals if peers and not ramped else p.local_congestion_open_intervals
    if tr.congested_run < need:
        return
    ev = {"congested_intervals": tr.congested_run, "threshold_intervals": need, "shared_congestion": False,
          "provider_lines_congested": peers}
    if outlasted_at is not None:
        ev["outlasted_shared_congestion"] = True
    since = tr.congested_since if outlasted_at is None else outlasted_at
    rnd.join_local(Cause.LOCAL_CONGESTION, ci.line, cam, since, ev)


def _congestion_on_congestion(rnd: Round, cam: str) -> None:
    """A household congested inside its provider's congestion (classify.overlay): its own while it lasts."""
    o, need = rnd.overlay[cam], rnd.policy.local_congestion_open_intervals
    if o.worse_run >= need:
        rnd.join_local(Cause.LOCAL_CONGESTION, rnd.index.info[cam].line, cam, o.worse_since, overlay_evidence(o, need))


def _outage_evidence(tr: Track, p: ClassifierPolicy, *, straggler: bool) -> dict:
    ev = {
        "down_intervals": tr.down_run,
        "threshold_intervals": p.open_after_bad_intervals,
        "reachable": False,
        "flaps": tr.flaps,
    }
    if straggler:
        ev["still_down_after_shared_recovery"] = True
    return ev
