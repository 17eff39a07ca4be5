"""Logs an operator can read (issue 17): a line per camera state change naming the camera, the [log]
section's JSON lines, and the scheduler's chatter only at DEBUG."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from monitor.config.logs import JsonLines, setup_logging
from monitor.config.settings import Settings
from monitor.core.domain import Camera, Observation
from monitor.service.runner import state_changes

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
CAMS = {c: Camera(camera_id=c, area="A01", isp="nuro", line_id=f"L{c}", expected_fps=10.0) for c in ("C1", "C2", "C3")}


def obs(cam: str, reachable: bool, fps: float | None) -> Observation:
    return Observation(t=T0, camera=cam, reachable=reachable, fps=fps, onvif_ok=reachable)


def test_one_line_per_camera_state_change_naming_the_camera():
    last: dict[str, str] = {}
    first = state_changes(last, [obs("C1", True, 10), obs("C2", False, None), obs("C3", True, 10)], CAMS)
    assert first == ["camera C2: started -> down (unreachable)"]  # the cameras up at start say nothing
    same = state_changes(last, [obs("C1", True, 10), obs("C2", False, None), obs("C3", True, 10)], CAMS)
    assert same == []
    moved = state_changes(last, [obs("C1", True, 2), obs("C2", True, 10), obs("C3", True, 10)], CAMS)
    assert moved == ["camera C1: up -> degraded (2 fps of 10)", "camera C2: down -> up (10 fps of 10)"]


def test_json_lines_and_the_scheduler_only_at_debug(capsys):
    record = logging.LogRecord("mimamori.service", logging.INFO, __file__, 1, "camera %s: up -> down", ("C1",), None)
    doc = json.loads(JsonLines().format(record))
    assert doc["level"] == "INFO" and doc["logger"] == "mimamori.service" and doc["message"] == "camera C1: up -> down"
    assert datetime.fromisoformat(doc["t"]).tzinfo is not None
    try:
        setup_logging("INFO", "json")
        assert logging.getLogger("apscheduler.scheduler").getEffectiveLevel() == logging.WARNING
        logging.getLogger("apscheduler.executors.default").info('Running job "x"')
        logging.getLogger("mimamori.service").info("stopped")
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines()]
        assert [x["message"] for x in lines] == ["stopped"]
        setup_logging("DEBUG", "text")
        assert logging.getLogger("apscheduler.scheduler").getEffectiveLevel() == logging.DEBUG
    finally:
        setup_logging()
    assert Settings(log={"format": "json", "level": "WARNING"}).log.format == "json"
