"""``/metrics`` through prometheus_client: the store's picture at scrape time (per camera, incidents,
tickets, outbox, findings), and the process's own registry (probe rounds, the leader flag, the
recorder) when the service passes one."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.core.domain import Cause
from monitor.core.tickets import OPEN_STATES

CAMERA_STATES = ("up", "degraded", "down", "unknown")


def _gauge(name: str, help_: str, label: str, values: Mapping[str, int]) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, help_, labels=[label])
    for k, v in sorted(values.items()):
        g.add_metric([str(k)], int(v))
    return g


class StatusCollector(Collector):
    """The families of one status dict (`web.status.collect_status`); only the keys it names are read."""

    def __init__(self, status: Mapping[str, Any]):
        self.status = status

    def collect(self) -> Iterator[Metric]:
        st = self.status
        cams = st.get("cameras") or {}
        yield _gauge("mimamori_cameras", "Cameras by current state.", "state",
                     {s: int(cams.get(s, 0)) for s in CAMERA_STATES})
        by_cause = {str(c): 0 for c in Cause}
        for i in st.get("incidents") or ():
            by_cause[str(i.get("cause", ""))] = by_cause.get(str(i.get("cause", "")), 0) + 1
        yield _gauge("mimamori_open_incidents", "Open incidents by cause.", "cause", by_cause)
        by_ticket = {str(s): 0 for s in OPEN_STATES}
        for t in st.get("tickets") or ():
            by_ticket[str(t.get("state", ""))] = by_ticket.get(str(t.get("state", "")), 0) + 1
        yield _gauge("mimamori_open_tickets", "Vendor tickets not resolved or cancelled, by state.", "state", by_ticket)
        yield _gauge("mimamori_notifications", "Notifications in the outbox by status.", "status",
                     {str(k): int(v) for k, v in (st.get("notifications") or {}).items()})
        by_field: dict[str, int] = {}
        for f in st.get("findings") or ():
            by_field[str(f.get("field", ""))] = by_field.get(str(f.get("field", "")), 0) + 1
        from monitor.web.status import FIELD_LABELS  # the registry fields, each with its zero

        yield _gauge("mimamori_registry_findings", "Registry rows the observations contradict, by field.", "field",
                     {**dict.fromkeys(FIELD_LABELS, 0), **by_field})
        by_check: dict[str, int] = {}
        for d in st.get("drift") or ():
            by_check[str(d.get("check", ""))] = by_check.get(str(d.get("check", "")), 0) + 1
        yield _gauge("mimamori_drift_findings", "Open drift findings (settings not as approved), by check.", "check",
                     by_check)
        outbox = GaugeMetricFamily("mimamori_outbox_messages", "Outbox messages by status and channel.",
                                   labels=["status", "channel"])
        for (status, channel), n in sorted((st.get("outbox_by_channel") or {}).items()):
            outbox.add_metric([str(status), str(channel)], int(n))
        yield outbox
        yield from self._cameras(st.get("camera_series") or ())

    @staticmethod
    def _cameras(series) -> Iterator[Metric]:  # noqa: ANN001
        labels = ["camera", "area", "isp"]
        up = GaugeMetricFamily("mimamori_camera_up", "1 when the last round reached the camera with frames.",
                               labels=labels)
        fps = GaugeMetricFamily("mimamori_camera_fps", "Frames per second the last round measured.", labels=labels)
        rtt = GaugeMetricFamily("mimamori_camera_rtt_seconds", "TCP connect time to the camera, last round.",
                                labels=labels)
        for c in series:
            key = [str(c.get("camera", "")), str(c.get("area", "")), str(c.get("isp", ""))]
            up.add_metric(key, 1 if c.get("up") else 0)
            if c.get("fps") is not None:
                fps.add_metric(key, float(c["fps"]))
            if c.get("rtt_ms") is not None:
                rtt.add_metric(key, float(c["rtt_ms"]) / 1000)
        yield from (up, fps, rtt)


def metrics_body(status: Mapping[str, Any], process: CollectorRegistry | None = None) -> bytes:
    fresh = CollectorRegistry(auto_describe=False)
    fresh.register(StatusCollector(status))
    return generate_latest(fresh) + (generate_latest(process) if process is not None else b"")
