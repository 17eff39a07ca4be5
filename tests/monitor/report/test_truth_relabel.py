"""The truth side of the fleet-11 check: local congestion during the ISP's congestion is relabelled."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from monitor.core.domain import Cause
from tests.monitor.report.truth import TruthEvent, truth_minutes

JST = timezone(timedelta(hours=9))


def t(h: int, m: int = 0) -> datetime:
    return datetime(2026, 11, 2, h, m, tzinfo=JST)


def test_local_congestion_inside_isp_congestion_counts_as_isp_congestion():
    events = [
        TruthEvent(cause=Cause.ISP_CONGESTION, cameras=("C2",), start=t(19), end=t(22), scope={"isp": "ocn"}),
        TruthEvent(cause=Cause.LOCAL_CONGESTION, cameras=("C1",), start=t(18), end=t(21), scope={}),
        TruthEvent(cause=Cause.LOCAL_OUTAGE, cameras=("C2",), start=t(20), end=t(20, 30), scope={}),
    ]
    minutes, n, relabelled = truth_minutes(events, {"C1": "ocn", "C2": "ocn"}, t(0), t(23, 59))
    assert relabelled == 120
    assert minutes["C1"][Cause.LOCAL_CONGESTION] == 60 and minutes["C1"][Cause.ISP_CONGESTION] == 120
    assert minutes["C2"][Cause.ISP_CONGESTION] == 150 and minutes["C2"][Cause.LOCAL_OUTAGE] == 30
    assert n == {"C1": 1, "C2": 2}
