"""When a worker counts as caught up with its camera: table-driven over arrival patterns."""

from __future__ import annotations

import pytest

from recorder.pacing import LiveEdge

TB = 1 / 90000
FRAME = 6000  # 1/15 s in that time base


def _arrivals(pattern: str, n: int = 3000) -> list[tuple[float, int]]:
    """(arrival, dts) of n frames at 15 fps under a pattern of delivery."""
    out = []
    for i in range(n):
        t = i / 15
        if pattern == "drift":  # the camera's clock runs 200 ppm slow against ours
            at = t * (1 + 200e-6)
        elif pattern == "starved" and 600 <= i < 900:  # the reader falls behind, 0.3 s a second
            at = 40 + (t - 40) * 1.3
        elif pattern == "starved" and i >= 900:  # and catches up at once
            at = max(t, 40 + 20 * 1.3)
        elif pattern == "jump back":  # timestamps jump 5 s back (the camera's clock was reset)
            at = t
            t = t - 5 if i >= 600 else t
        elif pattern == "jump ahead":
            at = t
            t = t + 5 if i >= 600 else t
        else:
            at = t
        out.append((1000 + at, round(t * 90000)))
    return out


@pytest.mark.parametrize(
    ("pattern", "check"),
    [
        ("steady", lambda late: max(late) < 1e-6),
        ("drift", lambda late: max(late) < 0.01),  # 200 ppm of 30 s
        # late by more than a batch from the first second behind until caught up, then on the edge again
        ("starved", lambda late: min(late[620:900]) > 0.25 and max(late[1000:]) < 0.01),
        ("jump ahead", lambda late: max(late[600:]) < 1e-6),  # a lower edge is taken at once
        # a higher edge is late until the old one has rolled out of both windows (15-30 s)
        ("jump back", lambda late: min(late[600:825]) > 4.9 and max(late[1050:]) < 1e-6),
    ],
)
def test_lateness_against_the_camera_clock(pattern, check):
    edge = LiveEdge(TB, window_s=15.0)
    late = [edge.lateness(at, dts) for at, dts in _arrivals(pattern)]
    assert check(late)
