"""Thresholds and delays of the classifier and of the escalation ladder, as data.

Every number the decision core uses lives here with a default; nothing is a literal in the code.
The settings layer constructs these once at start-up and passes them down.

Counts are in probe intervals (one observation per camera per interval, 60 s by default);
durations are `timedelta`s so that they stay right if the probe interval changes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import time, timedelta

_AT_LEAST_ZERO = {"congestion_off_count"}  # counts that may be 0; every other count is at least 1
_UNIT = {  # besides every *_fraction: in (0, 1]
    "congestion_fps_ratio", "rtt_baseline_alpha", "fps_learn_quantile", "fps_learn_step", "registry_fps_tolerance",
    "overlay_fps_share", "overlay_fps_share_with_gaps", "overlay_par_share", "co_congestion_share",
    "co_congestion_closer", "co_congestion_ramp_quantile",
}


class PolicyRangeError(ValueError):
    """Fields of a policy out of range: (field, why) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{k}: {why}" for k, why in problems))
        self.problems = problems


def check_ranges(policy) -> None:
    """Refuse a policy whose numbers cannot mean anything (a negative delay, a count of 0, a share
    above 1), naming every such field, so that a configuration mistake fails at start-up."""
    bad = []
    for f in fields(policy):
        v, name = getattr(policy, f.name), f.name
        if isinstance(v, bool):
            continue
        if isinstance(v, timedelta) and v < timedelta(0):
            bad.append((name, "must not be negative"))
        elif isinstance(v, int) and v < (least := 0 if name in _AT_LEAST_ZERO else 1):
            bad.append((name, f"must be at least {least}"))
        elif isinstance(v, float) and (name in _UNIT or "fraction" in name) and not 0 < v <= 1:
            bad.append((name, "must be more than 0 and at most 1"))
        elif isinstance(v, float) and not v > 0:
            bad.append((name, "must be more than 0"))
    if bad:
        raise PolicyRangeError(bad)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassifierPolicy:
    # --- one camera: hysteresis -------------------------------------------------------------
    open_after_bad_intervals: int = 3
    """Consecutive down (or no-frame) intervals before a local incident opens; one bad probe never does."""
    close_after_good_intervals: int = 3
    """Consecutive good intervals before a camera leaves an incident."""
    flap_window: timedelta = timedelta(minutes=60)
    """Down-runs starting this close together count as one flapping episode."""
    flap_threshold: int = 3
    """A camera with this many down-runs inside the flap window is flapping..."""
    close_after_good_intervals_flapping: int = 15
    """...and must then stay good this long before it leaves its incident (damping)."""
    open_after_bad_intervals_congested: int = 4
    """A camera that is congested needs a longer solid outage before it counts as a local outage,
    because a deep congestion can drop frames and probes for a few intervals in a row."""

    # --- one camera: congestion -------------------------------------------------------------
    congestion_fps_ratio: float = 0.6
    """fps below this share of the camera's expected_fps means frames are not keeping up."""
    congestion_gap_s: float = 2.0
    """A longest inter-frame gap above this (seconds) means frames arrive in bursts."""
    congestion_rtt_min_ms: float = 120.0
    congestion_rtt_factor: float = 4.0
    """RTT counts as climbing above max(congestion_rtt_min_ms, factor x the camera's own baseline)."""
    rtt_baseline_alpha: float = 0.05
    """EWMA weight of the per-camera RTT baseline, updated on clean intervals only."""
    congestion_window: int = 5
    congestion_on_count: int = 3
    """A camera becomes congested when this many of the last `congestion_window` intervals were slow..."""
    congestion_off_count: int = 1
    """...and stops being congested when no more than this many were."""
    local_congestion_open_intervals: int = 10
    """Consecutive congested intervals before a local_congestion incident opens."""
    local_congestion_hold_intervals: int = 30
    """...or this many while another household of the same provider is congested too: a provider's
    evening congestion reaches its cameras one by one, and its share may take this long to show."""
    congestion_leave_intervals: int = 10
    """Consecutive non-congested intervals before a camera leaves a congestion incident."""

    # --- synchrony across an area, an ISP, an ISP within an area, the fleet ---------------------
    sync_window: timedelta = timedelta(minutes=10)
    """Cameras that went down within this window of each other failed 'together'."""
    absorb_window: timedelta = timedelta(minutes=5)
    """A local outage that began at most this long before a shared outage opened is part of it."""
    straggler_grace: timedelta = timedelta(minutes=5)
    """A camera still down when its area's or provider's outage ends becomes a local outage, dated from
    the recovery, once it has stayed down this long: after a power cut an ONU, a router and a camera take
    minutes to boot, and one that comes back meanwhile was never its household's fault."""
    sync_min_down_intervals: int = 2
    """A camera must be down this many intervals in a row to count towards a shared outage."""
    sync_min_lines: int = 3
    """A shared cause needs at least this many distinct household lines (one household is local)..."""
    sync_min_lines_small_group: int = 2
    """...or, in an area or ISP with fewer lines than that, all of them and never fewer than this."""
    ispa_min_down_intervals: int = 4
    """One ISP within one area (a local node) failing must last this long before it opens: a power cut
    of a whole area often reaches one provider's cameras there a minute or two before the rest."""
    outage_fraction: float = 0.5
    """Share of a group's (area's, ISP's) cameras that must fail together for a shared outage."""
    congestion_fraction: float = 0.3
    """Share of an ISP's cameras that must be congested at once for an ISP congestion."""
    congestion_fraction_in_area: float = 0.5
    """Share of an ISP's cameras within one area for a congestion confined to that area."""
    congestion_sync_window: timedelta = timedelta(minutes=40)
    """A local congestion that began this shortly before an ISP congestion opened is part of it."""
    group_keep_fraction: float = 0.5
    """A shared incident stays on while at least this share of its peak is still affected."""
    group_close_after_intervals: int = 2
    """Consecutive intervals below the keep fraction before a shared outage closes."""
    congestion_close_after_intervals: int = 10
    """The same for a congestion, which is noisier."""

    # --- congestion on top of congestion (classify/overlay.py) -----------------------------------
    overlay_window: int = 10
    """Intervals over which a camera's RTT and frame share are smoothed against its congested peers'."""
    overlay_rtt_factor: float = 1.25
    """A household congested inside its provider's congestion: RTT at least this many times its peers'..."""
    overlay_fps_share: float = 0.55
    """...and a frame share at most this share of theirs (both bottlenecks in series); for a camera that first
    kept pace with those peers for `overlay_window` intervals of the same congestion, that frame share alone
    (a second bottleneck appeared on its own line while its provider's stayed as it was), measured against
    its own share at par where that was above theirs (a lighter stream that lost this much of its share)..."""
    overlay_gap_factor: float = 1.2
    """...or, where its queue adds little delay to its provider's deep one, a longest gap at least this many
    times its peers' (the second bottleneck makes the frames come in longer bursts)..."""
    overlay_fps_share_with_gaps: float = 0.65
    """...with a frame share at most this share of theirs..."""
    overlay_par_share: float = 0.8
    """A camera whose smoothed frame share is at least this share of its peers', after `overlay_window`
    intervals none of them clearly worse, kept pace with its provider's congestion (see overlay_fps_share)."""
    overlay_min_peers: int = 3
    """...judged only against at least this many congested peers of the same provider congestion."""
    overlay_tolerate_intervals: int = 3
    """Fewer intervals than this in a row not clearly worse (smoothed values hovering at a threshold) pause
    the run of worse intervals instead of restarting it."""

    # --- what the observations say about the registry (classify/learning.py) -------------------
    fps_learn_quantile: float = 0.97
    """A camera's own frame rate is this quantile of its clean intervals' rates (congestion only lowers it)."""
    fps_learn_step: float = 0.02
    """Relative step of that running quantile per clean interval."""
    fps_learn_min_intervals: int = 60
    """Clean intervals before the learned rate is trusted over the registry's expected_fps."""
    registry_fps_tolerance: float = 0.15
    """A learned rate this far (a share of it) from the registry's is a registry finding."""
    membership_sync_window: timedelta = timedelta(minutes=2)
    """A camera of another area or provider that went down and came back within this of a shared
    outage's own cameras failed with it: it joins that outage, and its registry row is a finding."""

    co_congestion_share: float = 0.6
    """A camera of a calm provider congested for this share of another provider's congestion..."""
    co_congestion_max_misfit: float = 1.5
    """...and whose frame share and RTT stayed this close to that provider's congested cameras (the mean
    of |log share ratio| + |log RTT ratio|; a household's own congestion follows its own course)..."""
    co_congestion_closer: float = 0.6
    """...and, where its registered provider's cameras were congested too, at most this share of its
    misfit against them..."""
    co_congestion_end_window: timedelta = timedelta(minutes=30)
    """...that began within congestion_sync_window of its opening and within its ramp (below), and cleared
    within this of its recovery, was on that provider: a registry finding."""
    co_congestion_absent_min: int = 1
    """A camera that stayed out of this many of its registered provider's congestions (up and seen through
    each, its provider's cameras congested around it) is not put into that provider's congestion by the
    registry alone while another provider's congestion began within `co_congestion_together` of it: the
    onsets cannot tell the two apart, and the registry is in doubt (a provider's congestion need not reach
    all its lines, so one absence alone decides nothing)."""
    co_congestion_together: timedelta = timedelta(minutes=10)
    """Two provider congestions that began within this of each other cannot be told apart by their onsets
    (see `co_congestion_absent_min`)."""
    co_congestion_ramp_quantile: float = 0.9
    co_congestion_ramp_margin: timedelta = timedelta(minutes=15)
    """A provider congestion's ramp: this quantile of the times its own registered cameras joined it after
    it opened, plus the margin. A camera of another provider first congested after that is congested on its
    own line, however well it then follows the congestion."""

    # --- the monitor itself ---------------------------------------------------------------------
    monitor_fraction: float = 0.8
    """Without reference checks: this share of the whole fleet failing together is the monitor."""
    monitor_fraction_with_references: float = 0.3
    """With every reference check failing, this share of the fleet down is enough."""
    reference_bad_intervals: int = 2
    """Consecutive intervals with all reference checks failing before they count."""

    def __post_init__(self) -> None:
        check_ranges(self)
        if not self.congestion_off_count < self.congestion_on_count <= self.congestion_window:
            raise PolicyRangeError([("congestion_on_count", "congestion_off_count < congestion_on_count <= "
                                                            "congestion_window must hold")])


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationPolicy:
    tz: str = "Asia/Tokyo"
    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)
    """Owners are contacted only outside [quiet_start, quiet_end) local time."""
    remote_reboot_after: timedelta = timedelta(0)
    """Camera fault: ONVIF SystemReboot this long after the fault is confirmed."""
    owner_delay: timedelta = timedelta(minutes=15)
    """Owner reboot request this long after the local fault began (confirmation + margin)."""
    reminder_after: timedelta = timedelta(hours=12)
    """Owner reminder this long after the reboot request, if still down."""
    vendor_after: timedelta = timedelta(hours=24)
    """Vendor dispatch this long after the local fault began, if still down."""
    vendor_respects_quiet_hours: bool = False
    """Whether the vendor's dispatch also waits for the end of the quiet hours."""
    thank_owner_on_recovery: bool = True
    """Whether an owner who was asked gets a thank-you when the camera is back."""
    operator_notices_for_upstream: bool = True
    """Whether operators hear of area and provider incidents (opened, closed)."""

    def __post_init__(self) -> None:
        check_ranges(self)
