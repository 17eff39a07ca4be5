"""The cluster under 20 SIGKILLs: issue 16's first "must hold", with real processes on PostgreSQL.

3 `mimamori run` nodes on one PostgreSQL database, 30 simulated cameras (RTSP and ONVIF on loopback),
20 SIGKILLs of random nodes (every third one the leader) each followed by a restart, while two cameras
go down, come back and go down again (their owners are asked through the outbox). The run is
`benchmarks/bench_cluster.py` at its full size; this test reads its figures back and holds each one:

- from the segment index: every camera recorded by exactly one node at every second, except within two
  lease periods around a kill, a start or a join (when the others first count a started node alive);
- a leader's SIGKILL: another node leads within one lease;
- a dead node's cameras are recorded by the others within two leases;
- from the outbox and the peers' notifications: no duplicate owner request;
- from the nodes' logs: no incident id opened twice, none reopened by a new leader.

It times real failovers, so it runs alone: `make soak`. It is quarantined out of `make test` since it failed 2 of
4 runs on 2026-12-06 (10 to 13 camera-seconds outside the failure windows); the next 4 were clean, and the
cause is not found yet (the run now prints each such second with what went on around it).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LEASE, BEAT, KILLS = 6, 2, 20
NUM = r"([0-9]+(?:\.[0-9]+)?)"

pytestmark = [pytest.mark.soak, pytest.mark.postgres]


def figure(out: str, pattern: str) -> tuple[str, ...]:
    m = re.search(pattern, out, re.MULTILINE)
    assert m is not None, f"the run did not print /{pattern}/:\n{out}"
    return m.groups()


def test_three_nodes_thirty_cameras_twenty_sigkills() -> None:
    start = time.monotonic()
    r = subprocess.run([sys.executable, "benchmarks/bench_cluster.py", "--nodes", "3", "--cameras", "30",
                        "--kills", str(KILLS), "--lease", str(LEASE), "--beat", str(BEAT), "--steady", "5",
                        "--seed", "16"], cwd=REPO, capture_output=True, text=True, timeout=1500)  # fmt: skip
    out = r.stdout
    shown = f"({time.monotonic() - start:.0f} s)\n--- stdout\n{out}\n--- stderr\n{r.stderr[-6000:]}"

    kills, median, worst = figure(out, rf"^failover \(leader SIGKILL -> new leader\): (\d+) kills, median {NUM}s, "
                                       rf"worst {NUM}s")
    assert int(kills) >= KILLS // 3, f"only {kills} leader kills {shown}"
    assert float(worst) <= LEASE, f"a standby took {worst}s to lead (lease {LEASE}s) {shown}"

    _, moved = figure(out, rf"^cameras re-recorded after a SIGKILL: median {NUM}s, worst {NUM}s")
    assert float(moved) <= 2 * LEASE + BEAT, f"cameras waited {moved}s for another node {shown}"

    gaps, _, overlaps, _ = figure(out, r"^recording: 28 cameras .* by no node (\d+) outside / (\d+) inside .*; "
                                       r"by two nodes (\d+) outside / (\d+) inside")
    assert (int(gaps), int(overlaps)) == (0, 0), f"camera-seconds outside the failures {shown}"

    asked, pairs, dup, outbox, incidents = figure(
        out, r"^owners asked: (\d+) reboot requests over (\d+) \(camera, incident\) pairs, (\d+) duplicated; "
             r"outbox (\d+); incidents (\d+)")
    assert int(asked) >= 2 and int(incidents) >= 2, f"too little happened to prove anything {shown}"
    assert int(dup) == 0 and asked == pairs == outbox, f"duplicate owner requests {shown}"

    assert re.search(r"^invariants: ok$", out, re.MULTILINE), f"incident ids reused or reopened {shown}"
    assert r.returncode == 0, f"exit {r.returncode} {shown}"
    print(out)  # the figures, for whoever runs it with -s
