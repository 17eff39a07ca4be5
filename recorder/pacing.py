"""When a recorder worker may sleep between reads: it has caught up with its camera.

Two signs, both needed. The read waited for its packet (`paced_after`): nothing was left in the socket.
And the packet is not late against the camera's own clock (`LiveEdge`): a thread slowed by the GIL or a
busy machine also waits for its reads, and if it then slept as well it would fall further behind with
every batch, as a camera whose session survived an evening's congestion showed in the whole-system test
(its segments came ever later until the machine calmed down). A worker that is behind reads flat out
until it has caught up.
"""

from __future__ import annotations

import math

import av


def paced_after(stream: av.video.stream.VideoStream) -> float:
    """How long a read may take before it counts as waiting for the camera: 0.4 of a frame interval at
    the stream's announced rate (15 fps when it announces none)."""
    rate = stream.guessed_rate or stream.average_rate
    fps = float(rate) if rate and 1 <= rate <= 120 else 15.0
    return 0.4 / fps


class LiveEdge:
    """How late a packet is read, in seconds, against the earliest the camera's clock allows.

    A packet's offset is its arrival time less its stream time; the smallest offset of the last one to
    two windows is the live edge, and a packet's lateness is its offset above that. The worker asks only
    for packets whose read waited: they were read as they arrived, and a packet read from a backlog
    could only raise the offset, never lower the edge; so nothing is done for the others. The edge follows a
    camera clock that drifts or jumps within two windows; a reader that falls behind shows as lateness
    growing as fast as it falls behind.
    """

    __slots__ = ("window_s", "tb", "prev_min", "cur_min", "roll_at")

    def __init__(self, time_base: float, window_s: float = 15.0):
        self.window_s, self.tb = window_s, time_base
        self.prev_min = self.cur_min = math.inf
        self.roll_at: float | None = None

    def lateness(self, at: float, dts: int) -> float:
        offset = at - dts * self.tb
        if self.roll_at is None:
            self.roll_at = at + self.window_s
        elif at >= self.roll_at:
            self.prev_min, self.cur_min = self.cur_min, math.inf
            self.roll_at = at + self.window_s
        if offset < self.cur_min:
            self.cur_min = offset
        return offset - min(self.prev_min, self.cur_min)
