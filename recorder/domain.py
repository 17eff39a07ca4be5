"""Frozen values the recorder's core works with; repositories turn rows into these."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

CAMERA_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_camera_id(camera_id: str) -> str:
    """Camera ids become directory names, so only a safe alphabet is allowed."""
    if not CAMERA_ID_RE.match(camera_id):
        raise ValueError(f"camera id {camera_id!r} is not a safe name ([A-Za-z0-9_.-], max 64)")
    return camera_id


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentRecord:
    """A finished, fsynced segment file, before it is indexed. `path` is relative to the root."""

    camera_id: str
    path: str
    start: datetime
    end: datetime
    frames: int
    bytes: int
    sha256: str
    recovered: bool = False  # indexed at start-up from an orphan or an interrupted .partial


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    id: int
    camera_id: str
    path: str
    start: datetime
    end: datetime
    frames: int
    bytes: int
    sha256: str
    recovered: bool = False
    node: str | None = None  # in a cluster: the node whose disk holds the file

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraFootage:
    """What the index holds for one camera."""

    first_start: datetime
    last_end: datetime
    segments: int
    bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LawfulRequest:
    """A recorded lawful request for footage. `approver` is None until someone else approves it."""

    reference: str
    agency: str
    legal_basis: str
    requester: str
    camera_id: str
    start: datetime
    end: datetime
    created_at: datetime
    approver: str | None = None
    approved_at: datetime | None = None

    @property
    def approved(self) -> bool:
        return self.approver is not None and not same_person(self.approver, self.requester)


def same_person(a: str, b: str) -> bool:
    """Whether two names given for the four-eyes rule are one person: compared NFKC-normalised,
    case-folded and without surrounding or repeated spaces ("Alice", "alice", "ＡＬＩＣＥ " are one)."""
    return identity(a) == identity(b)


def identity(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    detail: dict
    prev_hash: str
    hash: str
