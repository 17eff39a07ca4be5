"""TCP connect probe: the camera's stream port answers a handshake, and how fast."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time


async def tcp_connect_rtt(host: str, port: int, timeout: float) -> float | None:
    """Connect time in ms, or None if the port did not accept within ``timeout`` seconds.

    IPv4 and IPv6 literals (bracketed or not) and host names. Name resolution counts against the
    timeout but not against the RTT; with several addresses they are tried in turn.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    infos = _literal(host.strip("[]"), port)
    if infos is None:  # a name: resolve (in the loop's thread pool)
        try:
            async with asyncio.timeout(timeout):
                infos = await loop.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError):
            return None
    for family, type_, proto, _name, addr in infos:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        sock = socket.socket(family, type_, proto)
        sock.setblocking(False)
        try:
            t0 = time.perf_counter()
            async with asyncio.timeout(remaining):
                await loop.sock_connect(sock, addr)
            return (time.perf_counter() - t0) * 1000.0
        except (OSError, TimeoutError):
            continue
        finally:
            sock.close()
    return None


def _literal(host: str, port: int) -> list[tuple] | None:
    """An IP literal needs no resolver round trip (and no thread hop)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if ip.version == 4:
        return [(socket.AF_INET, socket.SOCK_STREAM, 0, "", (str(ip), port))]
    return [(socket.AF_INET6, socket.SOCK_STREAM, 0, "", (str(ip), port, 0, 0))]
