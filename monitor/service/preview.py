"""`mimamori messages preview`: a message rendered exactly as it would be sent, with SMS encoding and segments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.config.settings import Settings, escalation_policy
from monitor.core.domain import Camera, Cause, Contact
from monitor.core.errors import MimamoriError, UnknownCameraError
from monitor.service.delivery import Delivery
from notify.message import ChannelKind, Kind, Lang, RenderError
from notify.outbox import Outbox
from notify.render import Renderer
from notify.sms_text import sms_segments

SAMPLE = Camera(camera_id="C0042", area="A04", isp="flets-ocn", line_id="A04-L003", expected_fps=15.0,
                address="見守り市本町3-4-5", owner_name="山田 花子", contact=Contact.SMS, phone="+819012345678",
                email="hanako@example.jp", vendor="vendor-1")


def _kind(kind: str) -> Kind:
    for k in Kind:
        if kind in (k.value, k.template_name):
            return k
    raise MimamoriError(f"unknown kind {kind!r}; one of: {', '.join(k.template_name for k in Kind)}")


def preview(s: Settings, *, kind: str, lang: str, channel: str, camera_id: str | None = None,
            cause: str | None = None) -> str:
    k = _kind(kind)
    try:
        lg, ch = Lang(lang), ChannelKind(channel)
    except ValueError as e:
        raise MimamoriError(str(e)) from None
    try:
        why = Cause(cause) if cause else Cause.AREA_OUTAGE if k.audience.value == "operator" else Cause.LOCAL_OUTAGE
    except ValueError as e:
        raise MimamoriError(f"{e}; causes: {', '.join(Cause)}") from None
    cam = SAMPLE
    if camera_id:
        from monitor.service.app import open_store
        from monitor.store.cameras import get_camera

        store = open_store(s)
        with store.sessions() as session:
            found = get_camera(session, camera_id)
        if found is None:
            raise UnknownCameraError(f"unknown camera {camera_id!r}")
        cam = found
    now = datetime.now(UTC)
    delivery = Delivery(settings=s, renderer=Renderer(), escalation=escalation_policy(s), outbox=Outbox(None))  # type: ignore[arg-type]
    ctx = delivery.context(k.audience, "I42", lg, cam, None, now - timedelta(minutes=20), cause=why, count=23)
    ctx |= {"failed_kind": "owner.reboot_request", "failed_channel": "sms", "recipient_name": cam.owner_name,
            "error": "permanent [21211]: invalid number", "attempts": 1, "fallback_channel": "voice",
            "days_kept": 5.4, "period_days": 7, "detail": "free space below the floor"}
    if k.audience.value == "operator":
        ctx |= {"scope": "地区 A04" if lg is Lang.JA else "area A04"}
    renderer = Renderer(max_sms_segments=99)
    if not renderer.has(k, lg, ch):
        raise MimamoriError(f"there is no {ch} template for {k} in {lg}")
    try:
        m = renderer.render(k, lg, ch, ctx)
    except RenderError as e:
        raise MimamoriError(str(e)) from None
    lines = [f"kind: {k}  lang: {lg}  channel: {ch}"]
    if m.subject:
        lines.append(f"subject: {m.subject}")
    lines += ["", m.text]
    if ch is ChannelKind.SMS:
        enc, n = sms_segments(m.text)
        lines += ["", f"encoding: {enc}  characters: {len(m.text)}", f"segments: {n}"]
    return "\n".join(lines)
