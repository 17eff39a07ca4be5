"""Decided notifications reach the outbox in the decision's transaction, and the dispatcher delivers
them exactly once: to a folder (no provider configured), and to real peers (Prism serving Twilio's
spec, aiosmtpd with STARTTLS and AUTH)."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import datetime, timedelta, timezone

import pytest

from monitor.config.settings import Settings
from monitor.core.domain import Camera, Contact, Observation
from monitor.service.decide import DecisionLoop, policies_of
from monitor.service.delivery import Delivery, build_channels, person_recipient
from monitor.store.decisions import list_incidents
from notify.dispatch import Dispatcher, RetryPolicy
from notify.outbox import Outbox
from notify.render import Renderer
from notify.sms_text import sms_segments
from tests.notify_peers import SMTP_PASSWORD, SMTP_USER, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN

JST = timezone(timedelta(hours=9))
MORNING = datetime(2026, 11, 2, 9, 0, tzinfo=JST)  # a Monday: owners may be contacted


class Clock:
    def __init__(self, t):
        self.t = t

    def now(self):
        return self.t


def fleet(contact=Contact.SMS) -> dict[str, Camera]:
    return {f"C{i:03d}": Camera(camera_id=f"C{i:03d}", area=f"A{i // 6}", isp=("nuro", "flets")[i % 2],
                                line_id=f"L{i}", expected_fps=15.0, contact=contact, phone="+819012345678",
                                email=f"owner{i}@example.com", owner_name=f"設置者{i}", address=f"見守り市本町{i}-1",
                                vendor="vendor-1") for i in range(12)}


def observations(t, cams, down: set[str], no_video: frozenset[str] = frozenset()):
    """`down`: unreachable; `no_video`: reachable and answering ONVIF, but no frame comes."""
    return [Observation(t=t, camera=c, reachable=c not in down, rtt_ms=None if c in down else 10.0,
                        onvif_ok=c not in down, fps=None if c in down else 0.0 if c in no_video else 15.0,
                        max_gap_s=None if c in down else 60.0 if c in no_video else 0.1) for c in cams]


def service_parts(settings, sessions, clock):
    policies = policies_of(settings)
    renderer = Renderer()
    delivery = Delivery(settings=settings, renderer=renderer, escalation=policies.escalation, outbox=Outbox(sessions))
    loop = DecisionLoop(sessions, policies, 60, after_step=delivery.enqueue)
    dispatcher = Dispatcher(sessions, build_channels(settings), RetryPolicy(), clock, renderer=renderer,
                            operators=[person_recipient(p) for p in settings.notify.operators])
    return loop, dispatcher


def play(settings, sessions, cams, down_of, minutes, *, restart_at=(), no_video_of=lambda k: frozenset()):
    clock = Clock(MORNING)
    loop, dispatcher = service_parts(settings, sessions, clock)
    for k in range(minutes):
        if k in restart_at:
            loop, dispatcher = service_parts(settings, sessions, clock)
        clock.t = MORNING + timedelta(minutes=k)
        loop.round(cams, observations(clock.t, cams, down_of(k), no_video_of(k)), [], clock.t)
        dispatcher.dispatch_due()
    return Outbox(sessions).all()


def folder_settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, notify={"outbox_dir": str(tmp_path / "outbox"),
                                               "operators": [{"name": "市民安全課", "email": "ops@city.example.jp"}]})


def test_household_outage_one_japanese_sms_in_the_folder_even_across_restarts(sessions, tmp_path):
    s = folder_settings(tmp_path)
    items = play(s, sessions, fleet(), lambda k: {"C004"} if k >= 5 else set(), 60, restart_at=(25, 26, 40))
    files = sorted((tmp_path / "outbox").glob("*.json"))
    sent = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    reboot = [m for m in sent if m["kind"] == "owner.reboot_request"]
    assert len(reboot) == 1, sent
    (m,) = reboot
    assert m["channel"] == "sms" and m["to"]["address"] == "+819012345678"
    assert "C004" in m["text"] and "03-0000-0000" in m["text"]
    assert sms_segments(m["text"]) == ("UCS-2", 1)
    assert all(i.status == "filed" for i in items)  # in a folder, nobody was contacted: never called "sent"
    assert {f.stat().st_mode & 0o777 for f in files} == {0o600}


@pytest.mark.parametrize(("no_video", "asked", "not_asked"), [
    (False, "ルーター等の電源を入れ直して", "カメラの電源を入れ直して"),  # the line is down: router, ONU, camera
    (True, "カメラの電源を入れ直して", "ルーター"),  # the camera answers but sends nothing: the camera alone
])
def test_owner_is_asked_to_restart_what_the_fault_points_at(sessions, tmp_path, no_video, asked, not_asked):
    s = folder_settings(tmp_path)
    down = (lambda k: set()) if no_video else (lambda k: {"C004"} if k >= 5 else set())
    blank = (lambda k: frozenset({"C004"}) if k >= 5 else frozenset()) if no_video else (lambda k: frozenset())
    play(s, sessions, fleet(), down, 60, no_video_of=blank)
    sent = [json.loads(f.read_text(encoding="utf-8")) for f in (tmp_path / "outbox").glob("*.json")]
    (m,) = [m for m in sent if m["kind"] == "owner.reboot_request"]
    assert asked in m["text"] and not_asked not in m["text"], m["text"]
    assert sms_segments(m["text"]) == ("UCS-2", 1)
    with sessions() as session:
        (inc,) = list_incidents(session)
    assert inc.cause == ("camera_fault" if no_video else "local_outage")


def test_area_outage_reaches_no_owner_and_the_operator_once(sessions, tmp_path):
    s = folder_settings(tmp_path)
    area = {f"C{i:03d}" for i in range(6)}  # all of A0, on several lines and both ISPs
    play(s, sessions, fleet(), lambda k: area if 5 <= k < 40 else set(), 60)
    sent = [json.loads(f.read_text(encoding="utf-8")) for f in (tmp_path / "outbox").glob("*.json")]
    assert not [m for m in sent if m["kind"].startswith("owner.")], sent
    kinds = sorted(m["kind"] for m in sent)
    assert kinds == ["operator.incident_closed", "operator.incident_opened"]
    assert all(m["to"]["address"] == "ops@city.example.jp" and m["channel"] == "email" for m in sent)


def test_real_peers_twilio_sms_and_smtp_mail(sessions, tmp_path, prism, smtp_peer, smtp_tls):
    s = Settings(
        data_dir=tmp_path, twilio_auth_token=TWILIO_AUTH_TOKEN, smtp_password=SMTP_PASSWORD,
        notify={
            "operators": [{"name": "市民安全課", "email": "ops@city.example.jp"}],
            "twilio": {"account_sid": TWILIO_ACCOUNT_SID, "from_number": "+815012345678",
                       "api_base_url": prism.base_url},
            "smtp": {"host": "127.0.0.1", "port": smtp_peer.port, "username": SMTP_USER,
                     "from_addr": "mimamori@city.example.jp", "ca_file": str(smtp_tls.cert)},
        },
    )
    cams = fleet()
    area = {f"C{i:03d}" for i in range(6)}
    items = play(s, sessions, cams, lambda k: ({"C010"} if k >= 3 else set()) | (area if 30 <= k < 50 else set()), 60)
    by_kind = {}
    for i in items:
        by_kind.setdefault(str(i.message.kind), []).append(i)
    (sms,) = by_kind["owner.reboot_request"]
    assert sms.status == "sent" and sms.message.channel == "sms" and sms.provider_id  # Prism answered with a SID
    mails = [email.message_from_bytes(raw, policy=email.policy.default) for raw in smtp_peer.messages]
    subjects = [m["subject"] for m in mails]
    assert len(mails) == 2 and all(m["to"].addresses[0].addr_spec == "ops@city.example.jp" for m in mails)
    assert sorted(subjects) == ["【復旧】地域の停電・回線断：地区 A0（6台）",
                                "【障害発生】地域の停電・回線断：地区 A0（6台）"]
    assert not (tmp_path / "outbox").exists()  # nothing fell back to the folder


def test_recording_retention_short_reaches_the_operators(sessions, tmp_path):
    from notify.message import Kind

    s = folder_settings(tmp_path)
    clock = Clock(MORNING)
    loop, dispatcher = service_parts(s, sessions, clock)
    delivery = loop.after_step.__self__
    ctx = {"days_kept": 5.4, "period_days": 7, "detail": "free space below the floor"}
    assert delivery.notify_operators(Kind.OPERATOR_RETENTION_SHORT, "retention:2026-11-02", ctx, MORNING) == 1
    assert delivery.notify_operators(Kind.OPERATOR_RETENTION_SHORT, "retention:2026-11-02", ctx, MORNING) == 0
    dispatcher.dispatch_due()
    (m,) = [json.loads(f.read_text(encoding="utf-8")) for f in (tmp_path / "outbox").glob("*.json")]
    assert m["to"]["address"] == "ops@city.example.jp"
    assert m["subject"] == "【録画保存期間の不足】現在 5.4日分（規定 7日）"


def test_every_decided_message_has_its_template_kind_and_camera_actions_none():
    from monitor.core.decisions import Audience, Kind, NotificationDecision
    from monitor.service.delivery import MESSAGE_KINDS, message_kind

    for (audience, step), kind in MESSAGE_KINDS.items():
        assert kind.audience == audience and kind.template_name == step
    reboot = NotificationDecision(t=MORNING, audience=Audience.CAMERA, kind=Kind.REMOTE_REBOOT, incident="I1",
                                  camera="C001", channel="onvif")
    assert message_kind(reboot) is None
    with pytest.raises(ValueError):
        message_kind(NotificationDecision(t=MORNING, audience=Audience.OWNER, kind=Kind.DISPATCH, incident="I1"))


def test_a_registry_finding_is_stored_and_queues_no_message(sessions, tmp_path):
    from dataclasses import replace

    from monitor.core.decisions import FindingDecision
    from monitor.store.findings import current_findings

    cams, clock = fleet(), Clock(MORNING)
    loop, dispatcher = service_parts(folder_settings(tmp_path), sessions, clock)
    decided = []
    for k in range(61):  # C004 streams 10 fps, registered at 15: found after 60 clean intervals
        clock.t = MORNING + timedelta(minutes=k)
        obs = [replace(o, fps=10.0) if o.camera == "C004" else o for o in observations(clock.t, cams, set())]
        decided += loop.round(cams, obs, [], clock.t)
        dispatcher.dispatch_due()
    assert [(type(d), d.camera, d.field) for d in decided] == [(FindingDecision, "C004", "expected_fps")]
    assert Outbox(sessions).all() == []
    with sessions() as s:
        (f,) = current_findings(s)
    assert (f.camera, f.field, f.registry, f.observed, f.since) == ("C004", "expected_fps", 15.0, 10.0, decided[0].t)
