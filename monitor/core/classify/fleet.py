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
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple

from monitor.core.classify.camera import advance_tracks
from monitor.core.classify.groups import Round
from monitor.core.classify.learning import (
    RegistryFinding,
    RegistryKnowledge,
    apply_findings,
    effective_cameras,
    learn_rates,
    rate_findings,
)
from monitor.core.classify.local import local_faults
from monitor.core.classify.membership import (
    congestion_findings,
    outage_findings,
    provider_absences,
    tally_co_congestion,
)
from monitor.core.classify.overlay import Overlay, advance_overlay
from monitor.core.classify.state import (
    FleetIndex,
    FleetState,
    IncidentChange,
    Sample,
    Track,
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
    res = classify_round(state, index, samples, references_reachable, now, policy)
    return res.state, res.changes


class RoundResult(NamedTuple):
    state: FleetState
    changes: list[IncidentChange]
    findings: list[RegistryFinding]  # registry rows the evidence contradicts (new or changed this round)


def classify_round(
    state: FleetState,
    registry: FleetIndex,
    samples: Sequence[Sample | tuple],
    references_reachable: Sequence[bool],
    now: int,
    policy: ClassifierPolicy,
) -> RoundResult:
    """One probe interval against the registry as the evidence so far corrected it (classify.learning)."""
    rates, due = learn_rates(state.registry.rates, samples, policy)
    knowledge = replace(state.registry, rates=rates)
    index = effective_index(registry, knowledge.moved)
    tracks, observed, troubled = advance_tracks(state.tracks, index, samples, now, policy)
    if references_reachable:
        seen = True
        ref_bad = state.reference_bad_run + 1 if not any(references_reachable) else 0
    else:
        seen, ref_bad = state.references_seen, 0
    rnd = Round(state, index, tracks, observed, troubled, now, policy, ref_bad, seen and bool(references_reachable))
    rnd.shared_outages()
    rnd.shared_congestion()
    values = _values(samples, index) if rnd.open_of(Cause.ISP_CONGESTION) else {}
    rnd.overlay = _overlay(state, rnd, values, now, policy)
    local_faults(rnd)
    changes, incidents = rnd.changes(), rnd.frozen_incidents()
    absent = provider_absences(knowledge.absent, changes, state.co_congestion, index, tracks, policy.sync_min_lines)
    if absent is not knowledge.absent:
        knowledge = replace(knowledge, absent=absent)
    findings = _findings(state, knowledge, registry, index, tracks, due, changes, now, policy)
    new_state = FleetState(
        tracks=tracks,
        incidents=incidents,
        next_id=rnd.next_id,
        reference_bad_run=ref_bad,
        references_seen=seen,
        last_t=now,
        congestion_explained=tuple(sorted((c, at, run) for c, (at, run) in rnd.congestion_explained.items())),
        stragglers_waiting=tuple(sorted(rnd.stragglers_waiting.items())),
        overlay=rnd.overlay,
        co_congestion=tally_co_congestion(state.co_congestion, incidents, index, tracks, observed, values, now),
        registry=apply_findings(knowledge, findings, registry.cameras),
    )
    return RoundResult(new_state, changes, findings)


def _overlay(state: FleetState, rnd: Round, values: Mapping[str, tuple], now: int,
             policy: ClassifierPolicy) -> dict[str, Overlay]:
    congestions = [list(w.members) for w in rnd.open_of(Cause.ISP_CONGESTION)]
    if not congestions:
        return {}
    tracks = rnd.tracks
    congested = {c: bool(tracks[c].congested) for m in congestions for c in m if c in tracks}
    return advance_overlay(state.overlay, congestions, congested, values, now, policy)


def _values(samples: Sequence[Sample | tuple], index: FleetIndex
            ) -> dict[str, tuple[float | None, float | None, float, float | None]]:
    """camera -> (RTT, fps, expected fps, longest gap) of the cameras seen reachable (built once a round,
    while a provider congestion is open, for the overlay and the congestion tallies)."""
    info = index.info
    return {s[0]: (s[2], s[4], info[s[0]].expected_fps, s[5]) for s in samples if s[1] and s[0] in info}


def _findings(state: FleetState, knowledge: RegistryKnowledge, registry: FleetIndex, index: FleetIndex,
              tracks: Mapping[str, Track], due: Sequence[str], changes: list[IncidentChange], now: int,
              policy: ClassifierPolicy) -> list[RegistryFinding]:
    """This round's findings that change what is known, each with the registry's own value."""
    found = rate_findings(knowledge, registry.cameras, due, policy)
    if changes:
        found += outage_findings(changes, index, tracks, policy.group_keep_fraction)
        found += congestion_findings(changes, state.co_congestion, index, knowledge.fits, now, policy)
    out = []
    for f in found:
        cam = registry.cameras.get(f.camera)
        if cam is None or knowledge.moved.get(f.camera, {}).get(f.field, getattr(cam, f.field)) == f.observed:
            continue
        out.append(f._replace(registry=getattr(cam, f.field)))
    return out


_EFFECTIVE: dict[tuple, tuple[FleetIndex, FleetIndex]] = {}


def effective_index(registry: FleetIndex, moved: Mapping[str, Mapping[str, Any]]) -> FleetIndex:
    """The registry's index with what the evidence showed (memoised: it changes only with a finding)."""
    if not moved:
        return registry
    key = (id(registry), tuple(sorted((c, tuple(sorted(v.items()))) for c, v in moved.items())))
    hit = _EFFECTIVE.get(key)
    if hit is None or hit[0] is not registry:
        if len(_EFFECTIVE) > 8:
            _EFFECTIVE.clear()
        hit = _EFFECTIVE[key] = (registry, FleetIndex.from_cameras(effective_cameras(registry.cameras, moved)))
    return hit[1]
