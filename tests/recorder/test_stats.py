from __future__ import annotations

import pytest

from recorder.stats import FrameStats, FrameStatsAccumulator, RecorderFrameSource

T0 = 1_000_000.0


def feed(acc: FrameStatsAccumulator, times: list[float], nbytes: int = 10) -> None:
    for t in times:
        acc.frame("C", T0 + t, nbytes)


CASES = [
    # name, arrivals (s after T0), now, window, expected (frames, fps, max_gap, bytes)
    ("steady 10 fps", [0.05 + i / 10 for i in range(100)], 10.0, 10.0, (100, 10.0, pytest.approx(0.1), 1000)),
    ("no frames ever", [], 10.0, 10.0, (0, 0.0, None, 0)),
    ("burst then silence: trailing gap counts", [0.0, 0.1, 0.2], 10.0, 10.0, (3, 0.3, pytest.approx(9.8), 30)),
    ("gap inside the window", [0.5, 1.0, 7.0, 8.0], 10.0, 10.0, (4, 0.4, pytest.approx(6.0), 40)),
    ("gap from a frame before the window", [0.0, 55.0], 60.0, 10.0, (1, 0.1, pytest.approx(55.0), 10)),
    ("only old frames", [0.0], 60.0, 10.0, (0, 0.0, pytest.approx(60.0), 0)),
]


@pytest.mark.parametrize(("name", "arrivals", "now", "window", "expected"), CASES, ids=[c[0] for c in CASES])
def test_window(name, arrivals, now, window, expected):
    acc = FrameStatsAccumulator()
    acc.track("C", T0)
    feed(acc, arrivals)
    st = acc.window("C", T0 + now, window)
    assert (st.frames, st.fps, st.max_gap_s, st.bytes) == expected
    assert st.connected is False


def test_take_drains_and_young_camera_rate():
    acc = FrameStatsAccumulator()
    acc.track("C", T0)
    acc.set_connected("C", True)
    feed(acc, [i / 5 for i in range(10)])  # 5 fps for 2 s
    first = acc.take("C", T0 + 2.0)
    assert first.frames == 10 and first.fps == pytest.approx(5.0) and first.connected
    feed(acc, [3.0])
    second = acc.take("C", T0 + 4.0)
    assert second.frames == 1 and second.fps == pytest.approx(0.5)


def test_horizon_bounds_memory():
    acc = FrameStatsAccumulator(horizon_s=5)
    acc.track("C", T0)
    feed(acc, [i / 10 for i in range(200)])
    assert acc.window("C", T0 + 20, 20).frames <= 70


async def test_frame_source_none_for_untracked_camera():
    acc = FrameStatsAccumulator()
    acc.track("C", T0)
    feed(acc, [0.5])
    src = RecorderFrameSource(acc, clock=lambda: T0 + 1)
    assert await src.stats("other", 60) is None
    assert await src.stats("C", 60) == FrameStats(frames=1, fps=1.0, max_gap_s=0.5, bytes=10, connected=False)
