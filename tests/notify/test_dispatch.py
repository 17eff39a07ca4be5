"""Dispatcher with real channels against the peers: retry with backoff, fallback, notices."""

import email
import email.policy
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker
from twilio.request_validator import RequestValidator

from notify.channels import EmailChannel, SmsChannel, SmtpConfig, VoiceChannel, WebhookChannel
from notify.dispatch import Dispatcher, RetryPolicy, check_twilio_signature
from notify.message import Audience, ChannelKind, Kind, Lang, Recipient
from notify.outbox import NotifyBase, OutboxStatus
from notify.render import Renderer, render
from tests.notify.contexts import context_for
from tests.notify_peers import SMTP_PASSWORD, SMTP_USER

T0 = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
FROM = "+815012345678"
OWNER = Recipient(name="山田 花子", phone="+819012345678", email="hanako@example.jp")
OPERATOR = Recipient(name="市民安全課", email="anzen@city.mimamori.example")
POLICY = RetryPolicy(base_delay=timedelta(seconds=30), max_delay=timedelta(minutes=10), jitter=0.2)


class Clock:
    def __init__(self, t):
        self.t = t

    def now(self):
        return self.t


@pytest.fixture
def sessions(db_url):
    engine = create_engine(db_url)
    NotifyBase.metadata.create_all(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def email_channel(peer):
    config = SmtpConfig(
        host="127.0.0.1",
        port=peer.port,
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        from_addr="noreply@city.mimamori.example",
        timeout_s=5,
    )
    return EmailChannel(config, ssl_context=peer.tls.client_context())


def enqueue(
    outbox, key, channel, recipient=OWNER, deadline=timedelta(hours=6), kind=Kind.OWNER_REBOOT_REQUEST
):
    ctx = context_for(kind.audience, Lang.JA)
    msg = render(kind, Lang.JA, channel, ctx)
    return outbox.enqueue(
        key=key, message=msg, recipient=recipient, context=ctx, now=T0, deadline=T0 + deadline
    )


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_transient_error_is_retried_with_backoff_then_delivered(sessions, smtp_peer):
    clock = Clock(T0)
    d = Dispatcher(
        sessions,
        {ChannelKind.EMAIL: email_channel(smtp_peer)},
        POLICY,
        clock,
        renderer=Renderer(),
        rand=lambda: 0.5,
    )
    row = enqueue(
        d.outbox,
        "INC-1:reboot_request:owner",
        ChannelKind.EMAIL,
        recipient=Recipient(name="山田 花子", email="hanako@example.jp"),
    )
    smtp_peer.stop()
    delays = []
    for _ in range(3):
        report = d.dispatch_due()
        assert report.retried == 1 and report.sent == 0
        item = d.outbox.get(row.id)
        assert item.status is OutboxStatus.QUEUED and "transient" in item.last_error
        delays.append(item.next_attempt_at - clock.t)
        assert d.dispatch_due().retried == 0  # not due yet
        clock.t = item.next_attempt_at
    assert delays == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    smtp_peer.start()  # the peer comes back on the same port
    assert d.dispatch_due().sent == 1
    item = d.outbox.get(row.id)
    assert item.status is OutboxStatus.SENT and item.attempts == 4 and item.provider_id
    assert len(smtp_peer.messages) == 1
    assert d.dispatch_due().sent == 0 and len(smtp_peer.messages) == 1  # never twice


def test_jitter_spreads_retries():
    assert POLICY.delay(1, 0.0) == timedelta(seconds=24) and POLICY.delay(1, 0.999) > timedelta(seconds=35.9)
    assert POLICY.delay(20, 0.5) == timedelta(minutes=10)


def test_permanent_error_falls_back_to_next_channel_and_tells_operator(sessions, prism, smtp_peer):
    clock = Clock(T0)
    channels = {
        ChannelKind.SMS: SmsChannel(prism.client(account_sid="ACbroken"), from_number=FROM),  # Prism: 422
        ChannelKind.VOICE: VoiceChannel(prism.client(), from_number=FROM),
        ChannelKind.EMAIL: email_channel(smtp_peer),
    }
    d = Dispatcher(sessions, channels, POLICY, clock, renderer=Renderer(), operators=[OPERATOR])
    row = enqueue(d.outbox, "INC-7:reboot_request:owner", ChannelKind.SMS)
    report = d.dispatch_due()
    assert report.fell_back == 1
    assert d.outbox.get(row.id).status is OutboxStatus.FALLBACK
    voice = d.outbox.by_key("INC-7:reboot_request:owner/voice")
    assert voice is not None and voice.message.channel is ChannelKind.VOICE and voice.parent_id == row.id
    assert "ルーター" in voice.message.text
    notice = d.outbox.by_key("INC-7:reboot_request:owner/sms/delivery_failed/0")
    assert notice is not None and notice.message.kind is Kind.OPERATOR_DELIVERY_FAILED
    assert notice.message.channel is ChannelKind.EMAIL

    report = d.dispatch_due()
    assert report.sent == 2
    assert d.outbox.get(voice.id).status is OutboxStatus.SENT and d.outbox.get(
        voice.id
    ).provider_id.startswith("CA")
    [raw] = smtp_peer.messages
    got = parse(raw)
    assert got["To"].addresses[0].addr_spec == OPERATOR.email
    assert got["Subject"].startswith("【送信失敗】")
    body = got.get_body(("plain",)).get_content()
    assert "山田 花子" in body and "自動音声電話" in body and "ACbroken" not in body


def test_no_channel_left_fails_and_tells_operator(sessions, prism, smtp_peer):
    clock = Clock(T0)
    channels = {
        ChannelKind.SMS: SmsChannel(prism.client(account_sid="ACbroken"), from_number=FROM),
        ChannelKind.EMAIL: email_channel(smtp_peer),
    }
    d = Dispatcher(sessions, channels, POLICY, clock, renderer=Renderer(), operators=[OPERATOR])
    row = enqueue(
        d.outbox,
        "INC-8:reboot_request:owner",
        ChannelKind.SMS,
        recipient=Recipient(name="山田 花子", phone="+819012345678"),
    )
    assert d.dispatch_due().failed == 1
    assert d.outbox.get(row.id).status is OutboxStatus.FAILED
    assert d.dispatch_due().sent == 1  # the operator notice
    assert (
        "ほかに使える連絡手段がありません" in parse(smtp_peer.messages[0]).get_body(("plain",)).get_content()
    )


def test_deadline_passed_falls_back(sessions, smtp_peer, webhook_peer):
    clock = Clock(T0)
    with httpx.Client(timeout=5) as http:
        channels = {ChannelKind.WEBHOOK: WebhookChannel(http), ChannelKind.EMAIL: email_channel(smtp_peer)}
        d = Dispatcher(sessions, channels, POLICY, clock, renderer=Renderer(), rand=lambda: 0.5)
        vendor = Recipient(
            name="保守業者",
            webhook_url=webhook_peer.base_url + "/down",
            email="ops@vendor.example",
            channels=(ChannelKind.WEBHOOK, ChannelKind.EMAIL),
        )
        row = enqueue(
            d.outbox,
            "INC-9:dispatch:vendor",
            ChannelKind.WEBHOOK,
            recipient=vendor,
            deadline=timedelta(seconds=45),
            kind=Kind.VENDOR_DISPATCH,
        )
        assert d.dispatch_due().retried == 1  # +30 s, inside the deadline
        clock.t += timedelta(seconds=30)
        assert d.dispatch_due().fell_back == 1  # +60 s would pass it
        assert "deadline passed" in d.outbox.get(row.id).last_error
        assert d.dispatch_due().sent == 1
    assert "【保守依頼 T-2026-0007】" in parse(smtp_peer.messages[0])["Subject"]


def test_undelivered_callback_falls_back_once(sessions, prism, smtp_peer):
    clock = Clock(T0)
    channels = {
        ChannelKind.SMS: SmsChannel(prism.client(), from_number=FROM),
        ChannelKind.EMAIL: email_channel(smtp_peer),
    }
    d = Dispatcher(sessions, channels, POLICY, clock, renderer=Renderer())
    row = enqueue(
        d.outbox,
        "INC-10:reboot_request:owner",
        ChannelKind.SMS,
        recipient=Recipient(name="山田 花子", phone="+819012345678", email="hanako@example.jp"),
    )
    assert d.dispatch_due().sent == 1
    sid = d.outbox.get(row.id).provider_id
    d.mark_delivery_status(sid, "sent")  # in flight: ignored
    assert d.outbox.get(row.id).status is OutboxStatus.SENT
    d.mark_delivery_status(sid, "undelivered", error_code="30003")
    d.mark_delivery_status(sid, "undelivered", error_code="30003")  # repeated callback
    assert d.outbox.get(row.id).status is OutboxStatus.UNDELIVERED
    assert len(d.outbox.all()) == 2
    assert d.dispatch_due().sent == 1 and len(smtp_peer.messages) == 1
    d.mark_delivery_status("SMunknown", "delivered")  # unknown: nothing happens


def test_delivered_callback(sessions, prism):
    d = Dispatcher(
        sessions,
        {ChannelKind.SMS: SmsChannel(prism.client(), from_number=FROM)},
        POLICY,
        Clock(T0),
        renderer=Renderer(),
    )
    row = enqueue(d.outbox, "INC-11:reboot_request:owner", ChannelKind.SMS)
    d.dispatch_due()
    d.mark_delivery_status(d.outbox.get(row.id).provider_id, "delivered")
    assert d.outbox.get(row.id).status is OutboxStatus.DELIVERED


def test_two_dispatchers_send_each_row_once(sessions, webhook_peer):
    with httpx.Client(timeout=5) as http:
        channels = {ChannelKind.WEBHOOK: WebhookChannel(http)}
        ops = Recipient(name="ops", webhook_url=webhook_peer.base_url + "/ok")
        dispatchers = [
            Dispatcher(sessions, channels, POLICY, Clock(T0), renderer=Renderer()) for _ in range(2)
        ]
        keys = [f"INC-{i}:opened:operator" for i in range(12)]
        for k in keys:
            enqueue(
                dispatchers[0].outbox,
                k,
                ChannelKind.WEBHOOK,
                recipient=ops,
                kind=Kind.OPERATOR_INCIDENT_OPENED,
            )
        barrier = threading.Barrier(2)

        def run(d):
            barrier.wait()
            d.dispatch_due()

        threads = [threading.Thread(target=run, args=(d,)) for d in dispatchers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    got = sorted(body["idempotency_key"] for _, _, body in webhook_peer.received)
    assert got == sorted(keys)
    assert all(i.status is OutboxStatus.SENT for i in dispatchers[0].outbox.all())


def test_twilio_signature_check():
    url = "https://mimamori.example/twilio/status"
    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    signature = RequestValidator("tok").compute_signature(url, params)
    assert check_twilio_signature("tok", url, params, signature)
    assert not check_twilio_signature("tok", url, params | {"MessageStatus": "failed"}, signature)
    assert not check_twilio_signature("other", url, params, signature)


async def test_async_wrapper(sessions, webhook_peer):
    with httpx.Client(timeout=5) as http:
        d = Dispatcher(
            sessions, {ChannelKind.WEBHOOK: WebhookChannel(http)}, POLICY, Clock(T0), renderer=Renderer()
        )
        enqueue(
            d.outbox,
            "INC-20:opened:operator",
            ChannelKind.WEBHOOK,
            recipient=Recipient(name="ops", webhook_url=webhook_peer.base_url + "/ok"),
            kind=Kind.OPERATOR_INCIDENT_OPENED,
        )
        assert (await d.adispatch_due()).sent == 1


def test_audience_of_kinds():
    assert Kind.VENDOR_DISPATCH.audience is Audience.VENDOR
