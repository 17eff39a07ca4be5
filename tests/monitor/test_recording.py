"""The recorder inside the service: frame statistics come from its ingest, sampling only for the rest;
and the recorder's commands (lawful requests, export, audit) as real subprocesses on both backends."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from monitor.config.recorder import RecorderSettings
from monitor.config.settings import ProbeSettings, Settings
from monitor.core.domain import Camera, Observation
from monitor.probes.frames import RtspSamplingSource
from monitor.probes.onvif import close_shared
from monitor.service.app import open_store
from monitor.service.metrics import ServiceMetrics
from monitor.service.recording import (
    RecorderRuntime,
    as_observed,
    notice_due,
    read_status,
    recordable,
    recorder_config,
    start_recorder,
)
from monitor.service.runner import probe_once
from monitor.store.drift import record_clock
from monitor.store.drift_models import DriftFindingRow
from recorder import Recorder, SegmentRecord, verify_export
from recorder.segments import segment_relpath, sha256_file
from recorder.stats import FrameStats as RecorderFrameStats
from tests.cli import mimamori


class RecSettings(Settings):
    """Settings with the ``recorder`` section (the lead adds the field to Settings itself)."""

    recorder: RecorderSettings = RecorderSettings()


class CountingSource:
    """The sampling fallback, counting which cameras it was asked about."""

    def __init__(self, inner):
        self.inner = inner
        self.calls: list[str] = []

    async def stats(self, camera: Camera, window_s: float):
        self.calls.append(camera.camera_id)
        return await self.inner.stats(camera, window_s)


def cam(camera_id: str, url: str = "rtsp://127.0.0.1:8554/s") -> Camera:
    return Camera(camera_id=camera_id, area="A", isp="I", line_id="L", expected_fps=15, rtsp_url=url)


def test_recordable_skips_disabled_unnamed_and_urlless_cameras():
    cams = [cam("C1"), cam("C2"), cam("C3", url=""), cam("../C4"), cam("C5")]
    r = RecorderSettings(cameras_disabled=["C2"])
    assert [c for c, _ in recordable(cams, r)] == ["C1", "C5"]
    assert recordable(cams, RecorderSettings(enabled=False)) == []


@pytest.mark.parametrize(
    ("frames", "connected", "observed_connected"),
    [(30, True, True), (30, False, True), (0, True, True), (0, False, False)],
)
def test_as_observed(frames, connected, observed_connected):
    st = RecorderFrameStats(frames=frames, fps=frames / 4, max_gap_s=0.1 if frames else 9.0, bytes=frames * 10,
                            connected=connected)
    o = as_observed(st)
    assert (o.frames, o.fps, o.max_gap_s, o.connected) == (frames, frames / 4, st.max_gap_s, observed_connected)


def test_settings_become_recorder_config(tmp_path):
    s = RecSettings(data_dir=tmp_path, recorder=RecorderSettings(segment_s=30, retention_days=7, free_floor_gb=2,
                                                                 read_batch_s=0.5))
    c = recorder_config(s)
    assert c.root == tmp_path / "recordings" and c.segment_s == 30
    assert c.ingest_settings().read_batch_s == 0.5
    assert recorder_config(RecSettings(data_dir=tmp_path)).ingest_settings().read_batch_s == 0.25
    assert c.retention.period == timedelta(days=7) and c.retention.free_floor_bytes == 2 * 1024**3
    with pytest.raises(ValueError, match="unknown"):
        RecorderSettings(unknown=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="read_batch_s"):
        RecorderSettings(read_batch_s=5)  # frame arrival times would be seconds late: refused


@pytest.mark.parametrize(
    ("last", "now", "due"),
    [(None, 0, True), (0, 1, False), (0, 23, False), (0, 24, True)],
)
def test_notice_due_once_a_day(last, now, due):
    t0 = datetime(2026, 5, 1, tzinfo=UTC)
    h = timedelta(hours=1)
    assert notice_due(None if last is None else t0 + last * h, t0 + now * h, timedelta(days=1)) is due


def test_disk_guard_notice_reaches_the_operator_once_a_day(tmp_path, db_url):
    s = RecSettings(data_dir=tmp_path, database_url=db_url,
                    recorder=RecorderSettings(root=tmp_path / "rec", free_floor_gb=1e9))
    store = open_store(s)
    try:
        recorder = Recorder(recorder_config(s), store.sessions)
        now = datetime.now(UTC).replace(microsecond=0)
        for i in range(3):
            start = now - timedelta(hours=3 - i)
            rel = segment_relpath("C1", start)
            (s.recorder.root / rel).parent.mkdir(parents=True, exist_ok=True)
            (s.recorder.root / rel).write_bytes(b"x" * 10)
            recorder.index.add(SegmentRecord(camera_id="C1", path=rel, start=start, end=start + timedelta(hours=1),
                                             frames=1, bytes=10, sha256=sha256_file(s.recorder.root / rel)))
        runtime = RecorderRuntime(recorder, s.recorder, 60.0, tmp_path / "status.json")
        assert runtime.retention_notice(now) is None  # no janitor pass yet
        recorder.run_janitor()
        first = runtime.retention_notice(now)
        assert first is not None and "Disk space is below the floor" in first.text
        assert runtime.retention_notice(now + timedelta(hours=1)) is None
        assert runtime.retention_notice(now + timedelta(days=1)) is not None
    finally:
        store.engine.dispose()


def wait_for(cond, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := cond():
            return value
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout} s")


def by_camera(records) -> dict[str, Observation]:
    return {r.camera: r for r in records if isinstance(r, Observation)}


@pytest.mark.peers
async def test_frames_come_from_the_recorder_and_sampling_only_for_the_rest(tmp_path: Path, db_url, sim_fleet,
                                                                           peer_camera):
    pulled, sampled = peer_camera(), peer_camera()
    window = 4.0
    s = RecSettings(
        data_dir=tmp_path, database_url=db_url, probes=ProbeSettings(sample_s=2.0),
        recorder=RecorderSettings(root=tmp_path / "rec", segment_s=5, stats_window_s=window,
                                  read_timeout_s=3, cameras_disabled=[sampled.camera_id]),
    )
    store = await asyncio.to_thread(open_store, s)
    runtime = await start_recorder(s, store, [pulled, sampled])
    fallback = CountingSource(RtspSamplingSource(open_timeout_s=5.0))
    frames = runtime.frames(fallback)
    try:
        assert runtime.cameras == [pulled.camera_id]
        acc = runtime.recorder.stats
        await asyncio.to_thread(wait_for, lambda: (acc.window(pulled.camera_id, time.time(), 1) or 0)
                                and acc.window(pulled.camera_id, time.time(), 1).frames > 5, 20)
        await asyncio.sleep(window + 2)  # the connect burst is out of the window

        obs = by_camera(await probe_once(s, [pulled, sampled], frames=frames))
        assert fallback.calls == [sampled.camera_id]  # the recorder's camera was not sampled
        p = obs[pulled.camera_id]
        # the recorder counts arrivals in one-second buckets: the window's first bucket may count whole
        assert p.reachable and 12 <= p.fps <= 15 * (window + 1) / window and p.max_gap_s < 1.0
        assert obs[sampled.camera_id].fps > 5  # sampled instead

        await asyncio.to_thread(wait_for, lambda: runtime.recorder.status()[pulled.camera_id].segments_written, 20)
        cams = await runtime.write_status()
        doc = read_status(runtime.status_file)
        assert doc["cameras"][pulled.camera_id]["connected"] is True
        assert sampled.camera_id not in doc["cameras"]
        metrics = ServiceMetrics()  # what /metrics shows of it: segments and bytes written, per camera
        metrics.recorder(cams)
        written = {s.name: s.value for f in metrics.registry.collect() for s in f.samples
                   if s.labels.get("camera") == pulled.camera_id}
        assert written["mimamori_recorder_segments"] == doc["cameras"][pulled.camera_id]["segments"] >= 1
        assert written["mimamori_recorder_bytes"] == doc["cameras"][pulled.camera_id]["bytes"] > 10_000

        await asyncio.to_thread(sim_fleet.stall, pulled.camera_id)
        await asyncio.sleep(window + 1)
        stalled = by_camera(await probe_once(s, [pulled], frames=frames))[pulled.camera_id]
        assert stalled.reachable and stalled.fps == 0.0 and stalled.max_gap_s >= window
        assert fallback.calls == [sampled.camera_id]

        await runtime.sync([sampled])  # the pulled camera pruned or disabled: its worker stops
        assert runtime.cameras == [] and runtime.recorder.sources == {}
        assert pulled.camera_id not in runtime.recorder.status()
        held = len(runtime.recorder.index.segments(pulled.camera_id))
        await asyncio.sleep(2)
        assert len(runtime.recorder.index.segments(pulled.camera_id)) == held  # nothing more recorded
    finally:
        await runtime.stop()
        await close_shared()
        store.engine.dispose()
    segments = runtime.recorder.index.segments(pulled.camera_id)
    assert segments and all(seg.frames > 0 for seg in segments)  # recorded into the one database


# ---------------------------------------------------------------- the commands, as subprocesses

run_cli = mimamori


@pytest.fixture
def footage(db_url, tmp_path, peer_camera):
    """About 6 s of one simulated camera, recorded in 2 s segments into the service's database."""
    cam = peer_camera()
    s = Settings(data_dir=tmp_path / "data", database_url=db_url)
    store = open_store(s)
    config = replace(recorder_config(s), segment_s=2.0)
    recorder = Recorder(config, store.sessions)
    recorder.start([(cam.camera_id, cam.rtsp_url)])
    time.sleep(7)
    recorder.stop()
    segments = recorder.index.segments(cam.camera_id)
    store.engine.dispose()
    assert len(segments) >= 2
    return cam.camera_id, segments, config.root


