"""What the observations say about the registry: each camera's real frame rate, and the provider or
area it really fails with. Evidence wins over the registry; the registry decides while there is none.

Pure: the state is a frozen value that goes into the checkpoint; nothing here reads a clock.

* Frame rate. A camera set to 10 fps that the registry lists at 20 looks slow for ever if it is judged
  against 20. Its real rate is learned from its clean intervals (reachable, frames flowing, no long gap,
  RTT normal): a running 0.97-quantile, because congestion only ever lowers the rate, so the upper part
  of the distribution is the camera's own setting. Until `fps_learn_min_intervals` clean intervals are
  in, a higher rate is taken at once (the quantile's small steps would take hours to climb from an odd
  first sample). Once `fps_learn_min_intervals` clean intervals agree
  on a rate more than `registry_fps_tolerance` away from the registry's, that is a finding, and the
  classifier judges the camera against the learned rate from then on.
* Provider and area. A camera that goes down together with another provider's or area's outage (and
  comes back with it) belongs there: the owner changed provider without telling the city, or the area
  was typed wrong. `moved` holds what the evidence showed; `effective_cameras` is the registry with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from monitor.core.domain import Camera
from monitor.core.policy import ClassifierPolicy

FIELDS = ("isp", "area", "expected_fps")


class RegistryFinding(NamedTuple):
    """A registry row the observations contradict: the field, what the registry says, what was seen."""

    camera: str
    field: str
    registry: Any
    observed: Any
    evidence: Mapping[str, Any]


class CoCongestion(NamedTuple):
    """One camera registered with a calm provider, congested during another provider's congestion."""

    intervals: int  # intervals it was congested while that congestion was open
    first: int  # epoch s of the first of them
    last: int  # epoch s of the last of them
    misfit: float = 0.0  # sum over them of |log| of its frame share and RTT against that congestion's medians
    own_misfit: float = 0.0  # the same against its registered provider's other congested cameras...
    own_n: int = 0  # ...over this many intervals (those with at least three of them congested)


class CongestionTally(NamedTuple):
    """One open provider congestion: its rounds while not recovering, and the cameras tallied against it."""

    rounds: int
    cams: Mapping[str, CoCongestion]
    ramp: Mapping[str, int] = {}  # its own registered cameras -> when each joined, s after it opened


class Rate(NamedTuple):
    estimate: float  # fps, the running 0.97-quantile of the clean intervals
    clean: int  # clean intervals seen


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryKnowledge:
    rates: Mapping[str, Rate] = field(default_factory=dict)
    moved: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """camera -> {field: value the evidence showed} (isp, area, expected_fps)."""
    fits: Mapping[str, float] = field(default_factory=dict)
    """camera -> mean misfit of the provider congestion its provider was found from (lower: closer)."""
    absent: Mapping[str, int] = field(default_factory=dict)
    """camera -> how many of its registered provider's congestions it stayed out of, up and seen through
    each (membership.provider_absences); cleared when it joins one."""


def learn_rates(rates: Mapping[str, Rate], samples: Iterable[tuple], policy: ClassifierPolicy
                ) -> tuple[dict[str, Rate], list[str]]:
    """Move each camera's rate estimate by its clean sample of this interval (a stochastic quantile).
    Also returns the cameras due to be judged (`rate_findings`): every `fps_learn_min_intervals` clean
    intervals."""
    out = dict(rates)
    due: list[str] = []
    need = policy.fps_learn_min_intervals
    q, step = policy.fps_learn_quantile, policy.fps_learn_step
    gap_thr, rtt_thr = policy.congestion_gap_s, policy.congestion_rtt_min_ms
    up, down = step * q, step * (1.0 - q)
    new = tuple.__new__  # Rate(...) through NamedTuple's __new__ costs more than the update itself
    for s in samples:
        fps, gap, rtt = s[4], s[5], s[2]
        if not s[1] or not fps or gap is None or gap > gap_thr or (rtt is not None and rtt > rtt_thr):
            continue
        cam = s[0]
        r = out.get(cam)
        if r is None:
            out[cam] = new(Rate, (float(fps), 1))
            clean = 1
        else:
            est, clean = r[0], r[1] + 1
            est = est - est * down if fps < est else est + est * up
            if clean <= need and fps > est:  # warming up: the highest clean rate so far (one odd first
                est = fps  # sample must not hold the estimate down for hours)
            out[cam] = new(Rate, (est, clean))
        if not clean % need:
            due.append(cam)
    return out, due


