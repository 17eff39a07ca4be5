"""Simulated RTSP cameras: one GstRtspServer per camera, each on its own loopback port.

Runs under Debian's ``/usr/bin/python3`` (it needs ``gi``), not the venv::

    /usr/bin/python3 monitor/demo/simulate/rtsp_server.py --cams C0001:0:15,C0002:8555:10

Each camera is ``ID:PORT:FPS`` (port 0 = pick a free one). The stream is ``rtsp://127.0.0.1:PORT/stream1``.
A short H.264 clip (640x480, GOP = 15) is encoded once at start with x264enc and served from memory
through ``appsrc ! rtph264pay``; each client gets its own tiny pipeline paced by a GLib timer, so ~50
cameras fit in one process.

Control: JSON lines on stdin, one reply line on stdout each.  On start it prints
``{"event": "ready", "ports": {"C0001": 40123, ...}}``.  Commands (``cam`` is a camera id)::

    {"cmd": "stop", "cam": "C0001"}     close the listening socket and drop clients (connection refused)
    {"cmd": "start", "cam": "C0001"}    listen again on the same port
    {"cmd": "stall", "cam": "C0001"}    accept RTSP sessions but send no frames
    {"cmd": "fps", "cam": "C0001", "fps": 3}      throttle the frame rate
    {"cmd": "gap", "cam": "C0001", "seconds": 5, "every": 2}
                                        repeatedly: `every` s of frames, then `seconds` of nothing
    {"cmd": "normal", "cam": "C0001"}   back to the camera's nominal frame rate, listening
    {"cmd": "status"}                   {"ok": true, "cameras": {...}}
    {"cmd": "quit"}

End of stdin also quits, so the process never outlives its parent.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

HOST = "127.0.0.1"
MOUNT = "/stream1"
CLIP_FPS = 15


def encode_clip(
    seconds: int = 4, width: int = 640, height: int = 480
) -> tuple[Gst.Caps, list[tuple[bytes, bool]]]:
    """Encode a short clip once; return its avc caps (with codec_data) and its access units."""
    n = seconds * CLIP_FPS
    pipe = Gst.parse_launch(
        f"videotestsrc pattern=ball num-buffers={n} ! "
        f"video/x-raw,width={width},height={height},framerate={CLIP_FPS}/1 ! "
        f"x264enc key-int-max={CLIP_FPS} bframes=0 speed-preset=ultrafast tune=zerolatency bitrate=600 ! "
        "video/x-h264,profile=constrained-baseline ! h264parse ! "
        "video/x-h264,stream-format=avc,alignment=au ! appsink name=sink sync=false"
    )
    sink = pipe.get_by_name("sink")
    pipe.set_state(Gst.State.PLAYING)
    units: list[tuple[bytes, bool]] = []
    caps = None
    while True:
        sample = sink.emit("try-pull-sample", 10 * Gst.SECOND)
        if sample is None:
            break
        caps = sample.get_caps()
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        if ok:
            units.append((bytes(info.data), not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)))
            buf.unmap(info)
    pipe.set_state(Gst.State.NULL)
    if caps is None or not units or not units[0][1]:
        raise RuntimeError("could not encode the test clip")
    s = caps.get_structure(0).copy()
    s.remove_field("framerate")  # paced by us; the clip rate is not the served rate
    return Gst.Caps.from_string(s.to_string()), units


class CameraState:
    def __init__(self, cam: str, port: int, fps: float):
        self.cam = cam
        self.port = port
        self.nominal_fps = fps
        self.fps = fps
        self.mode = "normal"  # normal | stall | gap
        self.gap_s = 0.0
        self.gap_every_s = 2.0
        self.version = 0
        self.server: GstRtspServer.RTSPServer | None = None
        self.source_id: int | None = None

    def describe(self) -> dict:
        return {
            "port": self.port,
            "listening": self.source_id is not None,
            "mode": self.mode,
            "fps": self.fps,
            "gap_s": self.gap_s,
        }


class Feeder:
    """Pushes access units into one client's appsrc at the camera's current pace."""

    def __init__(self, state: CameraState, appsrc: Gst.Element, caps: Gst.Caps, units: list):
        self.state = state
        self.appsrc = appsrc
        self.units = units
        self.index = 0
        self.version = -1
        self.t0 = 0.0
        self.sent = 0
        self.alive = True
        appsrc.set_property("caps", caps)
        self.timer = GLib.timeout_add(5, self.tick)

    def _reset(self) -> None:
        self.version = self.state.version
        self.t0 = time.monotonic()
        self.sent = 0

    def tick(self) -> bool:
        if not self.alive:
            return False
        st = self.state
        if self.version != st.version:
            self._reset()
        now = time.monotonic()
        if st.mode == "stall" or st.fps <= 0:
            if self.index == 0 and not self._push():  # one keyframe, so the session can negotiate
                self.alive = False
                return False
            return True
        elapsed = now - self.t0
        if st.mode == "gap" and st.gap_s > 0:
            cycle = st.gap_every_s + st.gap_s
            if elapsed % cycle >= st.gap_every_s:
                # in a gap: frames that fall due now are lost, not queued
                self.sent = int(elapsed * st.fps)
                return True
        due = int(elapsed * st.fps) + 1 - self.sent
        for _ in range(max(0, min(due, 5))):
            if not self._push():
                self.alive = False
                return False
        if due > 5:
            self.sent = int(elapsed * st.fps) + 1
        return True

    def _push(self) -> bool:
        data, _key = self.units[self.index]
        self.index = (self.index + 1) % len(self.units)
        self.sent += 1
        buf = Gst.Buffer.new_wrapped(data)
        ret = self.appsrc.emit("push-buffer", buf)
        return ret == Gst.FlowReturn.OK

    def stop(self) -> None:
        self.alive = False


class Simulator:
    def __init__(self, cams: list[tuple[str, int, float]], clip_s: int, host: str = HOST):
        self.host = host
        self.caps, self.units = encode_clip(clip_s)
        self.cams: dict[str, CameraState] = {}
        for cam, port, fps in cams:
            st = CameraState(cam, port, fps)
            self.cams[cam] = st
            self._make_server(st)
            self._listen(st)
        GLib.timeout_add_seconds(2, self._cleanup)

    def _make_server(self, st: CameraState) -> None:
        server = GstRtspServer.RTSPServer()
        server.set_address(self.host)
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(
            "( appsrc name=src is-live=true format=time do-timestamp=true "
            "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
        )
        factory.set_shared(False)
        factory.connect("media-configure", self._on_media, st)
        server.get_mount_points().add_factory(MOUNT, factory)
        st.server = server

    def _on_media(self, _factory, media, st: CameraState) -> None:
        appsrc = media.get_element().get_by_name("src")
        feeder = Feeder(st, appsrc, self.caps, self.units)
        media.connect("unprepared", lambda *_: feeder.stop())

    def _listen(self, st: CameraState) -> None:
        if st.source_id is not None:
            return
        assert st.server is not None
        st.server.set_service(str(st.port))
        st.source_id = st.server.attach(None)
        if st.port == 0:
            st.port = st.server.get_bound_port()

    def _unlisten(self, st: CameraState) -> None:
        if st.source_id is None:
            return
        GLib.source_remove(st.source_id)  # destroys the GSource and with it the listening socket
        st.source_id = None
        assert st.server is not None
        st.server.client_filter(lambda _s, _c, *_: GstRtspServer.RTSPFilterResult.REMOVE)

    def _cleanup(self) -> bool:
        for st in self.cams.values():
            if st.server is not None:
                st.server.get_session_pool().cleanup()
        return True

    def handle(self, msg: dict) -> dict:
        cmd = msg.get("cmd")
        if cmd == "status":
            return {"ok": True, "cameras": {c: s.describe() for c, s in self.cams.items()}}
        if cmd == "quit":
            loop.quit()
            return {"ok": True}
        st = self.cams.get(str(msg.get("cam")))
        if st is None:
            return {"ok": False, "error": f"unknown camera {msg.get('cam')!r}"}
        if cmd == "stop":
            self._unlisten(st)
        elif cmd == "start":
            self._listen(st)
        elif cmd == "stall":
            st.mode = "stall"
        elif cmd == "fps":
            st.mode, st.fps = "normal", float(msg["fps"])
        elif cmd == "gap":
            st.mode, st.gap_s = "gap", float(msg["seconds"])
            st.gap_every_s = float(msg.get("every", 2.0))
        elif cmd == "normal":
            st.mode, st.fps, st.gap_s = "normal", st.nominal_fps, 0.0
            self._listen(st)
        else:
            return {"ok": False, "error": f"unknown command {cmd!r}"}
        st.version += 1
        return {"ok": True, "cam": st.cam, **st.describe()}


def reply(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


_pending = bytearray()


def on_stdin(_channel: GLib.IOChannel, cond: GLib.IOCondition, sim: Simulator) -> bool:
    chunk = os.read(sys.stdin.fileno(), 65536) if cond & GLib.IOCondition.IN else b""
    if not chunk:
        loop.quit()
        return False
    _pending.extend(chunk)
    while b"\n" in _pending:
        line, _, rest = bytes(_pending).partition(b"\n")
        _pending[:] = rest
        if not line.strip():
            continue
        try:
            reply(sim.handle(json.loads(line)))
        except (ValueError, KeyError, TypeError) as e:
            reply({"ok": False, "error": str(e)})
    return True


def parse_cams(spec: str) -> list[tuple[str, int, float]]:
    out = []
    for item in filter(None, spec.split(",")):
        cam, port, fps = item.split(":")
        out.append((cam, int(port), float(fps)))
    return out


loop = GLib.MainLoop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cams", required=True, help="ID:PORT:FPS,ID:PORT:FPS,...")
    ap.add_argument("--clip-seconds", type=int, default=4)
    ap.add_argument("--host", default=HOST, help="listen address (0.0.0.0 inside a network namespace)")
    args = ap.parse_args()
    Gst.init(None)
    sim = Simulator(parse_cams(args.cams), args.clip_seconds, args.host)
    reply({"event": "ready", "ports": {c: s.port for c, s in sim.cams.items()}})
    GLib.io_add_watch(
        GLib.IOChannel.unix_new(sys.stdin.fileno()),
        GLib.PRIORITY_DEFAULT,
        GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
        on_stdin,
        sim,
    )
    with contextlib.suppress(KeyboardInterrupt):
        loop.run()
    for st in sim.cams.values():
        sim._unlisten(st)
    sys.stdout.flush()
    # GStreamer objects torn down by interpreter shutdown can crash it; nothing is left to save
    os._exit(0)


if __name__ == "__main__":
    main()