@pytest.mark.peers
def test_export_needs_an_approved_request_and_the_audit_log_names_tampering(cli_env, db_url, tmp_path, footage):
    camera, segments, root = footage
    first, last = segments[0].start, segments[-1].end
    span = ["--from", first.isoformat(), "--to", last.isoformat()]
    out = tmp_path / "export"
    export = ["export", "--request", "R-2026-001", "--camera", camera, *span, "--out", str(out),
              "--operator", "op.tanaka"]

    p = run_cli(export, cli_env, check=False)
    assert p.returncode != 0 and "export refused: no such lawful request" in p.stderr and not out.exists()

    run_cli(["requests", "add", "--reference", "R-2026-001", "--agency", "Kanagawa Pref. Police",
             "--legal-basis", "CPC art. 197(2)", "--requester", "officer.sato", "--camera", camera,
             "--from", (first - timedelta(minutes=1)).isoformat(), "--to", (last + timedelta(minutes=1)).isoformat()],
            cli_env)
    p = run_cli(["requests", "approve", "R-2026-001", "--approver", "officer.sato"], cli_env, check=False)
    assert p.returncode != 0 and "the approver must be someone other than the requester" in p.stderr
    p = run_cli(export, cli_env, check=False)
    assert p.returncode != 0 and "not approved by a second person" in p.stderr and not out.exists()

    run_cli(["requests", "approve", "R-2026-001", "--approver", "chief.suzuki"], cli_env)
    other = ["export", "--request", "R-2026-001", "--camera", "OTHER", *span, "--out", str(out)]
    p = run_cli(other, cli_env, check=False)
    assert p.returncode != 0 and "covers camera" in p.stderr and not out.exists()
    assert "approved by chief.suzuki" in run_cli(["requests", "list"], cli_env).stdout
    # the drift check measured the camera's clock 90 s ahead inside the first segment, and found its
    # privacy masks gone: the manifest states both for every file
    eng = create_engine(db_url)
    with Session(eng) as session, session.begin():
        record_clock(session, camera, segments[0].start + timedelta(seconds=0.5), 90.04, False)
        session.add(DriftFindingRow(camera_id=camera, check="privacy_masks", expected="2 mask(s), 2 enabled",
                                    observed="0 mask(s), 0 enabled", severity="urgent", since=last, last_seen=last))
    eng.dispose()
    p = run_cli(export, cli_env)
    assert "manifest" in p.stdout and "verifies" in p.stdout
    assert verify_export(out) == []
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["operator"] == "op.tanaka" and manifest["request"]["approver"] == "chief.suzuki"
    assert [f["sha256"] for f in manifest["files"]] == [s.sha256 for s in segments]  # copied unchanged
    clocks = [f["camera_clock"] for f in manifest["files"]]
    assert clocks[0]["offset_s"] == 90.0 and clocks[0]["readings"] == 1
    assert all(c["offset_s"] == 90.0 for c in clocks)  # the others: the nearest reading, within the check interval
    assert all(f["privacy_masks"].startswith("not as approved") for f in manifest["files"])
    for f in manifest["files"]:
        with av.open(str(out / f["name"])) as c:
            assert next(c.decode(c.streams.video[0])).key_frame

    status = run_cli(["recorder", "status"], cli_env).stdout
    row = next(line for line in status.splitlines() if line.startswith(camera + "\t"))
    assert row.split("\t")[5] == str(len(segments)) and "no live status" in status

    assert "audit log intact: 7 entries" in run_cli(["audit", "verify"], cli_env).stdout
    eng = create_engine(db_url)
    with eng.begin() as c:
        c.execute(text("UPDATE rec_audit_log SET actor = 'someone.else' WHERE seq = 3"))
    eng.dispose()
    p = run_cli(["audit", "verify"], cli_env, check=False)
    assert p.returncode != 0 and "entry 3" in p.stderr
    assert Path(root).is_dir() and all(sha256_file(root / s.path) == s.sha256 for s in segments)
