"""Real streams through the whole recorder: segments, crash recovery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from recorder.index import SegmentIndex
from recorder.ingest import Backoff
from recorder.segments import PARTIAL, sha256_file
from recorder.service import Recorder, RecorderConfig

REPO = Path(__file__).resolve().parents[2]
GOP_S = 1.0  # the simulator's clip has a keyframe every 15 frames at 15 fps


def wait_for(cond, timeout: float, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        frames = c.decode(c.streams.video[0])
        first = next(frames)
        assert first.key_frame and first.width == 640
        return 1 + sum(1 for _ in frames)


def big_partial(root: Path) -> Path | None:
    """A .partial holding the header and at least one complete fragment (about 1 s of frames)."""
    for p in root.rglob(f"*{PARTIAL}"):
        try:
            if p.stat().st_size > 8_000:
                return p
        except FileNotFoundError:  # renamed meanwhile
            pass
    return None


def test_sixty_seconds_make_contiguous_decodable_segments(tmp_path, sim, sqlite_sessions):
    root = tmp_path / "rec"
    config = RecorderConfig(root=root, segment_s=10, open_timeout_s=5, read_timeout_s=3)
    recorder = Recorder(config, sqlite_sessions)
    recorder.start([("CAM1", sim.url("CAM1"))])
    try:
        wait_for(lambda: recorder.status()["CAM1"].connected, 10)
        time.sleep(60)
        status = recorder.status(window_s=10)["CAM1"]
        stats = recorder.stats.window("CAM1", time.time(), 10)
    finally:
        recorder.stop()
        stopped = time.time()
    assert status.connected and 12 <= status.fps <= 17.5 and status.last_segment_path
    assert 120 <= stats.frames <= 175 and stats.max_gap_s < 1.0

    segments = recorder.index.segments("CAM1")
    assert len(segments) >= 6
    for s in segments[:-1]:
        assert 10.0 <= s.duration_s < 10.0 + GOP_S + 0.1  # cut at the first keyframe past 10 s
    for a, b in zip(segments, segments[1:], strict=False):
        assert abs((b.start - a.end).total_seconds()) < 0.01  # contiguous
    recorded = stopped - segments[0].start.timestamp()
    assert abs(sum(s.duration_s for s in segments) - recorded) <= GOP_S
    for s in segments:
        path = root / s.path
        assert sha256_file(path) == s.sha256 and path.stat().st_size == s.bytes
        assert decoded_frames(path) == s.frames
    assert not list(root.rglob(f"*{PARTIAL}"))


def test_a_changed_stream_address_reconnects_the_camera_from_the_new_one(tmp_path, sim, sqlite_sessions):
    """A re-import that moved CAM1 to another address (here: CAM2's stream) restarts its worker there:
    its open segment is closed and indexed, and no stream is pulled from the old address any more."""
    config = RecorderConfig(root=tmp_path / "rec", segment_s=60, open_timeout_s=5, read_timeout_s=3)
    recorder = Recorder(config, sqlite_sessions)
    recorder.start([("CAM1", sim.url("CAM1"))])
    try:
        wait_for(lambda: recorder.status()["CAM1"].connected, 10)
        recorder.start([("CAM1", sim.url("CAM1"))])  # the same address: left alone
        assert recorder.status()["CAM1"].sessions == 1
        recorder.start([("CAM1", sim.url("CAM2"))])
        assert recorder.sources == {"CAM1": sim.url("CAM2")}
        assert len(recorder.index.segments("CAM1")) == 1  # the old address's segment, closed and indexed
        wait_for(lambda: recorder.status()["CAM1"].connected, 10)
    finally:
        recorder.stop()
    assert len(recorder.index.segments("CAM1")) == 2


def test_sigkill_mid_segment_then_restart(tmp_path, sim):
    root = tmp_path / "rec"
    db_url = f"sqlite:///{tmp_path / 'recorder.db'}"
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from recorder.index import RecorderBase

    engine = create_engine(db_url)
    RecorderBase.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    index = SegmentIndex(sessions)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.recorder.recorder_child", db_url, str(root), "CAM1", sim.url("CAM1"), "3"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout.readline().strip() == "recording"
        wait_for(lambda: len(index.segments()) >= 2, 20)
        # kill once the next segment has at least one complete fragment on disk; freeze the child
        # first so the file cannot be finished between looking at it and killing
        while True:
            partial = wait_for(lambda: big_partial(root), 10)
            os.kill(child.pid, signal.SIGSTOP)
            if partial.exists():
                break
            os.kill(child.pid, signal.SIGCONT)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    before = index.segments()
    rel = partial.relative_to(root).as_posix().removesuffix(PARTIAL)

    recorder = Recorder(RecorderConfig(root=root, segment_s=3, read_timeout_s=2,
                                       backoff=Backoff(initial_s=0.2, cap_s=1)), sessions)
    recorder.start([("CAM1", sim.url("CAM1"))])
    try:
        report = recorder.reconcile_report
        # one complete fragment was on disk, so the interrupted file is playable up to it
        assert report.recovered_partials == (rel,) and report.quarantined == ()
        for s in before:  # indexed before the crash: untouched
            assert sha256_file(root / s.path) == s.sha256
        wait_for(lambda: len([s for s in index.segments() if not s.recovered]) > len(before), 15)
    finally:
        recorder.stop()
    by_path = {s.path: s for s in index.segments()}
    assert by_path[rel].recovered and by_path[rel].frames >= 15
    assert decoded_frames(root / rel) == by_path[rel].frames
    assert not list(root.rglob(f"*{PARTIAL}"))
    engine.dispose()


@pytest.mark.parametrize("bad", [dict(segment_s=0), dict(read_timeout_s=-1)])
def test_config_is_validated(tmp_path, bad):
    with pytest.raises(ValueError):
        RecorderConfig(root=tmp_path, **bad)


@pytest.mark.postgres
def test_segments_written_while_the_database_is_cut_off_are_indexed_when_it_is_back(tmp_path, sim, pg_url):
    """PostgreSQL behind a proxy the test cuts for about three segments: the segments go on being written,
    and the next janitor pass after the database is back indexes them (retention and the free-space guard
    would otherwise not see them until a restart), with one warning each way."""
    import logging

    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from recorder.index import RecorderBase
    from tests.db_proxy import CuttableProxy

    url = pg_url
    direct = create_engine(url)
    RecorderBase.metadata.create_all(direct)
    proxy = CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    through = create_engine(url.set(port=proxy.port), pool_pre_ping=True)
    config = RecorderConfig(root=tmp_path / "rec", segment_s=2, open_timeout_s=5, read_timeout_s=3,
                            janitor_interval_s=1)
    recorder = Recorder(config, sessionmaker(through, expire_on_commit=False))
    seen = SegmentIndex(sessionmaker(direct, expire_on_commit=False))
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("recorder").addHandler(handler)
    try:
        recorder.start([("CAM1", sim.url("CAM1"))])
        wait_for(lambda: len(seen.segments("CAM1")) >= 2, 20)
        proxy.cut()
        time.sleep(6.5)  # about three segments written with the index out of reach
        cut_off = len(seen.segments("CAM1"))
        proxy.restore()
        time.sleep(3)  # a janitor pass or two
        recorder.stop()
    finally:
        logging.getLogger("recorder").removeHandler(handler)
        proxy.close()
        through.dispose()
    indexed = {s.path for s in seen.segments("CAM1")}
    on_disk = {p.relative_to(config.root).as_posix() for p in config.root.rglob("*.mp4")}
    direct.dispose()
    assert len(indexed) >= cut_off + 3, (cut_off, len(indexed))
    assert on_disk == indexed  # every segment on disk is in the index again, none twice, none lost
    said = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    assert any("cannot index segments" in m for m in said) and any("indexed" in m and "unreachable" in m
                                                                    for m in said), said
    assert not [r for r in records if r.exc_info], "a traceback was logged"
