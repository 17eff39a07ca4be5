"""The classifier: observations of one probe interval + the state so far -> incidents with a cause.

Pure: no clock, no I/O. `classify_fleet` is called once per probe interval with that interval's
observations (one per camera; a missing camera means "no data", never "down").

How causes are told apart (thresholds in `ClassifierPolicy`):

* per camera (`classify_camera`): down / no frames / slow, each with hysteresis;
* shared outages by synchrony: cameras on at least `sync_min_lines` household lines that went down
  within `sync_window` of each other and make up `outage_fraction` of an area (area_outage), of an
  ISP across areas or of an ISP within one area (isp_outage), or most of the fleet or together with
  failing reference checks (monitor_outage);
* shared congestion: enough lines of one ISP (or of one ISP within one area) congested at once;
* what is left: a down camera not explained by a shared cause is a local outage of its line; a
  reachable camera with no frames is a camera fault; a congested one is a local congestion.
  Cameras still down when a shared outage recovers become local outages from that moment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from monitor.core.classify.camera import advance_tracks
from monitor.core.classify.groups import Round
from monitor.core.classify.state import (
    T_CONG,
    T_CONG_OFF,
    T_CONG_RUN,
    T_CONG_SINCE,
    T_DOWN,
    T_DOWN_SINCE,
    T_FLAPS,
    T_FRAMES,
    T_NF,
    T_NF_SINCE,
    T_UP,
    Departure,
    FleetIndex,
    FleetState,
    IncidentChange,
    Sample,
    as_index,
)
from monitor.core.domain import Camera, Cause, Observation, ReferenceObservation
from monitor.core.policy import ClassifierPolicy


def to_sample(o: Observation) -> Sample:
    return Sample(o.camera, o.reachable, o.rtt_ms, o.onvif_ok, o.fps, o.max_gap_s)


def classify_fleet(
    state: FleetState,
    cameras: Mapping[str, Camera] | FleetIndex,
    observations: Sequence[Observation | Sample],
    references: Sequence[ReferenceObservation],
    now: datetime,
    policy: ClassifierPolicy,
) -> tuple[FleetState, list[IncidentChange]]:
    """One probe interval. `now` is the interval's time (aware)."""
    samples = [to_sample(o) if isinstance(o, Observation) else o for o in observations]
    return classify_samples(
        state, as_index(cameras), samples, [r.reachable for r in references], int(now.timestamp()), policy
    )


def classify_samples(
    state: FleetState,
    index: FleetIndex,
    samples: Sequence[Sample | tuple],
    references_reachable: Sequence[bool],
    now: int,
    policy: ClassifierPolicy,
) -> tuple[FleetState, list[IncidentChange]]:
    """The same as `classify_fleet` on light tuples and epoch seconds (what replay feeds)."""
    tracks, observed = advance_tracks(state.tracks, index, samples, now, policy)
    if references_reachable:
        seen = True
        ref_bad = state.reference_bad_run + 1 if not any(references_reachable) else 0
    else:
        seen, ref_bad = state.references_seen, 0
    rnd = Round(state, index, tracks, observed, now, policy, ref_bad, seen and bool(references_reachable))
    rnd.shared_outages()
    rnd.shared_congestion()
    _local_faults(rnd)
    new_state = FleetState(
        tracks=tracks,
        incidents=rnd.frozen_incidents(),
        next_id=rnd.next_id,
        reference_bad_run=ref_bad,
        references_seen=seen,
        last_t=now,
        congestion_explained=tuple(sorted((c, at, run) for c, (at, run) in rnd.congestion_explained.items())),
        stragglers_waiting=tuple(sorted(rnd.stragglers_waiting.items())),
    )
    return new_state, rnd.changes()


