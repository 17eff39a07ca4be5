import pytest

from notify.message import Audience, ChannelKind, Kind, Lang, RenderError
from notify.render import Renderer, SmsEncoding, render, sms_segments
from tests.notify.contexts import context_for

OWNER_CHANNELS = (ChannelKind.SMS, ChannelKind.VOICE, ChannelKind.EMAIL, ChannelKind.WEBHOOK)
OTHER_CHANNELS = (ChannelKind.EMAIL, ChannelKind.WEBHOOK)

CASES = [
    (kind, lang, channel)
    for kind in Kind
    for lang in Lang
    for channel in (OWNER_CHANNELS if kind.audience is Audience.OWNER else OTHER_CHANNELS)
]


@pytest.mark.parametrize(("kind", "lang", "channel"), CASES, ids=lambda v: str(v))
def test_every_template_renders(kind, lang, channel):
    ctx = context_for(kind.audience, lang)
    m = render(kind, lang, channel, ctx)
    assert m.kind is kind and m.lang is lang and m.channel is channel
    assert m.text.strip()
    assert "{{" not in m.text and "{%" not in m.text
    if channel in (ChannelKind.EMAIL, ChannelKind.WEBHOOK):
        assert m.subject and "\n" not in m.subject
        assert ctx["incident_id"] in m.text
    if channel is ChannelKind.EMAIL:
        assert m.html and m.html.lstrip().startswith("<!DOCTYPE html>")
        assert "<img" not in m.html.lower() and "cid:" not in m.html.lower()  # never images
    else:
        assert m.html is None
    if channel is ChannelKind.SMS:
        assert sms_segments(m.text)[1] == 1
        assert ctx["camera_label"] in m.text
    spoken_or_written = channel in (ChannelKind.SMS, ChannelKind.VOICE, ChannelKind.EMAIL)
    if kind.audience is Audience.OWNER and spoken_or_written and kind is not Kind.OWNER_RECOVERED_THANKS:
        assert "3" in m.text and ("1234" in m.text or "1 2 3 4" in m.text)  # how to reach the city


@pytest.mark.parametrize(
    "kind",
    [
        Kind.OWNER_REBOOT_REQUEST,
        Kind.OWNER_REMINDER,
        Kind.OWNER_RECOVERED_THANKS,
        Kind.OWNER_CONGESTION_NOTICE,
    ],
)
@pytest.mark.parametrize("lang", list(Lang))
def test_sms_segment_counts(kind, lang, record_property):
    m = render(kind, lang, ChannelKind.SMS, context_for(Audience.OWNER, lang))
    encoding, segments = sms_segments(m.text)
    record_property("sms", f"{kind} {lang}: {len(m.text)} chars, {encoding}, {segments} segment(s)")
    assert segments == 1
    assert encoding is (SmsEncoding.UCS2 if lang is Lang.JA else SmsEncoding.GSM7)
    assert "\xa0" not in m.text


def test_japanese_reboot_sms_says_which_camera_what_to_do_and_whom_to_call():
    ctx = context_for(Audience.OWNER, Lang.JA)
    m = render(Kind.OWNER_REBOOT_REQUEST, Lang.JA, ChannelKind.SMS, ctx)
    assert sms_segments(m.text) == (SmsEncoding.UCS2, 1) and len(m.text) <= 70
    assert ctx["camera_label"] in m.text
    assert "ルーター等の電源を入れ直して" in m.text
    assert ctx["city_phone"] in m.text


def test_japanese_reboot_sms_still_fits_with_longest_supported_fields():
    ctx = context_for(Audience.OWNER, Lang.JA) | {
        "camera_label": "本町3丁目-12",
        "city_phone": "0120-123-4567",
    }
    m = render(Kind.OWNER_REBOOT_REQUEST, Lang.JA, ChannelKind.SMS, ctx)
    assert sms_segments(m.text) == (SmsEncoding.UCS2, 1), len(m.text)


def test_too_long_sms_is_refused_so_the_caller_uses_email():
    ctx = context_for(Audience.OWNER, Lang.JA) | {"camera_label": "見守り市本町三丁目十二番地の角"}
    with pytest.raises(RenderError, match="segments"):
        render(Kind.OWNER_REBOOT_REQUEST, Lang.JA, ChannelKind.SMS, ctx)


@pytest.mark.parametrize("channel", [ChannelKind.SMS, ChannelKind.VOICE, ChannelKind.EMAIL])
def test_missing_variable_fails(channel):
    ctx = context_for(Audience.OWNER, Lang.JA)
    del ctx["city_phone"]
    with pytest.raises(RenderError, match="city_phone"):
        render(Kind.OWNER_REBOOT_REQUEST, Lang.JA, channel, ctx)


