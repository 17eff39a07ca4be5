"""Shared congestion, one classification round: an ISP's (or an ISP's within one area) cameras
congested together. A mixin of `classify.groups.Round`, which holds the working copies it reads."""

from __future__ import annotations

from monitor.core.classify.keys import GroupKey, GroupKind
from monitor.core.classify.membership import congested_elsewhere
from monitor.core.classify.state import Departure, Track
from monitor.core.domain import Cause


def late_onset(tr: Track, opened: int, late: int) -> bool:
    """Congested long after a provider congestion opened, having been up since before it."""
    return tr.congested_since - max(opened, tr.last_flap_end) > late


class CongestionRounds:
    def late_after(self, w) -> int:
        """Seconds after provider congestion ``w`` opened past which a camera first congested is late: its
        ramp is over once none of its own cameras has joined it for `co_congestion_ramp_margin` (a ramp
        still under way reaches its cameras one by one), and at most `congestion_sync_window` after."""
        p = self.policy
        late = int(p.congestion_sync_window.total_seconds())
        tally = self.co_congestion.get(w.id)
        if tally is None or len(tally.ramp) < p.sync_min_lines:
            return late
        return min(late, max(0, *tally.ramp.values()) + int(p.co_congestion_ramp_margin.total_seconds()))

    def shared_congestion(self) -> None:
        p, tracks = self.policy, self.tracks
        for w in self.open_of(Cause.ISP_CONGESTION):
            late = self.late_after(w)
            # A provider's congestion reaches its cameras within its ramp; one of its cameras that was up
            # through the ramp and becomes congested long after is congested on its own line (a household's
            # evening). One back from an outage meanwhile comes back into the congestion.
            for cam in self.index.groups.get(w.group, ()):
                tr = tracks.get(cam)
                if (tr is not None and tr.congested and (cam in w.members or not late_onset(tr, w.opened, late))
                        and not self._elsewhere(cam, w.id) and (cam in w.members or not self._doubtful(cam, w))):
                    w.join(cam, self.now)
            for cam in list(w.members):
                tr = tracks.get(cam)
                if tr is not None and tr.uncongested_run >= p.congestion_leave_intervals:
                    w.leave(cam, Departure.RECOVERED)
            hit = [c for c in w.members if tracks[c].congested]
            denom = self._denominator(w.group, include_down=True)
            threshold = p.congestion_fraction if w.group.kind is GroupKind.ISP else p.congestion_fraction_in_area
            still = bool(denom) and len(hit) / denom >= threshold and self._lines(hit) >= p.sync_min_lines
            self._keep_or_close(w, len(hit), p.congestion_close_after_intervals, stragglers=False,
                                still_shared=still)
            if w.closed:
                for c in hit:
                    self.congestion_explained.setdefault(c, (self.now, tracks[c].congested_run))

        # A congested camera that then went down still took part in the congestion (its slow-state
        # is frozen while it is down); a long outage ends that.
        max_down = p.congestion_leave_intervals
        congested = [c for c in self.troubled if tracks[c].congested and tracks[c].down_run <= max_down
                     and c not in self.congestion_explained]  # still slow after a shared congestion closed
        if len(congested) >= p.sync_min_lines:
            wide = {w.group.name for w in self.open_of(Cause.ISP_CONGESTION) if w.group.kind is GroupKind.ISP}
            info = self.index.info
            cand = [c for c in congested if info[c].isp not in wide]
            self._open_congestion(cand, GroupKind.ISP, p.congestion_fraction)
            explained = self.members_of(Cause.ISP_CONGESTION)
            self._open_congestion([c for c in congested if c not in explained], GroupKind.ISP_IN_AREA,
                                  p.congestion_fraction_in_area)
        self._absorb_local_congestion()

    def _open_congestion(self, cams: list[str], kind: GroupKind, threshold: float) -> None:
        p, info = self.policy, self.index.info
        by: dict[GroupKey, list[str]] = {}
        for c in cams:
            if not self._elsewhere(c, None) and not (kind is GroupKind.ISP and self._doubtful(c)):
                by.setdefault(info[c].groups[kind], []).append(c)
        for g, group_cams in by.items():
            lines = self._lines(group_cams)
            if lines < p.sync_min_lines:
                continue
            denom = self._denominator(g, include_down=True)
            frac = len(group_cams) / denom if denom else 0.0
            if frac < threshold:
                continue
            ev = {"congested": len(group_cams), "lines": lines, "observed": denom, "fraction": round(frac, 3),
                  "threshold_fraction": threshold, "min_lines": p.sync_min_lines,
                  "fps_ratio_below": p.congestion_fps_ratio, "gap_s_above": p.congestion_gap_s}
            w = self._merge_or_new(Cause.ISP_CONGESTION, g, ev)
            for c in group_cams:
                w.join(c, self.tracks[c].congested_since)
            w.peak = max(w.peak, len(group_cams))

    def _doubtful(self, cam: str, w=None) -> bool:
        """The registry alone does not put ``cam`` into its provider's congestion ``w`` (``None``: one opening
        now): it stayed out of that provider's congestions before, and another provider's congestion began
        alongside this one."""
        p = self.policy
        if self.absent.get(cam, 0) < p.co_congestion_absent_min:
            return False
        near, opened = int(p.co_congestion_together.total_seconds()), self.now if w is None else w.opened
        return any(o is not w and o.group.kind is GroupKind.ISP and abs(o.opened - opened) <= near
                   for o in self.open_of(Cause.ISP_CONGESTION))

    def _elsewhere(self, cam: str, incident_id: str | None) -> bool:
        """Already following another provider's open congestion (classify.membership): evidence wins
        over the registry, so its registered provider's congestion does not take it in."""
        return bool(self.co_congestion) and congested_elsewhere(self.co_congestion, cam, incident_id, self.policy)

    def _absorb_local_congestion(self) -> None:
        local = self.open_of(Cause.LOCAL_CONGESTION)
        if not local:
            return
        win = int(self.policy.congestion_sync_window.total_seconds())
        # A household found congested inside its provider's congestion (classify.overlay) stays its own.
        local = [lw for lw in local if not lw.evidence.get("shared_congestion")]
        for w in self.open_of(Cause.ISP_CONGESTION):
            for lw in local:
                for cam, since in list(lw.members.items()):
                    if cam in w.members and since >= w.opened - win:
                        lw.leave(cam, Departure.RECLASSIFIED)
