"""The watchdog that ends a session which stays connected without delivering frames."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from recorder.service import Recorder, RecorderConfig
from recorder.watchdog import parse_proc_net_tcp, rtsp_endpoints, shut_down_connections
from tests.recorder.test_service import wait_for

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("0: 0100007F:D2A4 0100007F:1F90 01 00000000:00000000 00:00000000 00000000 0 0 4242 1 0 20 4 30 10 -1",
         {4242: ("127.0.0.1", 8080)}),
        ("1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 4343 1 0 20 0 0 10 0",
         {}),  # listening, not a connection
        ("0: 00000000000000000000000001000000:D2A4 00000000000000000000000001000000:022A 01 "
         "00000000:00000000 00:00000000 00000000 0 0 77 1 0 20 4 30 10 -1", {77: ("::1", 554)}),
        ("0: 0000000000000000FFFF00000100007F:D2A4 0000000000000000FFFF00000100007F:022A 01 "
         "00000000:00000000 00:00000000 00000000 0 0 78 1 0 20 4 30 10 -1", {78: ("127.0.0.1", 554)}),
    ],
)
def test_parse_proc_net_tcp(line, expected):
    assert parse_proc_net_tcp(HEADER + "   " + line + "\n") == expected


def test_rtsp_endpoints():
    assert rtsp_endpoints("rtsp://127.0.0.1/stream1") == {("127.0.0.1", 554)}
    assert rtsp_endpoints("rtsp://user:pw@[::1]:8554/s") == {("::1", 8554)}
    assert rtsp_endpoints("rtsp:///nohost") == set()


@pytest.mark.parametrize(("family", "host"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_shutting_down_a_connection_wakes_its_blocked_reader(family, host):
    server = socket.socket(family)
    server.bind((host, 0))
    server.listen(1)
    port = server.getsockname()[1]
    client = socket.create_connection((host, port))
    peer, _ = server.accept()
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(client.recv(10)))
    reader.start()
    try:
        time.sleep(0.2)
        assert reader.is_alive()  # blocked: the server sends nothing
        assert shut_down_connections({(host, port)}) == 1
        reader.join(2)
        assert not reader.is_alive() and got == [b""]
        assert client.fileno() != -1  # shut down, not closed: the owner still closes its descriptor
        assert shut_down_connections({(host, port + 1 if port < 65535 else 1)}) == 0
    finally:
        for s in (client, peer, server):
            s.close()
        reader.join(2)


def test_an_aborted_session_finishes_its_segment_and_reconnects(tmp_path, sim, sqlite_sessions):
    config = RecorderConfig(root=tmp_path / "rec", segment_s=60, open_timeout_s=5, read_timeout_s=5)
    recorder = Recorder(config, sqlite_sessions)
    recorder.start([("CAM1", sim.url("CAM1"))])
    try:
        wait_for(lambda: recorder.status()["CAM1"].connected, 10)
        time.sleep(2)
        assert recorder._workers["CAM1"].abort_session("no frame within 5 s") >= 1
        wait_for(lambda: recorder.status()["CAM1"].reconnects >= 1, 5, step=0.05)
        assert recorder.status()["CAM1"].last_error == "StreamTimeout: no frame within 5 s"
        wait_for(lambda: len(recorder.index.segments("CAM1")) == 1, 5)  # the cut-off segment is kept
        wait_for(lambda: recorder.status()["CAM1"].connected, 10)  # and the camera is pulled again
    finally:
        recorder.stop()
    assert recorder.index.segments("CAM1")[0].frames >= 15


def test_a_stalled_camera_that_keeps_its_socket_busy_is_cut_off(tmp_path, sim, sqlite_sessions):
    """The simulator's RTSP server keeps sending RTCP reports (about every 5 s) after its frames stop,
    so with a read timeout above that interval FFmpeg's socket timeout never fires: the watchdog must."""
    stall_timeout = 7.0
    config = RecorderConfig(root=tmp_path / "rec", open_timeout_s=5, read_timeout_s=30, stall_timeout_s=stall_timeout)
    recorder = Recorder(config, sqlite_sessions)
    recorder.start([("CAM1", sim.url("CAM1"))])
    try:
        wait_for(lambda: recorder.status()["CAM1"].connected, 10)
        time.sleep(1)
        sim.command("stall", "CAM1")
        stalled = time.monotonic()
        wait_for(lambda: not recorder.status()["CAM1"].connected, stall_timeout + 4, step=0.05)
        assert time.monotonic() - stalled < stall_timeout + 3
        assert recorder.status()["CAM1"].last_error == "StreamTimeout: no frame within 7 s"
    finally:
        recorder.stop()
