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
from monitor.core.classify.local import local_faults
from monitor.core.classify.state import (
    FleetIndex,
    FleetState,
    IncidentChange,
    Sample,
    as_index,
)
from monitor.core.domain import Camera, Observation, ReferenceObservation
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
    tracks, observed, troubled = advance_tracks(state.tracks, index, samples, now, policy)
    if references_reachable:
        seen = True
        ref_bad = state.reference_bad_run + 1 if not any(references_reachable) else 0
    else:
        seen, ref_bad = state.references_seen, 0
    rnd = Round(state, index, tracks, observed, troubled, now, policy, ref_bad, seen and bool(references_reachable))
    rnd.shared_outages()
    rnd.shared_congestion()
    local_faults(rnd)
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
