from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from recorder.index import RecorderBase
from tests.recorder.rtsp_peer import SimulatedCameras


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """Recorder tables on each backend (SQLite and PostgreSQL)."""
    engine = create_engine(db_url)
    RecorderBase.metadata.create_all(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


@pytest.fixture
def sqlite_sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'recorder.db'}")
    RecorderBase.metadata.create_all(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


@pytest.fixture
def sim() -> Iterator[SimulatedCameras]:
    cams = SimulatedCameras({"CAM1": 15, "CAM2": 15})
    yield cams
    cams.close()


@pytest.fixture(scope="session")
def h264_clip(tmp_path_factory) -> Path:
    """A 4 s H.264 clip (GOP 15 at 15 fps) made by the system ffmpeg, to feed SegmentWriter directly."""
    out = tmp_path_factory.mktemp("clip") / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=15", "-t", "4",
         "-c:v", "libx264", "-g", "15", "-bf", "0", "-pix_fmt", "yuv420p", str(out)],
        check=True,
    )
    return out
