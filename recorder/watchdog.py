"""Ending a session that stays connected but delivers no frames, without a per-read Python callback.

PyAV's read timeout is an FFmpeg interrupt callback that takes the GIL on every socket read and
every 100 ms poll of every camera: with tens of cameras in one process that was a large share of the
recorder's CPU and most of its context switches. The ingest therefore relies on FFmpeg's own socket
timeout (the RTSP ``timeout`` option) for a camera that goes silent, and on this watchdog for one that
keeps the socket busy without sending video (RTCP reports or keep-alive replies only): the worker's
TCP connection to the camera is found through ``/proc`` and shut down, so the blocked read returns.

Linux only (as is the deployment); where ``/proc`` is missing the watchdog finds nothing and the
session ends at the camera's own RTSP session timeout instead.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

_ESTABLISHED = "01"


def rtsp_endpoints(url: str, default_port: int = 554) -> set[tuple[str, int]]:
    """The (address, port) pairs a connection to `url` may use (resolved; empty if it cannot be)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or default_port
        if not host:
            return set()
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (ValueError, OSError):
        return set()
    return {(_normal(info[4][0]), port) for info in infos}


def _normal(address: str) -> str:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def _decode(hex_addr: str) -> tuple[str, int]:
    """``/proc/net/tcp`` notation (host-order 32-bit words, hex) -> (address, port)."""
    addr, port = hex_addr.split(":")
    raw = bytes.fromhex(addr)
    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return _normal(str(ipaddress.ip_address(raw))), int(port, 16)


def parse_proc_net_tcp(text: str) -> dict[int, tuple[str, int]]:
    """Pure: inode -> remote (address, port) of the established connections in a /proc/net/tcp(6) table."""
    out = {}
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) > 9 and f[3] == _ESTABLISHED:
            out[int(f[9])] = _decode(f[2])
    return out


def _own_sockets(proc: Path) -> dict[int, int]:
    """inode -> one of this process's file descriptors for that socket."""
    out = {}
    fd_dir = proc / "self" / "fd"
    with contextlib.suppress(OSError):
        for name in os.listdir(fd_dir):
            with contextlib.suppress(OSError):
                target = os.readlink(fd_dir / name)
                if target.startswith("socket:["):
                    out[int(target[8:-1])] = int(name)
    return out


def shut_down_connections(peers: Iterable[tuple[str, int]], proc: Path = Path("/proc")) -> int:
    """Shut down this process's established TCP connections to any of `peers`; how many there were.
    A read blocked on such a socket then returns (end of stream) in whichever thread is waiting."""
    wanted = set(peers)
    if not wanted:
        return 0
    remote: dict[int, tuple[str, int]] = {}
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            remote.update(parse_proc_net_tcp((proc / "net" / table).read_text()))
    done = 0
    for inode, fd in _own_sockets(proc).items():
        if remote.get(inode) not in wanted:
            continue
        try:
            dup = os.dup(fd)
        except OSError:
            continue  # closed meanwhile
        if os.fstat(dup).st_ino != inode:  # the descriptor was reused meanwhile
            os.close(dup)
            continue
        s = socket.socket(fileno=dup)
        try:
            s.shutdown(socket.SHUT_RDWR)
            done += 1
        except OSError:
            pass
        finally:
            s.close()  # our duplicate only; the owner's descriptor stays open
    return done
