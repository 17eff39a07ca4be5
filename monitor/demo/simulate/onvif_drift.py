"""What a simulated camera answers about its settings, and how a test makes them drift (issue 19).

The responder (`onvif_responder`) serves these operations, with the bodies the ONVIF WSDLs define:

- device (`tds`): GetDeviceInformation (firmware, serial), SetSystemDateAndTime (manual UTC: moves the
  camera's clock), GetServices with the PTZ, events and Media2 services it offers;
- media (`trt`): GetVideoEncoderConfigurations;
- Media2 (`tr2`): GetMasks (privacy masks; onvif-zeep-async ships no Media2 WSDL, see the README);
- PTZ (`tptz`): GetStatus, GetPresets, GotoPreset, AbsoluteMove;
- events (`tev`): CreatePullPointSubscription, PullMessages on the subscription's address (tamper topics
  `tns1:VideoSource/GlobalSceneChange/ImagingService`, `ImageTooDark`, `ImageTooBlurry`, `ImageTooBright`).

Drift (``apply``): ``masks`` (a list of polygons, [] = removed), ``ptz`` (pan, tilt, zoom), ``encoder``
(``"reset"`` = the maker's defaults), ``firmware``, ``tamper`` (a topic), ``factory_reset`` (the default
password works again, masks gone, encoder reset). A camera built with ``ptz=False`` or
``media2=False`` or ``events=False`` offers no such service.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

DEFAULT_USER, DEFAULT_PASSWORD = "admin", "12345"  # the simulated maker's factory login
DEFAULT_ENCODER = ("H264", 1280, 720, 30, 4096)  # what a reset camera streams
TAMPER_TOPICS = ("GlobalSceneChange", "ImageTooDark", "ImageTooBlurry", "ImageTooBright")
NS_MEDIA2 = "http://www.onvif.org/ver20/media/wsdl"
NS_PTZ = "http://www.onvif.org/ver20/ptz/wsdl"
NS_EVENTS = "http://www.onvif.org/ver10/events/wsdl"
DOOR = [(-0.9, 0.2), (-0.5, 0.2), (-0.5, 0.8), (-0.9, 0.8)]  # the neighbour's door, left of the road
WINDOW = [(0.4, 0.1), (0.8, 0.1), (0.8, 0.5), (0.4, 0.5)]


@dataclass(slots=True)
class Settings:
    """One simulated camera's settings: as installed, then as drifted."""

    ptz: bool = True
    media2: bool = True
    events: bool = True
    masks: list[list[tuple[float, float]]] = field(default_factory=lambda: [list(DOOR), list(WINDOW)])
    pan: float = 0.1
    tilt: float = -0.2
    zoom: float = 0.0
    presets: dict[str, tuple[float, float, float]] = field(default_factory=lambda: {"1": (0.1, -0.2, 0.0)})
    encoder: tuple[str, int, int, float, int] = ("H264", 1920, 1080, 25, 2048)  # limit above the streams sent
    firmware: str = "1.0.0"
    ntp: bool = True  # DateTimeType NTP (else Manual)
    factory_login: bool = False  # the maker's default password is accepted
    subscriptions: dict[str, list[str]] = field(default_factory=dict)  # pullpoint id -> topics not yet pulled

    def apply(self, what: str, value: object = None) -> None:
        if what == "masks":
            self.masks = [[(float(x), float(y)) for x, y in poly] for poly in value]  # type: ignore[union-attr]
        elif what == "ptz":
            self.pan, self.tilt, self.zoom = (float(v) for v in value)  # type: ignore[union-attr]
        elif what == "encoder":
            self.encoder = DEFAULT_ENCODER if value == "reset" else tuple(value)  # type: ignore[assignment,arg-type]
        elif what == "firmware":
            self.firmware = str(value)
        elif what == "tamper":
            if value not in TAMPER_TOPICS:
                raise ValueError(f"unknown tamper topic {value!r}: one of {', '.join(TAMPER_TOPICS)}")
            for queue in self.subscriptions.values():
                queue.append(str(value))
        elif what == "factory_reset":
            self.masks, self.encoder, self.factory_login = [], DEFAULT_ENCODER, True
        else:
            raise ValueError(f"unknown drift {what!r}")

    def status(self) -> dict:
        return {"masks": len(self.masks), "ptz": [self.pan, self.tilt, self.zoom], "encoder": list(self.encoder),
                "ntp": self.ntp,
                "firmware": self.firmware, "factory_login": self.factory_login,
                "subscriptions": len(self.subscriptions)}


