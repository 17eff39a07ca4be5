"""The process's own metrics (prometheus_client), served with the store's on ``/metrics``."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.round_seconds = Histogram(
            "mimamori_probe_round_seconds", "Wall time of one probe round of the whole fleet.",
            buckets=(1, 2, 5, 10, 20, 30, 45, 60, 90, 120, float("inf")), registry=self.registry)
        self.rounds = Counter("mimamori_probe_rounds", "Probe rounds, by what became of them.", ["outcome"],
                              registry=self.registry)
        self.leader = Gauge("mimamori_leader", "1 while this node holds the decider lease.", registry=self.registry)
        self.recorder_connected = Gauge("mimamori_recorder_connected", "1 while the recorder holds the stream.",
                                        ["camera"], registry=self.registry)
        self.recorder_fps = Gauge("mimamori_recorder_fps", "Frames per second the recorder receives.", ["camera"],
                                  registry=self.registry)
        self.recorder_reconnects = Gauge("mimamori_recorder_reconnects", "Reconnects since the recorder started.",
                                         ["camera"], registry=self.registry)
        self.recorder_segments = Gauge("mimamori_recorder_segments", "Segments written since the recorder started.",
                                       ["camera"], registry=self.registry)
        self.recorder_bytes = Gauge("mimamori_recorder_bytes", "Bytes of footage written since the recorder "
                                    "started.", ["camera"], registry=self.registry)
        self.recorder_status: dict[str, Mapping] = {}  # the latest, for the console's camera page

    def recorder(self, status: Mapping[str, Mapping]) -> None:
        """The recorder's per-camera status (as `recorder-status.json` holds it); cameras gone are dropped."""
        for g in (self.recorder_connected, self.recorder_fps, self.recorder_reconnects, self.recorder_segments,
                  self.recorder_bytes):
            g.clear()
        self.recorder_status = dict(status)
        for cam, st in status.items():
            self.recorder_connected.labels(cam).set(1 if st.get("connected") else 0)
            self.recorder_fps.labels(cam).set(float(st.get("fps") or 0.0))
            self.recorder_reconnects.labels(cam).set(int(st.get("reconnects") or 0))
            self.recorder_segments.labels(cam).set(int(st.get("segments") or 0))
            self.recorder_bytes.labels(cam).set(int(st.get("bytes") or 0))
