"""Silences and maintenance windows (issue 17): an owner's or vendor's message waits until they end, and
goes then only if it still makes sense. The pure rules, then the decision loop, the outbox and the
dispatcher over the store (SQLite and PostgreSQL), counting what the folder channel received.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from monitor.core.domain import Camera
from monitor.core.holds import Maintenance, Silence, check_window, hold_until, not_at_night, still_wanted
from monitor.core.policy import EscalationPolicy
from monitor.service.decide import policies_of
from monitor.service.delivery import Delivery
from monitor.service.holds import moot, resend_withdrawn
from monitor.store.accounts import acknowledge, withdraw_ack
from monitor.store.holds import add_silence, add_window
from notify.outbox import Outbox
from notify.render import Renderer

from .test_delivery import MORNING, Clock, fleet, folder_settings, observations, service_parts

JST = timezone(timedelta(hours=9))
CAM = Camera(camera_id="C004", area="A0", isp="nuro", line_id="L4", expected_fps=15.0)


def window(scope: str, values: tuple[str, ...], start: datetime, hours: float = 2) -> Maintenance:
    return Maintenance(id=1, scope=scope, values=values, starts_at=start, ends_at=start + timedelta(hours=hours),
                       reason="NTT の光回線工事", by="tanaka")


def test_who_waits_and_until_when():
    silence = Silence(incident_id="I1", ends_at=MORNING + timedelta(hours=1), reason="業者が現地対応中", by="tanaka")
    works = window("area", ("A0",), MORNING - timedelta(minutes=30))
    assert hold_until("owner", "I1", CAM, MORNING, [silence], []) == silence.ends_at
    assert hold_until("vendor", "I1", CAM, MORNING, [silence], []) == silence.ends_at
    assert hold_until("operator", "I1", CAM, MORNING, [silence], [works]) is None  # operators always hear
    assert hold_until("owner", "I2", CAM, MORNING, [silence], []) is None  # another incident
    assert hold_until("owner", "I2", CAM, MORNING, [], [works]) == works.ends_at
    assert hold_until("owner", "I2", CAM, MORNING, [silence], [works]) == works.ends_at  # the later end
    assert hold_until("owner", "I2", CAM, MORNING + timedelta(hours=2), [], [works]) is None  # ended by itself
    assert hold_until("owner", "I2", CAM, MORNING, [], [window("isp", ("nuro",), MORNING)]) is not None
    assert hold_until("owner", "I2", CAM, MORNING, [], [window("cameras", ("C005",), MORNING)]) is None
    assert hold_until("owner", "I2", CAM, MORNING, [], [window("area", ("A0",), MORNING + timedelta(hours=1))]) \
        is None  # not begun yet


def test_an_owner_message_that_waited_never_goes_at_night_and_moot_ones_are_dropped():
    policy = EscalationPolicy()
    late = datetime(2026, 11, 2, 22, 30, tzinfo=JST)
    assert not_at_night(late, ZoneInfo("Asia/Tokyo"), policy) == datetime(2026, 11, 3, 8, 0, tzinfo=JST)
    assert not_at_night(MORNING, ZoneInfo("Asia/Tokyo"), policy) == MORNING
    assert still_wanted("reboot_request", incident_closed=False, request_went_out=False)
    assert not still_wanted("reboot_request", incident_closed=True, request_went_out=False)
    assert not still_wanted("recovered_thanks", incident_closed=True, request_went_out=False)
    assert still_wanted("recovered_thanks", incident_closed=True, request_went_out=True)
    assert not still_wanted("reminder", incident_closed=False, request_went_out=True, acknowledged=True)
    assert still_wanted("dispatch", incident_closed=False, request_went_out=True, acknowledged=True)
    assert check_window("area", ["A0"], MORNING, MORNING - timedelta(hours=1), "x") == ["ends_at: after starts_at"]
    assert len(check_window("street", [], MORNING, MORNING + timedelta(days=20), "")) == 4


def run(sessions, tmp_path, down_of, minutes: int, before=lambda loop, clock: None, **escalation):
    s = folder_settings(tmp_path)
    if escalation:
        s = s.model_copy(update={"escalation": s.escalation | escalation})
    cams = fleet()
    clock = Clock(MORNING)
    loop, dispatcher = service_parts(s, sessions, clock)
    dispatcher._moot = lambda item: moot(sessions, item)  # as the service wires it
    for k in range(minutes):
        clock.t = MORNING + timedelta(minutes=k)
        before(k, clock)
        loop.round(cams, observations(clock.t, cams, down_of(k)), [], clock.t)
        dispatcher.dispatch_due()
    return {(i.message.kind, i.status) for i in Outbox(sessions).all() if i.message.kind.startswith("owner.")}


def owners_sent(rows) -> list[str]:
    return sorted(k for k, status in rows if status in ("filed", "sent"))


def test_without_a_hold_the_owner_is_asked_and_thanked(sessions, tmp_path):
    rows = run(sessions, tmp_path, lambda k: {"C004"} if 5 <= k < 50 else set(), 60)
    assert owners_sent(rows) == ["owner.reboot_request", "owner.recovered_thanks"]


def test_a_silence_holds_the_owner_request_until_it_ends_then_it_goes(sessions, tmp_path):
    ends = MORNING + timedelta(minutes=40)

    def silence(k, clock):
        if k == 10:  # the household line went down at minute 5 (I1); the operator silences it at 10
            with sessions.begin() as s:
                add_silence(s, Silence(incident_id="I1", ends_at=ends, reason="業者が現地対応中", by="tanaka"), clock.t)

    rows = run(sessions, tmp_path, lambda k: {"C004"} if k >= 5 else set(), 39, before=silence)
    assert owners_sent(rows) == []  # held: nothing reached the owner while silenced
    rows = {(i.message.kind, i.status, i.next_attempt_at) for i in Outbox(sessions).all()
            if i.message.kind.startswith("owner.")}
    assert {(k, st) for k, st, _ in rows} == {("owner.reboot_request", "queued")}
    assert {at for *_, at in rows} == {ends}


def test_a_held_request_whose_incident_closed_is_cancelled_and_so_is_its_thanks(sessions, tmp_path):
    works = window("area", ("A0",), MORNING, hours=1)  # planned works on the whole of area A0, 09:00 to 10:00

    def plan(k, clock):
        if k == 0:
            with sessions.begin() as s:
                add_window(s, works, clock.t)

    rows = run(sessions, tmp_path, lambda k: {"C004"} if 5 <= k < 40 else set(), 75, before=plan)
    assert owners_sent(rows) == []  # the line came back during the works: nobody bothered
    assert ("owner.reboot_request", "cancelled") in rows and ("owner.recovered_thanks", "cancelled") in rows


def test_a_camera_outside_the_window_is_not_held(sessions, tmp_path):
    works = replace(window("cameras", ("C009",), MORNING, hours=2))

    def plan(k, clock):
        if k == 0:
            with sessions.begin() as s:
                add_window(s, works, clock.t)

    rows = run(sessions, tmp_path, lambda k: {"C004"} if 5 <= k < 50 else set(), 60, before=plan)
    assert owners_sent(rows) == ["owner.reboot_request", "owner.recovered_thanks"]


def acknowledging_at(minute: int, sessions):
    def ack(k, clock):
        if k == minute:  # the household line went down at minute 5 (I1)
            with sessions.begin() as s:
                assert acknowledge(s, "I1", "tanaka", clock.t)
    return ack


def test_an_acknowledged_incident_sends_no_more_automatic_requests_to_its_owner(sessions, tmp_path):
    down = lambda k: {"C004"} if 5 <= k < 70 else set()  # noqa: E731
    minutes = {"reminder_after": timedelta(minutes=20).total_seconds()}
    rows = run(sessions, tmp_path, down, 80, **minutes)  # the control: asked at 20, reminded at 40, thanked
    assert owners_sent(rows) == ["owner.reboot_request", "owner.recovered_thanks", "owner.reminder"]


def test_acknowledged_before_the_request_the_owner_is_neither_asked_nor_thanked(sessions, tmp_path):
    down = lambda k: {"C004"} if 5 <= k < 70 else set()  # noqa: E731
    rows = run(sessions, tmp_path, down, 80, before=acknowledging_at(10, sessions),
               reminder_after=timedelta(minutes=20).total_seconds())
    assert owners_sent(rows) == []
    assert ("owner.reboot_request", "cancelled") in rows and ("owner.recovered_thanks", "cancelled") in rows


def test_acknowledged_after_the_request_the_reminder_is_not_sent_but_the_thanks_is(sessions, tmp_path):
    down = lambda k: {"C004"} if 5 <= k < 70 else set()  # noqa: E731
    rows = run(sessions, tmp_path, down, 80, before=acknowledging_at(30, sessions),
               reminder_after=timedelta(minutes=20).total_seconds())
    assert owners_sent(rows) == ["owner.reboot_request", "owner.recovered_thanks"]
    assert ("owner.reminder", "cancelled") in rows


def reminding_after_20(sessions, tmp_path) -> tuple[Delivery, dict]:
    """The service's delivery with reminders 20 minutes after the request, and that [escalation] change."""
    s = folder_settings(tmp_path)
    escalation = s.escalation | {"reminder_after": timedelta(minutes=20).total_seconds()}
    policy = policies_of(s.model_copy(update={"escalation": escalation})).escalation
    return Delivery(settings=s, renderer=Renderer(), escalation=policy, outbox=Outbox(sessions)), escalation


