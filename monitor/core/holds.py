"""Silences and maintenance windows: when an owner's or a vendor's message waits. Pure.

- **Silence** (an operator, on one incident, with a reason and an end): monitoring and recording go on;
  the owner and vendor messages of that incident wait until the end.
- **Maintenance window** (planned works: NTT on district A04's fiber tonight; an area, a provider or a
  list of cameras, from a start to an end): the owner and vendor messages about a camera in its scope
  wait until it ends, and it ends by itself.

- **Acknowledgement** (an operator, on one incident: "I am on it"): the operator has taken the owner
  contact in hand, so the automatic requests to the owner that have not gone yet (the request to
  power-cycle, the reminder) are not sent. The vendor's dispatch keeps its time, and the owner is still
  thanked on recovery if a request went out before.

A message is sent only if it still makes sense when its time comes (``still_wanted``): a request to
power-cycle, a reminder or a dispatch whose incident has closed meanwhile is cancelled, as is an owner
request of an acknowledged incident; a reminder, a thanks or a dispatch cancellation follows only a
request that went out, and a held reminder keeps its distance from its request. An owner's message never
goes at night.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.core.domain import Camera
from monitor.core.escalate import in_quiet_hours
from monitor.core.policy import EscalationPolicy

HELD_AUDIENCES = ("owner", "vendor")
SCOPES = ("area", "isp", "cameras")


@dataclass(frozen=True, slots=True, kw_only=True)
class Silence:
    incident_id: str
    ends_at: datetime
    reason: str
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Maintenance:
    id: int
    scope: str  # area, isp or cameras
    values: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    reason: str
    by: str

    def covers(self, camera: Camera) -> bool:
        key = {"area": camera.area, "isp": camera.isp, "cameras": camera.camera_id}[self.scope]
        return key in self.values

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


def check_window(scope: str, values: Iterable[str], starts_at: datetime, ends_at: datetime, reason: str) -> list[str]:
    """What is wrong with a maintenance window to be planned (empty: nothing)."""
    problems = []
    if scope not in SCOPES:
        problems.append(f"scope: one of {', '.join(SCOPES)}")
    if not [v for v in values if v.strip()]:
        problems.append("values: at least one area, provider or camera id")
    if ends_at <= starts_at:
        problems.append("ends_at: after starts_at")
    elif ends_at - starts_at > timedelta(days=14):
        problems.append("ends_at: a window lasts at most 14 days")
    if not reason.strip() or len(reason) > 200:
        problems.append("reason: 1 to 200 characters")
    return problems


def hold_until(audience: str, incident_id: str, camera: Camera | None, now: datetime,
               silences: Iterable[Silence], windows: Iterable[Maintenance]) -> datetime | None:
    """Until when a message to ``audience`` about ``incident_id`` and ``camera`` waits (None: it does not)."""
    if audience not in HELD_AUDIENCES:
        return None
    ends = [s.ends_at for s in silences if s.incident_id == incident_id and s.ends_at > now]
    if camera is not None:
        ends += [w.ends_at for w in windows if w.active(now) and w.covers(camera)]
    return max(ends, default=None)


def not_at_night(t: datetime, tz: ZoneInfo, policy: EscalationPolicy,
                 step: timedelta = timedelta(minutes=5)) -> datetime:
    """The first time at or after ``t`` outside the owners' quiet hours."""
    out = t
    for _ in range(int(timedelta(days=1) / step) + 1):
        if not in_quiet_hours(out.astimezone(tz), policy):
            return out
        out += step
    return out


OWNER_REQUESTS = ("reboot_request", "reminder")


CLOSED, ACKNOWLEDGED, NOT_ASKED = ("its incident closed", "its incident was acknowledged",
                                   "the request it follows did not go out")


def why_moot(kind: str, incident_closed: bool, request_went_out: bool, acknowledged: bool = False) -> str | None:
    """Why a message no longer makes sense when its time comes (None: it still does)."""
    if kind in OWNER_REQUESTS and incident_closed:
        return CLOSED
    if kind in OWNER_REQUESTS and acknowledged:
        return ACKNOWLEDGED  # an operator is on it and contacts the owner
    if kind == "reminder" and not request_went_out:
        return NOT_ASKED  # it follows its request, never comes instead of it
    if kind == "dispatch" and incident_closed:
        return CLOSED
    if kind in ("recovered_thanks", "dispatch_cancel") and not request_went_out:
        return NOT_ASKED
    return None


def still_wanted(kind: str, incident_closed: bool, request_went_out: bool, acknowledged: bool = False) -> bool:
    """Whether a message still makes sense when its time comes."""
    return why_moot(kind, incident_closed, request_went_out, acknowledged) is None


def resend_at(kind: str, now: datetime, held_until: datetime | None, tz: ZoneInfo,
              policy: EscalationPolicy) -> datetime:
    """When an owner request that an acknowledgement cancelled goes after the acknowledgement is withdrawn:
    the request from now (or from the end of a silence or planned works), its reminder `reminder_after`
    behind it, as the ladder spaces them; never at night."""
    t = max(now, held_until or now)
    if kind == "reminder":
        t += policy.reminder_after
    return not_at_night(t, tz, policy)
