"""Webhook channel against a real local HTTP server."""

import hashlib
import hmac
import json

import httpx
import pytest

from notify.channels import WebhookChannel
from notify.message import Audience, ChannelKind, DeliveryError, Kind, Lang, Recipient
from notify.render import render
from tests.notify.contexts import context_for


def _message():
    return render(
        Kind.OPERATOR_INCIDENT_OPENED, Lang.JA, ChannelKind.WEBHOOK, context_for(Audience.OPERATOR, Lang.JA)
    ).with_key("INC-9:opened:operator")


def test_delivered_and_signed(webhook_peer):
    with httpx.Client(timeout=5) as client:
        WebhookChannel(client, signing_key=b"k").send(
            _message(), Recipient(name="ops", webhook_url=webhook_peer.base_url + "/ok")
        )
    path, headers, body = webhook_peer.received[-1]
    assert path == "/ok" and body["kind"] == "operator.incident_opened" and "23台" in body["text"]
    assert headers["Idempotency-Key"] == "INC-9:opened:operator"
    raw = json.dumps(body, ensure_ascii=False).encode()
    assert headers["X-Mimamori-Signature"] == "sha256=" + hmac.new(b"k", raw, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(("path", "permanent"), [("/bad", True), ("/down", False), ("/missing", True)])
def test_error_statuses(webhook_peer, path, permanent):
    url = webhook_peer.base_url + path + "?token=SECRET"
    with httpx.Client(timeout=5) as client, pytest.raises(DeliveryError) as e:
        WebhookChannel(client).send(_message(), Recipient(name="ops", webhook_url=url))
    assert e.value.permanent is permanent
    assert "SECRET" not in str(e.value)


def test_timeout_is_transient(webhook_peer):
    with httpx.Client(timeout=0.3) as client, pytest.raises(DeliveryError) as e:
        WebhookChannel(client).send(
            _message(), Recipient(name="ops", webhook_url=webhook_peer.base_url + "/slow")
        )
    assert not e.value.permanent


def test_webhook_url_not_in_recipient_repr():
    assert "SECRET" not in repr(Recipient(name="ops", webhook_url="https://hooks.example/SECRET"))