def test_an_acknowledgement_withdrawn_sends_what_it_stopped_the_request_now_the_reminder_behind_it(
        sessions, tmp_path):
    """Acknowledged at 10 (the request fell due at 20 and the reminder at 40: both cancelled), withdrawn at
    45: the request goes at 45, its reminder 20 minutes later, and the owner is thanked when the line is
    back at 90. Withdrawing it again, or an incident that was never acknowledged, changes nothing."""
    delivery, escalation = reminding_after_20(sessions, tmp_path)
    given = acknowledging_at(10, sessions)

    def withdraw(k, clock):
        given(k, clock)
        if k == 45:
            with sessions.begin() as s:
                assert withdraw_ack(s, "I1") is not None
                assert resend_withdrawn(s, "I1", clock.t, delivery) == 2
            with sessions.begin() as s:
                assert withdraw_ack(s, "I1") is None and resend_withdrawn(s, "I1", clock.t, delivery) == 0

    rows = run(sessions, tmp_path, lambda k: {"C004"} if 5 <= k < 90 else set(), 100, before=withdraw,
               **escalation)
    assert owners_sent(rows) == ["owner.reboot_request", "owner.recovered_thanks", "owner.reminder"]
    sent = {i.message.kind: i.next_attempt_at for i in Outbox(sessions).all()}
    assert sent["owner.reboot_request"] == MORNING + timedelta(minutes=45)
    assert sent["owner.reminder"] == MORNING + timedelta(minutes=65)


