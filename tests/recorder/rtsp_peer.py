"""Test peers for the recorder: real RTSP cameras and a camera that accepts and then says nothing.

`SimulatedCameras` runs the shared GStreamer RTSP simulator (monitor/demo/simulate/rtsp_server.py) under
Debian's /usr/bin/python3 and drives it through its JSON-lines control channel. `SilentTcpServer`
accepts TCP connections and never answers: the accept-then-silence failure that would hang a reader
without timeouts.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SIMULATOR = REPO / "monitor" / "demo" / "simulate" / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"


class SimulatedCameras:
    def __init__(self, cams: dict[str, float]):
        spec = ",".join(f"{cam}:0:{fps}" for cam, fps in cams.items())
        self._proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(SIMULATOR), "--cams", spec],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        line = self._proc.stdout.readline()
        if not line:
            self._proc.kill()
            raise RuntimeError("the RTSP simulator did not start")
        self.ports: dict[str, int] = json.loads(line)["ports"]
        self._lock = threading.Lock()

    def url(self, cam: str) -> str:
        return f"rtsp://127.0.0.1:{self.ports[cam]}/stream1"

    def command(self, cmd: str, cam: str | None = None, **kw) -> dict:
        msg = {"cmd": cmd, **({"cam": cam} if cam else {}), **kw}
        with self._lock:
            self._proc.stdin.write(json.dumps(msg) + "\n")
            self._proc.stdin.flush()
            reply = json.loads(self._proc.stdout.readline())
        if not reply.get("ok"):
            raise RuntimeError(f"simulator refused {msg}: {reply}")
        return reply

    def close(self) -> None:
        try:
            self._proc.stdin.close()
            self._proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()
        self._proc.stdout.close()


class SilentTcpServer:
    """Accepts connections on loopback and holds them open without sending a byte. Only the newest
    connection is held, so the server's own sockets do not pile up in the test process."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/stream1"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepted += 1
            for old in self._held:  # the client gave up on it before reconnecting
                old.close()
            self._held = [conn]

    def close(self) -> None:
        self._sock.close()
        for c in self._held:
            c.close()
        self._thread.join(2)


def closed_port() -> int:
    """A loopback port with nothing listening (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
