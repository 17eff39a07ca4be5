"""Which provider or area a camera really fails with, from the synchrony of its state changes.

Published outage detectors find a network's outages as bursts of synchronized disconnections among
the probes of that network (Disco, TMA 2017); the same synchrony tells which network a camera is on
when the registry is wrong. Two kinds of evidence, both pure functions over the classifier's values:

* Outages. A camera that went down within `membership_sync_window` of a shared outage's own cameras
  joins that outage in the round it is judged (`classify.groups`), so its owner is not asked. When it
  comes back with the outage (leaves it recovered while the outage recovers, or is up when it closes),
  the area or provider of that outage is a finding for it (`outage_findings`); one back while the
  outage still holds was a household fault that happened to coincide.
* Congestion. While a provider's congestion is open, every congested camera registered with a provider
  that is calm is tallied against it (`tally_co_congestion`). When the congestion closes, a camera that
  was congested for most of it (`co_congestion_share`), began within `congestion_sync_window` of its
  opening and cleared within `co_congestion_end_window` of its recovery, and whose frame share and RTT
  followed that congestion's own cameras (mean misfit at most `co_congestion_max_misfit`, and closer
  than to any other provider's congestion) was on that provider: a finding.
  A household's own evening congestion on a calm provider rarely starts and ends with another's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from monitor.core.classify.keys import GroupKey, GroupKind
from monitor.core.classify.learning import CoCongestion, CongestionTally, RegistryFinding
from monitor.core.classify.overlay import congested_medians
from monitor.core.classify.state import ChangeKind, Departure, FleetIndex, Incident, IncidentChange, Track
from monitor.core.domain import Cause

_OUTAGES = (Cause.AREA_OUTAGE, Cause.ISP_OUTAGE)


def outside_registry(scope: Mapping[str, Any], area: str, isp: str) -> dict[str, str]:
    """The fields in which a camera's registry row disagrees with a shared incident's scope."""
    out = {}
    if "area" in scope and scope["area"] != area:
        out["area"] = scope["area"]
    if "isp" in scope and scope["isp"] != isp:
        out["isp"] = scope["isp"]
    return out


def outage_findings(changes: Iterable[IncidentChange], registry: FleetIndex, tracks: Mapping[str, Track],
                    keep_fraction: float) -> list[RegistryFinding]:
    """Cameras outside an area's or provider's registry scope that came back with its outage: when it
    closed, or while no more than `keep_fraction` of its peak was still down (the outage recovering)."""
    found = []
    for ch in changes:
        inc = ch.incident
        if inc.cause not in _OUTAGES:
            continue
        still_down = sum(1 for c in inc.members if c in tracks and tracks[c].down_run)
        recovering = ch.kind is ChangeKind.CLOSED or still_down <= keep_fraction * inc.peak
        for cam, why in ch.departed:
            tr, info = tracks.get(cam), registry.info.get(cam)
            if info is None or tr is None or tr.down_run or why is Departure.RECLASSIFIED:
                continue  # still down (a straggler), or moved to another incident: not evidence
            if not recovering or (ch.kind is not ChangeKind.CLOSED and why is not Departure.RECOVERED):
                continue  # back while the outage still holds: its own fault, not the outage's
            for fld, seen in outside_registry(inc.scope, info.area, info.isp).items():
                found.append(RegistryFinding(cam, fld, getattr(info, fld), seen, {
                    "incident": inc.id, "cause": str(inc.cause), "went_down_and_came_back_with": dict(inc.scope)}))
    return found


def tally_co_congestion(tallies: Mapping[str, CongestionTally], incidents: Mapping[str, Incident],
                        registry: FleetIndex, tracks: Mapping[str, Track], observed: Iterable[str],
                        values: Mapping[str, tuple[float | None, float | None, float]], now: int
                        ) -> dict[str, CongestionTally]:
    """Tally, per open provider congestion, the congested cameras that no congestion of their own
    registered provider holds, with how closely their frame share and RTT follow that congestion's own
    congested cameras (``values``: camera -> (RTT ms, fps, expected fps) of the cameras seen reachable)."""
    open_cong = [i for i in incidents.values() if i.cause is Cause.ISP_CONGESTION]
    if not open_cong:
        return {}
    info = registry.info
    held = {c for i in open_cong for c in i.members if c in info and info[c].isp == i.scope.get("isp")}
    cams: dict[str, dict[str, CoCongestion]] = {
        i.id: dict(tallies[i.id].cams) if i.id in tallies else {} for i in open_cong}
    medians = {i.id: _congested_medians(i.members, tracks, values) for i in open_cong}
    loose = [c for c in observed if c in tracks and c in info and tracks[c].congested and c not in held]
    ramps = {i.id: _ramp(tallies.get(i.id), i, info) for i in open_cong}
    if not loose:
        return {i.id: CongestionTally((tallies[i.id].rounds if i.id in tallies else 0) + (not i.recovery_at),
                                      cams[i.id], ramps[i.id]) for i in open_cong}
    own = _provider_medians(registry, tracks, values)
    for cam in loose:
        ci = info[cam]
        v = values.get(cam)
        mine = own.get(ci.isp)
        for inc in open_cong:
            if inc.scope.get("isp") == ci.isp or ("area" in inc.scope and inc.scope["area"] != ci.area):
                continue
            t = cams[inc.id].get(cam) or CoCongestion(0, now, now)
            cams[inc.id][cam] = CoCongestion(
                t.intervals + 1, t.first, now, t.misfit + _misfit(v, medians[inc.id]),
                t.own_misfit + (_misfit(v, mine) if mine else 0.0), t.own_n + bool(mine))
    return {i.id: CongestionTally((tallies[i.id].rounds if i.id in tallies else 0) + (not i.recovery_at), cams[i.id],
                                  ramps[i.id]) for i in open_cong}


def _ramp(tally: CongestionTally | None, inc: Incident, info: Mapping) -> Mapping[str, int]:
    """When each of the congestion's own registered cameras joined it (kept after they leave)."""
    ramp = tally.ramp if tally is not None else {}
    isp = inc.scope.get("isp")
    new = {c: since - inc.opened for c, since in inc.members.items()
           if c not in ramp and c in info and info[c].isp == isp}
    return {**ramp, **new} if new else ramp


