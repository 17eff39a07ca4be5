"""A simulated camera fleet on loopback: real RTSP (GStreamer) and ONVIF (aiohttp) peers, with faults.

    with SimulatedFleet(20, fps=15) as fleet:      # opens on entry; or: async with ...
        fleet.write_csv(Path("cameras.csv"))
        fleet.stop("C0003"); fleet.throttle("C0004", 3); fleet.onvif_down("C0005")

RTSP cameras run in ``/usr/bin/python3 monitor/demo/simulate/rtsp_server.py`` processes (up to
``per_process`` cameras each, one port per camera); all ONVIF devices run in one
``python -m monitor.demo.simulate.onvif_responder`` process. Both are driven by JSON lines on their stdin and
exit when it closes, so they never outlive the fleet.
"""

from __future__ import annotations

import contextlib
import csv
import json
import queue
import random
import secrets
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from monitor.core.domain import Camera, Contact, Lang, Secret

REPO = Path(__file__).resolve().parents[3]
RTSP_SCRIPT = Path(__file__).resolve().with_name("rtsp_server.py")
GI_PYTHON = "/usr/bin/python3"
CSV_COLUMNS = (
    "camera_id", "area", "isp", "line_id", "expected_fps", "address", "owner_name", "contact", "phone",
    "email", "lang", "vendor", "rtsp_url", "onvif_url", "onvif_user", "onvif_password", "lat", "lon",
)  # fmt: skip
TOWNS = (
    ("千葉県松戸市", "小金"), ("千葉県松戸市", "常盤平"), ("千葉県柏市", "豊四季"), ("埼玉県川口市", "芝"),
    ("東京都足立区", "千住"), ("東京都葛飾区", "亀有"), ("神奈川県川崎市中原区", "木月"), ("東京都板橋区", "成増"),
)  # fmt: skip
FAMILY = ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田")
GIVEN = ("翔太", "美咲", "健一", "陽子", "大輔", "由美", "拓也", "恵子", "誠", "直美", "蓮", "結衣")
ISPS = ("flets-ocn", "flets-sonet", "flets-biglobe", "nuro", "au-hikari")


class FleetError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class SimCamera:
    camera: Camera
    rtsp_port: int
    onvif_port: int
    group: int


