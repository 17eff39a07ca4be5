"""Real `mimamori run` processes sharing one database: a standby that decides nothing until the leader
is killed, then takes over within one lease, and `mimamori cluster status` telling which is which.

Two nodes on one host on SQLite (each with its own data folder and recordings, one shared database
file), against the session's simulated cameras (real RTSP and ONVIF on loopback).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

pytestmark = pytest.mark.peers
MIMAMORI = [sys.executable, "-c", "from monitor.cli.main import run_cli; run_cli()"]
LEASE_S, BEAT_S = 6, 2


class Node:
    def __init__(self, name: str, env: dict[str, str]):
        self.name = name
        self.env = {**env, "MIMAMORI_CLUSTER__NODE_ID": name, "MIMAMORI_DATA_DIR": env["_DATA"] + "/" + name}
        self.lines: list[str] = []
        self.proc: subprocess.Popen | None = None

    def start(self) -> Node:
        self.proc = subprocess.Popen([*MIMAMORI, "run"], env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()
        return self

    def wait_for(self, pattern: str, timeout: float) -> float:
        """Seconds until a log line matches (fails the test after ``timeout``)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if any(re.search(pattern, x) for x in list(self.lines)):
                return time.monotonic() - t0
            assert self.proc.poll() is None, f"{self.name} exited:\n" + "".join(self.lines[-30:])
            time.sleep(0.1)
        raise AssertionError(f"{self.name}: no line matching {pattern!r} in {timeout} s:\n" + "".join(self.lines[-30:]))

    def count(self, pattern: str) -> int:
        return sum(bool(re.search(pattern, x)) for x in list(self.lines))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def cluster_env(tmp_path: Path, sim_fleet) -> dict[str, str]:
    cfg = tmp_path / "mimamori.toml"
    cfg.write_text(
        f"database_url = 'sqlite:///{tmp_path / 'shared.db'}'\n"
        "[notify]\nfolder_delivery = true\n"
        "[web]\nenabled = false\n"
        f"[cluster]\nlease_s = {LEASE_S}\nheartbeat_s = {BEAT_S}\n"
        "[probes]\ninterval_s = 3\nsample_s = 1\ntcp_timeout_s = 2\nonvif_timeout_s = 2\nspread = 0.2\n"
        "[recorder]\nsegment_s = 4\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMAMORI_")}
    env.update(MIMAMORI_CONFIG=str(cfg), MIMAMORI_SECRET_KEY=Fernet.generate_key().decode(), _DATA=str(tmp_path))
    csv = sim_fleet.write_csv(tmp_path / "cameras.csv")
    subprocess.run([*MIMAMORI, "cameras", "import", str(csv)], env=env, check=True, capture_output=True, timeout=60)
    return env


def status(env: dict[str, str]) -> dict:
    p = subprocess.run([*MIMAMORI, "cluster", "status", "--json"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_two_nodes_on_sqlite_the_second_stands_by_until_the_first_is_killed(cluster_env, sim_fleet):
    a, b = Node("n1", cluster_env), Node("n2", cluster_env)
    try:
        a.start().wait_for(r"leading: node n1", 60)
        a.wait_for(r"round \d{4}-", 60)
        b.start().wait_for(r"standby: node n2 decides nothing while n1 holds", 60)
        b.wait_for(r"nodes alive: n1, n2|recording \d+ cameras", 30)
        a.wait_for(r"nodes alive: n1, n2", 30)  # n1 gave n2 its share
        rounds_a = a.count(r"round \d{4}-")
        time.sleep(3 * 3)  # three probe intervals with both up
        assert a.count(r"round \d{4}-") > rounds_a
        assert b.count(r"round \d{4}-") == 0 and b.count("decision:") == 0  # the standby decides nothing

        doc = status(cluster_env)
        assert doc["leader"] == "n1"
        nodes = {n["id"]: n for n in doc["nodes"]}
        assert nodes["n1"]["alive"] and nodes["n2"]["alive"] and nodes["n1"]["leader"] and not nodes["n2"]["leader"]
        shares = nodes["n1"]["cameras"] + nodes["n2"]["cameras"]
        assert sorted(shares) == sorted(sim_fleet.sims)  # every camera recorded by exactly one node

        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(timeout=10)
        took = b.wait_for(r"leading: node n2", LEASE_S + 3 * BEAT_S + 10)
        assert took <= LEASE_S + 2 * BEAT_S + 3, took  # within one lease of n1's last renewal, plus a beat
        b.wait_for(r"round \d{4}-", 30)
        b.wait_for(r"nodes alive: n2", LEASE_S + 3 * BEAT_S)  # and it records n1's cameras now
        doc = status(cluster_env)
        assert doc["leader"] == "n2"
        nodes = {n["id"]: n for n in doc["nodes"]}
        assert not nodes["n1"]["alive"] and sorted(nodes["n2"]["cameras"]) == sorted(sim_fleet.sims)

        b.proc.send_signal(signal.SIGTERM)
        assert b.proc.wait(timeout=30) == 0
        out = "".join(b.lines)
        assert " ERROR " not in out and "Traceback" not in out, out[-3000:]
        assert status(cluster_env)["leader"] is None  # a clean stop gives the lease up
    finally:
        a.stop()
        b.stop()
