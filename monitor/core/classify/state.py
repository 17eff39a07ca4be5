"""The classifier's state: frozen values that survive a restart through JSON.

Times inside the core are whole seconds since the Unix epoch (UTC) so that the per-interval
arithmetic stays cheap; the engine turns them into ISO 8601 at the edge.

`FleetState.tracks` holds one `Track` per camera. A `Track` is a plain tuple (see `TRACK_FIELDS`)
because one is rebuilt for every camera in every probe interval and a tuple is the cheapest frozen
value Python has. Mappings inside the frozen dataclasses are built once per step and never mutated
afterwards; treat them as read-only.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from monitor.core.domain import Camera, Cause


class Sample(NamedTuple):
    """One camera observation reduced to what the classifier reads (a light, immutable tuple)."""

    camera: str
    reachable: bool
    rtt_ms: float | None
    onvif_ok: bool
    fps: float | None
    max_gap_s: float | None


# Track: positions in the per-camera tuple.
T_LAST = 0  # epoch s of the last observation seen
T_DOWN = 1  # consecutive intervals down (unreachable, no frames)
T_DOWN_SINCE = 2  # start of the current down run
T_UP = 3  # consecutive intervals not down
T_NF = 4  # consecutive intervals reachable but no frames, RTT normal (camera fault candidate)
T_NF_SINCE = 5
T_FRAMES = 6  # consecutive intervals with frames flowing
T_BITS = 7  # bitmask: slow intervals among the most recent ones (bit 0 = newest)
T_CONG = 8  # hysteretic congested state, 0/1
T_CONG_RUN = 9  # consecutive intervals in congested state
T_CONG_OFF = 10  # consecutive intervals out of congested state
T_CONG_SINCE = 11
T_FLAPS = 12  # down-runs (of 2+ intervals) in the current flap episode
T_ONSET = 13  # end of the most recent such run
T_RTT = 14  # RTT baseline, ms (EWMA over clean intervals), 0.0 = unknown
TRACK_FIELDS = (
    "last", "down", "down_since", "up", "nf", "nf_since", "frames", "slow_bits", "congested",
    "cong_run", "cong_off", "cong_since", "flaps", "onset", "rtt_base",
)
NEW_TRACK: tuple = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.0)

Track = tuple  # a tuple laid out as TRACK_FIELDS


class ChangeKind(enum.StrEnum):
    OPEN = "open"
    UPDATE = "update"
    CLOSED = "closed"


class Departure(enum.StrEnum):
    RECOVERED = "recovered"
    RECLASSIFIED = "reclassified"  # the camera turned out to belong to a shared (upstream) cause


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident:
    id: str
    key: str  # what it is about: "line:…", "cam:…", "lcong:…", "area:…", "isp:…", "ispa:isp/area", "monitor"
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


@dataclass(frozen=True, slots=True)
class FleetIndex:
    """The registry, indexed for the classifier: built once per registry, not per interval."""

    info: Mapping[str, tuple[str, str, str, float]]  # camera -> (area, isp, line, expected_fps)
    groups: Mapping[str, tuple[str, ...]]  # "area:A01" / "isp:x" / "ispa:x/A01" / "line:L" -> cameras
    areas: frozenset[str]
    isps: frozenset[str]
    cameras: Mapping[str, Camera] = field(default_factory=dict)

    @classmethod
    def from_cameras(cls, cameras: Mapping[str, Camera]) -> FleetIndex:
        info: dict[str, tuple[str, str, str, float]] = {}
        groups: dict[str, list[str]] = {}
        for cid, c in cameras.items():
            info[cid] = (c.area, c.isp, c.line_id, float(c.expected_fps) or 1.0)
            for key in (f"area:{c.area}", f"isp:{c.isp}", f"ispa:{c.isp}/{c.area}", f"line:{c.line_id}"):
                groups.setdefault(key, []).append(cid)
        return cls(
            info=info,
            groups={k: tuple(v) for k, v in groups.items()},
            areas=frozenset(v[0] for v in info.values()),
            isps=frozenset(v[1] for v in info.values()),
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
        "track_fields": list(TRACK_FIELDS),
        "tracks": {cam: list(tr) for cam, tr in state.tracks.items()},
        "incidents": [incident_to_json(i) for i in state.incidents.values()],
        "next_id": state.next_id,
        "reference_bad_run": state.reference_bad_run,
        "references_seen": state.references_seen,
        "last_t": state.last_t,
        "congestion_explained": [list(e) for e in state.congestion_explained],
        "stragglers_waiting": [list(e) for e in state.stragglers_waiting],
    }


def state_from_json(d: Mapping[str, Any]) -> FleetState:
    if list(d.get("track_fields", TRACK_FIELDS)) != list(TRACK_FIELDS):
        raise ValueError("classifier state was written with a different track layout")
    tracks = {
        cam: tuple(float(v) if n == T_RTT else int(v) for n, v in enumerate(tr)) for cam, tr in d["tracks"].items()
    }
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
    )


def _explained(e: Any, last_t: int) -> tuple[str, int, int]:
    """One congestion_explained entry; a bare camera id (written before the entries were dated)
    counts from the checkpoint's last round, its congested run unknown."""
    if isinstance(e, str):
        return (e, last_t, -1)
    cam, closed_at, run = e
    return (str(cam), int(closed_at), int(run))