def services(st: Settings) -> list[tuple[str, str]]:
    """The optional services this camera offers: (namespace, path)."""
    out = [(NS_MEDIA2, "media2_service")] if st.media2 else []
    out += [(NS_PTZ, "ptz_service")] if st.ptz else []
    out += [(NS_EVENTS, "event_service")] if st.events else []
    return out


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ptz_vector(pan: float, tilt: float, zoom: float) -> str:
    return (f'<tt:PanTilt x="{pan:g}" y="{tilt:g}" space="http://www.onvif.org/ver10/tptz/PanTiltSpaces/'
            f'PositionGenericSpace"/><tt:Zoom x="{zoom:g}" space="http://www.onvif.org/ver10/tptz/ZoomSpaces/'
            'PositionGenericSpace"/>')


def respond_drift(op: str, st: Settings, op_el: ET.Element, base: str, path: str) -> str | None:
    """Pure but for the settings it changes: an operation -> its response body (None: not offered)."""
    now = datetime.now(UTC)
    if op == "GetVideoEncoderConfigurations":
        enc, w, h, fps, kbps = st.encoder
        return ("<trt:GetVideoEncoderConfigurationsResponse><trt:Configurations token=\"venc_1\">"
                "<tt:Name>mainStream</tt:Name><tt:UseCount>1</tt:UseCount>"
                f"<tt:Encoding>{enc}</tt:Encoding><tt:Resolution><tt:Width>{w}</tt:Width>"
                f"<tt:Height>{h}</tt:Height></tt:Resolution><tt:Quality>5</tt:Quality>"
                f"<tt:RateControl><tt:FrameRateLimit>{fps:g}</tt:FrameRateLimit>"
                f"<tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>{kbps}</tt:BitrateLimit>"
                "</tt:RateControl><tt:H264><tt:GovLength>50</tt:GovLength><tt:H264Profile>Main</tt:H264Profile>"
                "</tt:H264><tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0"
                "</tt:IPv4Address></tt:Address><tt:Port>0</tt:Port><tt:TTL>1</tt:TTL>"
                "<tt:AutoStart>false</tt:AutoStart></tt:Multicast><tt:SessionTimeout>PT60S</tt:SessionTimeout>"
                "</trt:Configurations></trt:GetVideoEncoderConfigurationsResponse>")
    if op == "GetMasks" and st.media2:
        masks = "".join(
            f'<tr2:Masks token="mask_{i + 1}"><tt:ConfigurationToken>vsc_1</tt:ConfigurationToken><tt:Polygon>'
            + "".join(f'<tt:Point x="{x:g}" y="{y:g}"/>' for x, y in poly)
            + "</tt:Polygon><tt:Type>Color</tt:Type><tt:Enabled>true</tt:Enabled></tr2:Masks>"
            for i, poly in enumerate(st.masks))
        return f"<tr2:GetMasksResponse>{masks}</tr2:GetMasksResponse>"
    if op == "GetStatus" and st.ptz:
        return ("<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position>" + _ptz_vector(st.pan, st.tilt, st.zoom)
                + "</tt:Position><tt:MoveStatus><tt:PanTilt>IDLE</tt:PanTilt><tt:Zoom>IDLE</tt:Zoom>"
                f"</tt:MoveStatus><tt:UtcTime>{_stamp(now)}</tt:UtcTime></tptz:PTZStatus></tptz:GetStatusResponse>")
    if op == "GetPresets" and st.ptz:
        presets = "".join(f'<tptz:Preset token="{t}"><tt:Name>approved {t}</tt:Name><tt:PTZPosition>'
                          + _ptz_vector(*p) + "</tt:PTZPosition></tptz:Preset>" for t, p in st.presets.items())
        return f"<tptz:GetPresetsResponse>{presets}</tptz:GetPresetsResponse>"
    if op == "GotoPreset" and st.ptz:
        token = op_el.findtext("{http://www.onvif.org/ver20/ptz/wsdl}PresetToken", default="")
        if token not in st.presets:
            return None
        st.pan, st.tilt, st.zoom = st.presets[token]
        return "<tptz:GotoPresetResponse/>"
    if op == "AbsoluteMove" and st.ptz:
        pt = op_el.find(".//{http://www.onvif.org/ver10/schema}PanTilt")
        zm = op_el.find(".//{http://www.onvif.org/ver10/schema}Zoom")
        if pt is not None:
            st.pan, st.tilt = float(pt.get("x", st.pan)), float(pt.get("y", st.tilt))
        if zm is not None:
            st.zoom = float(zm.get("x", st.zoom))
        return "<tptz:AbsoluteMoveResponse/>"
    if op == "CreatePullPointSubscription" and st.events:
        sub = uuid.uuid4().hex[:12]
        st.subscriptions[sub] = []
        return ("<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
                f"<wsa:Address>{base}/onvif/pullpoint/{sub}</wsa:Address></tev:SubscriptionReference>"
                f"<wsnt:CurrentTime>{_stamp(now)}</wsnt:CurrentTime>"
                f"<wsnt:TerminationTime>{_stamp(now + timedelta(hours=2))}</wsnt:TerminationTime>"
                "</tev:CreatePullPointSubscriptionResponse>")
    if op == "PullMessages" and st.events:
        queue = st.subscriptions.get(path.rsplit("/", 1)[-1])
        if queue is None:
            return None
        topics, queue[:] = list(queue), []
        messages = "".join(
            "<wsnt:NotificationMessage><wsnt:Topic Dialect=\"http://www.onvif.org/ver10/tev/topicExpression/"
            f"ConcreteSet\">tns1:VideoSource/{t}/ImagingService</wsnt:Topic><wsnt:Message>"
            f'<tt:Message UtcTime="{_stamp(now)}" PropertyOperation="Changed"><tt:Source>'
            '<tt:SimpleItem Name="Source" Value="vsc_1"/></tt:Source><tt:Data>'
            '<tt:SimpleItem Name="State" Value="true"/></tt:Data></tt:Message></wsnt:Message>'
            "</wsnt:NotificationMessage>" for t in topics)
        return (f"<tev:PullMessagesResponse><tev:CurrentTime>{_stamp(now)}</tev:CurrentTime>"
                f"<tev:TerminationTime>{_stamp(now + timedelta(hours=2))}</tev:TerminationTime>{messages}"
                "</tev:PullMessagesResponse>")
    return None


def camera_utc_set(op_el: ET.Element) -> datetime | None:
    """A SetSystemDateAndTime request's manual UTC time (None: it gives none)."""
    tt = "{http://www.onvif.org/ver10/schema}"
    utc = op_el.find("{http://www.onvif.org/ver10/device/wsdl}UTCDateTime")
    if utc is None:
        return None

    def num(path: str) -> int:
        return int(utc.findtext(f"{tt}{path.replace('/', '/' + tt)}", default="0"))

    return datetime(num("Date/Year"), num("Date/Month"), num("Date/Day"), num("Time/Hour"), num("Time/Minute"),
                    num("Time/Second"), tzinfo=UTC)
