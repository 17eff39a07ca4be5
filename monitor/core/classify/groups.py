"""One classification round over the incidents: shared causes by synchrony, and the bookkeeping.

`Round` holds mutable working copies of the open incidents for the length of one call of
`classify_fleet` and turns them back into frozen `Incident`s and `IncidentChange`s at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any

from monitor.core.classify.congestion import CongestionRounds
from monitor.core.classify.keys import GroupKey, GroupKind
from monitor.core.classify.monitor import MonitorRounds
from monitor.core.classify.opening import SHARED_OUTAGE, OpeningRounds
from monitor.core.classify.overlay import Overlay
from monitor.core.classify.state import (
    NEW_TRACK,
    ChangeKind,
    Departure,
    FleetIndex,
    FleetState,
    Incident,
    IncidentChange,
    Track,
)
from monitor.core.classify.work import Work as _Work
from monitor.core.domain import Cause
from monitor.core.policy import ClassifierPolicy

_LOCAL_KIND = {Cause.LOCAL_OUTAGE: GroupKind.LINE, Cause.CAMERA_FAULT: GroupKind.CAMERA,
               Cause.LOCAL_CONGESTION: GroupKind.LINE_CONGESTION}
_WIDE = (GroupKind.AREA, GroupKind.ISP)


class Round(OpeningRounds, CongestionRounds, MonitorRounds):
    def __init__(self, state: FleetState, index: FleetIndex, tracks: Mapping[str, Track],
                 observed: list[str], troubled: list[str], now: int, policy: ClassifierPolicy, ref_bad: int,
                 refs_now: bool):
        self.index, self.tracks, self.observed, self.now, self.policy = index, tracks, observed, now, policy
        self.troubled = troubled  # the observed cameras now down, without frames or congested (advance_tracks)
        self.overlay: Mapping[str, Overlay] = {}  # set by the round before local faults (classify.overlay)
        self.co_congestion = state.co_congestion  # the last round's tallies (classify.membership)
        self.absent = state.registry.absent  # cameras that stayed out of their provider's congestions
        self.ref_bad, self.refs_now = ref_bad, refs_now
        self.works: dict[str, _Work] = {i.id: _Work.of(i) for i in state.incidents.values()}
        for w in self.works.values():  # a camera pruned or disabled: its ladder ends, nobody is asked about it
            for cam in [c for c in w.members if c not in index.info]:
                w.leave(cam, Departure.REMOVED)
        self.next_id = state.next_id
        self.stragglers: list[tuple[str, int]] = []  # down when their shared outage closed this round
        self.stragglers_waiting: dict[str, int] = dict(state.stragglers_waiting)  # see classify.local
        # Cameras still congested when their shared congestion closed: explained until they clear, or
        # until they outlast it as long as a household congestion needs to show (see classify.local).
        self.congestion_explained: dict[str, tuple[int, int]] = {
            c: (at, tracks[c].congested_run if run < 0 else run)
            for c, at, run in state.congestion_explained if tracks.get(c, NEW_TRACK).congested}
        sync = int(policy.sync_window.total_seconds())
        self.sync = sync
        self.long_down: set[str] = set()
        self.fresh: list[str] = []
        self.pending: list[str] = []  # down, but not yet for as long as `fresh` needs
        # A congested path drops probes for an interval or two at a time: a congested camera must be
        # down as long as a congested household must before it counts towards a shared outage.
        congested = self.members_of(Cause.ISP_CONGESTION, Cause.LOCAL_CONGESTION) | self.congestion_explained.keys()
        for cam in troubled:
            tr = tracks[cam]
            if tr.down_run:
                need = policy.sync_min_down_intervals
                if tr.congested or cam in congested:
                    need = max(need, policy.open_after_bad_intervals_congested)
                if now - tr.down_since > sync:
                    self.long_down.add(cam)
                elif tr.down_run >= need:
                    self.fresh.append(cam)
                else:
                    self.pending.append(cam)

    # ---- lookups ---------------------------------------------------------------------------
    @cached_property
    def observed_set(self) -> set[str]:
        """`observed` as a set (most rounds never ask)."""
        return set(self.observed)

    def open_of(self, *causes: Cause) -> list[_Work]:
        return [w for w in self.works.values() if w.cause in causes and not w.closed]

    def members_of(self, *causes: Cause) -> set[str]:
        out: set[str] = set()
        for w in self.open_of(*causes):
            out.update(w.members)
        return out

    def by_key(self, key: str) -> _Work | None:
        for w in self.works.values():
            if w.key == key and not w.closed:
                return w
        return None

    def _new(self, cause: Cause, group: GroupKey, evidence: Mapping[str, Any]) -> _Work:
        w = _Work(id=f"I{self.next_id}", group=group, cause=cause, opened=self.now, members={},
                  evidence=evidence, new=True)
        self.next_id += 1
        self.works[w.id] = w
        return w

    def _denominator(self, group: GroupKey, *, include_down: bool = False) -> int:
        obs, long_down = self.observed_set, (() if include_down else self.long_down)
        return sum(1 for c in self.index.groups.get(group, ()) if c in obs and c not in long_down)

    def _min_lines(self, group: GroupKey) -> int:
        """sync_min_lines, or every line of a group that has fewer (never fewer than two)."""
        p = self.policy
        have = self._lines(self.index.groups.get(group, ()))
        return max(p.sync_min_lines_small_group, min(p.sync_min_lines, have))

    def _lines(self, cams: Iterable[str]) -> int:
        info = self.index.info
        return len({info[c].line for c in cams})

    # ---- local incidents --------------------------------------------------------------------
    def join_local(self, cause: Cause, keyval: str, cam: str, since: int, evidence: Mapping[str, Any]) -> None:
        group = GroupKey(_LOCAL_KIND[cause], keyval)
        w = self.by_key(f"{cause}|{group}") or self._new(cause, group, evidence)
        w.join(cam, since)

    # ---- shared outages -----------------------------------------------------------------------
    def shared_outages(self) -> None:
        p, tracks = self.policy, self.tracks
        min_down = p.sync_min_down_intervals
        hidden: list[str] = []
        for w in self.open_of(*SHARED_OUTAGE):
            monitor = w.cause is Cause.MONITOR_OUTAGE
            scope = self.index.info.keys() if monitor else self.index.groups.get(w.group, ())
            # A camera that went down well before the others (a household fault already there) or well
            # after them is judged on its own, not swept into a shared outage.
            early, late = w.opened - self.sync - int(p.absorb_window.total_seconds()), w.opened + self.sync
            for cam in scope:
                tr = tracks.get(cam)
                if (tr is not None and tr.down_run >= min_down
                        and (monitor or cam in w.members or early <= tr.down_since <= late)):
                    w.join(cam, tr.down_since)
            if not monitor:
                self._join_by_synchrony(w)
            for cam in list(w.members):
                tr = tracks.get(cam)
                if tr is not None and tr.up_run >= p.close_after_good_intervals:
                    w.leave(cam, Departure.RECOVERED)
            down_cams = [c for c in w.members if tracks[c].down_run]
            before = len(self.stragglers)
            self._keep_or_close(w, len(down_cams), p.group_close_after_intervals, stragglers=True,
                                holding=None if monitor else self._outage_holds(w, down_cams))
            if monitor and w.closed:
                hidden += [c for c, _ in self.stragglers[before:]]
            elif monitor and w.fail_run:
                # The fleet answers again: the monitor is back, though its incident waits a round
                # more before it closes. What is still down is judged now, so that an area outage
                # the blind spot hid is named from the first round it can be seen.
                hidden += down_cams
        still_shared = self.members_of(Cause.AREA_OUTAGE, Cause.ISP_OUTAGE)  # e.g. one the blind spot hid
        hidden = [c for c in hidden if c not in still_shared]
        if len(hidden) >= p.sync_min_lines_small_group:
            # The monitor's blind spot may have hidden an area or ISP outage that began meanwhile: the
            # cameras still down together when it ends are judged by synchrony, not as households.
            assigned = self._open_groups(hidden, _WIDE, p.outage_fraction, set(), include_down=True)
            self.stragglers = [(c, since) for c, since in self.stragglers if c not in assigned]

        fresh = self.fresh
        if fresh and not self.open_of(Cause.MONITOR_OUTAGE):
            self._maybe_monitor(fresh)
        if self.open_of(Cause.MONITOR_OUTAGE) or self.fleet_going_dark():
            self._settle()
            return
        # Cameras of a young ISP-in-area outage still count: a wider group may explain them better.
        explained = set()
        for w in self.open_of(*SHARED_OUTAGE):
            if not (w.group.kind is GroupKind.ISP_IN_AREA and self.now - w.opened <= self.sync):
                explained.update(w.members)
        free = [c for c in fresh if c not in explained]
        if len(free) >= p.sync_min_lines_small_group:  # each group checks its own minimum (_min_lines)
            pending = [c for c in self.pending if c not in explained]
            assigned = self._open_groups(free, _WIDE, p.outage_fraction, set(), pending=pending)
            in_ispa = self.members_of(*SHARED_OUTAGE)
            ripe = [c for c in free if c not in assigned and c not in in_ispa
                    and self.tracks[c].down_run >= p.ispa_min_down_intervals]
            self._open_groups(ripe, (GroupKind.ISP_IN_AREA,), p.outage_fraction, assigned)
        self._settle()

    def _join_by_synchrony(self, w: _Work) -> None:
        """Cameras the registry puts elsewhere that went down with this outage's own cameras join it:
        evidence wins over the registry (an owner who changed provider, an area typed wrong). Only
        cameras no shared outage explains, within `membership_sync_window` of the outage's onset."""
        if not w.members:
            return
        sinces = sorted(w.members.values())
        onset = sinces[len(sinces) // 2]
        window = int(self.policy.membership_sync_window.total_seconds())
        scope = self.index.groups.get(w.group, ())
        upstream: set[str] | None = None
        for cam in self.troubled:
            tr = self.tracks[cam]
            if tr.down_run < self.policy.sync_min_down_intervals or abs(tr.down_since - onset) > window:
                continue
            if upstream is None:
                upstream = self.members_of(*SHARED_OUTAGE)
            if cam not in upstream and cam not in scope:
                w.join(cam, tr.down_since)
                upstream.add(cam)

    def _outage_holds(self, w: _Work, down_cams: list[str]) -> bool:
        """Whether an area or ISP outage still holds.

        Judged only on its cameras that no other open area or ISP outage explains: a provider outage
        that begins inside an area's power cut keeps that provider's cameras down after the area is
        back, and they say nothing about the area. The area holds while more than
        `group_keep_fraction` of its own cameras are still down; after that it is over, and whoever
        is still down among them is a household fault. Without such an overlap: while at least that
        share of its peak is down, on two lines or more (one household left down is its own fault)."""
        p = self.policy
        others: set[str] = set()
        for o in self.open_of(Cause.AREA_OUTAGE, Cause.ISP_OUTAGE):
            if o is not w:
                others.update(o.members)
        own = [c for c in w.members if c not in others]
        if own and len(own) < len(w.members):
            return sum(1 for c in own if self.tracks[c].down_run) > p.group_keep_fraction * len(own)
        return (self._lines(down_cams) >= p.sync_min_lines_small_group
                and len(down_cams) >= p.group_keep_fraction * w.peak)

    def _keep_or_close(self, w: _Work, affected: int, close_after: int, *, stragglers: bool,
                       still_shared: bool = False, holding: bool | None = None) -> None:
        w.peak = max(w.peak, affected)
        if holding is None:
            holding = affected >= max(1.0, self.policy.group_keep_fraction * w.peak)
        if still_shared or holding:
            w.fail_run, w.recovery_at = 0, 0
            return
        w.fail_run += 1
        if w.fail_run == 1:
            w.recovery_at = self.now
        if w.fail_run >= close_after:
            if stragglers:
                self.stragglers += [(c, self._straggler_since(w, c)) for c in w.members if self.tracks[c].down_run]
            w.closed = True
            w.evidence = {**w.evidence, "peak": w.peak, "recovered_at_fraction": self.policy.group_keep_fraction}

    def _straggler_since(self, w: _Work, cam: str) -> int:
        """When a camera still down after a shared outage became a local fault.

        After an area or ISP outage: from the recovery on (it went down with the others), unless it went
        down only well after the outage opened (outside the sync window). After the
        monitor's own outage, which hid everything: from its own down run if that began before the
        blind spot did (most members' start), since the household fault was already there then."""
        since = self.tracks[cam].down_since
        if w.cause is Cause.MONITOR_OUTAGE and w.members:
            starts = sorted(w.members.values())
            if since < starts[len(starts) // 2]:
                return since
        elif since > w.opened + self.sync:
            return since  # it went down long after the others, while the outage hid it: its own fault
        return w.recovery_at

    def _settle(self) -> None:
        """The round's shared outages are known: those opened this round take in at once the cameras that
        went down with them though the registry puts them elsewhere (one seen down a round before the rest
        would otherwise be judged a household of its own in this very round, and moved only in the next);
        then the local incidents they explain are absorbed."""
        for w in self.open_of(Cause.AREA_OUTAGE, Cause.ISP_OUTAGE):
            if w.new:
                self._join_by_synchrony(w)
        self._absorb_local()

    def _absorb_local(self) -> None:
        """Cameras of a local incident that began with a shared outage belong to the shared one."""
        local = self.open_of(Cause.LOCAL_OUTAGE, Cause.CAMERA_FAULT)
        if not local:
            return
        absorb = int(self.policy.absorb_window.total_seconds())
        for w in self.open_of(*SHARED_OUTAGE):
            horizon = w.opened - absorb
            for lw in local:
                for cam, since in list(lw.members.items()):
                    if cam in w.members and since >= horizon:
                        lw.leave(cam, Departure.RECLASSIFIED)

    # ---- results --------------------------------------------------------------------------------
    def frozen_incidents(self) -> dict[str, Incident]:
        return {i: w.frozen(self.tracks) for i, w in self.works.items() if not w.closed}

    def changes(self) -> list[IncidentChange]:
        out: list[IncidentChange] = []
        for w in self.works.values():
            if w.new and w.closed and not w.departed:
                continue
            if w.new:
                out.append(IncidentChange(t=self.now, kind=ChangeKind.OPEN, incident=w.frozen(self.tracks)))
                if w.closed:
                    out.append(IncidentChange(t=self.now, kind=ChangeKind.CLOSED, incident=w.frozen(self.tracks),
                                              departed=tuple(w.departed)))
            elif w.closed:
                rest = tuple((c, Departure.RECOVERED) for c in w.members)
                out.append(IncidentChange(t=self.now, kind=ChangeKind.CLOSED, incident=w.frozen(self.tracks),
                                          departed=tuple(w.departed) + rest))
            elif w.changed:
                out.append(IncidentChange(t=self.now, kind=ChangeKind.UPDATE, incident=w.frozen(self.tracks),
                                          departed=tuple(w.departed)))
        return out
