"""Pure retention planning: which segments to delete, and why.

Nothing older than the retention period plus one segment survives: a segment whose *end* is older
than ``now - period`` is deleted. A disk guard then deletes the oldest remaining segments (across
all cameras) until free space is back above the floor, and says so when that leaves less than the
period on disk.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from recorder.domain import Segment
from recorder.errors import ConfigError


class DeletionReason(enum.StrEnum):
    EXPIRED = "expired"
    DISK_FLOOR = "disk_floor"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionPolicy:
    period: timedelta = timedelta(days=7)
    free_floor_bytes: int = 0

    def __post_init__(self) -> None:
        if self.period <= timedelta(0):
            raise ConfigError("retention period must be positive")
        if self.free_floor_bytes < 0:
            raise ConfigError("free-space floor must be >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class Deletion:
    segment: Segment
    reason: DeletionReason


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """`actual_retention`: how far back the surviving footage reaches (None if none survives).
    `notice`: set when the disk guard cut retention below the period; meant for the operator."""

    deletions: tuple[Deletion, ...]
    actual_retention: timedelta | None
    notice: str | None
    reason: str

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(d.segment.path for d in self.deletions)


def plan_deletions(
    segments: Iterable[Segment], policy: RetentionPolicy, now: datetime, free_bytes: int
) -> Plan:
    cutoff = now - policy.period
    ordered = sorted(segments, key=lambda s: (s.start, s.end, s.id))
    expired = [s for s in ordered if s.end < cutoff]
    survivors = [s for s in ordered if s.end >= cutoff]
    deletions = [Deletion(segment=s, reason=DeletionReason.EXPIRED) for s in expired]
    free = free_bytes + sum(s.bytes for s in expired)
    guarded = 0
    while free < policy.free_floor_bytes and survivors:
        victim = survivors.pop(0)
        deletions.append(Deletion(segment=victim, reason=DeletionReason.DISK_FLOOR))
        free += victim.bytes
        guarded += 1

    actual = now - survivors[0].start if survivors else None
    reasons = [f"{len(expired)} segment(s) ended before {cutoff.isoformat()}"]
    notice = None
    if guarded:
        reasons.append(f"{guarded} more deleted oldest-first to keep {policy.free_floor_bytes} bytes free")
        kept = _days(actual) if actual is not None else "0"
        notice = (
            f"Disk space is below the floor: only {kept} days of footage are actually kept "
            f"(retention period {_days(policy.period)} days). Add disk space or lower the floor."
        )
    if free < policy.free_floor_bytes:
        reasons.append("free space is still below the floor with no segment left to delete")
    return Plan(deletions=tuple(deletions), actual_retention=actual, notice=notice, reason="; ".join(reasons))


def _days(d: timedelta) -> str:
    return f"{d.total_seconds() / 86400:.1f}"
