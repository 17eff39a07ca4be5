"""The core's typed decisions: the scenario format they are written in, and the one idempotency key."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from monitor.core.classify.state import ChangeKind, Incident, IncidentChange
from monitor.core.decisions import (
    Audience,
    IncidentDecision,
    Kind,
    NotificationDecision,
    incident_decision,
    notification_key,
    to_record,
)
from monitor.core.domain import Cause

TOKYO = ZoneInfo("Asia/Tokyo")
T = datetime(2026, 11, 2, 0, 15, 30, tzinfo=UTC)  # 09:15:30 in Tokyo


def dumps(rec: dict) -> str:
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":"))


def test_an_opened_incident_in_the_scenario_format():
    d = IncidentDecision(t=T, id="I7", state=ChangeKind.OPEN, cause=Cause.AREA_OUTAGE, cameras=("C1", "C2"),
                         scope={"area": "A04"}, evidence={"down": 2})
    assert dumps(to_record(d, TOKYO)) == (
        '{"t":"2026-11-02T09:15:30+09:00","type":"incident","id":"I7","state":"open","cause":"area_outage",'
        '"cameras":["C1","C2"],"scope":{"area":"A04"},"evidence":{"down":2}}')


def test_a_closed_incident_leaves_cameras_and_scope_out():
    d = IncidentDecision(t=T, id="I7", state=ChangeKind.CLOSED, cause=Cause.LOCAL_OUTAGE, cameras=("C1",),
                         scope={"line": "L1"}, evidence={})
    assert list(to_record(d, TOKYO)) == ["t", "type", "id", "state", "cause", "evidence"]


def test_notifications_in_the_scenario_format_only_what_they_carry():
    owner = NotificationDecision(t=T, audience=Audience.OWNER, kind=Kind.REBOOT_REQUEST, incident="I1", camera="C1",
                                 channel="sms")
    operator = NotificationDecision(t=T, audience=Audience.OPERATOR, kind=Kind.INCIDENT_OPENED, incident="I2",
                                    count=6, cause=Cause.ISP_OUTAGE)
    assert dumps(to_record(owner, TOKYO)) == ('{"t":"2026-11-02T09:15:30+09:00","type":"notification",'
                                              '"audience":"owner","kind":"reboot_request","camera":"C1",'
                                              '"channel":"sms","incident":"I1"}')
    assert dumps(to_record(operator, TOKYO)) == ('{"t":"2026-11-02T09:15:30+09:00","type":"notification",'
                                                 '"audience":"operator","kind":"incident_opened","incident":"I2",'
                                                 '"count":6,"cause":"isp_outage"}')


def test_the_record_time_is_local_to_the_given_zone_whatever_the_decision_carries():
    jst = T.astimezone(timezone(timedelta(hours=9)))
    d = NotificationDecision(t=jst, audience=Audience.VENDOR, kind=Kind.DISPATCH, incident="I1", camera="C1")
    assert to_record(d, UTC)["t"] == "2026-11-02T00:15:30+00:00"
    assert to_record(d, TOKYO)["t"] == "2026-11-02T09:15:30+09:00"


def test_one_idempotency_key_as_stored_databases_hold_it():
    with_camera = NotificationDecision(t=T, audience=Audience.OWNER, kind=Kind.REMINDER, incident="I1", camera="C9")
    without = NotificationDecision(t=T, audience=Audience.OPERATOR, kind=Kind.INCIDENT_CLOSED, incident="I2", count=3)
    assert notification_key(with_camera) == "I1:reminder:owner:C9"
    assert notification_key(without) == "I2:incident_closed:operator:-"


def test_a_decision_time_must_be_aware():
    with pytest.raises(ValueError, match="UTC offset"):
        NotificationDecision(t=datetime(2026, 11, 2, 9, 0), audience=Audience.OWNER, kind=Kind.REMINDER,
                             incident="I1")


def test_an_incident_change_becomes_a_decision_with_sorted_members():
    inc = Incident(id="I3", key="local_outage|line:L1", cause=Cause.LOCAL_OUTAGE, scope={"line": "L1"}, opened=0,
                   members={"C2": 0, "C1": 0}, evidence={"down": 3})
    d = incident_decision(T, IncidentChange(t=0, kind=ChangeKind.OPEN, incident=inc))
    assert d == IncidentDecision(t=T, id="I3", state=ChangeKind.OPEN, cause=Cause.LOCAL_OUTAGE, cameras=("C1", "C2"),
                                 scope={"line": "L1"}, evidence={"down": 3})
