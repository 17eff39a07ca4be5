"""The drift checks against the simulated ONVIF responder over real SOAP (issue 19, point 1).

The responder's answers are parsed by zeep in strict mode over the WSDLs onvif-zeep-async ships
(device, media, PTZ, events): an element out of the schema fails the parse. GetMasks has no WSDL there
(no Media2 in onvif-zeep-async 4.3): it is read by `probes.drift.parse_masks`, and that is said here.
Then the drift: masks removed, PTZ moved, encoder reset, clock set off, firmware changed, tamper raised,
a factory reset letting the default login in, each read back through `read_answer` and compared.
"""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import pytest
import zeep
from onvif.client import UsernameDigestTokenDtDiff, ZeepAsyncClient
from onvif.zeep_aiohttp import AIOHTTPTransport
from zeep.transports import Transport
from zeep.wsdl import Document

from monitor.core.drift import Answer, Baseline, Check, Position, compare
from monitor.demo.simulate.onvif_drift import DEFAULT_PASSWORD, DEFAULT_USER
from monitor.demo.simulate.onvif_responder import OnvifResponder
from monitor.probes.drift import DEVICE, EVENTS, MEDIA, PTZ, PULLPOINT, WSDL, move_back, read_answer, set_clock
from monitor.probes.onvif import close_shared

USER, PASSWORD = "city", "s3cret-pass"


@pytest.fixture
async def cam():
    responder = OnvifResponder()
    port = await responder.add("C0001", user=USER, password=PASSWORD, rtsp_url="rtsp://127.0.0.1:1/c1")
    yield responder, f"http://127.0.0.1:{port}/onvif/device_service"
    await close_shared()
    await responder.close()


STRICT = zeep.Settings(strict=True, xml_huge_tree=True)
DOCUMENTS: dict[str, Document] = {}


def strict(wsdl_binding: tuple[str, str], url: str, session: aiohttp.ClientSession):
    """A zeep service over onvif-zeep-async's own WSDL file, parsed in strict mode (the schema's setting
    decides how strictly a response is read: an element the schema does not allow fails)."""
    name = wsdl_binding[0]
    if name not in DOCUMENTS:
        DOCUMENTS[name] = Document(str(WSDL / name), Transport(), settings=STRICT)
    client = ZeepAsyncClient(wsdl=DOCUMENTS[name], wsse=UsernameDigestTokenDtDiff(USER, PASSWORD),
                             transport=AIOHTTPTransport(session=session), settings=STRICT)
    return client.create_service(wsdl_binding[1], url)


async def test_every_operation_parses_strictly_against_the_shipped_wsdls(cam):
    _, device_url = cam
    base = device_url.rsplit("/", 1)[0]
    async with aiohttp.ClientSession() as session:
        await _every_operation(device_url, base, session)


async def _every_operation(device_url: str, base: str, session: aiohttp.ClientSession) -> None:
    dev = strict(DEVICE, device_url, session)
    info = await dev.GetDeviceInformation()
    assert (info.Model, info.FirmwareVersion, info.SerialNumber) == ("SIM-1", "1.0.0", "C0001")
    namespaces = {s.Namespace for s in await dev.GetServices(IncludeCapability=False)}
    assert {"http://www.onvif.org/ver20/ptz/wsdl", "http://www.onvif.org/ver10/events/wsdl",
            "http://www.onvif.org/ver20/media/wsdl"} <= namespaces
    caps = await dev.GetCapabilities(Category="All")
    assert caps.PTZ.XAddr.endswith("/ptz_service") and caps.Events.WSPullPointSupport is True
    await dev.SetSystemDateAndTime(DateTimeType="Manual", DaylightSavings=False, UTCDateTime={
        "Date": {"Year": 2026, "Month": 12, "Day": 6}, "Time": {"Hour": 3, "Minute": 0, "Second": 0}})
    media = strict(MEDIA, f"{base}/media_service", session)
    enc = (await media.GetVideoEncoderConfigurations())[0]
    assert (enc.Encoding, enc.Resolution.Width, enc.RateControl.FrameRateLimit) == ("H264", 1920, 25)
    ptz = strict(PTZ, f"{base}/ptz_service", session)
    status = await ptz.GetStatus(ProfileToken="profile_1")
    assert (status.Position.PanTilt.x, status.Position.Zoom.x) == (0.1, 0.0)
    assert [p.token for p in await ptz.GetPresets(ProfileToken="profile_1")] == ["1"]
    await ptz.AbsoluteMove(ProfileToken="profile_1", Position={"PanTilt": {"x": 0.5, "y": 0.0}, "Zoom": {"x": 0.2}})
    await ptz.GotoPreset(ProfileToken="profile_1", PresetToken="1")
    events = strict(EVENTS, f"{base}/event_service", session)
    sub = await events.CreatePullPointSubscription(InitialTerminationTime="PT2H")
    pull = strict(PULLPOINT, sub.SubscriptionReference.Address._value_1, session)
    res = await pull.PullMessages(Timeout="PT1S", MessageLimit=10)
    assert res.CurrentTime is not None and not res.NotificationMessage


