"""The monitor's own outage, one classification round: the fleet dark together (or the reference checks
failing) is the monitor, not the cameras. A mixin of `classify.groups.Round`, which holds the working
copies it reads."""

from __future__ import annotations

from monitor.core.classify.keys import GroupKey, GroupKind
from monitor.core.classify.state import Departure
from monitor.core.classify.work import Work as _Work
from monitor.core.domain import Cause


class MonitorRounds:
    def _maybe_monitor(self, fresh: list[str]) -> None:
        p, info = self.policy, self.index.info
        denom = len(self.observed) - len(self.long_down)
        if denom <= 0:
            return
        frac = len(fresh) / denom
        areas = {info[c].area for c in fresh}
        isps = {info[c].isp for c in fresh}
        spans = self._spans_fleet(areas, isps)
        by_refs = self.ref_bad >= p.reference_bad_intervals and frac >= p.monitor_fraction_with_references
        by_fleet = frac >= p.monitor_fraction and spans and self._lines(fresh) >= p.sync_min_lines
        if not (by_refs or by_fleet):
            return
        w = self._new(Cause.MONITOR_OUTAGE, GroupKey(GroupKind.MONITOR), {
            "down_together": len(fresh), "observed": denom, "fraction": round(frac, 3),
            "threshold_fraction": p.monitor_fraction_with_references if by_refs else p.monitor_fraction,
            "reference_bad_intervals": self.ref_bad, "areas": len(areas), "isps": len(isps),
            "inferred_from": "references" if by_refs else "fleet_synchrony",
        })
        for cam, tr in self.tracks.items():
            if tr.down_run >= 1 and cam in self.observed_set:
                w.join(cam, tr.down_since)
        w.peak = len(w.members)
        self._fold_into_monitor(w)

    def fleet_going_dark(self) -> bool:
        """Whether `monitor_fraction` of the observed fleet, across its areas and providers, is down this
        round, some of it only just: then it is the monitor's outage seen in parts (probes spread over the
        interval see the fleet go dark in two rounds), and no area or provider outage is named from it
        until the next round shows whether the monitor's own outage takes it."""
        p, info = self.policy, self.index.info
        denom = len(self.observed) - len(self.long_down)
        dark = [c for c in self.observed if c not in self.long_down and self.tracks[c].down_run >= 1]
        if denom <= 0 or len(dark) < p.monitor_fraction * denom:
            return False
        if not any(self.tracks[c].down_run == 1 for c in dark):
            return False  # dark for a round already: the monitor check has seen it whole
        return self._spans_fleet({info[c].area for c in dark}, {info[c].isp for c in dark})

    def _spans_fleet(self, areas: set[str], isps: set[str]) -> bool:
        """Whether cameras in these areas and providers reach across the fleet (two of each, where it has two)."""
        return len(areas) >= min(2, len(self.index.areas)) and len(isps) >= min(2, len(self.index.isps))

    def _fold_into_monitor(self, w: _Work) -> None:
        """Area and provider outages opened within the sync window of the monitor's own outage, all of
        whose cameras it holds, were its first glimpse (probes spread over the minute see the fleet go
        dark in parts): they close into it. Coming back with the monitor says nothing about a registry row."""
        for o in self.open_of(Cause.AREA_OUTAGE, Cause.ISP_OUTAGE):
            if self.now - o.opened <= self.sync and set(o.members) <= w.members.keys():
                for cam in list(o.members):
                    o.leave(cam, Departure.RECLASSIFIED)
                o.closed = True
                o.evidence = {**o.evidence, "part_of": w.id}
