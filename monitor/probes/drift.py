"""The drift check's I/O: read a camera's settings over ONVIF into a `core.drift.Answer`, and correct what
the city allows (the clock, the PTZ view). Never a frame.

Every service but Media2 goes through onvif-zeep-async's own WSDLs (device, media, PTZ, events) with the
camera's WS-Security login. onvif-zeep-async 4.3 ships no Media2 WSDL, so GetMasks is one SOAP request
written here and read with ElementTree: the ONVIF Media2 body (`tr2:GetMasksResponse/tr2:Masks`).

Which services a camera offers comes from its GetServices: a service it does not list is *unsupported*
(not a finding); a call that fails this time is *failed* (its findings stay as they were).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import onvif
import zeep.exceptions
from onvif.client import UsernameDigestTokenDtDiff, ZeepAsyncClient, _cached_document
from onvif.settings import DEFAULT_SETTINGS
from onvif.wsa import WsAddressingIfMissingPlugin

from monitor.core.drift import Answer, Check, Encoder, Identity, Mask, Position
from monitor.probes.onvif import _ERRORS, _get_shared, onvif_check

WSDL = Path(onvif.__file__).parent / "wsdl"
DEVICE = ("devicemgmt.wsdl", "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding")
MEDIA = ("media.wsdl", "{http://www.onvif.org/ver10/media/wsdl}MediaBinding")
PTZ = ("ptz.wsdl", "{http://www.onvif.org/ver20/ptz/wsdl}PTZBinding")
EVENTS = ("events.wsdl", "{http://www.onvif.org/ver10/events/wsdl}EventBinding")
PULLPOINT = ("events.wsdl", "{http://www.onvif.org/ver10/events/wsdl}PullPointSubscriptionBinding")
NS_MEDIA2 = "http://www.onvif.org/ver20/media/wsdl"
NS_PTZ = "http://www.onvif.org/ver20/ptz/wsdl"
NS_EVENTS = "http://www.onvif.org/ver10/events/wsdl"
TT = "{http://www.onvif.org/ver10/schema}"
TAMPER = ("GlobalSceneChange", "ImageTooDark", "ImageTooBlurry", "ImageTooBright")


async def service(wsdl_binding: tuple[str, str], url: str, user: str, password: str):  # noqa: ANN201 - zeep proxy
    """A zeep service proxy for one camera's service at ``url``, logged in as ``user``."""
    shared = await _get_shared()
    document = await _cached_document(str(WSDL / wsdl_binding[0]))
    client = ZeepAsyncClient(wsdl=document, wsse=UsernameDigestTokenDtDiff(user, password, use_digest=True),
                             transport=shared.transport, settings=DEFAULT_SETTINGS,
                             plugins=[WsAddressingIfMissingPlugin()])
    return client.create_service(wsdl_binding[1], url)


def _security(user: str, password: str) -> str:
    nonce = os.urandom(16)
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-"
    return (f'<wsse:Security xmlns:wsse="{wsse}secext-1.0.xsd" xmlns:wsu="{wsse}utility-1.0.xsd">'
            f"<wsse:UsernameToken><wsse:Username>{_xml_text(user)}</wsse:Username>"
            f'<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile'
            f'-1.0#PasswordDigest">{digest}</wsse:Password><wsse:Nonce>{base64.b64encode(nonce).decode()}'
            f"</wsse:Nonce><wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>")


def _xml_text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def parse_masks(xml: bytes) -> tuple[Mask, ...]:
    """Pure: a Media2 GetMasksResponse envelope -> its masks (raises ValueError on anything else)."""
    root = ET.fromstring(xml)
    resp = root.find(f".//{{{NS_MEDIA2}}}GetMasksResponse")
    if resp is None:
        raise ValueError("not a GetMasksResponse")
    out = []
    for m in resp.findall(f"{{{NS_MEDIA2}}}Masks"):
        points = tuple((float(p.get("x", "nan")), float(p.get("y", "nan"))) for p in m.iter(f"{TT}Point"))
        out.append(Mask(polygon=points, enabled=(m.findtext(f"{TT}Enabled", "true").strip() == "true")))
    return tuple(out)