def test_an_acknowledgement_withdrawn_after_the_request_fell_due_keeps_the_reminder_at_its_distance(
        sessions, tmp_path):
    """Acknowledged at 10, the request cancelled at 20, withdrawn at 25: the request goes at 25. The ladder
    decides the reminder at 40 (20 after it decided the request); it waits until 45, 20 after the request
    really went, not 15."""
    delivery, escalation = reminding_after_20(sessions, tmp_path)
    given = acknowledging_at(10, sessions)

    def withdraw(k, clock):
        given(k, clock)
        if k == 25:
            with sessions.begin() as s:
                assert withdraw_ack(s, "I1") is not None and resend_withdrawn(s, "I1", clock.t, delivery) == 1

    rows = run(sessions, tmp_path, lambda k: {"C004"} if k >= 5 else set(), 60, before=withdraw, **escalation)
    assert owners_sent(rows) == ["owner.reboot_request", "owner.reminder"]
    sent = {i.message.kind: i.next_attempt_at for i in Outbox(sessions).all()}  # each went when due (folder)
    assert sent["owner.reboot_request"] == MORNING + timedelta(minutes=25)
    assert sent["owner.reminder"] == MORNING + timedelta(minutes=45)


def test_a_reminder_held_with_its_request_follows_it_at_its_distance_not_at_once(sessions, tmp_path):
    ends = MORNING + timedelta(minutes=60)

    def silence(k, clock):
        if k == 10:  # down since 5: the request falls due at 20 and the reminder at 40, both while silenced
            with sessions.begin() as s:
                add_silence(s, Silence(incident_id="I1", ends_at=ends, reason="業者が現地対応中", by="tanaka"), clock.t)

    rows = run(sessions, tmp_path, lambda k: {"C004"} if k >= 5 else set(), 70, before=silence,
               reminder_after=timedelta(minutes=20).total_seconds())
    assert owners_sent(rows) == ["owner.reboot_request"]  # the silence ended at 60 with the line still down
    queued = [i.next_attempt_at for i in Outbox(sessions).all() if i.message.kind == "owner.reminder"]
    assert queued == [ends + timedelta(minutes=20)]
