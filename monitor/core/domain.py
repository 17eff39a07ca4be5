"""Frozen domain values shared by the core and the shell.

The core (classifier, escalation policy, report maths) sees only these, never ORM rows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Contact(enum.StrEnum):
    SMS = "sms"
    EMAIL = "email"
    VOICE = "voice"


class Lang(enum.StrEnum):
    JA = "ja"
    EN = "en"


class Access(enum.StrEnum):
    PPPOE = "pppoe"
    IPOE = "ipoe"


class Cause(enum.StrEnum):
    LOCAL_OUTAGE = "local_outage"
    LOCAL_CONGESTION = "local_congestion"
    CAMERA_FAULT = "camera_fault"
    AREA_OUTAGE = "area_outage"
    ISP_OUTAGE = "isp_outage"
    ISP_CONGESTION = "isp_congestion"
    MONITOR_OUTAGE = "monitor_outage"

    @property
    def upstream(self) -> bool:
        return self in UPSTREAM_CAUSES

    @property
    def owner_fault(self) -> bool:
        return self in (Cause.LOCAL_OUTAGE, Cause.CAMERA_FAULT)


UPSTREAM_CAUSES = frozenset({Cause.AREA_OUTAGE, Cause.ISP_OUTAGE, Cause.ISP_CONGESTION, Cause.MONITOR_OUTAGE})


class Secret(str):
    """A string that never shows itself in repr, logs or tracebacks."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')"

    def reveal(self) -> str:
        return str.__str__(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Camera:
    camera_id: str
    area: str
    isp: str
    line_id: str
    expected_fps: float
    address: str = ""
    owner_name: str = ""
    contact: Contact = Contact.SMS
    phone: str = ""
    email: str = ""
    lang: Lang = Lang.JA
    vendor: str = ""
    rtsp_url: str = ""
    onvif_url: str = ""
    access: Access | None = None
    lat: float | None = None
    lon: float | None = None
    onvif_user: str = ""
    onvif_password: Secret | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """One probe result for one camera and one interval (scenario format)."""

    t: datetime
    camera: str
    reachable: bool
    rtt_ms: float | None = None
    onvif_ok: bool = False
    fps: float | None = None
    max_gap_s: float | None = None
    clock_skew_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferenceObservation:
    """A check of the monitor's own network (its gateway, a resolver)."""

    t: datetime
    reference: str
    reachable: bool