async def get_masks(url: str, user: str, password: str) -> tuple[Mask, ...]:
    shared = await _get_shared()
    body = (f'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>{_security(user, password)}'
            f'</s:Header><s:Body><tr2:GetMasks xmlns:tr2="{NS_MEDIA2}"/></s:Body></s:Envelope>')
    async with shared.session.post(url, data=body.encode(),
                                   headers={"Content-Type": "application/soap+xml; charset=utf-8"}) as r:
        xml = await r.read()
        if r.status != 200:
            raise zeep.exceptions.Fault(f"GetMasks: HTTP {r.status}")
    return parse_masks(xml)


async def offered(device_url: str, user: str, password: str) -> dict[str, str]:
    """namespace -> service address, from GetServices."""
    dev = await service(DEVICE, device_url, user, password)
    return {s.Namespace: s.XAddr for s in await dev.GetServices(IncludeCapability=False)}


def _encoder(cfg) -> Encoder:  # noqa: ANN001 - a zeep VideoEncoderConfiguration
    rc = cfg.RateControl
    return Encoder(encoding=str(cfg.Encoding), width=int(cfg.Resolution.Width), height=int(cfg.Resolution.Height),
                   fps_limit=float(rc.FrameRateLimit) if rc is not None else 0.0,
                   bitrate_kbps=int(rc.BitrateLimit) if rc is not None else 0)


def _topic(msg) -> str:  # noqa: ANN001 - a zeep NotificationMessage
    topic = msg.Topic
    value = getattr(topic, "_value_1", topic)
    return str(value).strip()


async def read_answer(camera_id: str, device_url: str, media_url: str | None, user: str, password: str, *,
                      now: datetime, timeout: float, defaults: tuple[tuple[str, str], ...] = (),
                      pullpoints: MutableMapping[str, str] | None = None,
                      only: frozenset[Check] | None = None) -> Answer:
    """What the drift checks read from one camera (``only``: these checks), each part within ``timeout``.
    ``pullpoints`` keeps each camera's event subscription between checks (a new one sees only later
    events)."""
    want = frozenset(Check) if only is None else only
    failed: set[Check] = set()
    unsupported: set[Check] = set()
    parts: dict[str, object] = {}

    async def part(check: Check, name: str, coro) -> None:  # noqa: ANN001
        if check not in want:
            coro.close()
            return
        try:
            async with asyncio.timeout(timeout):
                parts[name] = await coro
        except _ERRORS:
            failed.add(check)

    skew = None
    if Check.CLOCK in want:
        skew = (await onvif_check(device_url, user, password, timeout, now)).clock_skew_s
        if skew is None:
            failed.add(Check.CLOCK)
    try:
        async with asyncio.timeout(timeout):
            services = await offered(device_url, user, password)
    except _ERRORS:
        return Answer(camera_id=camera_id, at=now, clock_skew_s=skew, not_read=frozenset(Check) - want,
                      failed=want - ({Check.CLOCK} if skew is not None else set()))
    dev = await service(DEVICE, device_url, user, password)
    await part(Check.FIRMWARE, "identity", _identity(dev))
    media = media_url or services.get("http://www.onvif.org/ver10/media/wsdl")
    if media:
        await part(Check.ENCODER, "encoder", _first_encoder(media, user, password))
    elif Check.ENCODER in want:
        unsupported.add(Check.ENCODER)
    for check, ns, name, coro_fn in (
        (Check.PRIVACY_MASKS, NS_MEDIA2, "masks", lambda u: get_masks(u, user, password)),
        (Check.VIEW, NS_PTZ, "position", lambda u: _position(u, user, password)),
        (Check.TAMPER, NS_EVENTS, "tamper", lambda u: _tamper(camera_id, u, user, password, pullpoints)),
    ):
        if ns in services:
            await part(check, name, coro_fn(services[ns]))
        elif check in want:
            unsupported.add(check)
    if defaults:
        await part(Check.DEFAULT_CREDENTIALS, "defaults", _defaults_accepted(device_url, defaults))
    elif Check.DEFAULT_CREDENTIALS in want:
        unsupported.add(Check.DEFAULT_CREDENTIALS)
    return Answer(camera_id=camera_id, at=now, clock_skew_s=skew, not_read=frozenset(Check) - want,
                  masks=parts.get("masks"), position=parts.get("position"),  # type: ignore[arg-type]
                  encoder=parts.get("encoder"), identity=parts.get("identity"),  # type: ignore[arg-type]
                  tamper_events=parts.get("tamper"), default_credentials=parts.get("defaults"),  # type: ignore[arg-type]
                  unsupported=frozenset(unsupported), failed=frozenset(failed))


