"""The classifier's state: frozen values that survive a restart through JSON.

Times inside the core are whole seconds since the Unix epoch (UTC) so that the per-interval
arithmetic stays cheap; the engine turns them into ISO 8601 at the edge.

`FleetState.tracks` holds one `Track` per camera. A `Track` is a named tuple because one is rebuilt
for every camera in every probe interval and a tuple is the cheapest frozen value Python has.
Mappings inside the frozen dataclasses are built once per step and never mutated afterwards; treat
them as read-only.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from monitor.core.classify.keys import GroupKey, GroupKind
from monitor.core.classify.learning import (
    CongestionTally,
    RegistryKnowledge,
    knowledge_from_json,
    knowledge_to_json,
    tallies_from_json,
    tallies_to_json,
)
from monitor.core.classify.overlay import Overlay, overlay_from_json, overlay_to_json
from monitor.core.domain import Camera, Cause


class Sample(NamedTuple):
    """One camera observation reduced to what the classifier reads (a light, immutable tuple)."""

    camera: str
    reachable: bool
    rtt_ms: float | None
    onvif_ok: bool
    fps: float | None
    max_gap_s: float | None


class Track(NamedTuple):
    """Where one camera stands after its latest observation (rebuilt for every observation)."""

    last_seen: int = 0  # epoch s of the last observation taken
    down_run: int = 0  # consecutive intervals down (unreachable, no ONVIF answer, no frames)
    down_since: int = 0  # start of the current (or latest) down run
    up_run: int = 0  # consecutive intervals not down
    no_frames_run: int = 0  # consecutive intervals reachable, RTT normal, no frames (camera fault candidate)
    no_frames_since: int = 0  # start of that run; 0 outside one
    frames_run: int = 0  # consecutive intervals with frames flowing
    slow_bits: int = 0  # bitmask: slow intervals among the most recent ones (bit 0 = newest)
    congested: int = 0  # hysteretic congested state, 0/1
    congested_run: int = 0  # consecutive intervals in the congested state
    uncongested_run: int = 0  # consecutive intervals out of it
    congested_since: int = 0  # start of the current (or latest) congested state
    flaps: int = 0  # down runs (of sync_min_down_intervals or more) in the current flap episode
    last_flap_end: int = 0  # when the most recent of those runs ended
    rtt_base_ms: float = 0.0  # RTT baseline (EWMA over clean intervals), 0.0 = unknown


NEW_TRACK = Track()

# The checkpoint's names for the Track fields, in Track order: the names checkpoints have always been
# written with, so that older checkpoints load and older code can load newer ones.
TRACK_JSON_FIELDS = (
    "last", "down", "down_since", "up", "nf", "nf_since", "frames", "slow_bits", "congested",
    "cong_run", "cong_off", "cong_since", "flaps", "onset", "rtt_base",
)


class CameraInfo(NamedTuple):
    """What the classifier needs of one registry entry."""

    area: str
    isp: str
    line: str
    expected_fps: float
    groups: Mapping[GroupKind, GroupKey]  # the registry groups it belongs to: its area, ISP, ISP-in-area, line

    @classmethod
    def of(cls, c: Camera) -> CameraInfo:
        groups = {
            GroupKind.AREA: GroupKey(GroupKind.AREA, c.area),
            GroupKind.ISP: GroupKey(GroupKind.ISP, c.isp),
            GroupKind.ISP_IN_AREA: GroupKey(GroupKind.ISP_IN_AREA, c.isp, c.area),
            GroupKind.LINE: GroupKey(GroupKind.LINE, c.line_id),
        }
        return cls(c.area, c.isp, c.line_id, float(c.expected_fps) or 1.0, groups)


class ChangeKind(enum.StrEnum):
    OPEN = "open"
    UPDATE = "update"
    CLOSED = "closed"


class Departure(enum.StrEnum):
    RECOVERED = "recovered"
    RECLASSIFIED = "reclassified"  # the camera turned out to belong to a shared (upstream) cause
    REMOVED = "removed"  # no longer monitored: pruned from the registry, or disabled by an operator


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident:
    id: str
    key: str  # "<cause>|<group>": the cause and what it is about (a `GroupKey` as text)
    cause: Cause
    scope: Mapping[str, Any]
    opened: int
    members: Mapping[str, int]  # camera -> since (epoch s): when this cause began for that camera
    peak: int = 0
    evidence: Mapping[str, Any] = field(default_factory=dict)
    fail_run: int = 0  # shared incidents: consecutive intervals below the keep-open level
    recovery_at: int = 0  # shared incidents: when that run began (0 = not recovering)
    impaired: frozenset[str] = frozenset()  # members whose fault is visible right now (not recovering)


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentChange:
    t: int
    kind: ChangeKind
    incident: Incident
    departed: tuple[tuple[str, Departure], ...] = ()
    """Cameras that left the incident in this change, with why (closing: every remaining member)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetState:
    tracks: Mapping[str, Track] = field(default_factory=dict)
    incidents: Mapping[str, Incident] = field(default_factory=dict)  # open incidents by id
    next_id: int = 1
    reference_bad_run: int = 0
    references_seen: bool = False
    last_t: int = 0
    congestion_explained: tuple[tuple[str, int, int], ...] = ()
    """Cameras still congested when their shared congestion closed: (camera, when it closed, the
    camera's congested run then; -1 if unknown)."""
    stragglers_waiting: tuple[tuple[str, int], ...] = ()
    """Cameras still down when their area's or provider's outage ended, within the boot grace:
    (camera, when the outage recovered)."""
    overlay: Mapping[str, Overlay] = field(default_factory=dict)
    """Cameras inside an open provider congestion, against their congested peers (classify.overlay)."""
    co_congestion: Mapping[str, CongestionTally] = field(default_factory=dict)
    """Per open provider congestion: congested cameras of calm providers (classify.membership)."""
    registry: RegistryKnowledge = field(default_factory=RegistryKnowledge)
    """What the observations showed about the registry: learned frame rates, moved cameras."""


