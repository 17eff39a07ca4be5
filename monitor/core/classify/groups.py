"""One classification round over the incidents: shared causes by synchrony, and the bookkeeping.

`Round` holds mutable working copies of the open incidents for the length of one call of
`classify_fleet` and turns them back into frozen `Incident`s and `IncidentChange`s at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from monitor.core.classify.congestion import CongestionRounds
from monitor.core.classify.state import (
    T_CONG,
    T_CONG_RUN,
    T_DOWN,
    T_DOWN_SINCE,
    T_UP,
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

SHARED_OUTAGE = (Cause.MONITOR_OUTAGE, Cause.AREA_OUTAGE, Cause.ISP_OUTAGE)
_GROUP_CAUSE = {"area": Cause.AREA_OUTAGE, "isp": Cause.ISP_OUTAGE, "ispa": Cause.ISP_OUTAGE}


class Round(CongestionRounds):
    def __init__(self, state: FleetState, index: FleetIndex, tracks: Mapping[str, Track],
                 observed: list[str], now: int, policy: ClassifierPolicy, ref_bad: int, refs_now: bool):
        self.index, self.tracks, self.observed, self.now, self.policy = index, tracks, observed, now, policy
        self.observed_set = set(observed)
        self.ref_bad, self.refs_now = ref_bad, refs_now
        self.works: dict[str, _Work] = {i.id: _Work.of(i) for i in state.incidents.values()}
        self.next_id = state.next_id
        self.stragglers: list[tuple[str, int]] = []  # down when their shared outage closed this round
        self.stragglers_waiting: dict[str, int] = dict(state.stragglers_waiting)  # see _local_faults
        # Cameras still congested when their shared congestion closed: explained until they clear, or
        # until they outlast it as long as a household congestion needs to show (see _local_faults).
        self.congestion_explained: dict[str, tuple[int, int]] = {
            c: (at, tracks[c][T_CONG_RUN] if run < 0 else run)
            for c, at, run in state.congestion_explained if tracks.get(c, (0,) * 15)[T_CONG]}
        sync = int(policy.sync_window.total_seconds())
        self.sync = sync
        self.long_down: set[str] = set()
        self.fresh: list[str] = []
        # A congested path drops probes for an interval or two at a time: a congested camera must be
        # down as long as a congested household must before it counts towards a shared outage.
        congested = self.members_of(Cause.ISP_CONGESTION, Cause.LOCAL_CONGESTION) | self.congestion_explained.keys()
        for cam in observed:
            tr = tracks[cam]
            if tr[T_DOWN]:
                need = policy.sync_min_down_intervals
                if tr[T_CONG] or cam in congested:
                    need = max(need, policy.open_after_bad_intervals_congested)
                if now - tr[T_DOWN_SINCE] > sync:
                    self.long_down.add(cam)
                elif tr[T_DOWN] >= need:
                    self.fresh.append(cam)

    # ---- lookups ---------------------------------------------------------------------------
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

    def _new(self, cause: Cause, group: str, evidence: Mapping[str, Any]) -> _Work:
        w = _Work(id=f"I{self.next_id}", group=group, cause=cause, opened=self.now, members={},
                  evidence=evidence, new=True)
        self.next_id += 1
        self.works[w.id] = w
        return w

    def _denominator(self, group: str, *, include_down: bool = False) -> int:
        obs, long_down = self.observed_set, (() if include_down else self.long_down)
        return sum(1 for c in self.index.groups.get(group, ()) if c in obs and c not in long_down)

    def _min_lines(self, group: str) -> int:
        """sync_min_lines, or every line of a group that has fewer (never fewer than two)."""
        p = self.policy
        have = self._lines(self.index.groups.get(group, ()))
        return max(p.sync_min_lines_small_group, min(p.sync_min_lines, have))

    def _lines(self, cams: Iterable[str]) -> int:
        info = self.index.info
        return len({info[c][2] for c in cams})

    # ---- local incidents --------------------------------------------------------------------
    def join_local(self, cause: Cause, keyval: str, cam: str, since: int, evidence: Mapping[str, Any]) -> None:
        prefix = {Cause.LOCAL_OUTAGE: "line", Cause.CAMERA_FAULT: "cam", Cause.LOCAL_CONGESTION: "lcong"}[cause]
        group = f"{prefix}:{keyval}"
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
                if (tr is not None and tr[T_DOWN] >= min_down
                        and (monitor or cam in w.members or early <= tr[T_DOWN_SINCE] <= late)):
                    w.join(cam, tr[T_DOWN_SINCE])
            for cam in list(w.members):
                tr = tracks.get(cam)
                if tr is not None and tr[T_UP] >= p.close_after_good_intervals:
                    w.leave(cam, Departure.RECOVERED)
            down_cams = [c for c in w.members if tracks[c][T_DOWN]]
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
            assigned = self._open_groups(hidden, ("area", "isp"), p.outage_fraction, set(), include_down=True)
            self.stragglers = [(c, since) for c, since in self.stragglers if c not in assigned]

        fresh = self.fresh
        if fresh and not self.open_of(Cause.MONITOR_OUTAGE):
            self._maybe_monitor(fresh)
        if self.open_of(Cause.MONITOR_OUTAGE):
            self._absorb_local()
            return
        # Cameras of a young ISP-in-area outage still count: a wider group may explain them better.
        explained = set()
        for w in self.open_of(*SHARED_OUTAGE):
            if not (w.group.startswith("ispa:") and self.now - w.opened <= self.sync):
                explained.update(w.members)
        free = [c for c in fresh if c not in explained]
        if len(free) >= p.sync_min_lines_small_group:  # each group checks its own minimum (_min_lines)
            assigned = self._open_groups(free, ("area", "isp"), p.outage_fraction, set())
            in_ispa = self.members_of(*SHARED_OUTAGE)
            ripe = p.ispa_min_down_intervals
            self._open_groups([c for c in free if c not in assigned and c not in in_ispa
                               and self.tracks[c][T_DOWN] >= ripe], ("ispa",), p.outage_fraction, assigned)
        self._absorb_local()

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
            return sum(1 for c in own if self.tracks[c][T_DOWN]) > p.group_keep_fraction * len(own)
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
                self.stragglers += [(c, self._straggler_since(w, c)) for c in w.members if self.tracks[c][T_DOWN]]
            w.closed = True
            w.evidence = {**w.evidence, "peak": w.peak, "recovered_at_fraction": self.policy.group_keep_fraction}

    def _straggler_since(self, w: _Work, cam: str) -> int:
        """When a camera still down after a shared outage became a local fault.

        After an area or ISP outage: from the recovery on (it went down with the others), unless it went
        down only well after the outage opened (outside the sync window). After the
        monitor's own outage, which hid everything: from its own down run if that began before the
        blind spot did (most members' start), since the household fault was already there then."""
        since = self.tracks[cam][T_DOWN_SINCE]
        if w.cause is Cause.MONITOR_OUTAGE and w.members:
            starts = sorted(w.members.values())
            if since < starts[len(starts) // 2]:
                return since
        elif since > w.opened + self.sync:
            return since  # it went down long after the others, while the outage hid it: its own fault
        return w.recovery_at

    def _maybe_monitor(self, fresh: list[str]) -> None:
        p, info = self.policy, self.index.info
        denom = len(self.observed) - len(self.long_down)
        if denom <= 0:
            return
        frac = len(fresh) / denom
        areas = {info[c][0] for c in fresh}
        isps = {info[c][1] for c in fresh}
        spans = len(areas) >= min(2, len(self.index.areas)) and len(isps) >= min(2, len(self.index.isps))
        by_refs = self.ref_bad >= p.reference_bad_intervals and frac >= p.monitor_fraction_with_references
        by_fleet = frac >= p.monitor_fraction and spans and self._lines(fresh) >= p.sync_min_lines
        if not (by_refs or by_fleet):
            return
        w = self._new(Cause.MONITOR_OUTAGE, "monitor", {
            "down_together": len(fresh), "observed": denom, "fraction": round(frac, 3),
            "threshold_fraction": p.monitor_fraction_with_references if by_refs else p.monitor_fraction,
            "reference_bad_intervals": self.ref_bad, "areas": len(areas), "isps": len(isps),
            "inferred_from": "references" if by_refs else "fleet_synchrony",
        })
        for cam, tr in self.tracks.items():
            if tr[T_DOWN] >= 1 and cam in self.observed_set:
                w.join(cam, tr[T_DOWN_SINCE])
        w.peak = len(w.members)

    def _open_groups(self, free: list[str], kinds: tuple[str, ...], threshold: float,
                     taken: set[str], *, include_down: bool = False) -> set[str]:
        """Open shared outages for groups (areas, ISPs, ISP-in-area) where enough failed together."""
        p, info = self.policy, self.index.info
        cands = []
        for kind in kinds:
            by: dict[str, list[str]] = {}
            for c in free:
                a, isp = info[c][0], info[c][1]
                g = {"area": f"area:{a}", "isp": f"isp:{isp}", "ispa": f"ispa:{isp}/{a}"}[kind]
                by.setdefault(g, []).append(c)
            for g, cams in by.items():
                if self._lines(cams) < self._min_lines(g):
                    continue
                denom = self._denominator(g, include_down=include_down)
                frac = len(cams) / denom if denom else 0.0
                if frac >= threshold:
                    cands.append((-frac, kinds.index(kind), g, cams, denom))
        cands.sort(key=lambda x: (x[0], x[1]))
        # The same ISP failing together in several areas at once is that ISP, not several local nodes.
        per_isp: dict[str, list[tuple]] = {}
        for cand in cands:
            if cand[2].startswith("ispa:"):
                per_isp.setdefault(cand[2][5:].partition("/")[0], []).append(cand)
        for isp, group in per_isp.items():
            if len(group) > 1:
                cams = [c for cand in group for c in cand[3]]
                cands = [c for c in cands if c not in group] + [(group[0][0], 0, f"isp:{isp}", cams,
                                                                 self._denominator(f"isp:{isp}"))]
        assigned: set[str] = set()
        for negf, _, g, cams, denom in cands:
            rest = [c for c in cams if c not in assigned and c not in taken]
            # What a better group explained is gone; the rest must still be a group on its own
            # (one household left over on a small ISP is that household, not the ISP).
            if 2 * len(rest) < len(cams) or self._lines(rest) < self._min_lines(g):
                continue
            cause = _GROUP_CAUSE[g.partition(":")[0]]
            ev = {"down_together": len(cams), "lines": self._lines(cams), "observed": denom,
                  "fraction": round(-negf, 3), "threshold_fraction": threshold,
                  "min_lines": p.sync_min_lines, "window_s": self.sync}
            w = self._merge_or_new(cause, g, ev)
            scope_cams = set(self.index.groups.get(g, ()))
            for c in scope_cams:
                tr = self.tracks.get(c)
                if tr is not None and tr[T_DOWN] >= p.sync_min_down_intervals:
                    w.join(c, tr[T_DOWN_SINCE])
            w.peak = max(w.peak, sum(1 for c in w.members if self.tracks[c][T_DOWN]))
            assigned.update(cams)
        return assigned

    def _merge_or_new(self, cause: Cause, group: str, evidence: Mapping[str, Any]) -> _Work:
        """A young shared incident whose cameras all lie inside the new, wider group becomes that group."""
        scope_cams = set(self.index.groups.get(group, ()))
        family = SHARED_OUTAGE if cause in SHARED_OUTAGE else (Cause.ISP_CONGESTION,)
        # congestion builds up over the evening: its incidents stay 'young' for the congestion sync window
        young = self.sync if cause in SHARED_OUTAGE else self.policy.congestion_sync_window.total_seconds()
        if group.startswith("ispa:"):
            isp = group[5:].partition("/")[0]
            for w in self.open_of(cause):
                if w.group.startswith(f"ispa:{isp}/") and w.group != group and self.now - w.opened <= young:
                    w.rescope(cause, f"isp:{isp}")  # a second area of the same ISP: it is the ISP
                    w.evidence = {**evidence, "widened_from": w.evidence}
                    return w
        for w in self.open_of(*family):
            if w.cause is Cause.MONITOR_OUTAGE or w.group == group:
                continue
            if self.now - w.opened <= young and set(w.members) <= scope_cams:
                w.rescope(cause, group)
                w.evidence = {**evidence, "widened_from": w.evidence}
                return w
        return self._new(cause, group, evidence)

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
