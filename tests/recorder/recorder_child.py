"""A recorder in its own process, for the crash test: ``python -m tests.recorder.recorder_child
DB_URL ROOT CAMERA_ID RTSP_URL SEGMENT_S``. Runs until killed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from recorder.ingest import Backoff
from recorder.service import Recorder, RecorderConfig


def main() -> None:
    db_url, root, camera_id, url, segment_s = sys.argv[1:6]
    engine = create_engine(db_url)
    config = RecorderConfig(root=Path(root), segment_s=float(segment_s), open_timeout_s=3, read_timeout_s=2,
                            backoff=Backoff(initial_s=0.2, cap_s=1))
    recorder = Recorder(config, sessionmaker(engine, expire_on_commit=False))
    recorder.start([(camera_id, url)])
    print("recording", flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main()
