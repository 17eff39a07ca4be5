"""The mutable working copy of one open incident, for the length of one classification round.

`Round` (classify.groups) edits these and freezes them back into `Incident`s at the end of the round.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.core.classify.keys import GroupKey
from monitor.core.classify.state import Departure, Incident, Track
from monitor.core.domain import Cause


class Work:
    """A mutable incident for the length of one round."""

    __slots__ = ("id", "key", "group", "cause", "scope", "opened", "members", "peak", "evidence",
                 "fail_run", "recovery_at", "new", "changed", "closed", "departed")

    def __init__(self, *, id: str, group: GroupKey, cause: Cause, opened: int, members: dict[str, int],
                 peak: int = 0, evidence: Mapping[str, Any] | None = None, fail_run: int = 0,
                 recovery_at: int = 0, new: bool = False, key: str = "", scope: Mapping[str, Any] | None = None):
        """`key` and `scope` follow from cause and group; an incident carried over passes its own."""
        self.id, self.group, self.cause, self.opened = id, group, cause, opened
        self.key = key or f"{cause}|{group}"
        self.scope = dict(scope) if scope is not None else group.scope()
        self.members = members
        self.peak, self.evidence = peak, dict(evidence or {})
        self.fail_run, self.recovery_at = fail_run, recovery_at
        self.new, self.changed, self.closed = new, False, False
        self.departed: list[tuple[str, Departure]] = []

    @classmethod
    def of(cls, i: Incident) -> Work:
        _cause, _, group = i.key.partition("|")
        return cls(id=i.id, group=GroupKey.parse(group), cause=i.cause, opened=i.opened,
                   members=dict(i.members), peak=i.peak, evidence=i.evidence, fail_run=i.fail_run,
                   recovery_at=i.recovery_at, key=i.key, scope=i.scope)

    def rescope(self, cause: Cause, group: GroupKey) -> None:
        self.cause, self.group = cause, group
        self.key, self.scope = f"{cause}|{group}", group.scope()
        self.changed = True

    def join(self, cam: str, since: int) -> None:
        if cam not in self.members:
            self.members[cam] = since
            self.changed = True

    def leave(self, cam: str, why: Departure) -> None:
        if self.members.pop(cam, None) is not None:
            self.departed.append((cam, why))
            self.changed = True
            if not self.members and not self.group_based:
                self.closed = True

    @property
    def group_based(self) -> bool:
        return self.cause.upstream

    def frozen(self, tracks: Mapping[str, Track]) -> Incident:
        if self.cause is Cause.LOCAL_OUTAGE:
            impaired = frozenset(c for c in self.members if tracks[c].down_run)
        elif self.cause is Cause.CAMERA_FAULT:
            impaired = frozenset(c for c in self.members if not tracks[c].frames_run)
        else:
            impaired = frozenset()
        return Incident(id=self.id, key=self.key, cause=self.cause, scope=self.scope, opened=self.opened,
                        members=dict(self.members), peak=self.peak, evidence=self.evidence,
                        fail_run=self.fail_run, recovery_at=self.recovery_at, impaired=impaired)