def _local_faults(rnd: Round) -> None:
    """Local outages (per line), camera faults (per camera), local congestion (per line)."""
    p, tracks = rnd.policy, rnd.tracks
    upstream_out = rnd.members_of(Cause.MONITOR_OUTAGE, Cause.AREA_OUTAGE, Cause.ISP_OUTAGE)
    # A camera still congested when its shared congestion closed is part of it, until it has outlasted
    # it as long as a household congestion needs to show: then it is its own, from the close on.
    outlasted = {c: at for c, (at, run) in rnd.congestion_explained.items()
                 if tracks[c][T_CONG_RUN] - run >= p.local_congestion_open_intervals}
    congested_shared = rnd.members_of(Cause.ISP_CONGESTION) | (rnd.congestion_explained.keys() - outlasted.keys())

    def close_needed(tr: tuple) -> int:
        if tr[T_FLAPS] >= p.flap_threshold:
            return p.close_after_good_intervals_flapping
        return p.close_after_good_intervals

    # Leaving: recovered cameras leave their local incidents.
    for w in rnd.open_of(Cause.LOCAL_OUTAGE, Cause.CAMERA_FAULT, Cause.LOCAL_CONGESTION):
        for cam in list(w.members):
            tr = tracks.get(cam)
            if tr is None:
                continue
            if w.cause is Cause.LOCAL_OUTAGE:
                if tr[T_UP] >= close_needed(tr):
                    w.leave(cam, Departure.RECOVERED)
            elif w.cause is Cause.CAMERA_FAULT:
                if tr[T_FRAMES] >= close_needed(tr):  # a camera that goes down meanwhile stays faulty
                    w.leave(cam, Departure.RECOVERED)
            elif tr[T_CONG_OFF] >= p.congestion_leave_intervals:
                w.leave(cam, Departure.RECOVERED)

    in_local = rnd.members_of(Cause.LOCAL_OUTAGE)
    in_fault = rnd.members_of(Cause.CAMERA_FAULT)
    in_lcong = rnd.members_of(Cause.LOCAL_CONGESTION)
    info = rnd.index.info
    slow_lines: dict[str, set[str]] = {}  # provider -> its household lines congested now
    for cam in rnd.observed:
        if tracks[cam][T_CONG] and not tracks[cam][T_DOWN]:
            slow_lines.setdefault(info[cam][1], set()).add(info[cam][2])

    # Stragglers of shared outages that recovered: local from the recovery on, once they have stayed
    # down the grace a power cut's equipment needs to boot (dated earlier, a household fault that was
    # already there before the monitor's blind spot is local at once).
    waiting, grace = rnd.stragglers_waiting, int(p.straggler_grace.total_seconds())
    for cam, since in rnd.stragglers:
        waiting.setdefault(cam, since)
    for cam, since in list(waiting.items()):
        tr = tracks.get(cam)
        if tr is None or not tr[T_DOWN] or cam in in_local or cam in upstream_out:
            del waiting[cam]  # back, or explained otherwise
        elif rnd.now - since >= grace:
            del waiting[cam]
            rnd.join_local(Cause.LOCAL_OUTAGE, info[cam][2], cam, since, _outage_evidence(tr, p, True))
            in_local.add(cam)

    for cam in rnd.observed:
        tr = tracks[cam]
        if cam in upstream_out:
            continue
        down = tr[T_DOWN]
        if down:
            if cam in in_local or cam in waiting:
                continue
            need = p.open_after_bad_intervals
            if tr[T_CONG] or cam in congested_shared:
                need = p.open_after_bad_intervals_congested
            if down >= need:
                rnd.join_local(Cause.LOCAL_OUTAGE, info[cam][2], cam, tr[T_DOWN_SINCE],
                               _outage_evidence(tr, p, False))
            continue
        if tr[T_NF] >= p.open_after_bad_intervals and cam not in in_fault and not tr[T_CONG]:
            rnd.join_local(Cause.CAMERA_FAULT, cam, cam, tr[T_NF_SINCE], {
                "no_frame_intervals": tr[T_NF], "threshold_intervals": p.open_after_bad_intervals,
                "reachable": True,
            })
        if not tr[T_CONG] or cam in in_lcong or cam in congested_shared:
            continue
        _area, isp, line, _fps = info[cam]
        peers = 0 if cam in outlasted else len(slow_lines.get(isp, ()) - {line})
        need = p.local_congestion_hold_intervals if peers else p.local_congestion_open_intervals
        if tr[T_CONG_RUN] >= need:
            ev = {"congested_intervals": tr[T_CONG_RUN], "threshold_intervals": need, "shared_congestion": False,
                  "provider_lines_congested": peers}
            if cam in outlasted:
                ev["outlasted_shared_congestion"] = True
            rnd.join_local(Cause.LOCAL_CONGESTION, info[cam][2], cam, outlasted.get(cam, tr[T_CONG_SINCE]), ev)


def _outage_evidence(tr: tuple, p: ClassifierPolicy, straggler: bool) -> dict:
    ev = {
        "down_intervals": tr[T_DOWN],
        "threshold_intervals": p.open_after_bad_intervals,
        "reachable": False,
        "flaps": tr[T_FLAPS],
    }
    if straggler:
        ev["still_down_after_shared_recovery"] = True
    return ev
