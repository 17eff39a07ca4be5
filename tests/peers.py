"""Pytest fixtures with real simulated camera peers (GStreamer RTSP + ONVIF responder on loopback).

Loaded by ``tests/conftest.py`` through ``pytest_plugins = ["tests.peers"]``. Tests that use them are
marked ``@pytest.mark.peers``. They fail, never skip, where Debian's gi/GStreamer RTSP server is missing:
`make test` installs it.
"""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Callable, Iterator

import pytest

from monitor.core.domain import Camera
from monitor.demo.simulate.fleet import GI_PYTHON, SimulatedFleet

PEER_CAMERAS = 16


def _gst_rtsp_available() -> bool:
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
        "from gi.repository import Gst, GstRtspServer"
    )
    try:
        return subprocess.run([GI_PYTHON, "-c", probe], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def sim_fleet() -> Iterator[SimulatedFleet]:
    """A small 15 fps fleet shared by the whole session; tests borrow cameras with ``peer_camera``."""
    if not _gst_rtsp_available():
        pytest.fail(f"{GI_PYTHON} has no gi/GstRtspServer: run `make deps` (Debian gstreamer1.0-rtsp, python3-gi)")
    with SimulatedFleet(PEER_CAMERAS, fps=15.0) as fleet:
        fleet._lease = itertools.cycle(fleet.sims)  # type: ignore[attr-defined]
        yield fleet


@pytest.fixture
def peer_camera(sim_fleet: SimulatedFleet) -> Iterator[Callable[[], Camera]]:
    """Hands out cameras of the shared fleet, each put back to normal after the test."""
    used: list[str] = []

    def lease() -> Camera:
        cam = next(sim_fleet._lease)  # type: ignore[attr-defined]
        used.append(cam)
        return sim_fleet.camera(cam)

    yield lease
    for cam in used:
        sim_fleet.normal(cam)
