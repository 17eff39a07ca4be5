from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av

from recorder.index import SegmentIndex
from recorder.reconcile import reconcile
from recorder.segments import (
    PARTIAL,
    SegmentWriter,
    parse_relpath,
    probe_segment,
    segment_relpath,
    sha256_file,
)

T = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)


def write_segment(root: Path, clip: Path, start: datetime, cam: str = "C1", frames: int = 45):
    """Remux the first `frames` packets of the clip through SegmentWriter; return (writer, record)."""
    with av.open(str(clip)) as src:
        stream = src.streams.video[0]
        writer = SegmentWriter(root, cam, start, stream)
        n = 0
        for pkt in src.demux(stream):
            if pkt.dts is None or n >= frames:
                continue
            pkt.duration = pkt.duration or int(1 / (15 * stream.time_base))
            writer.write(pkt)
            n += 1
        return writer, writer.close()


def test_relpath_round_trip():
    rel = segment_relpath("CAM-01", T + timedelta(microseconds=5))
    assert rel == "CAM-01/20260401/20260401T000000.000005Z.mp4"
    assert parse_relpath(rel + PARTIAL) == ("CAM-01", T + timedelta(microseconds=5))
    assert parse_relpath("CAM-01/20260401/notes.txt") is None


def test_writer_publishes_private_playable_segment(tmp_path, h264_clip):
    root = tmp_path / "rec"
    writer, record = write_segment(root, h264_clip, T)
    path = root / record.path
    assert not writer.partial.exists() and path.exists()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700 and (root / "C1").stat().st_mode & 0o777 == 0o700
    assert record.frames == 45 and record.sha256 == sha256_file(path) and record.bytes == path.stat().st_size
    assert abs((record.end - record.start).total_seconds() - 3.0) < 0.01
    probe = probe_segment(path)
    assert probe.playable and probe.frames == 45 and abs(probe.duration_s - 3.0) < 0.01


def test_reconcile_orphans_partials_and_garbage(tmp_path, h264_clip, sqlite_sessions):
    root = tmp_path / "rec"
    index = SegmentIndex(sqlite_sessions)
    _, indexed = write_segment(root, h264_clip, T)
    index.add(indexed)
    _, orphan = write_segment(root, h264_clip, T + timedelta(seconds=3))  # crash before indexing
    _, cut = write_segment(root, h264_clip, T + timedelta(seconds=6), frames=60)
    _, stub = write_segment(root, h264_clip, T + timedelta(seconds=10))
    # a crash mid-segment: the .partial is cut inside its last fragment, or before any fragment
    for record, keep in ((cut, 0.7), (stub, None)):
        final = root / record.path
        partial = final.with_name(final.name + PARTIAL)
        os.replace(final, partial)
        with open(partial, "r+b") as f:
            f.truncate(int(partial.stat().st_size * keep) if keep else 600)
    junk = root / segment_relpath("C1", T + timedelta(seconds=20))
    junk.write_bytes(b"not a video")
    _, gone = write_segment(root, h264_clip, T + timedelta(seconds=30))
    index.add(gone)
    (root / gone.path).unlink()

    report = reconcile(root, index)
    assert report.indexed == (orphan.path,)
    assert report.recovered_partials == (cut.path,)
    assert sorted(report.quarantined) == sorted(
        [f"quarantine/{stub.path}{PARTIAL}", f"quarantine/{junk.relative_to(root).as_posix()}"]
    )
    assert report.missing == (gone.path,)
    by_path = {s.path: s for s in index.segments()}
    assert set(by_path) == {indexed.path, orphan.path, cut.path}
    assert by_path[orphan.path].sha256 == orphan.sha256 and by_path[orphan.path].recovered
    recovered = by_path[cut.path]
    assert 15 <= recovered.frames < 60 and recovered.sha256 == sha256_file(root / cut.path)
    assert probe_segment(root / cut.path).playable
    assert (root / "quarantine" / (stub.path + PARTIAL)).exists()
    assert reconcile(root, index).indexed == ()  # idempotent