class ControlChild:
    """One control-channel subprocess: JSON line out, one JSON line back."""

    def __init__(self, argv: list[str], name: str, first_line: str | None = None, cwd: Path = REPO):
        self.name = name
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=cwd, bufsize=1
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        threading.Thread(target=self._pump, daemon=True, name=f"fleet-{name}").start()
        if first_line is not None:
            self._write(first_line)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put("")

    def _write(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def read(self, timeout: float) -> dict:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise FleetError(f"{self.name}: no answer within {timeout} s") from None
        if not line:
            raise FleetError(f"{self.name}: exited with {self.proc.poll()}")
        return json.loads(line)

    def command(self, timeout: float = 10.0, **msg: object) -> dict:
        with self._lock:
            self._write(json.dumps(msg))
            reply = self.read(timeout)
        if not reply.get("ok"):
            raise FleetError(f"{self.name}: {reply.get('error')}")
        return reply

    def close(self, timeout: float = 5.0) -> None:
        with contextlib.suppress(OSError, ValueError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def make_registry(n: int, fps: float, rng: random.Random, first: int = 1) -> list[Camera]:
    """Pure (given rng): ``n`` plausible registry rows, ~10 cameras an area, some lines shared."""
    cams: list[Camera] = []
    line_no = 0
    for i in range(first, first + n):
        area = f"A{(i - first) // 10 + 1:02d}"
        if not cams or cams[-1].area != area or rng.random() > 0.15:
            line_no += 1
            isp = rng.choice(ISPS)
        else:
            isp = cams[-1].isp  # a second camera on the same household line
        city, town = TOWNS[(i - first) // 10 % len(TOWNS)]
        family, given = rng.choice(FAMILY), rng.choice(GIVEN)
        lang = Lang.EN if rng.random() < 0.08 else Lang.JA
        cams.append(
            Camera(
                camera_id=f"C{i:04d}",
                area=area,
                isp=isp,
                line_id=f"{area}-L{line_no:03d}",
                expected_fps=fps,
                address=f"{city}{town}{rng.randint(1, 5)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}",
                owner_name=f"{family} {given}" if lang is Lang.JA else f"{given} {family}",
                contact=rng.choice((Contact.SMS, Contact.SMS, Contact.EMAIL, Contact.VOICE)),
                phone=f"+81{rng.choice('987')}0{rng.randint(10_000_000, 99_999_999)}",
                email=f"owner{i:04d}@example.com",
                lang=lang,
                vendor=f"vendor-{(i - first) // 50 + 1}",
                onvif_user="admin",
                onvif_password=Secret(secrets.token_urlsafe(12)),
                # a street grid per area, north-east of Matsudo station (no random draw: the rest stays as it was)
                lat=round(35.780 + (i - first) // 10 * 0.012 + (i - first) % 10 * 0.0007, 6),
                lon=round(139.900 + (i - first) % 10 * 0.0015 + (i - first) // 10 * 0.004, 6),
            )
        )
    return cams


def write_registry_csv(cameras: list[Camera], path: Path) -> Path:
    """The registry CSV that `mimamori cameras import` reads, passwords in clear (a test fixture)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for c in cameras:
            row = {f: getattr(c, f) for f in CSV_COLUMNS if f != "onvif_password"}
            row["onvif_password"] = c.onvif_password.reveal() if c.onvif_password else ""
            row["expected_fps"] = f"{c.expected_fps:g}"
            w.writerow([str(row[k]) for k in CSV_COLUMNS])
    return path


class SimulatedFleet:
    def __init__(
        self,
        cameras: int,
        fps: float = 15.0,
        *,
        per_process: int = 50,
        seed: int = 0,
        first_id: int = 1,
        start_timeout_s: float = 60.0,
    ):
        self.n = cameras
        self.fps = fps
        self.per_process = per_process
        self.rng = random.Random(seed)
        self.first_id = first_id
        self.start_timeout_s = start_timeout_s
        self.sims: dict[str, SimCamera] = {}
        self._rtsp: list[ControlChild] = []
        self._onvif: ControlChild | None = None
        self._started = False

    # lifecycle -------------------------------------------------------------------------------
    def open(self) -> SimulatedFleet:
        """Start the peer processes and wait until every camera listens."""
        if self._started:
            return self
        self._started = True
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        registry = make_registry(self.n, self.fps, self.rng, self.first_id)
        groups = [registry[i : i + self.per_process] for i in range(0, len(registry), self.per_process)]
        for g, members in enumerate(groups):
            spec = ",".join(f"{c.camera_id}:0:{c.expected_fps:g}" for c in members)
            self._rtsp.append(ControlChild([GI_PYTHON, str(RTSP_SCRIPT), "--cams", spec], f"rtsp-{g}"))
        rtsp_ports: dict[str, tuple[int, int]] = {}
        for g, child in enumerate(self._rtsp):
            ready = child.read(self.start_timeout_s)
            rtsp_ports.update({cam: (port, g) for cam, port in ready["ports"].items()})
        config = {
            "cameras": [
                {
                    "id": c.camera_id,
                    "user": c.onvif_user,
                    "password": c.onvif_password.reveal() if c.onvif_password else "",
                    "rtsp_url": f"rtsp://127.0.0.1:{rtsp_ports[c.camera_id][0]}/stream1",
                }
                for c in registry
            ]
        }
        self._onvif = ControlChild(
            [sys.executable, "-m", "monitor.demo.simulate.onvif_responder"], "onvif", first_line=json.dumps(config)
        )
        onvif_ports = self._onvif.read(self.start_timeout_s)["ports"]
        for c in registry:
            rport, group = rtsp_ports[c.camera_id]
            oport = onvif_ports[c.camera_id]
            cam = Camera(
                **{f: getattr(c, f) for f in Camera.__dataclass_fields__ if f not in ("rtsp_url", "onvif_url")},
                rtsp_url=f"rtsp://127.0.0.1:{rport}/stream1",
                onvif_url=f"http://127.0.0.1:{oport}/onvif/device_service",
            )
            self.sims[c.camera_id] = SimCamera(camera=cam, rtsp_port=rport, onvif_port=oport, group=group)

    def close(self) -> None:
        children = [*self._rtsp, *([self._onvif] if self._onvif else [])]
        for child in children:
            with contextlib.suppress(OSError, ValueError):
                if child.proc.stdin is not None:
                    child.proc.stdin.close()
        for child in children:
            child.close()
        self._rtsp, self._onvif = [], None

    def __enter__(self) -> SimulatedFleet:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> SimulatedFleet:
        import asyncio

        return await asyncio.to_thread(self.open)

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        import asyncio

        await asyncio.to_thread(self.close)

    # registry --------------------------------------------------------------------------------
    @property
    def cameras(self) -> list[Camera]:
        return [s.camera for s in self.sims.values()]

    def camera(self, cam: str) -> Camera:
        return self.sims[cam].camera

    def write_csv(self, path: Path) -> Path:
        return write_registry_csv(self.cameras, path)

    # faults ----------------------------------------------------------------------------------
    def _rtsp_cmd(self, cam: str, cmd: str, **kw: object) -> dict:
        return self._rtsp[self.sims[cam].group].command(cmd=cmd, cam=cam, **kw)

    def _onvif_cmd(self, cam: str, cmd: str, **kw: object) -> dict:
        if cam not in self.sims or self._onvif is None:
            raise FleetError(f"unknown camera {cam!r}")
        return self._onvif.command(cmd=cmd, cam=cam, **kw)

    def stop(self, cam: str) -> None:
        """The camera's RTSP port stops listening (connection refused); open sessions are dropped."""
        self._rtsp_cmd(cam, "stop")

    def start(self, cam: str) -> None:
        """Listen again on the same port (after ``stop``)."""
        self._rtsp_cmd(cam, "start")

    def stall(self, cam: str) -> None:
        """RTSP still accepts sessions, but no frames follow (a flat-lined camera)."""
        self._rtsp_cmd(cam, "stall")

    def throttle(self, cam: str, fps: float) -> None:
        self._rtsp_cmd(cam, "fps", fps=fps)

    def gaps(self, cam: str, seconds: float, every: float = 2.0) -> None:
        """Repeatedly: ``every`` seconds of frames, then ``seconds`` of nothing."""
        self._rtsp_cmd(cam, "gap", seconds=seconds, every=every)

    def onvif_down(self, cam: str, mode: str = "refuse") -> None:
        """The ONVIF service stops answering: ``refuse`` (port closed) or ``hang`` (accepts, never replies)."""
        self._onvif_cmd(cam, "down", mode=mode)

    def onvif_up(self, cam: str) -> None:
        self._onvif_cmd(cam, "up")

    def clock_skew(self, cam: str, seconds: float) -> None:
        self._onvif_cmd(cam, "skew", seconds=seconds)

    def drift(self, cam: str, what: str, value: object = None) -> None:
        """The camera's settings drift: masks, ptz, encoder, firmware, tamper, factory_reset (`onvif_drift`)."""
        out = self._onvif_cmd(cam, "drift", what=what, value=value)
        if not out.get("ok"):
            raise FleetError(f"drift {what} on {cam}: {out.get('error')}")

    def normal(self, cam: str) -> None:
        """Listening, nominal frame rate, ONVIF answering, no clock skew."""
        self._rtsp_cmd(cam, "normal")
        self._onvif_cmd(cam, "up")
        self._onvif_cmd(cam, "skew", seconds=0)

    def onvif_status(self) -> dict:
        assert self._onvif is not None
        return self._onvif.command(cmd="status")["cameras"]


@dataclass(slots=True)
class _Stop:
    event: threading.Event = field(default_factory=threading.Event)

    def __call__(self, signum: int, _frame: object) -> None:
        self.event.set()


def main(cameras: int, csv_out: Path, fps: float = 15.0) -> None:
    """Start a fleet, write its registry CSV, and run until SIGINT/SIGTERM."""
    stop = _Stop()
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with SimulatedFleet(cameras, fps) as fleet:
            path = fleet.write_csv(Path(csv_out))
            print(f"simulated fleet: {cameras} cameras at {fps:g} fps on 127.0.0.1")
            print(f"registry CSV: {path}")
            for cam in fleet.cameras[:3]:
                print(f"  {cam.camera_id}: {cam.rtsp_url}  {cam.onvif_url}")
            if cameras > 3:
                print(f"  ... and {cameras - 3} more (see the CSV)")
            print("Ctrl-C to stop.", flush=True)
            while not stop.event.wait(1.0):
                pass
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
