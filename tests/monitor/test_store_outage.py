"""A database outage loses no probe round: `mimamori run` on PostgreSQL, reached through a TCP proxy that
the test cuts for a while (a real network outage between the service and a real PostgreSQL; the proxy is
the only thing in between). The rounds probed meanwhile are held (in memory, and on disk once the
database is away) and stored and decided, in order, once the database is back; the log says so once
each way, without a traceback. A decider killed during the outage finds its held rounds on disk when it
starts again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import create_engine, text

from tests.db_proxy import CuttableProxy

MIMAMORI = [sys.executable, "-c", "from monitor.cli.main import run_cli; run_cli()"]
INTERVAL_S = 3


class Outage:
    """`mimamori run` on a fresh PostgreSQL reached through a proxy the test cuts; the cameras imported
    directly; the service's output collected as it comes (the pipe never fills)."""

    def __init__(self, tmp_path, sim_fleet, pg_url, extra_cfg: str = ""):
        direct = pg_url.render_as_string(hide_password=False)
        self.proxy = CuttableProxy((pg_url.host or "127.0.0.1", pg_url.port or 5432))
        cfg = tmp_path / "mimamori.toml"
        cfg.write_text(f"data_dir = '{tmp_path / 'data'}'\n"
                       "[notify]\nfolder_delivery = true\n[web]\nenabled = false\n" + extra_cfg +
                       f"[probes]\ninterval_s = {INTERVAL_S}\nsample_s = 1\ntcp_timeout_s = 2\nonvif_timeout_s = 2\n"
                       "spread = 0.2\n")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MIMAMORI_")}
        self.env.update(MIMAMORI_CONFIG=str(cfg), MIMAMORI_DATABASE_URL=direct)
        csv = sim_fleet.write_csv(tmp_path / "cameras.csv")
        subprocess.run([*MIMAMORI, "cameras", "import", str(csv)], env=self.env, check=True, capture_output=True,
                       timeout=60)
        self.env["MIMAMORI_DATABASE_URL"] = pg_url.set(port=self.proxy.port).render_as_string(hide_password=False)
        self.db = create_engine(direct)
        self.lines: list[str] = []

    def rounds(self) -> list:
        with self.db.connect() as c:
            return sorted(c.execute(text("SELECT DISTINCT t FROM observations")).scalars())

    def start(self) -> subprocess.Popen:
        p = subprocess.Popen([*MIMAMORI, "run"], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
        threading.Thread(target=lambda: self.lines.extend(p.stdout), daemon=True).start()
        return p


@pytest.mark.postgres
@pytest.mark.peers
def test_rounds_probed_while_the_database_is_cut_off_are_stored_and_decided_when_it_is_back(
        tmp_path, sim_fleet, pg_url):
    o = Outage(tmp_path, sim_fleet, pg_url, "[recorder]\nenabled = false\nstatus_interval_s = 2\n")
    proxy, db, rounds = o.proxy, o.db, o.rounds
    proc = o.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(rounds()) < 3:
            time.sleep(1)
        assert len(rounds()) >= 3, "no three rounds in 60 s"
        proxy.cut()
        time.sleep(1)
        before = len(rounds())
        time.sleep(60)  # a minute of rounds probed with the database cut off (longer than the 30 s lease)
        assert len(rounds()) == before, "rounds were stored while the database was cut off"
        proxy.restore()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(rounds()) < before + 20:
            time.sleep(1)
        time.sleep(INTERVAL_S)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        time.sleep(1)
        out = "".join(o.lines)
    finally:
        if proc.poll() is None:
            proc.kill()
        proxy.close()
    ts = rounds()
    db.dispose()
    assert len(ts) >= before + 20, out[-3000:]
    steps = [(b - a).total_seconds() for a, b in zip(ts, ts[1:], strict=False)]
    assert max(steps) <= 2 * INTERVAL_S, f"a gap in the stored rounds: {steps}"  # none lost to the outage
    said = [x for x in out.splitlines() if "mimamori.service: database" in x]
    assert len(said) == 2 and "database unreachable" in said[0] and "database back after" in said[1], said
    assert "Traceback" not in out and " ERROR " not in out, out[-3000:]
    assert "Error getting due jobs" not in out and "server terminated abnormally" not in out, out[-3000:]
    assert proc.returncode == 0
    assert list((tmp_path / "data" / "held-rounds").glob("round-*")) == []  # stored, so no longer held


@pytest.mark.postgres
@pytest.mark.peers
def test_a_decider_killed_during_an_outage_stores_the_rounds_it_held_when_it_starts_again(
        tmp_path, sim_fleet, pg_url):
    o = Outage(tmp_path, sim_fleet, pg_url, "[recorder]\nenabled = false\n[cluster]\nlease_s = 6\nheartbeat_s = 2\n")
    proxy, db, rounds, start = o.proxy, o.db, o.rounds, o.start
    held = tmp_path / "data" / "held-rounds"

    proc = start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(rounds()) < 2:
            time.sleep(1)
        proxy.cut()
        time.sleep(1)
        cut_at = rounds()[-1]
        deadline = time.monotonic() + 45  # a few rounds probed with the database cut off (slower on a busy machine)
        while time.monotonic() < deadline and len(list(held.glob("round-*.json"))) < 3:
            time.sleep(0.5)
        on_disk = sorted(held.glob("round-*.json"))
        assert len(on_disk) >= 3, on_disk  # the rounds under way are on disk as well
        proc.kill()  # SIGKILL: nothing in memory survives
        proc.wait(timeout=10)
        proxy.restore()
        proc = start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and list(held.glob("round-*.json")):
            time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        time.sleep(1)
        out = "".join(o.lines)
    finally:
        if proc.poll() is None:
            proc.kill()
        proxy.close()
    stored = [t for t in rounds() if t > cut_at]
    db.dispose()
    assert list(held.glob("round-*.json")) == [], out[-3000:]
    assert len(stored) >= len(on_disk), (stored, on_disk)  # every round held before the kill was stored
    assert "probe rounds held by an earlier run during a database outage" in out, out[-3000:]
    assert "Traceback" not in out and " ERROR " not in out, out[-3000:]