async def test_a_camera_as_installed_has_no_drift_and_each_drift_is_found(cam):
    responder, url = cam
    now = datetime.now(UTC)
    pullpoints: dict[str, str] = {}
    first = await read_answer("C0001", url, None, USER, PASSWORD, now=now, timeout=5,
                              defaults=((DEFAULT_USER, DEFAULT_PASSWORD),), pullpoints=pullpoints)
    assert not first.failed and not first.unsupported, (first.failed, first.unsupported)
    assert len(first.masks) == 2 and first.position == Position(0.1, -0.2, 0.0) and first.tamper_events == ()
    assert first.default_credentials is False and abs(first.clock_skew_s) < 2
    base = Baseline(camera_id="C0001", taken_at=now, approved_by="tanaka", masks=first.masks,
                    position=first.position, preset="1", encoder=first.encoder, identity=first.identity)
    assert compare(base, first, expected_fps=10).findings == ()

    responder.drift("C0001", "masks", [])
    responder.drift("C0001", "ptz", [0.7, 0.1, 0.3])
    responder.drift("C0001", "firmware", "2.0.1")
    responder.drift("C0001", "tamper", "GlobalSceneChange")
    responder.set_skew("C0001", 90)
    drifted = await read_answer("C0001", url, None, USER, PASSWORD, now=datetime.now(UTC), timeout=5,
                                defaults=((DEFAULT_USER, DEFAULT_PASSWORD),), pullpoints=pullpoints)
    found = {f.check for f in compare(base, drifted, expected_fps=10).findings}
    assert found == {Check.PRIVACY_MASKS, Check.VIEW, Check.FIRMWARE, Check.TAMPER, Check.CLOCK}
    assert drifted.tamper_events == ("tns1:VideoSource/GlobalSceneChange/ImagingService",)

    await set_clock(url, USER, PASSWORD, lambda: datetime.now(UTC), 5)
    assert responder.endpoints["C0001"].drift.ntp  # set right, and still on NTP as it was
    await move_back(url.replace("device_service", "ptz_service"), USER, PASSWORD, "1", base.position, 5)
    responder.drift("C0001", "factory_reset")
    after = await read_answer("C0001", url, None, USER, PASSWORD, now=datetime.now(UTC), timeout=5,
                              defaults=((DEFAULT_USER, DEFAULT_PASSWORD),), pullpoints=pullpoints)
    found = {f.check for f in compare(base, after, expected_fps=10).findings}
    assert found == {Check.PRIVACY_MASKS, Check.ENCODER, Check.FIRMWARE, Check.DEFAULT_CREDENTIALS}
    assert abs(after.clock_skew_s) < 2 and after.position == base.position  # corrected


async def test_a_camera_without_ptz_media2_or_events_states_them_unsupported():
    responder = OnvifResponder()
    port = await responder.add("C0002", user=USER, password=PASSWORD, rtsp_url="rtsp://127.0.0.1:1/c2")
    st = responder.endpoints["C0002"].drift
    st.ptz = st.media2 = st.events = False
    try:
        answer: Answer = await read_answer("C0002", f"http://127.0.0.1:{port}/onvif/device_service", None, USER,
                                           PASSWORD, now=datetime.now(UTC), timeout=5)
    finally:
        await close_shared()
        await responder.close()
    assert answer.unsupported == {Check.VIEW, Check.PRIVACY_MASKS, Check.TAMPER, Check.DEFAULT_CREDENTIALS}
    assert not answer.failed and answer.encoder is not None


async def test_an_unreachable_camera_fails_every_check_and_is_no_finding():
    answer = await read_answer("C0003", "http://127.0.0.1:9/onvif/device_service", None, USER, PASSWORD,
                               now=datetime.now(UTC), timeout=1)
    await close_shared()
    assert answer.failed == frozenset(Check) and compare(None, answer).findings == ()
