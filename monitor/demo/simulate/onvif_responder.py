"""A small ONVIF device responder for simulated cameras (aiohttp, loopback only).

One process serves many cameras, one port each (``http://127.0.0.1:PORT/onvif/device_service``; the
media service is ``/onvif/media_service`` on the same port). Operations: GetSystemDateAndTime (no auth),
GetDeviceInformation, GetCapabilities, GetServices, GetProfiles, GetStreamUri, SystemReboot, and the
settings the drift checks read and set (`onvif_drift`: masks, PTZ, encoder, clock, events). Every call
but GetSystemDateAndTime needs a WS-Security UsernameToken (PasswordDigest or PasswordText); after a
simulated factory reset the maker's default login works too.

Faults per camera: ``down`` (``refuse``: the port stops listening; ``hang``: it accepts and never
answers), ``up``, and a clock skew in seconds.

In-process: ``OnvifResponder`` (async). As a process: ``python -m monitor.demo.simulate.onvif_responder``
reads one JSON line ``{"cameras": [{"id", "port", "user", "password", "rtsp_url", "skew_s"}]}`` on
stdin, optionally with ``"host"`` (bind address, 0.0.0.0 in a network namespace) and ``"advertise"``
(passwords never go on the command line), prints ``{"event": "ready", "ports": {...}}``, then
takes commands, one JSON line each, and answers one line each::

    {"cmd": "down", "cam": "C0001", "mode": "refuse"}   {"cmd": "up", "cam": "C0001"}
    {"cmd": "skew", "cam": "C0001", "seconds": 30}      {"cmd": "status"}
    {"cmd": "drift", "cam": "C0001", "what": "masks", "value": []}   (see `onvif_drift.Settings.apply`)

End of stdin stops it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

from aiohttp import web

from monitor.demo.simulate.onvif_drift import (
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    Settings,
    camera_utc_set,
    respond_drift,
    services,
)

HOST = "127.0.0.1"
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
}
DIGEST = "#PasswordDigest"
ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
    'xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:ter="http://www.onvif.org/ver10/error" '
    'xmlns:tr2="http://www.onvif.org/ver20/media/wsdl" xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl" '
    'xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" '
    'xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:tns1="http://www.onvif.org/ver10/topics">'
    "<s:Body>{body}</s:Body></s:Envelope>"
)
NOT_AUTHORIZED = (
    "<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:NotAuthorized</s:Value>"
    '</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en">Sender not authorized</s:Text></s:Reason></s:Fault>'
)


@dataclass(slots=True)
class Endpoint:
    cam: str
    port: int
    user: str
    password: str = field(repr=False)
    rtsp_url: str
    skew_s: float = 0.0
    down: str | None = None  # None | "refuse" | "hang"
    reboots: int = 0
    site: web.TCPSite | None = None
    drift: Settings = field(default_factory=Settings)


def password_digest(nonce: bytes, created: str, password: str) -> str:
    return base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()


def authorized(envelope: ET.Element, ep: Endpoint) -> bool:
    """The camera's own login, or after a factory reset the maker's default one."""
    return _login_matches(envelope, ep.user, ep.password) or (
        ep.drift.factory_login and _login_matches(envelope, DEFAULT_USER, DEFAULT_PASSWORD))


def _login_matches(envelope: ET.Element, user_ok: str, password: str) -> bool:
    token = envelope.find("s:Header/wsse:Security/wsse:UsernameToken", NS)
    if token is None:
        return False
    user = token.findtext("wsse:Username", default="", namespaces=NS)
    pw = token.find("wsse:Password", NS)
    if pw is None or not hmac.compare_digest(user.encode(), user_ok.encode()):
        return False
    given = (pw.text or "").strip()
    if pw.get("Type", "").endswith(DIGEST):
        try:
            nonce = base64.b64decode(token.findtext("wsse:Nonce", default="", namespaces=NS))
        except ValueError:
            return False
        created = token.findtext("wsu:Created", default="", namespaces=NS)
        expected = password_digest(nonce, created, password)
    else:
        expected = password
    return hmac.compare_digest(given.encode(), expected.encode())


def _dt(t: datetime) -> str:
    return (
        f"<tt:Time><tt:Hour>{t.hour}</tt:Hour><tt:Minute>{t.minute}</tt:Minute>"
        f"<tt:Second>{t.second}</tt:Second></tt:Time><tt:Date><tt:Year>{t.year}</tt:Year>"
        f"<tt:Month>{t.month}</tt:Month><tt:Day>{t.day}</tt:Day></tt:Date>"
    )


def respond(op: str, ep: Endpoint, base: str) -> str | None:
    """Pure: operation name -> response body XML (None if unknown)."""
    if op == "GetSystemDateAndTime":
        utc = datetime.now(UTC) + timedelta(seconds=ep.skew_s)
        local = utc + timedelta(hours=9)
        return (
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
            f"<tt:DateTimeType>{'NTP' if ep.drift.ntp else 'Manual'}</tt:DateTimeType>"
            "<tt:DaylightSavings>false</tt:DaylightSavings>"
            "<tt:TimeZone><tt:TZ>JST-9</tt:TZ></tt:TimeZone>"
            f"<tt:UTCDateTime>{_dt(utc)}</tt:UTCDateTime><tt:LocalDateTime>{_dt(local)}</tt:LocalDateTime>"
            "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )
    if op == "GetDeviceInformation":
        return (
            "<tds:GetDeviceInformationResponse><tds:Manufacturer>Mimamori Sim</tds:Manufacturer>"
            f"<tds:Model>SIM-1</tds:Model><tds:FirmwareVersion>{ep.drift.firmware}</tds:FirmwareVersion>"
            f"<tds:SerialNumber>{ep.cam}</tds:SerialNumber><tds:HardwareId>sim</tds:HardwareId>"
            "</tds:GetDeviceInformationResponse>"
        )
    if op == "GetCapabilities":
        return (
            "<tds:GetCapabilitiesResponse><tds:Capabilities>"
            f"<tt:Device><tt:XAddr>{base}/onvif/device_service</tt:XAddr></tt:Device>"
            + (f"<tt:Events><tt:XAddr>{base}/onvif/event_service</tt:XAddr><tt:WSSubscriptionPolicySupport>false"
               "</tt:WSSubscriptionPolicySupport><tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
               "<tt:WSPausableSubscriptionManagerInterfaceSupport>false"
               "</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>" if ep.drift.events else "")
            + f"<tt:Media><tt:XAddr>{base}/onvif/media_service</tt:XAddr><tt:StreamingCapabilities>"
            "<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
            "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>"
            + (f"<tt:PTZ><tt:XAddr>{base}/onvif/ptz_service</tt:XAddr></tt:PTZ>" if ep.drift.ptz else "")
            + "</tds:Capabilities></tds:GetCapabilitiesResponse>"
        )
    if op == "GetServices":
        services_ = [("http://www.onvif.org/ver10/device/wsdl", "device_service"),
                     ("http://www.onvif.org/ver10/media/wsdl", "media_service"), *services(ep.drift)]
        body = "".join(
            f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{base}/onvif/{path}</tds:XAddr>"
            "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>"
            for ns, path in services_
        )
        return f"<tds:GetServicesResponse>{body}</tds:GetServicesResponse>"
    if op == "GetProfiles":
        return (
            '<trt:GetProfilesResponse><trt:Profiles token="profile_1" fixed="true">'
            "<tt:Name>mainStream</tt:Name></trt:Profiles></trt:GetProfilesResponse>"
        )
    if op == "GetStreamUri":
        return (
            f"<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{ep.rtsp_url}</tt:Uri>"
            "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
            "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout>"
            "</trt:MediaUri></trt:GetStreamUriResponse>"
        )
    if op == "SetSystemDateAndTime":
        return "<tds:SetSystemDateAndTimeResponse/>"
    if op == "SystemReboot":
        return (
            "<tds:SystemRebootResponse><tds:Message>Rebooting in 1 second</tds:Message>"
            "</tds:SystemRebootResponse>"
        )
    return None


class OnvifResponder:
    """Many simulated ONVIF devices in one aiohttp app; the local port picks the camera."""

    def __init__(self, host: str = HOST, advertise: str | None = None) -> None:
        self.host = host  # "0.0.0.0" inside a network namespace
        self.advertise = advertise or host  # the address put in the service URLs it answers with
        self.endpoints: dict[str, Endpoint] = {}
        self._by_port: dict[int, Endpoint] = {}
        app = web.Application()
        app.router.add_post("/onvif/{service:.+}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self._started = False

    async def add(self, cam: str, *, user: str, password: str, rtsp_url: str, port: int = 0,
                  skew_s: float = 0.0) -> int:
        if not self._started:
            await self._runner.setup()
            self._started = True
        ep = Endpoint(cam=cam, port=port, user=user, password=password, rtsp_url=rtsp_url, skew_s=skew_s)
        self.endpoints[cam] = ep
        await self._listen(ep)
        return ep.port

    async def _listen(self, ep: Endpoint) -> None:
        site = web.TCPSite(self._runner, self.host, ep.port, backlog=512, reuse_address=True)
        await site.start()
        ep.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ep.site = site
        self._by_port[ep.port] = ep

    async def down(self, cam: str, mode: str = "refuse") -> None:
        ep = self.endpoints[cam]
        if mode not in ("refuse", "hang"):
            raise ValueError(f"unknown mode {mode!r}")
        ep.down = mode
        if mode == "refuse" and ep.site is not None:
            site, ep.site = ep.site, None
            await site.stop()

    async def up(self, cam: str) -> None:
        ep = self.endpoints[cam]
        ep.down = None
        if ep.site is None:
            await self._listen(ep)

    def set_skew(self, cam: str, seconds: float) -> None:
        self.endpoints[cam].skew_s = seconds

    def drift(self, cam: str, what: str, value: object = None) -> None:
        """Make one camera's settings drift (`onvif_drift.Settings.apply`)."""
        self.endpoints[cam].drift.apply(what, value)

    def status(self) -> dict:
        return {
            c: {"port": e.port, "down": e.down, "skew_s": e.skew_s, "reboots": e.reboots, "drift": e.drift.status()}
            for c, e in self.endpoints.items()
        }

    async def close(self) -> None:
        if self._started:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        ep = self._by_port.get(sock[1]) if sock else None
        if ep is None:
            raise web.HTTPNotFound()
        if ep.down == "hang":
            await asyncio.sleep(3600)
        try:
            envelope = ET.fromstring(await request.read())
            op_el = next(iter(envelope.find("s:Body", NS)))  # type: ignore[arg-type]
        except (ET.ParseError, TypeError, StopIteration):
            return self._soap("<s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code></s:Fault>", 400)
        op = op_el.tag.rsplit("}", 1)[-1]
        if op != "GetSystemDateAndTime" and not authorized(envelope, ep):
            return self._soap(NOT_AUTHORIZED, 400)
        base = f"http://{self.advertise}:{ep.port}"
        body = respond(op, ep, base)
        if body is None:
            body = respond_drift(op, ep.drift, op_el, base, request.path)
        if op == "SetSystemDateAndTime":
            set_to = camera_utc_set(op_el)
            if set_to is not None:
                ep.skew_s = (set_to - datetime.now(UTC)).total_seconds()
            ep.drift.ntp = op_el.findtext("{http://www.onvif.org/ver10/device/wsdl}DateTimeType") == "NTP"
        if body is None:
            return self._soap("<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code></s:Fault>", 400)
        if op == "SystemReboot":
            ep.reboots += 1
        return self._soap(body)

    @staticmethod
    def _soap(body: str, status: int = 200) -> web.Response:
        return web.Response(
            text=ENVELOPE.format(body=body),
            status=status,
            content_type="application/soap+xml",
            charset="utf-8",
        )