@dataclass(frozen=True, slots=True)
class FleetIndex:
    """The registry, indexed for the classifier: built once per registry, not per interval."""

    info: Mapping[str, CameraInfo]
    groups: Mapping[GroupKey, tuple[str, ...]]  # every area, ISP, ISP-in-area and line group -> its cameras
    areas: frozenset[str]
    isps: frozenset[str]
    cameras: Mapping[str, Camera] = field(default_factory=dict)

    @classmethod
    def from_cameras(cls, cameras: Mapping[str, Camera]) -> FleetIndex:
        info: dict[str, CameraInfo] = {}
        groups: dict[GroupKey, list[str]] = {}
        for cid, c in cameras.items():
            ci = info[cid] = CameraInfo.of(c)
            for key in ci.groups.values():
                groups.setdefault(key, []).append(cid)
        return cls(
            info=info,
            groups={k: tuple(v) for k, v in groups.items()},
            areas=frozenset(ci.area for ci in info.values()),
            isps=frozenset(ci.isp for ci in info.values()),
            cameras=dict(cameras),
        )


def as_index(cameras: Mapping[str, Camera] | FleetIndex) -> FleetIndex:
    return cameras if isinstance(cameras, FleetIndex) else FleetIndex.from_cameras(cameras)


# ---- JSON --------------------------------------------------------------------------------------

def incident_to_json(i: Incident) -> dict:
    return {
        "id": i.id, "key": i.key, "cause": str(i.cause), "scope": dict(i.scope), "opened": i.opened,
        "members": dict(i.members), "peak": i.peak, "evidence": dict(i.evidence),
        "fail_run": i.fail_run, "recovery_at": i.recovery_at, "impaired": sorted(i.impaired),
    }


def incident_from_json(d: Mapping[str, Any]) -> Incident:
    return Incident(
        id=d["id"], key=d["key"], cause=Cause(d["cause"]), scope=dict(d["scope"]), opened=int(d["opened"]),
        members={k: int(v) for k, v in d["members"].items()}, peak=int(d["peak"]),
        evidence=dict(d.get("evidence", {})), fail_run=int(d.get("fail_run", 0)),
        recovery_at=int(d.get("recovery_at", 0)), impaired=frozenset(d.get("impaired", ())),
    )


def state_to_json(state: FleetState) -> dict:
    return {
        "version": 1,
        "track_fields": list(TRACK_JSON_FIELDS),
        "tracks": {cam: list(tr) for cam, tr in state.tracks.items()},
        "incidents": [incident_to_json(i) for i in state.incidents.values()],
        "next_id": state.next_id,
        "reference_bad_run": state.reference_bad_run,
        "references_seen": state.references_seen,
        "last_t": state.last_t,
        "congestion_explained": [list(e) for e in state.congestion_explained],
        "stragglers_waiting": [list(e) for e in state.stragglers_waiting],
        "overlay": overlay_to_json(state.overlay),
        "co_congestion": tallies_to_json(state.co_congestion),
        "registry": knowledge_to_json(state.registry),
    }


def state_from_json(d: Mapping[str, Any]) -> FleetState:
    if list(d.get("track_fields", TRACK_JSON_FIELDS)) != list(TRACK_JSON_FIELDS):
        raise ValueError("classifier state was written with a different track layout")
    tracks = {cam: _track(values) for cam, values in d["tracks"].items()}
    incidents = {i.id: i for i in (incident_from_json(x) for x in d["incidents"])}
    return FleetState(
        tracks=tracks,
        incidents=incidents,
        next_id=int(d["next_id"]),
        reference_bad_run=int(d["reference_bad_run"]),
        references_seen=bool(d["references_seen"]),
        last_t=int(d["last_t"]),
        congestion_explained=tuple(_explained(e, int(d["last_t"])) for e in d.get("congestion_explained", ())),
        stragglers_waiting=tuple((str(c), int(since)) for c, since in d.get("stragglers_waiting", ())),
        overlay=overlay_from_json(d.get("overlay")),
        co_congestion=tallies_from_json(d.get("co_congestion")),
        registry=knowledge_from_json(d.get("registry")),
    )


def _track(values: Any) -> Track:
    *counts, rtt_base_ms = values
    return Track._make([*(int(v) for v in counts), float(rtt_base_ms)])  # _make: exactly the Track's fields


def _explained(e: Any, last_t: int) -> tuple[str, int, int]:
    """One congestion_explained entry; a bare camera id (written before the entries were dated)
    counts from the checkpoint's last round, its congested run unknown."""
    if isinstance(e, str):
        return (e, last_t, -1)
    cam, closed_at, run = e
    return (str(cam), int(closed_at), int(run))
