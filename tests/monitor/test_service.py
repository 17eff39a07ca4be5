"""`mimamori run` and `mimamori probe --once` against simulated cameras, as real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.peers
MIMAMORI = [sys.executable, "-c", "from monitor.cli.main import run_cli; run_cli()"]


@pytest.fixture
def env(tmp_path, sim_fleet):
    cfg = tmp_path / "mimamori.toml"
    cfg.write_text(
        f"data_dir = '{tmp_path / 'data'}'\n"
        "[notify]\nfolder_delivery = true\n"
        "[probes]\ninterval_s = 3\nsample_s = 1.5\ntcp_timeout_s = 2\nonvif_timeout_s = 2\nspread = 0.2\n"
        "[[references]]\nname = 'loopback'\nhost = '127.0.0.1'\n"
        f"port = {sim_fleet.sims[next(iter(sim_fleet.sims))].onvif_port}\n"
    )
    e = {k: v for k, v in os.environ.items() if not k.startswith("MIMAMORI_")}
    e["MIMAMORI_CONFIG"] = str(cfg)
    csv = sim_fleet.write_csv(tmp_path / "cameras.csv")
    subprocess.run([*MIMAMORI, "cameras", "import", str(csv)], env=e, check=True, capture_output=True, timeout=60)
    return e


def test_probe_once_prints_one_observation_per_camera(env, sim_fleet):
    cam = next(iter(sim_fleet.sims))
    p = subprocess.run([*MIMAMORI, "probe", "--once", "--camera", cam], env=env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    obs = [x for x in lines if "camera" in x]
    assert [x["camera"] for x in obs] == [cam]
    assert obs[0]["reachable"] is True and obs[0]["onvif_ok"] is True
    assert [x["reference"] for x in lines if "reference" in x] == ["loopback"]
    assert "Unclosed" not in p.stderr


def test_run_probes_every_interval_stores_and_stops_cleanly_on_sigterm(env, tmp_path, sim_fleet):
    """Three rounds stored; then SIGTERM lands while a round is under way (sent as its job starts; a round
    samples each stream for 1.5 s): the service stops with exit 0 and no ERROR or traceback."""
    import threading

    # at DEBUG the scheduler's own "Running job" lines are there to time the SIGTERM by
    proc = subprocess.Popen([*MIMAMORI, "run"], env={**env, "MIMAMORI_LOG__LEVEL": "DEBUG"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    db = create_engine(f"sqlite:///{tmp_path / 'data' / 'mimamori.db'}")
    try:
        deadline = time.monotonic() + 45
        rounds = 0
        while time.monotonic() < deadline and rounds < 3:
            time.sleep(1)
            try:
                with db.connect() as c:
                    rounds = c.execute(text("SELECT COUNT(DISTINCT t) FROM observations")).scalar()
            except Exception:  # noqa: BLE001 - the service may still be creating the schema
                rounds = 0
        assert rounds >= 3, "the service did not complete three probe rounds in 45 s"
        started = sum('Running job "ProbeService.round' in x for x in lines)
        while time.monotonic() < deadline and sum('Running job "ProbeService.round' in x for x in lines) == started:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        reader.join(timeout=5)
        out = "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "ProbeService.round interrupted by the stop" in out or "round " in out.rsplit("Running job", 1)[-1]
    assert " ERROR " not in out and "Traceback" not in out and "CancelledError" not in out, out
    assert proc.returncode == 0, out
    assert "stopped" in out
    # no [notify.twilio] or [notify.smtp], folder_delivery chosen: said at start, as a warning, that nobody
    # will be contacted
    assert "WARNING" in out and "no provider is configured for sms, voice, email" in out
    assert "nobody is contacted" in out
    with db.connect() as c:
        n_cams = c.execute(text("SELECT COUNT(*) FROM cameras")).scalar()
        per_round = c.execute(text("SELECT COUNT(*) FROM observations GROUP BY t")).scalars().all()
        ok = c.execute(text("SELECT SUM(probes_ok) FROM hourly_rollups")).scalar()
    assert n_cams == len(sim_fleet.sims)
    assert all(n == n_cams for n in per_round)
    assert ok >= 3 * n_cams * 0.9


def test_sighup_reloads_the_registry_at_once(env, tmp_path, sim_fleet):
    """With the periodic reload an hour away, a camera pruned from the registry is dropped from the
    probe rounds as soon as the service gets SIGHUP; so is a camera an operator disables, and a
    re-import does not enable it again."""
    cfg = tmp_path / "mimamori.toml"
    cfg.write_text(cfg.read_text().replace("spread = 0.2\n", "spread = 0.2\nregistry_reload_s = 3600\n"))
    proc = subprocess.Popen([*MIMAMORI, "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    db = create_engine(f"sqlite:///{tmp_path / 'data' / 'mimamori.db'}")
    cams = sorted(sim_fleet.sims)
    dropped, disabled = cams[-1], cams[0]

    def rounds() -> dict[str, set[str]]:
        with db.connect() as c:
            rows = c.execute(text("SELECT t, camera_id FROM observations")).all()
        out: dict[str, set[str]] = {}
        for t, cam in rows:
            out.setdefault(str(t), set()).add(cam)
        return out

    def first_round_without(cam: str, since: float) -> str | None:
        """The first round without ``cam`` within 30 s (the round under way when the signal came may still
        carry it; the rounds after must not)."""
        while time.monotonic() - since < 30:
            time.sleep(1)
            t = next((t for t, seen in sorted(rounds().items()) if seen and cam not in seen), None)
            if t is not None:
                return t
        return None

    def cli(*args: str) -> str:
        return subprocess.run([*MIMAMORI, *args], env=env, check=True, capture_output=True, text=True,
                              timeout=60).stdout
    try:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and not any(dropped in seen for seen in rounds().values()):
            time.sleep(1)
        assert any(dropped in seen for seen in rounds().values()), "no probe round in 45 s"
        lines = (tmp_path / "cameras.csv").read_text(encoding="utf-8").splitlines()
        (tmp_path / "fewer.csv").write_text("\n".join(x for x in lines if not x.startswith(dropped + ",")) + "\n",
                                            encoding="utf-8")
        cli("cameras", "import", "--prune", "--yes", str(tmp_path / "fewer.csv"))
        proc.send_signal(signal.SIGHUP)
        without = first_round_without(dropped, time.monotonic())
        assert without is not None, f"{dropped} still probed 30 s after SIGHUP"
        assert "disabled" in cli("cameras", "disable", disabled, "--reason", "工事中 (construction)")
        cli("cameras", "import", str(tmp_path / "fewer.csv"))  # a re-import leaves the camera disabled
        proc.send_signal(signal.SIGHUP)
        off = first_round_without(disabled, time.monotonic())
        assert off is not None, f"{disabled} still probed 30 s after it was disabled and SIGHUP"
        time.sleep(2 * 3)
        after = {t: seen for t, seen in rounds().items() if t >= without}
        after_off = {t: seen for t, seen in after.items() if t >= off}
        listed = cli("cameras", "list")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(after) >= 2 and all(dropped not in seen for seen in after.values())
    assert len(after_off) >= 2 and all(disabled not in seen and seen for seen in after_off.values())
    assert f"registry reloaded (SIGHUP): {len(cams) - 1} cameras" in out
    assert f"registry reloaded (SIGHUP): {len(cams) - 2} cameras" in out
    row = next(x for x in listed.splitlines() if x.startswith(disabled + "\t"))
    assert row.split("\t")[-1].startswith("disabled ") and row.endswith(": 工事中 (construction)")


def test_cameras_disable_refuses_a_bad_reason_or_an_unknown_camera_and_changes_nothing(env, sim_fleet):
    cam = sorted(sim_fleet.sims)[0]
    for args, why in [((cam, "--reason", "two\nlines"), "--reason: one line"),
                      ((cam, "--reason", " "), "--reason: one line"),
                      (("C9999", "--reason", "gone"), "unknown camera 'C9999'")]:
        p = subprocess.run([*MIMAMORI, "cameras", "disable", *args], env=env, capture_output=True, text=True,
                           timeout=60)
        assert p.returncode != 0 and why in p.stderr and "Traceback" not in p.stderr, p.stderr
    p = subprocess.run([*MIMAMORI, "cameras", "show", cam], env=env, capture_output=True, text=True, timeout=60)
    assert "disabled: no" in p.stdout
    subprocess.run([*MIMAMORI, "cameras", "disable", cam, "--reason", "x"], env=env, check=True, timeout=60)
    p = subprocess.run([*MIMAMORI, "cameras", "enable", cam], env=env, capture_output=True, text=True, timeout=60)
    assert f"{cam} enabled" in p.stdout
    p = subprocess.run([*MIMAMORI, "cameras", "show", cam], env=env, capture_output=True, text=True, timeout=60)
    assert "disabled: no" in p.stdout


def test_run_refuses_to_start_when_its_web_port_is_taken_and_starts_nothing(env, tmp_path):
    """One line naming web.port, exit non-zero, and no database created: nothing half-started."""
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        cfg = tmp_path / "mimamori.toml"
        cfg.write_text(cfg.read_text() + f"[web]\nport = {port}\n")
        (tmp_path / "data" / "mimamori.db").unlink()
        p = subprocess.run([*MIMAMORI, "run"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert f"web.port: cannot listen on 127.0.0.1:{port}" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "data" / "mimamori.db").exists()


def test_run_refuses_to_start_without_a_provider_unless_folder_delivery_is_chosen(env, tmp_path):
    """Filing owners' messages in a folder (nobody contacted) is a choice, never a silent default: without
    [notify.twilio] and [notify.smtp] and without notify.folder_delivery, one line, exit non-zero, and
    nothing started (no database)."""
    cfg = tmp_path / "mimamori.toml"
    cfg.write_text(cfg.read_text().replace("[notify]\nfolder_delivery = true\n", ""))
    (tmp_path / "data" / "mimamori.db").unlink()
    p = subprocess.run([*MIMAMORI, "run"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "notify: no provider for sms, voice, email" in p.stderr, p.stderr
    assert "notify.folder_delivery = true" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / "data" / "mimamori.db").exists()
    # with the SMTP relay configured, only SMS and voice are named
    cfg.write_text(cfg.read_text() + "[notify.smtp]\nhost = '127.0.0.1'\nfrom_addr = 'm@city.example.jp'\n")
    p = subprocess.run([*MIMAMORI, "run"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "notify: no provider for sms, voice, so no owner" in p.stderr, p.stderr
    assert "configure [notify.twilio], or set" in p.stderr