def test_missing_template_fails():
    with pytest.raises(RenderError, match="no template"):
        render(Kind.VENDOR_DISPATCH, Lang.JA, ChannelKind.SMS, context_for(Audience.VENDOR, Lang.JA))
    assert not Renderer().has(Kind.VENDOR_DISPATCH, Lang.JA, ChannelKind.SMS)
    assert Renderer().has(Kind.OWNER_REBOOT_REQUEST, Lang.JA, ChannelKind.SMS)


def test_html_is_escaped_and_text_is_not():
    ctx = context_for(Audience.VENDOR, Lang.JA) | {"address": "<b>本町</b> & 1"}
    m = render(Kind.VENDOR_DISPATCH, Lang.JA, ChannelKind.EMAIL, ctx)
    assert "&lt;b&gt;本町&lt;/b&gt; &amp; 1" in m.html and "<b>本町" not in m.html
    assert "<b>本町</b> & 1" in m.text
    owner = render(
        Kind.OWNER_REBOOT_REQUEST,
        Lang.JA,
        ChannelKind.EMAIL,
        context_for(Audience.OWNER, Lang.JA) | {"owner_name": "<script>x</script>"},
    )
    assert "<script>" not in owner.html and "&lt;script&gt;" in owner.html


def test_japanese_email_gives_full_steps_and_what_not_to_do():
    m = render(Kind.OWNER_REBOOT_REQUEST, Lang.JA, ChannelKind.EMAIL, context_for(Audience.OWNER, Lang.JA))
    for phrase in (
        "ONU",
        "ルーター",
        "1分ほど",
        "3分ほど",
        "ランプ",
        "初期化",
        "光ファイバー",
        "カメラの向き",
        "03-1234-5678",
        "bouhan@city.mimamori.example",
        "映像や画像は含まれていません",
    ):
        assert phrase in m.text, phrase
        assert phrase in m.html, phrase
    assert (
        m.text.index("ONUの電源を入れ") < m.text.index("ルーターの電源を入れ") < m.text.index("最後にカメラ")
    )


def test_operator_notice_names_cause_scope_and_count():
    m = render(
        Kind.OPERATOR_INCIDENT_OPENED, Lang.JA, ChannelKind.EMAIL, context_for(Audience.OPERATOR, Lang.JA)
    )
    assert "地域の停電・回線断" in m.subject and "23台" in m.subject and "本町地区" in m.subject
    assert "設置者への連絡は行いません" in m.text


def test_voice_reads_phone_digit_by_digit():
    m = render(Kind.OWNER_REBOOT_REQUEST, Lang.JA, ChannelKind.VOICE, context_for(Audience.OWNER, Lang.JA))
    assert "0 3, 1 2 3 4, 5 6 7 8" in m.text and "\n" not in m.text


LINE_STEPS = {Lang.JA: ("ONUの電源", "オーエヌユー", "ルーター等"), Lang.EN: ("the ONU", "O N U", "router and ONU")}
CAMERA_STEP = {Lang.JA: "カメラの電源", Lang.EN: "unplug the camera"}


@pytest.mark.parametrize("fault", ["line", "camera"])
@pytest.mark.parametrize("channel", [ChannelKind.SMS, ChannelKind.VOICE, ChannelKind.EMAIL])
@pytest.mark.parametrize("lang", list(Lang))
@pytest.mark.parametrize("kind", [Kind.OWNER_REBOOT_REQUEST, Kind.OWNER_REMINDER])
def test_owner_is_asked_to_restart_the_camera_alone_when_only_the_camera_is_at_fault(kind, lang, channel, fault):
    """A camera fault (it answers on the owner's line but sends no video): router and ONU are fine, so the
    owner is asked to power the camera off and on, not the whole line's equipment."""
    m = render(kind, lang, channel, context_for(Audience.OWNER, lang) | {"fault": fault})
    said = [p for p in LINE_STEPS[lang] if p in m.text]
    if fault == "camera":
        assert not said and CAMERA_STEP[lang] in m.text.lower(), m.text
    else:
        assert said, m.text
    if channel is ChannelKind.SMS:
        assert sms_segments(m.text)[1] == 1


@pytest.mark.parametrize(("lang", "camera", "line"), [
    (Lang.JA, "推定原因：カメラ本体の不調", "推定原因：宅内の回線・機器の停止"),
    (Lang.EN, "Likely cause: the camera itself", "Likely cause: the household's line or equipment"),
])
@pytest.mark.parametrize("kind", [Kind.VENDOR_DISPATCH, Kind.VENDOR_REMINDER])
def test_the_vendor_ticket_says_whether_the_camera_or_the_line_is_at_fault(kind, lang, camera, line):
    """What the technician should bring: a camera fault answers on the network but sends no video."""
    for fault, said, not_said in (("camera", camera, line), ("line", line, camera)):
        m = render(kind, lang, ChannelKind.EMAIL, context_for(Audience.VENDOR, lang) | {"fault": fault})
        assert said in m.text and not_said not in m.text
