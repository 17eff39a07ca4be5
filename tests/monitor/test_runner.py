"""`runner.describe`: one log line per decision, of every type, never a contact detail."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from monitor.core.decisions import Audience, ChangeKind, FindingDecision, IncidentDecision, Kind, NotificationDecision
from monitor.core.domain import Cause
from monitor.service.runner import describe

T = datetime(2026, 11, 2, 9, 0, tzinfo=timezone(timedelta(hours=9)))
OUTAGE = {"incident": "I6", "cause": "isp_outage", "went_down_and_came_back_with": {"isp": "flets-biglobe"}}


@pytest.mark.parametrize(("decision", "line"), [
    (IncidentDecision(t=T, id="I1", state=ChangeKind.CLOSED, cause=Cause.LOCAL_OUTAGE),
     "incident I1 closed: local_outage"),
    (NotificationDecision(t=T, audience=Audience.OWNER, kind=Kind.REBOOT_REQUEST, incident="I1", camera="C1",
                          channel="sms"), "owner reboot_request for C1 via sms (incident I1)"),
    (FindingDecision(t=T, camera="C0088", field="isp", registry="flets-sonet", observed="flets-biglobe",
                     evidence=OUTAGE),
     "registry finding for C0088: isp flets-sonet -> flets-biglobe "
     "(went down and came back with incident I6 (isp_outage: isp flets-biglobe))"),
    (FindingDecision(t=T, camera="C0023", field="expected_fps", registry=20.0, observed=10.0,
                     evidence={"clean_intervals": 60, "learned_fps": 9.99}),
     "registry finding for C0023: expected_fps 20 -> 10 (9.99 fps measured over 60 clean intervals)"),
    (FindingDecision(t=T, camera="C0023", field="expected_fps", registry=20.0, observed=20.0,
                     evidence={"clean_intervals": 120, "learned_fps": 19.8}),
     "registry finding for C0023 withdrawn: expected_fps is 20 as registered "
     "(19.8 fps measured over 120 clean intervals)"),
], ids=["incident", "notification", "finding-isp", "finding-fps", "withdrawal"])
def test_describe(decision, line):
    assert describe(decision) == line
