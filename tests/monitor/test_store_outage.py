"""A database outage loses no probe round: `mimamori run` on PostgreSQL, reached through a TCP proxy that
the test cuts for a while (a real network outage between the service and a real PostgreSQL; the proxy is
the only thing in between). The rounds probed meanwhile are held in memory and stored and decided, in
order, once the database is back; the log says so once each way, without a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, text

from tests.db_proxy import CuttableProxy

MIMAMORI = [sys.executable, "-c", "from monitor.cli.main import run_cli; run_cli()"]
INTERVAL_S = 3


@pytest.mark.postgres
@pytest.mark.peers
def test_rounds_probed_while_the_database_is_cut_off_are_stored_and_decided_when_it_is_back(
        tmp_path, sim_fleet, pg_url):
    direct = pg_url.render_as_string(hide_password=False)
    proxy = CuttableProxy((pg_url.host or "127.0.0.1", pg_url.port or 5432))
    cfg = tmp_path / "mimamori.toml"
    cfg.write_text(f"data_dir = '{tmp_path / 'data'}'\n"
                   "[notify]\nfolder_delivery = true\n[web]\nenabled = false\n"
                   "[recorder]\nenabled = false\nstatus_interval_s = 2\n"
                   f"[probes]\ninterval_s = {INTERVAL_S}\nsample_s = 1\ntcp_timeout_s = 2\nonvif_timeout_s = 2\n"
                   "spread = 0.2\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMAMORI_")}
    env.update(MIMAMORI_CONFIG=str(cfg), MIMAMORI_DATABASE_URL=direct)
    csv = sim_fleet.write_csv(tmp_path / "cameras.csv")
    subprocess.run([*MIMAMORI, "cameras", "import", str(csv)], env=env, check=True, capture_output=True, timeout=60)
    env["MIMAMORI_DATABASE_URL"] = pg_url.set(port=proxy.port).render_as_string(hide_password=False)
    db = create_engine(direct)

    def rounds() -> list:
        with db.connect() as c:
            return sorted(c.execute(text("SELECT DISTINCT t FROM observations")).scalars())

    proc = subprocess.Popen([*MIMAMORI, "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(rounds()) < 3:
            time.sleep(1)
        assert len(rounds()) >= 3, "no three rounds in 60 s"
        proxy.cut()
        time.sleep(1)
        before = len(rounds())
        time.sleep(5 * INTERVAL_S)  # about five rounds probed with the database cut off
        assert len(rounds()) == before, "rounds were stored while the database was cut off"
        proxy.restore()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(rounds()) < before + 6:
            time.sleep(1)
        time.sleep(INTERVAL_S)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proxy.close()
    ts = rounds()
    db.dispose()
    assert len(ts) >= before + 6, out[-3000:]
    steps = [(b - a).total_seconds() for a, b in zip(ts, ts[1:], strict=False)]
    assert max(steps) <= 2 * INTERVAL_S, f"a gap in the stored rounds: {steps}"  # none lost to the outage
    said = [x for x in out.splitlines() if "mimamori.service: database" in x]
    assert len(said) == 2 and "database unreachable" in said[0] and "database back after" in said[1], said
    assert "Traceback" not in out and " ERROR " not in out, out[-3000:]
    assert proc.returncode == 0
