from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from recorder.domain import SegmentRecord
from recorder.index import SegmentIndex, SegmentRow

T = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def rec(cam: str, start: datetime, seconds: float = 60, path: str | None = None) -> SegmentRecord:
    return SegmentRecord(camera_id=cam, path=path or f"{cam}/{start.timestamp()}.mp4", start=start,
                         end=start + timedelta(seconds=seconds), frames=900, bytes=1234, sha256="ab" * 32)


def test_aware_utc_round_trip_and_overlap_query(sessions):
    index = SegmentIndex(sessions)
    jst = timezone(timedelta(hours=9))
    a = index.add(rec("C1", T.astimezone(jst)))
    index.add(rec("C1", T + timedelta(minutes=1)))
    index.add(rec("C2", T))
    got = index.segments("C1")
    assert [s.id for s in got][0] == a.id
    assert got[0].start == T and got[0].start.tzinfo is not None and got[0].start.utcoffset() == timedelta(0)
    assert got[0].sha256 == "ab" * 32 and got[0].bytes == 1234
    # overlapping [T+30s, T+61s): both C1 segments; ending exactly at a start is not overlap
    assert len(index.segments("C1", T + timedelta(seconds=30), T + timedelta(seconds=61))) == 2
    assert len(index.segments("C1", T + timedelta(seconds=60), T + timedelta(seconds=61))) == 1
    assert index.last_segment("C1").start == T + timedelta(minutes=1)
    assert index.oldest_start_by_camera() == {"C1": T, "C2": T}


def test_naive_datetimes_are_refused(sessions):
    index = SegmentIndex(sessions)
    with pytest.raises(Exception, match="naive"):
        index.add(rec("C1", T.replace(tzinfo=None)))


def test_garbage_list(sessions):
    index = SegmentIndex(sessions)
    index.add(rec("C1", T, path="C1/a.mp4"))
    index.list_for_deletion(["C1/a.mp4", "C1/a.mp4"], "expired", T)
    assert index.pending_deletions() == ["C1/a.mp4"]
    index.finish_deletions(["C1/a.mp4"])
    assert index.pending_deletions() == [] and index.segments() == []
    with sessions() as s:
        assert s.scalars(select(SegmentRow)).all() == []
