"""SMS and voice against Twilio's own API spec served by Prism."""

import pytest

from notify.channels import SmsChannel, VoiceChannel
from notify.channels.voice import build_twiml
from notify.message import Audience, ChannelKind, DeliveryError, Kind, Lang, Recipient
from notify.render import render
from tests.notify.contexts import context_for

OWNER = Recipient(name="山田 花子", lang=Lang.JA, phone="+819012345678", email="hanako@example.jp")
FROM = "+815012345678"


def _msg(channel):
    return render(Kind.OWNER_REBOOT_REQUEST, Lang.JA, channel, context_for(Audience.OWNER, Lang.JA)).with_key(
        "k1"
    )


def test_sms_is_created(prism):
    client = prism.client()
    channel = SmsChannel(client, from_number=FROM, status_callback="https://mimamori.example/twilio/status")
    sid = channel.send(_msg(ChannelKind.SMS), OWNER)
    assert sid and sid.startswith("SM")
    method, url, data = client.http_client.requests[-1]
    assert method == "POST" and url.endswith("/Messages.json")
    assert data["To"] == OWNER.phone and data["From"] == FROM
    assert data["Body"].startswith("【見守り市】") and data["StatusCallback"].endswith("/twilio/status")


def test_call_is_created_with_inline_japanese_twiml(prism):
    client = prism.client()
    sid = VoiceChannel(client, from_number=FROM).send(_msg(ChannelKind.VOICE), OWNER)
    assert sid and sid.startswith("CA")
    twiml = client.http_client.requests[-1][2]["Twiml"]
    assert twiml.count('<Say language="ja-JP">') == 2  # read twice
    assert "ルーター" in twiml


def test_twiml_escapes_text():
    twiml = build_twiml("a < b & c", Lang.EN, repeat=1)
    assert '<Say language="en-US">a &lt; b &amp; c</Say>' in twiml


def test_malformed_account_sid_is_permanent(prism):
    channel = SmsChannel(prism.client(account_sid="ACnot-a-sid"), from_number=FROM)
    with pytest.raises(DeliveryError) as e:
        channel.send(_msg(ChannelKind.SMS), OWNER)
    assert e.value.permanent and e.value.code == 422
    assert "not-a-sid" not in str(e.value) and "test-token" not in str(e.value)


def test_invalid_status_callback_is_permanent(prism):
    channel = VoiceChannel(prism.client(), from_number=FROM, status_callback="not a url")
    with pytest.raises(DeliveryError) as e:
        channel.send(_msg(ChannelKind.VOICE), OWNER)
    assert e.value.permanent


def test_spec_rejects_missing_to(prism):
    """The contract itself: a Messages create without To is refused (the channel never sends
    one: a recipient without phone fails before any request)."""
    client = prism.client()
    response = client.request(
        "POST",
        f"https://api.twilio.com/2010-04-01/Accounts/{client.account_sid}/Messages.json",
        data={"From": FROM, "Body": "x"},
    )
    assert response.status_code == 422
    with pytest.raises(DeliveryError) as e:
        SmsChannel(client, from_number=FROM).send(
            _msg(ChannelKind.SMS), Recipient(name="x", email="x@example.jp")
        )
    assert e.value.permanent


def test_unreachable_twilio_is_transient():
    from tests.notify_peers import PrismPeer, free_port

    port = free_port()
    channel = SmsChannel(PrismPeer(base_url=f"http://127.0.0.1:{port}", port=port).client(), from_number=FROM)
    with pytest.raises(DeliveryError) as e:
        channel.send(_msg(ChannelKind.SMS), OWNER)
    assert not e.value.permanent


@pytest.mark.parametrize(
    ("status", "code", "permanent"),
    [
        (400, 21211, True),
        (400, 21614, True),
        (400, 21610, True),
        (400, 21408, True),
        (404, 20404, True),
        (429, 20429, False),
        (500, None, False),
        (503, 20500, False),
    ],
)
def test_twilio_error_mapping(status, code, permanent):
    from twilio.base.exceptions import TwilioRestException

    from notify.channels._twilio import twilio_delivery_error

    err = twilio_delivery_error(TwilioRestException(status, "https://api.twilio.com/x", "msg", code, "POST"))
    assert err.permanent is permanent
