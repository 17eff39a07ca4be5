"""Carry out a retention plan through the garbage list: list, unlink, fsync the directories, drop."""

from __future__ import annotations

import contextlib
import logging
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from recorder.index import SegmentIndex
from recorder.retention import Plan, RetentionPolicy, plan_deletions
from recorder.segments import fsync_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class JanitorResult:
    plan: Plan
    deleted: int


def delete_files(root: Path, index: SegmentIndex, paths: list[str]) -> None:
    """Unlink listed files (already on the garbage list), fsync their directories, drop the rows."""
    dirs: set[Path] = set()
    for rel in paths:
        p = root / rel
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
        dirs.add(p.parent)
    for d in dirs:
        if d.exists():
            fsync_dir(d)
    index.finish_deletions(paths)


def execute_plan(plan: Plan, root: Path, index: SegmentIndex, now: datetime) -> int:
    paths = list(plan.paths)
    if not paths:
        return 0
    for reason in {d.reason for d in plan.deletions}:
        index.list_for_deletion(
            [d.segment.path for d in plan.deletions if d.reason == reason], str(reason), now
        )
    delete_files(root, index, paths)
    if plan.notice:
        log.warning("%s", plan.notice)
    return len(paths)


def run_janitor(
    root: Path, index: SegmentIndex, policy: RetentionPolicy, now: datetime, guard_batch: int = 5000
) -> JanitorResult:
    """One janitor pass: plan from the index and the disk's free space, then execute. The disk guard
    sees at most `guard_batch` unexpired segments per pass; the next pass goes on if needed."""
    free = shutil.disk_usage(root).free
    plan = plan_deletions(index.retention_candidates(now - policy.period, guard_batch), policy, now, free)
    return JanitorResult(plan=plan, deleted=execute_plan(plan, root, index, now))