def ramp_end(tally: CongestionTally, policy) -> float:
    """Seconds after a provider congestion opened by which it had reached its own cameras: the
    `co_congestion_ramp_quantile` of their join times, plus `co_congestion_ramp_margin`."""
    joins = sorted(tally.ramp.values())
    q = joins[int(policy.co_congestion_ramp_quantile * (len(joins) - 1))] if joins else 0
    return max(0, q) + policy.co_congestion_ramp_margin.total_seconds()


_FLOOR = 1e-3
_NO_FIT = 2.0  # a camera not seen reachable this interval: as far off as a factor of e^2


def _provider_medians(registry: FleetIndex, tracks: Mapping[str, Track], values: Mapping[str, tuple]
                      ) -> dict[str, tuple[float, float]]:
    """Per registered provider, the medians of its congested cameras seen this interval (three or more)."""
    by: dict[str, list[str]] = {}
    for c, tr in tracks.items():
        if tr.congested and c in values and c in registry.info:
            by.setdefault(registry.info[c].isp, []).append(c)
    out = {}
    for isp, cams in by.items():
        m = _congested_medians(cams, tracks, values)
        if m is not None:
            out[isp] = m
    return out


def _congested_medians(members: Iterable[str], tracks: Mapping[str, Track], values: Mapping[str, tuple]
                       ) -> tuple[float, float] | None:
    return congested_medians(members, lambda c: bool(tracks.get(c) and tracks[c].congested), values, 3)


def _misfit(v: tuple | None, med: tuple[float, float] | None) -> float:
    if v is None or not v[0] or med is None:
        return _NO_FIT
    share = max(_FLOOR, (v[1] or 0.0) / (v[2] or 1.0))
    return abs(math.log(share / med[0])) + abs(math.log(v[0] / med[1]))


