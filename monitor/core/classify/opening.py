"""Opening shared outages, one classification round: the groups (areas, providers, a provider within one
area) where enough lines failed together, the best explanation first, and a young incident widened when
a wider group explains it. A mixin of `classify.groups.Round`, which holds the working copies it reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from monitor.core.classify.keys import GroupKey, GroupKind
from monitor.core.classify.work import Work as _Work
from monitor.core.domain import Cause

SHARED_OUTAGE = (Cause.MONITOR_OUTAGE, Cause.AREA_OUTAGE, Cause.ISP_OUTAGE)
_GROUP_CAUSE = {GroupKind.AREA: Cause.AREA_OUTAGE, GroupKind.ISP: Cause.ISP_OUTAGE,
                GroupKind.ISP_IN_AREA: Cause.ISP_OUTAGE}


class _Candidate(NamedTuple):
    """A group whose cameras went down together, a candidate for a shared outage."""

    fraction: float  # of the group's observed cameras
    rank: int  # of its kind among the kinds asked for (ties in fraction: the earlier kind first)
    group: GroupKey
    cams: list[str]
    observed: int


class OpeningRounds:
    def _open_groups(self, free: list[str], kinds: tuple[GroupKind, ...], threshold: float,
                     taken: set[str], *, include_down: bool = False, pending: Iterable[str] = ()) -> set[str]:
        """Open shared outages for groups (areas, ISPs, ISP-in-area) where enough failed together.

        Probes spread over the interval see a district's lines go down over two rounds, not one. The
        cameras only just down (`pending`) count towards which group explains the failure best: while
        the best group is still short of its own minimum without them, its cameras wait a round for it
        rather than open a worse one (a provider's two lines, one of them a household already down)."""
        ripe = set(free)
        cands = self._merge_isp_areas(self._candidates([*free, *pending], kinds, threshold, include_down))
        assigned: set[str] = set()
        for cand in cands:
            rest = [c for c in cand.cams if c not in assigned and c not in taken]
            # What a better group explained is gone; the rest must still be a group on its own
            # (one household left over on a small ISP is that household, not the ISP).
            if 2 * len(rest) < len(cand.cams) or self._lines(rest) < self._min_lines(cand.group):
                continue
            assigned.update(cand.cams)
            now_down = [c for c in cand.cams if c in ripe]
            if len(now_down) < len(cand.cams):
                if (self._lines(now_down) < self._min_lines(cand.group)
                        or len(now_down) < threshold * cand.observed):
                    continue  # the best explanation, a round early: nothing worse opens meanwhile
                cand = cand._replace(fraction=len(now_down) / cand.observed, cams=now_down)
            self._open_group(cand, threshold)
        return assigned

    def _candidates(self, free: list[str], kinds: tuple[GroupKind, ...], threshold: float,
                    include_down: bool) -> list[_Candidate]:
        """The groups of each kind where enough of `free` went down, best fraction first."""
        info = self.index.info
        cands = []
        for rank, kind in enumerate(kinds):
            by: dict[GroupKey, list[str]] = {}
            for c in free:
                by.setdefault(info[c].groups[kind], []).append(c)
            for g, cams in by.items():
                if self._lines(cams) < self._min_lines(g):
                    continue
                denom = self._denominator(g, include_down=include_down)
                frac = len(cams) / denom if denom else 0.0
                if frac >= threshold:
                    cands.append(_Candidate(frac, rank, g, cams, denom))
        cands.sort(key=lambda c: (-c.fraction, c.rank))
        return cands

    def _merge_isp_areas(self, cands: list[_Candidate]) -> list[_Candidate]:
        """The same ISP failing together in several areas at once is that ISP, not several local nodes."""
        per_isp: dict[str, list[_Candidate]] = {}
        for cand in cands:
            if cand.group.kind is GroupKind.ISP_IN_AREA:
                per_isp.setdefault(cand.group.name, []).append(cand)
        for areas in per_isp.values():
            if len(areas) > 1:
                whole = areas[0].group.whole_isp()
                cams = [c for cand in areas for c in cand.cams]
                cands = [c for c in cands if c not in areas] + [
                    _Candidate(areas[0].fraction, 0, whole, cams, self._denominator(whole))]
        return cands

    def _open_group(self, cand: _Candidate, threshold: float) -> None:
        p, g = self.policy, cand.group
        ev = {"down_together": len(cand.cams), "lines": self._lines(cand.cams), "observed": cand.observed,
              "fraction": round(cand.fraction, 3), "threshold_fraction": threshold,
              "min_lines": p.sync_min_lines, "window_s": self.sync}
        w = self._merge_or_new(_GROUP_CAUSE[g.kind], g, ev)
        scope_cams = set(self.index.groups.get(g, ()))
        for c in scope_cams:
            tr = self.tracks.get(c)
            if tr is not None and tr.down_run >= p.sync_min_down_intervals:
                w.join(c, tr.down_since)
        w.peak = max(w.peak, sum(1 for c in w.members if self.tracks[c].down_run))

    def _merge_or_new(self, cause: Cause, group: GroupKey, evidence: Mapping[str, Any]) -> _Work:
        """A young shared incident whose cameras all lie inside the new, wider group becomes that group."""
        scope_cams = set(self.index.groups.get(group, ()))
        family = SHARED_OUTAGE if cause in SHARED_OUTAGE else (Cause.ISP_CONGESTION,)
        # congestion builds up over the evening: its incidents stay 'young' for the congestion sync window
        young = self.sync if cause in SHARED_OUTAGE else self.policy.congestion_sync_window.total_seconds()
        if group.kind is GroupKind.ISP_IN_AREA:
            for w in self.open_of(cause):
                if (w.group.kind is GroupKind.ISP_IN_AREA and w.group.name == group.name and w.group != group
                        and self.now - w.opened <= young):
                    w.rescope(cause, group.whole_isp())  # a second area of the same ISP: it is the ISP
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
