"""The cluster's promise under SIGKILL, with real processes on PostgreSQL: 3 nodes, 30 simulated cameras,
20 kills of random nodes (every third the leader) with restarts. `benchmarks/bench_cluster.py` does the run
and reads the evidence back (the segment index, the outbox, the nodes' logs); it exits 1 when an invariant
breaks. A short lease (3 s, heartbeat 1 s) keeps this to about four minutes; the benchmark's default
(30 cameras, lease 6 s) is the figure quoted in the README.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.peers
REPO = Path(__file__).resolve().parents[2]


def test_twenty_sigkills_of_three_nodes_lose_no_recording_and_ask_no_owner_twice():
    p = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_cluster.py"), "--nodes", "3",
                        "--cameras", "30", "--kills", "20", "--lease", "3", "--beat", "1", "--steady", "5"],
                       capture_output=True, text=True, timeout=900, cwd=REPO)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-4000:]
    assert "invariants: ok" in out, out[-4000:]
    failover = re.search(r"failover \(leader SIGKILL -> new leader\): (\d+) kills, median ([\d.]+)s, worst ([\d.]+)s",
                         out)
    assert failover and int(failover[1]) >= 7, out  # every third kill took the leader down
    assert float(failover[3]) <= 3 + 2 * 1 + 2, out  # one lease after the last renewal, a beat to notice, slack
    rec = re.search(r"by no node (\d+) outside .* by two nodes (\d+) outside", out)
    assert rec and rec[1] == "0" and rec[2] == "0", out
    asked = re.search(r"owners asked: (\d+) reboot requests over (\d+) .* (\d+) duplicated; outbox (\d+)", out)
    assert asked and int(asked[1]) >= 2 and asked[3] == "0" and asked[1] == asked[4], out