async def _serve_stdio() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    config = json.loads(await reader.readline())
    responder = OnvifResponder(config.get("host", HOST), config.get("advertise"))
    ports = {}
    for c in config["cameras"]:
        ports[c["id"]] = await responder.add(
            c["id"], user=c["user"], password=c["password"], rtsp_url=c["rtsp_url"],
            port=int(c.get("port", 0)), skew_s=float(c.get("skew_s", 0.0)),
        )
    print(json.dumps({"event": "ready", "ports": ports}), flush=True)
    try:
        while line := await reader.readline():
            if not line.strip():
                continue
            try:
                msg = json.loads(line)
                cmd = msg.get("cmd")
                if cmd == "down":
                    await responder.down(msg["cam"], msg.get("mode", "refuse"))
                elif cmd == "up":
                    await responder.up(msg["cam"])
                elif cmd == "skew":
                    responder.set_skew(msg["cam"], float(msg["seconds"]))
                elif cmd == "drift":
                    responder.drift(msg["cam"], msg["what"], msg.get("value"))
                elif cmd != "status":
                    raise ValueError(f"unknown command {cmd!r}")
                out = {"ok": True, "cameras": responder.status()} if cmd == "status" else {"ok": True}
            except (ValueError, KeyError, TypeError, OSError) as e:
                out = {"ok": False, "error": str(e)}
            print(json.dumps(out), flush=True)
    finally:
        await responder.close()


if __name__ == "__main__":
    asyncio.run(_serve_stdio())
