from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recorder.domain import Segment, SegmentRecord
from recorder.index import SegmentIndex
from recorder.janitor import run_janitor
from recorder.reconcile import reconcile
from recorder.retention import DeletionReason, RetentionPolicy, plan_deletions
from recorder.segments import segment_relpath

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
MIN = timedelta(minutes=1)


def seg(i: int, end_ago: timedelta, *, cam: str = "C1", length: timedelta = MIN, size: int = 100) -> Segment:
    end = NOW - end_ago
    return Segment(id=i, camera_id=cam, path=f"{cam}/{i}.mp4", start=end - length, end=end, frames=900,
                   bytes=size, sha256="0" * 64)


CASES = [
    # (name, segments, floor, free, expected deleted ids, expected reasons, notice expected)
    ("empty", [], 0, 10**9, [], [], False),
    ("all young", [seg(1, MIN), seg(2, timedelta(0))], 0, 10**9, [], [], False),
    ("end exactly at cut-off survives", [seg(1, WEEK)], 0, 10**9, [], [], False),
    ("end a microsecond past cut-off goes", [seg(1, WEEK + timedelta(microseconds=1))], 0, 10**9,
     [1], [DeletionReason.EXPIRED], False),
    ("straddling segment survives (period + one segment)", [seg(1, WEEK - timedelta(seconds=1))], 0, 10**9,
     [], [], False),
    ("old and young mixed", [seg(1, WEEK + MIN), seg(2, WEEK * 2), seg(3, timedelta(days=1))], 0, 10**9,
     [2, 1], [DeletionReason.EXPIRED] * 2, False),
    ("expired deletions count towards the floor",
     [seg(1, WEEK + MIN, size=500), seg(2, timedelta(days=3))], 1000, 600, [1], [DeletionReason.EXPIRED], False),
    ("disk guard deletes oldest first across cameras",
     [seg(1, timedelta(days=5), cam="A"), seg(2, timedelta(days=6), cam="B"), seg(3, timedelta(days=1), cam="A")],
     1000, 850, [2, 1], [DeletionReason.DISK_FLOOR] * 2, True),
    ("disk guard can empty the disk", [seg(1, timedelta(days=1))], 10**6, 0, [1], [DeletionReason.DISK_FLOOR], True),
]


@pytest.mark.parametrize(("name", "segments", "floor", "free", "deleted", "reasons", "notice"), CASES,
                         ids=[c[0] for c in CASES])
def test_plan_deletions(name, segments, floor, free, deleted, reasons, notice):
    policy = RetentionPolicy(period=WEEK, free_floor_bytes=floor)
    plan = plan_deletions(segments, policy, NOW, free)
    assert [d.segment.id for d in plan.deletions] == deleted
    assert [d.reason for d in plan.deletions] == reasons
    assert (plan.notice is not None) is notice
    survivors = [s for s in segments if s.id not in deleted]
    assert all(s.start >= NOW - WEEK - MIN for s in survivors)  # nothing older than period + one segment
    if survivors:
        assert plan.actual_retention == NOW - min(s.start for s in survivors)
    else:
        assert plan.actual_retention is None


def test_notice_names_days_actually_kept():
    segments = [seg(1, timedelta(days=6)), seg(2, timedelta(days=2), length=timedelta(hours=12))]
    plan = plan_deletions(segments, RetentionPolicy(free_floor_bytes=150), NOW, free_bytes=100)
    assert plan.actual_retention == timedelta(days=2, hours=12)
    assert "2.5 days" in plan.notice and "7.0 days" in plan.notice


@pytest.mark.parametrize("bad", [dict(period=timedelta(0)), dict(free_floor_bytes=-1)])
def test_policy_rejects_nonsense(bad):
    with pytest.raises(ValueError):
        RetentionPolicy(**bad)


def _write(root: Path, rel: str, data: bytes = b"x" * 100) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)


def test_janitor_on_a_real_directory_and_interrupted_deletion(tmp_path, sqlite_sessions):
    root = tmp_path / "rec"
    index = SegmentIndex(sqlite_sessions)
    ages = {1: timedelta(days=9), 2: timedelta(days=7, minutes=2), 3: timedelta(days=1)}
    for ago in ages.values():
        start = NOW - ago - MIN
        rel = segment_relpath("C1", start)
        _write(root, rel)
        index.add(SegmentRecord(camera_id="C1", path=rel, start=start, end=start + MIN, frames=1, bytes=100,
                                sha256="0" * 64))
    result = run_janitor(root, index, RetentionPolicy(), NOW)
    assert len(result.plan.deletions) == 2 and result.deleted == 2 and result.plan.notice is None
    left = index.segments()
    assert [s.start for s in left] == [NOW - ages[3] - MIN]
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.mp4")) == [left[0].path]
    assert index.pending_deletions() == []

    # a crash after listing but before unlinking: start-up finishes the garbage list
    index.list_for_deletion([left[0].path], "expired", NOW)
    report = reconcile(root, index)
    assert report.deletions_finished == (left[0].path,)
    assert index.segments() == [] and index.pending_deletions() == []
    assert not list(root.rglob("*.mp4"))