def congested_elsewhere(tallies: Mapping[str, CongestionTally], cam: str, incident_id: str | None,
                        policy) -> bool:
    """Whether a camera already follows another provider's open congestion closely (at least
    `local_congestion_open_intervals` of it, within `co_congestion_max_misfit`): then it is that
    provider's camera, not one for its registered provider's congestion to take in."""
    for i, t in tallies.items():
        c = t.cams.get(cam)
        if i == incident_id or c is None or c.intervals < policy.local_congestion_open_intervals:
            continue
        if fits(c, policy):
            return True
    return False


def fits(c: CoCongestion, policy) -> bool:
    """Close to that congestion's cameras, and clearly closer than to its registered provider's own
    congested cameras where there were any to compare with."""
    fit = c.misfit / c.intervals
    if fit > policy.co_congestion_max_misfit:
        return False
    need = policy.local_congestion_open_intervals
    if c.own_n < need:
        return True
    own = c.own_misfit / c.own_n
    if c.intervals - c.own_n >= need:
        # It followed this congestion before its registered provider's cameras were congested at all:
        # onset synchrony already placed it, and only a registered provider clearly closer takes it back.
        return not own < policy.co_congestion_closer * fit
    return fit < policy.co_congestion_closer * own


def congestion_findings(changes: Iterable[IncidentChange], tallies: Mapping[str, CongestionTally],
                        registry: FleetIndex, known: Mapping[str, float], now: int, policy) -> list[RegistryFinding]:
    """At the close of a provider congestion, the tallied cameras that were congested with it throughout
    and follow it more closely than any other provider congestion they were tallied against."""
    found = []
    start_w = int(policy.congestion_sync_window.total_seconds())
    end_w = int(policy.co_congestion_end_window.total_seconds())
    for ch in changes:
        inc = ch.incident
        tally = tallies.get(inc.id)
        if ch.kind is not ChangeKind.CLOSED or inc.cause is not Cause.ISP_CONGESTION or tally is None:
            continue
        ended = inc.recovery_at or now
        for cam, t in sorted(tally.cams.items()):
            began = t.first - inc.opened  # a household congested after its ramp is congested on its own
            if not (t.intervals >= policy.co_congestion_share * max(1, tally.rounds)
                    and began <= min(start_w, ramp_end(tally, policy)) and abs(t.last - ended) <= end_w):
                continue
            fit = round(t.misfit / t.intervals, 4)
            share = policy.co_congestion_share
            rivals = [o.cams[cam].misfit / o.cams[cam].intervals for i, o in tallies.items()
                      if i != inc.id and cam in o.cams and o.cams[cam].intervals >= share * o.rounds]
            better = any(r < fit for r in rivals) or known.get(cam, float("inf")) < fit
            if not fits(t, policy) or better:
                continue  # another provider's congestion fits it better
            ci = registry.info[cam]
            found.append(RegistryFinding(cam, "isp", ci.isp, inc.scope["isp"], {
                "incident": inc.id, "congested_intervals": t.intervals, "incident_intervals": tally.rounds,
                "mean_misfit": fit, "congested_minutes_after_it_opened": round((t.first - inc.opened) / 60)}))
    return found


def provider_absences(absent: Mapping[str, int], changes: Iterable[IncidentChange],
                      tallies: Mapping[str, CongestionTally], index: FleetIndex, tracks: Mapping[str, Track],
                      min_lines: int) -> Mapping[str, int]:
    """When a provider's whole congestion closes: each camera registered with it that was up and seen
    through it yet never joined it counts one absence (a line on another provider, or the registry
    wrong); one that joined is cleared. ``absent`` itself when nothing closed."""
    out: dict[str, int] | None = None
    for ch in changes:
        inc = ch.incident
        tally = tallies.get(inc.id)
        if (ch.kind is not ChangeKind.CLOSED or inc.cause is not Cause.ISP_CONGESTION or "area" in inc.scope
                or tally is None or len(tally.ramp) < min_lines):
            continue
        out = dict(absent) if out is None else out
        for cam in index.groups.get(GroupKey(GroupKind.ISP, inc.scope["isp"]), ()):
            tr = tracks.get(cam)
            if cam in tally.ramp:
                out.pop(cam, None)
            elif tr is not None and tr.last_seen >= inc.opened and not tr.down_run and tr.down_since < inc.opened:
                out[cam] = out.get(cam, 0) + 1
    return absent if out is None else out