async def _identity(dev) -> Identity:  # noqa: ANN001
    i = await dev.GetDeviceInformation()
    return Identity(manufacturer=str(i.Manufacturer), model=str(i.Model), firmware=str(i.FirmwareVersion),
                    serial=str(i.SerialNumber))


async def _first_encoder(url: str, user: str, password: str) -> Encoder:
    media = await service(MEDIA, url, user, password)
    configs = await media.GetVideoEncoderConfigurations()
    if not configs:
        raise ValueError("no video encoder configuration")
    return _encoder(configs[0])


async def _position(url: str, user: str, password: str) -> Position:
    ptz = await service(PTZ, url, user, password)
    st = await ptz.GetStatus(ProfileToken="profile_1")
    pos = st.Position
    return Position(pan=float(pos.PanTilt.x), tilt=float(pos.PanTilt.y), zoom=float(pos.Zoom.x))


async def _tamper(camera_id: str, url: str, user: str, password: str,
                  pullpoints: MutableMapping[str, str] | None) -> tuple[str, ...]:
    """The tamper topics raised since the last check, through this camera's PullPoint subscription (one
    is created on the first check, and again if the camera forgot it)."""
    keep = pullpoints if pullpoints is not None else {}
    address = keep.get(camera_id)
    if address is not None:
        pull = await service(PULLPOINT, address, user, password)
        try:
            res = await pull.PullMessages(Timeout="PT1S", MessageLimit=100)
        except zeep.exceptions.Fault:
            address = None  # the camera restarted or let it lapse: subscribe again
        else:
            topics = [_topic(m) for m in (res.NotificationMessage or [])]
            return tuple(t for t in topics if any(f"/{name}" in t for name in TAMPER))
    events = await service(EVENTS, url, user, password)
    sub = await events.CreatePullPointSubscription(InitialTerminationTime="PT2H")
    keep[camera_id] = str(sub.SubscriptionReference.Address._value_1)
    return ()


async def _defaults_accepted(device_url: str, defaults: tuple[tuple[str, str], ...]) -> bool:
    for user, password in defaults:
        dev = await service(DEVICE, device_url, user, password)
        try:
            await dev.GetDeviceInformation()
        except zeep.exceptions.Fault:
            continue
        return True
    return False


async def set_clock(device_url: str, user: str, password: str, now: Callable[[], datetime], timeout: float) -> None:
    """Set the camera's clock to ours (UTC) with SetSystemDateAndTime. A camera set to take its time from
    NTP is set back to NTP afterwards: its clock is right now, and its configuration as it was."""
    dev = await service(DEVICE, device_url, user, password)
    async with asyncio.timeout(timeout):
        current = await dev.GetSystemDateAndTime()
        was_ntp = str(getattr(current, "DateTimeType", "")) == "NTP"
        daylight = bool(getattr(current, "DaylightSavings", False))
        t = now().astimezone(UTC)
        await dev.SetSystemDateAndTime(DateTimeType="Manual", DaylightSavings=daylight, UTCDateTime={
            "Date": {"Year": t.year, "Month": t.month, "Day": t.day},
            "Time": {"Hour": t.hour, "Minute": t.minute, "Second": t.second}})
        if was_ntp:
            await dev.SetSystemDateAndTime(DateTimeType="NTP", DaylightSavings=daylight)


async def move_back(ptz_url: str, user: str, password: str, preset: str | None, position: Position,
                    timeout: float) -> None:
    """Back to the approved view: its preset if it has one, else an AbsoluteMove to the approved position."""
    ptz = await service(PTZ, ptz_url, user, password)
    async with asyncio.timeout(timeout):
        if preset:
            await ptz.GotoPreset(ProfileToken="profile_1", PresetToken=preset)
        else:
            await ptz.AbsoluteMove(ProfileToken="profile_1", Position={
                "PanTilt": {"x": position.pan, "y": position.tilt}, "Zoom": {"x": position.zoom}})
