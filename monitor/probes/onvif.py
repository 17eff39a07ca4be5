"""ONVIF probe (GetSystemDateAndTime, clock skew) and remote reboot (SystemReboot), via onvif-zeep-async.

Cost: ``onvif.ONVIFCamera`` builds two aiohttp sessions and two zeep clients per camera. For a probe
every minute on 10,000 cameras we keep, per event loop, one aiohttp session (no keep-alive, no
connection cap: the caller bounds concurrency) and one authless zeep client over onvif-zeep-async's
process-wide parsed device WSDL; each call only binds a service proxy to the camera's address.
Authenticated calls (reboot, or a camera that wants WS-Security even on GetSystemDateAndTime) build a
zeep client with the camera's UsernameToken per call; they are rare.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import onvif
import zeep.exceptions
from onvif.client import UsernameDigestTokenDtDiff, ZeepAsyncClient, _cached_document
from onvif.exceptions import ONVIFError
from onvif.settings import DEFAULT_SETTINGS
from onvif.wsa import WsAddressingIfMissingPlugin
from onvif.zeep_aiohttp import AIOHTTPTransport

DEVICE_WSDL = str(Path(onvif.__file__).parent / "wsdl" / "devicemgmt.wsdl")
DEVICE_BINDING = "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding"
_ERRORS = (
    OSError,
    TimeoutError,
    aiohttp.ClientError,
    zeep.exceptions.Error,
    ONVIFError,
    ValueError,
    AttributeError,
    TypeError,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class OnvifResult:
    ok: bool
    clock_skew_s: float | None = None


@dataclass(slots=True)
class _Shared:
    session: aiohttp.ClientSession
    transport: AIOHTTPTransport
    authless: ZeepAsyncClient


_shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Shared] = weakref.WeakKeyDictionary()


async def _get_shared() -> _Shared:
    loop = asyncio.get_running_loop()
    s = _shared.get(loop)
    if s is None or s.session.closed:
        document = await _cached_document(DEVICE_WSDL)
        s = _shared.get(loop)  # another probe may have built it while we awaited the document
        if s is not None and not s.session.closed:
            return s
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=True),
            timeout=aiohttp.ClientTimeout(total=120),
        )
        transport = AIOHTTPTransport(session=session, verify_ssl=False)
        authless = ZeepAsyncClient(
            wsdl=document,
            transport=transport,
            settings=DEFAULT_SETTINGS,
            plugins=[WsAddressingIfMissingPlugin()],
        )
        s = _Shared(session=session, transport=transport, authless=authless)
        _shared[loop] = s
    return s


async def close_shared() -> None:
    """Close this event loop's shared HTTP session (service shutdown, test teardown)."""
    s = _shared.pop(asyncio.get_running_loop(), None)
    if s is not None:
        await s.session.close()


def _authed(shared: _Shared, user: str, password: str) -> ZeepAsyncClient:
    wsse = UsernameDigestTokenDtDiff(user, password, use_digest=True)
    return ZeepAsyncClient(
        wsdl=shared.authless.wsdl,
        wsse=wsse,
        transport=shared.transport,
        settings=DEFAULT_SETTINGS,
        plugins=[WsAddressingIfMissingPlugin()],
    )


def parse_camera_utc(resp: object) -> datetime | None:
    """Pure: a GetSystemDateAndTime response -> the camera's UTC time (None if it gives none)."""
    utc = getattr(resp, "UTCDateTime", None)
    if utc is None:
        return None
    d, t = utc.Date, utc.Time
    return datetime(d.Year, d.Month, d.Day, t.Hour, t.Minute, t.Second, tzinfo=UTC)


async def onvif_check(url: str, user: str, password: str, timeout: float, now: datetime) -> OnvifResult:
    """Ask the device service at ``url`` for its clock. ``now`` is the monitor's time at the call.

    Skew = camera UTC - monitor UTC at the midpoint of the exchange (positive: camera ahead); the
    camera reports whole seconds, so it is good to about a second.
    """
    shared = await _get_shared()
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            try:
                resp = await shared.authless.create_service(DEVICE_BINDING, url).GetSystemDateAndTime()
            except zeep.exceptions.Fault:
                # some firmwares want WS-Security on every call
                client = _authed(shared, user or "", password or "")
                resp = await client.create_service(DEVICE_BINDING, url).GetSystemDateAndTime()
    except _ERRORS:
        return OnvifResult(ok=False)
    mid = now + timedelta(seconds=(time.perf_counter() - t0) / 2)
    try:
        cam = parse_camera_utc(resp)
    except (AttributeError, TypeError, ValueError):
        cam = None
    skew = None if cam is None else (cam - mid.astimezone(UTC)).total_seconds()
    return OnvifResult(ok=True, clock_skew_s=skew)


async def onvif_reboot(url: str, user: str, password: str, timeout: float) -> str:
    """SystemReboot with the camera's credentials; returns the camera's message.

    Raises ONVIFError (with no secret in it) when the camera refuses or cannot be reached.
    """
    shared = await _get_shared()
    client = _authed(shared, user or "", password or "")
    try:
        async with asyncio.timeout(timeout):
            msg = await client.create_service(DEVICE_BINDING, url).SystemReboot()
    except zeep.exceptions.Fault as e:
        raise ONVIFError(f"SystemReboot refused: {e.message}") from None
    except (OSError, TimeoutError, aiohttp.ClientError, zeep.exceptions.Error) as e:
        raise ONVIFError(f"SystemReboot failed: {type(e).__name__}") from None
    return str(msg)
