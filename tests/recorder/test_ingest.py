"""Faults on real streams: accept-then-silence, a camera dropping mid-stream, reconnect backoff, leaks."""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from types import SimpleNamespace

import av
import pytest

from recorder.errors import StreamError
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


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class _Stop:
    """Stands in for the worker's stop event: a wait passes on the fake clock and is written down."""

    def __init__(self, clock):
        self.clock, self.waits = clock, []

    def wait(self, seconds):
        self.waits.append(seconds)
        self.clock.now += seconds
        return False

    def set(self):
        pass


def _reader(tmp_path, batch):
    """A camera worker, not started, on a fake clock, whose stop event writes its waits down."""
    from recorder.ingest import CameraWorker, IngestSettings
    from recorder.stats import FrameStatsAccumulator

    clock = _Clock()
    worker = CameraWorker(camera_id="C1", url="rtsp://127.0.0.1:1/stream1", root=tmp_path,
                          settings=IngestSettings(read_batch_s=batch), stats=FrameStatsAccumulator(),
                          on_segment=lambda r: None, clock=clock)
    worker._stop = stop = _Stop(clock)
    return worker, clock, stop


PACED = 0.4 / 15  # a read waiting this long waited for the camera (0.4 of a frame interval at 15 fps)


@pytest.mark.parametrize(
    ("name", "batch", "read_waits", "stop_after", "fed", "sleeps_after"),
    [
        # read_waits: how long each read waits for its packet; after a read that waited, the worker sleeps
        ("backlog read at once, then a batch sleep", 0.25, [0, 0, 0, 0.06, 0, 0, 0.06], None, 7, [4, 7]),
        # at the camera's pace: a wait, a sleep, the frames that came meanwhile at once, a wait...
        ("at the camera's pace", 0.25, [0.066, 0, 0, 0, 0.04, 0, 0, 0, 0.04], None, 9, [1, 5, 9]),
        ("a read slowed by the GIL is not a wait", 0.25, [0.005, 0.02, 0.001], None, 3, []),
        ("batching off", 0.0, [0.066, 0, 0.066], None, 3, []),
        ("stopping still writes what is buffered", 0.25, [0, 0, 0, 0, 0.066, 0], 2, 5, []),
        ("stopping at the camera's pace ends at once", 0.25, [0.066, 0.066, 0.066], 1, 1, []),
        # reads that wait 0.1 s for 1/15 s of stream each: the reader is slowed (the GIL, a busy machine)
        # and falls behind the camera's clock; after one sleep it is late and reads without sleeping
        ("a reader behind the camera's clock does not sleep", 0.25, [0.1] * 6, None, 6, [1]),
    ],
)
def test_packets_are_read_in_batches_once_caught_up(tmp_path, name, batch, read_waits, stop_after, fed,
                                                    sleeps_after):
    worker, clock, stop = _reader(tmp_path, batch)
    arrivals: list[float] = []

    def packets():  # at 15 fps, in a 1/90000 time base
        for i, wait in enumerate(read_waits):
            clock.now += wait
            yield SimpleNamespace(dts=i * 6000)

    def feed(pkt, at):
        arrivals.append(at)
        if len(arrivals) == stop_after:
            worker.stop()
        if len(arrivals) in sleeps_after:
            assert len(stop.waits) == sleeps_after.index(len(arrivals))  # no sleep before this packet's

    if stop_after is None:
        with pytest.raises(StreamError, match="end of stream"):
            worker._read_packets(packets(), feed, PACED, 1 / 90000)
    else:
        worker._read_packets(packets(), feed, PACED, 1 / 90000)
    assert len(arrivals) == fed
    assert stop.waits == [batch] * len(sleeps_after)


def test_stopping_drains_for_a_bounded_time(tmp_path):
    """A stop while packets keep coming without a wait (a backlog that never empties) still ends."""
    worker, clock, _ = _reader(tmp_path, 0.25)
    fed = []

    def packets():
        for i in itertools.count():
            clock.now += 0.01
            yield SimpleNamespace(dts=i * 6000)

    worker.stop()
    worker._read_packets(packets(), lambda p, at: fed.append(at), PACED, 1 / 90000)
    assert 100 <= len(fed) <= 130  # 0.25 s + 1 s of draining at 10 ms a packet


def _voluntary_switches(tid: int) -> int:
    for line in open(f"/proc/self/task/{tid}/status").read().splitlines():  # noqa: SIM115
        if line.startswith("voluntary_ctxt_switches"):
            return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches")


def test_batched_reads_wake_the_worker_less_and_lose_no_frame(tmp_path, sim, sqlite_sessions):
    """The reason for batching: a worker woken for every frame costs more CPU than the remux itself. Its
    thread's voluntary context switches per frame, on a real 15 fps stream, with batches and without."""
    per_frame = {}
    for batch in (0.0, 0.5):
        config = RecorderConfig(root=tmp_path / f"rec{batch}", read_batch_s=batch)
        recorder = Recorder(config, sqlite_sessions)
        recorder.start([("CAM1", sim.url("CAM1"))])
        try:
            wait_for(lambda r=recorder: r.status()["CAM1"].connected, 10)
            time.sleep(2)
            tid = recorder._workers["CAM1"]._thread.native_id
            before, frames_before = _voluntary_switches(tid), recorder.stats.window("CAM1", time.time(), 60).frames
            time.sleep(4)
            wakes = _voluntary_switches(tid) - before
            frames = recorder.stats.window("CAM1", time.time(), 60).frames - frames_before
        finally:
            recorder.stop()
        assert 4 * 15 - 10 <= frames <= 4 * 15 + 10  # batching delays frames, it does not drop them
        per_frame[batch] = wakes / frames
    assert per_frame[0.0] >= 0.8  # at the camera's pace a frame is a wake-up (an RTP packet, even)
    assert per_frame[0.5] < 0.6 * per_frame[0.0], per_frame


@pytest.mark.parametrize(
    ("name", "arrival", "contiguous"),
    [
        # batched reads: frames read up to 0.2 s after they came, and the promptest read of every other
        # segment (1 s, 15 frames) 20 ms late: the start estimates differ by that much, the joins do not
        ("read in batches", lambda i: i / 15 + 0.1 * (i % 3) + 0.02 * (i // 15 % 2), True),
        # the camera's clock runs 20 % slow against ours: the starts follow the wall clock
        ("a drifting camera clock", lambda i: i / 15 * 1.2, False),
    ],
)
def test_segments_of_one_stream_join_up(tmp_path, h264_clip, name, arrival, contiguous):
    from recorder.ingest import _Pipeline

    worker = _Worker(tmp_path / "rec", segment_s=1.0)
    with av.open(str(h264_clip)) as src:
        stream = src.streams.video[0]
        pipeline = _Pipeline(worker, stream)
        for i, pkt in enumerate(p for p in src.demux(stream) if p.dts is not None):
            pipeline.feed(pkt, at=1000 + arrival(i))
        pipeline.finish()
    records = worker.records
    assert len(records) >= 3
    joins = [(b.start - a.end).total_seconds() for a, b in zip(records, records[1:], strict=False)]
    if contiguous:
        assert joins == [0.0] * len(joins)
    else:
        assert all(j > 0.1 for j in joins)  # 20 % of a 1 s segment: each start where the frames came
    assert records[0].start.timestamp() == pytest.approx(1000.0, abs=0.01)
