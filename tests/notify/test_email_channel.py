"""Email against aiosmtpd on loopback with STARTTLS and AUTH required."""

import email
import email.policy
from datetime import UTC, datetime

import pytest

from notify.channels import EmailChannel, SmtpConfig, SmtpSecurity
from notify.message import Audience, ChannelKind, DeliveryError, Kind, Lang, Recipient
from notify.render import render
from tests.notify.contexts import context_for
from tests.notify_peers import SMTP_PASSWORD, SMTP_USER

OWNER = Recipient(name="山田 花子", lang=Lang.JA, email="hanako@example.jp")
NOW = datetime(2026, 5, 1, 11, 0, tzinfo=UTC)


def channel_for(peer, password=SMTP_PASSWORD, security=SmtpSecurity.STARTTLS):
    config = SmtpConfig(
        host="127.0.0.1",
        port=peer.port,
        security=security,
        username=SMTP_USER,
        password=password,
        from_addr="noreply@city.mimamori.example",
        from_name="見守り市",
        timeout_s=5,
    )
    return EmailChannel(config, ssl_context=peer.tls.client_context(), clock=lambda: NOW)


def test_japanese_email_arrives_intact(smtp_peer):
    message = render(
        Kind.OWNER_REBOOT_REQUEST, Lang.JA, ChannelKind.EMAIL, context_for(Audience.OWNER, Lang.JA)
    ).with_key("INC-1:reboot_request:owner")
    message_id = channel_for(smtp_peer).send(message, OWNER)
    assert len(smtp_peer.messages) == 1
    raw = smtp_peer.messages[0]
    assert raw.isascii()  # headers RFC 2047, bodies transfer-encoded
    got = email.message_from_bytes(raw, policy=email.policy.default)
    assert got["Subject"] == message.subject
    assert got["Message-ID"] == message_id and got["Message-ID"].endswith("@city.mimamori.example>")
    assert got["Date"].datetime == NOW
    assert got["To"].addresses[0].addr_spec == "hanako@example.jp"
    assert got["To"].addresses[0].display_name == "山田 花子"
    assert got.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in got.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert got.get_body(("plain",)).get_content().replace("\r\n", "\n") == message.text
    assert "ルーター" in got.get_body(("html",)).get_content()
    assert not any(p.get_content_maintype() == "image" for p in got.walk())


def test_message_id_is_stable_per_key(smtp_peer):
    message = render(
        Kind.OWNER_RECOVERED_THANKS, Lang.EN, ChannelKind.EMAIL, context_for(Audience.OWNER, Lang.EN)
    ).with_key("INC-1:thanks:owner")
    ch = channel_for(smtp_peer)
    assert ch.send(message, OWNER) == ch.send(message, OWNER)


def test_wrong_password_is_permanent(smtp_peer):
    message = render(Kind.OWNER_REMINDER, Lang.JA, ChannelKind.EMAIL, context_for(Audience.OWNER, Lang.JA))
    with pytest.raises(DeliveryError) as e:
        channel_for(smtp_peer, password="wrong-password").send(message, OWNER)
    assert e.value.permanent and e.value.code == 535
    assert "wrong-password" not in str(e.value) and "wrong-password" not in repr(e.value.args)
    assert smtp_peer.messages == []


def test_server_down_is_transient(smtp_peer):
    message = render(Kind.OWNER_REMINDER, Lang.JA, ChannelKind.EMAIL, context_for(Audience.OWNER, Lang.JA))
    smtp_peer.stop()
    with pytest.raises(DeliveryError) as e:
        channel_for(smtp_peer).send(message, OWNER)
    assert not e.value.permanent


def test_implicit_tls_against_a_starttls_server_is_transient(smtp_peer):
    message = render(Kind.OWNER_REMINDER, Lang.JA, ChannelKind.EMAIL, context_for(Audience.OWNER, Lang.JA))
    with pytest.raises(DeliveryError) as e:
        channel_for(smtp_peer, security=SmtpSecurity.TLS).send(message, OWNER)
    assert not e.value.permanent


def test_password_not_in_repr():
    config = SmtpConfig(host="h", from_addr="a@b.example", username="u", password="hunter2")
    assert "hunter2" not in repr(config) and "hunter2" not in repr(EmailChannel(config))