def rate_findings(knowledge: RegistryKnowledge, cameras: Mapping[str, Camera], due: Iterable[str],
                  policy: ClassifierPolicy) -> list[RegistryFinding]:
    """Frame-rate findings that are new or changed among the cameras due to be judged (`learn_rates`)."""
    found = []
    tol = policy.registry_fps_tolerance
    for cam in due:
        r = knowledge.rates.get(cam)
        c = cameras.get(cam)
        if r is None or c is None:
            continue
        seen = round(r.estimate, 1) if r.estimate < 5 else float(round(r.estimate))
        judged = knowledge.moved.get(cam, {}).get("expected_fps", c.expected_fps)
        if abs(seen - judged) <= tol * seen:
            continue  # the registry (or the last finding) is right
        if abs(seen - c.expected_fps) <= tol * seen:
            seen = c.expected_fps  # back to what the registry says: the finding is withdrawn
        found.append(RegistryFinding(cam, "expected_fps", c.expected_fps, seen, {
            "clean_intervals": r.clean, "learned_fps": round(r.estimate, 2), "tolerance": tol}))
    return found


def apply_findings(knowledge: RegistryKnowledge, findings: Iterable[RegistryFinding],
                   cameras: Mapping[str, Camera]) -> RegistryKnowledge:
    moved = {cam: dict(v) for cam, v in knowledge.moved.items()}
    fits = dict(knowledge.fits)
    changed = False
    for f in findings:
        if "mean_misfit" in f.evidence:
            fits[f.camera] = f.evidence["mean_misfit"]
        c = cameras.get(f.camera)
        entry = moved.setdefault(f.camera, {})
        if c is not None and f.observed == getattr(c, f.field):
            entry.pop(f.field, None)
        else:
            entry[f.field] = f.observed
        if not entry:
            del moved[f.camera]
        changed = True
    return replace(knowledge, moved=moved, fits=fits) if changed else knowledge


def effective_cameras(cameras: Mapping[str, Camera], moved: Mapping[str, Mapping[str, Any]]) -> dict[str, Camera]:
    """The registry as the evidence corrected it."""
    out = dict(cameras)
    for cam, fields in moved.items():
        c = out.get(cam)
        if c is not None:
            out[cam] = replace(c, **{k: v for k, v in fields.items() if k in FIELDS})
    return out


def finding_record_fields(f: RegistryFinding) -> dict[str, Any]:
    """The scenario format's fields of a finding (`t` and `type` are the writer's)."""
    return {"camera": f.camera, "field": f.field, "registry": f.registry, "observed": f.observed}


def knowledge_to_json(k: RegistryKnowledge) -> dict:
    return {"rates": {c: [r.estimate, r.clean] for c, r in k.rates.items()},
            "moved": {c: dict(v) for c, v in k.moved.items()}, "fits": dict(k.fits),
            **({"absent": dict(k.absent)} if k.absent else {})}


def knowledge_from_json(d: Mapping[str, Any] | None) -> RegistryKnowledge:
    if not d:
        return RegistryKnowledge()
    return RegistryKnowledge(rates={c: Rate(float(e), int(n)) for c, (e, n) in d.get("rates", {}).items()},
                             moved={c: dict(v) for c, v in d.get("moved", {}).items()},
                             fits={c: float(v) for c, v in d.get("fits", {}).items()},
                             absent={c: int(v) for c, v in d.get("absent", {}).items()})


def tallies_to_json(t: Mapping[str, CongestionTally]) -> dict:
    return {i: {"rounds": v.rounds, "cams": {c: list(x) for c, x in v.cams.items()}, "ramp": dict(v.ramp)}
            for i, v in t.items()}


def tallies_from_json(d: Mapping[str, Any] | None) -> dict[str, CongestionTally]:
    return {i: CongestionTally(int(v["rounds"]), {c: _co(x) for c, x in v["cams"].items()},
                               {c: int(x) for c, x in v.get("ramp", {}).items()})
            for i, v in (d or {}).items()}


def _co(x: list) -> CoCongestion:
    return CoCongestion(int(x[0]), int(x[1]), int(x[2]), float(x[3]), float(x[4]) if len(x) > 4 else 0.0,
                        int(x[5]) if len(x) > 5 else 0)
