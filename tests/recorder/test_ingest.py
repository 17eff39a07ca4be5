"""Faults on real streams: accept-then-silence, a camera dropping mid-stream, reconnect backoff, leaks."""

from __future__ import annotations

import contextlib
import os
import threading
import time

import av
import pytest

from recorder.ingest import Backoff, backoff_delay
from recorder.service import Recorder, RecorderConfig
from tests.recorder.rtsp_peer import SilentTcpServer, closed_port
from tests.recorder.test_service import wait_for

BACKOFF = Backoff(initial_s=1, cap_s=60, jitter=0.2)


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [(0, 0.0, 1.0), (1, 0.0, 2.0), (5, 0.0, 32.0), (6, 0.0, 60.0), (200, 0.0, 60.0), (0, 0.5, 0.9),
     (6, 0.999999, pytest.approx(48.0, abs=1e-3))],
)
def test_backoff_doubles_to_the_cap_with_jitter_below(attempt, rand, expected):
    assert backoff_delay(attempt, BACKOFF, rand) == expected


def test_backoff_rejects_nonsense():
    with pytest.raises(ValueError):
        Backoff(initial_s=2, cap_s=1)


def test_silence_and_drops_are_detected_and_reconnected(tmp_path, sim, sqlite_sessions):
    silent = SilentTcpServer()
    read_timeout = 1.5
    config = RecorderConfig(root=tmp_path / "rec", segment_s=60, open_timeout_s=read_timeout,
                            read_timeout_s=read_timeout, backoff=Backoff(initial_s=0.2, cap_s=0.8))
    recorder = Recorder(config, sqlite_sessions)
    recorder.start([("CAM1", sim.url("CAM1")), ("CAM2", sim.url("CAM2")), ("MUTE", silent.url)])
    try:
        wait_for(lambda: all(recorder.status()[c].connected for c in ("CAM1", "CAM2")), 10)
        time.sleep(1)

        sim.command("stall", "CAM1")  # the session stays open; frames stop
        sim.command("stop", "CAM2")  # the camera drops off: socket closed, connection refused
        wait_for(lambda: not recorder.status()["CAM1"].connected, read_timeout + 4, step=0.05)
        # Frames already on their way still arrive after "stall"; silence is detected after the last.
        # The read timeout is silence on the socket: an RTCP sender report that the stalled camera still
        # sends up to one read timeout after its last frame restarts it, hence up to two.
        silence = time.time() - recorder.stats.last_frame_at("CAM1")
        assert read_timeout - 0.1 < silence < 2 * read_timeout + 0.5
        wait_for(lambda: not recorder.status()["CAM2"].connected, 2, step=0.05)
        time.sleep(2.5)
        st = recorder.status()
        assert st["CAM1"].last_error.startswith(("StreamTimeout", "InvalidDataError"))
        assert st["CAM2"].reconnects >= 2  # refused, backing off, refused again
        stats1 = recorder.stats.window("CAM1", time.time(), 10)
        assert stats1.max_gap_s > 3.0  # (the stalled camera still accepts sessions, so `connected` flaps)
        assert recorder.stats.window("CAM1", time.time(), 2).frames <= 1

        sim.command("normal", "CAM1")
        sim.command("normal", "CAM2")  # listening again
        wait_for(lambda: all(recorder.status()[c].connected for c in ("CAM1", "CAM2")), 5)
        time.sleep(1.5)
        for cam in ("CAM1", "CAM2"):
            assert recorder.stats.window(cam, time.time(), 1.0).frames >= 10
        mute = recorder.status()["MUTE"]
        assert not mute.connected and mute.sessions == 0 and mute.reconnects >= 3
        assert silent.accepted >= 3
        assert recorder.stats.window("MUTE", time.time(), 10).max_gap_s is None
    finally:
        recorder.stop()
        silent.close()
    # each outage closed the open segment; all of them are indexed and none left partial
    segs = recorder.index.segments("CAM1")
    assert len(segs) >= 2 and not list((tmp_path / "rec").rglob("*.partial"))


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_no_thread_or_fd_leak_after_many_reconnects(tmp_path, sqlite_sessions):
    silent = SilentTcpServer()
    refused = f"rtsp://127.0.0.1:{closed_port()}/stream1"
    with contextlib.suppress(av.error.FFmpegError):  # warm FFmpeg's network layer up before counting
        av.open(refused, options={"rtsp_transport": "tcp"}, timeout=(0.2, 0.2))
    config = RecorderConfig(root=tmp_path / "rec", open_timeout_s=0.2, read_timeout_s=0.2,
                            backoff=Backoff(initial_s=0.01, cap_s=0.02), janitor_interval_s=3600)
    warm = Recorder(config, sqlite_sessions)
    warm.start([])
    warm.stop()
    threads, fds = threading.active_count(), _fds()

    recorder = Recorder(config, sqlite_sessions)
    recorder.start([("REFUSED", refused), ("MUTE", silent.url)])
    try:
        wait_for(lambda: recorder.status()["REFUSED"].reconnects >= 30, 20)
        mid = _fds()
        wait_for(lambda: recorder.status()["REFUSED"].reconnects >= 90, 20)
        assert _fds() <= mid + 2  # bounded while running: nothing accumulates per reconnect
        assert recorder.status()["MUTE"].reconnects >= 5
    finally:
        recorder.stop()
        silent.close()
    assert threading.active_count() == threads
    assert _fds() <= fds


class _Worker:
    """Just what the packet pipeline touches of a CameraWorker."""

    def __init__(self, root, segment_s=60.0):
        from recorder.ingest import IngestSettings
        from recorder.stats import FrameStatsAccumulator

        self.camera_id, self.root = "C1", root
        self.settings = IngestSettings(segment_s=segment_s, max_timestamp_jump_s=10)
        self.stats = FrameStatsAccumulator()
        self.stats.track("C1", 0)
        self.records, self.discontinuities = [], 0

    def _count(self, name):
        self.discontinuities += 1

    def _segment_done(self, record):
        self.records.append(record)


@pytest.mark.parametrize(
    ("name", "shift", "segments", "discontinuities"),
    [
        ("clean", {}, 1, 0),
        ("small step back is nudged", {20: -0.2}, 1, 0),
        ("big step back starts a new segment at the next keyframe", {20: -30.0}, 2, 1),
        ("run ahead of the wall clock starts a new segment", {20: 30.0}, 2, 1),
    ],
)
def test_pipeline_timestamps(tmp_path, h264_clip, name, shift, segments, discontinuities):
    from recorder.ingest import _Pipeline

    worker = _Worker(tmp_path / "rec")
    with av.open(str(h264_clip)) as src:
        stream = src.streams.video[0]
        pipeline = _Pipeline(worker, stream)
        offset = 0
        packets = [p for p in src.demux(stream) if p.dts is not None]
        for i, pkt in enumerate(packets):
            offset += int(shift.get(i, 0) / stream.time_base)
            pkt.dts += offset
            pkt.pts += offset
            pipeline.feed(pkt, at=i / 15)
        pipeline.feed(packets[0].__class__(), at=5.0)  # the flush packet (no dts) is skipped
        pipeline.finish()
    assert len(worker.records) == segments and worker.discontinuities == discontinuities
    lost_to_keyframe_gate = 0 if segments == 1 else 15 - 20 % 15
    assert sum(r.frames for r in worker.records) == len(packets) - lost_to_keyframe_gate
    assert worker.stats.window("C1", 10, 10).frames == len(packets)
