"""A cluster under SIGKILL: N `mimamori run` nodes on one PostgreSQL, M simulated cameras, K kills.

    python benchmarks/bench_cluster.py [--nodes 3] [--cameras 30] [--kills 20] [--lease 6] [--beat 2]

What it does, with real processes and real peers (the RTSP/ONVIF simulator on loopback, a fresh
PostgreSQL database on the server of `MIMAMORI_TEST_PG`, folder delivery):

1. One node alone records every camera for `--steady` seconds: the reference CPU.
2. The others join; each node's CPU over the same time, side by side with the reference.
3. Two cameras go down (their owners are asked, through the outbox) and come back later, while
   `--kills` times a random node (every third kill the leader) is killed with SIGKILL and started again.
4. Every node stops cleanly; then the evidence is read back:
   - failover: from a leader's SIGKILL to another node's "leading" line (median, worst);
   - the segment index: for every camera and second of the run, how many nodes recorded it; a second
     with none or with two counts only if it lies outside two lease periods around a kill, a start or a
     join (when the others first count a started node alive: its share of the cameras moves to it then,
     and booting may take seconds); each such run is printed with what went on around it;
   - the outbox: owner messages per camera and incident (a duplicate is a second one);
   - the nodes' logs: each incident id opened once, never again after it closed.

Prints the figures, then `invariants: ok` or the problems, and exits 1 on a problem.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from monitor.demo.simulate.fleet import SimulatedFleet  # noqa: E402

MIMAMORI = [sys.executable, "-c", "from monitor.cli.main import run_cli; run_cli()"]
PG_ADMIN_URL = os.environ.get("MIMAMORI_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TICK = os.sysconf("SC_CLK_TCK")



def times(u: float, ref: float) -> str:
    """``u`` against the lone node's ``ref``; a tiny run's idle reference can read 0 clock ticks."""
    return f"{u / ref:.2f}x the lone node" if ref > 0 else "not comparable (the lone node read 0 clock ticks)"


class Node:
    """One `mimamori run` process (started again after each kill), its log lines with their times."""

    def __init__(self, name: str, env: dict[str, str], data: Path):
        self.name = name
        self.env = {**env, "MIMAMORI_CLUSTER__NODE_ID": name, "MIMAMORI_DATA_DIR": str(data / name)}
        self.lines: list[tuple[float, str]] = []
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([*MIMAMORI, "run"], env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        proc = self.proc
        threading.Thread(target=lambda: self.lines.extend((time.time(), x) for x in proc.stdout), daemon=True).start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def first(self, pattern: str, after: float) -> float | None:
        return next((t for t, x in list(self.lines) if t >= after and re.search(pattern, x)), None)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)


NODES: list[Node] = []  # for the report of a wait that timed out


def wait_until(cond, timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return time.monotonic() - t0
        time.sleep(0.1)
    for n in NODES:
        tail = [x for _, x in n.lines if "apscheduler" not in x][-12:]
        print(f"--- {n.name} ({'running' if n.alive() else 'stopped'}), last lines:\n" + "".join(tail), file=sys.stderr)
    raise SystemExit(f"timed out after {timeout:g}s waiting for {what}")


def leader_of(nodes: list[Node]) -> Node | None:
    """The node whose latest role line says it leads (a killed node's lines no longer count)."""
    best: tuple[float, Node] | None = None
    for n in nodes:
        if not n.alive():
            continue
        for t, x in reversed(list(n.lines)):
            if "leading: node" in x or "standby: node" in x or "deposed:" in x:
                if "leading: node" in x and (best is None or t > best[0]):
                    best = (t, n)
                break
    return best[1] if best else None


def config(tmp: Path, url: str, a: argparse.Namespace) -> Path:
    cfg = tmp / "mimamori.toml"
    cfg.write_text(
        f"database_url = '{url}'\n"
        "[notify]\nfolder_delivery = true\ndispatch_every_s = 2\n"
        "[web]\nenabled = false\n"
        f"[cluster]\nlease_s = {a.lease}\nheartbeat_s = {a.beat}\n"
        "[probes]\ninterval_s = 3\nsample_s = 1\ntcp_timeout_s = 2\nonvif_timeout_s = 2\nspread = 0.2\n"
        "[recorder]\nsegment_s = 5\nstatus_interval_s = 5\n"
        "[escalation]\nquiet_start = '00:00'\nquiet_end = '00:00'\nowner_delay = 12\n")
    return cfg


class Stray(NamedTuple):
    """A run of unexcused seconds of one camera: recorded by no node, or by two or more."""

    cam: str
    start: float
    end: float
    nodes: frozenset[str]


def coverage(rows: list[tuple[str, str, datetime, datetime]], cameras: list[str], lo: float, hi: float,
             excused: list[tuple[float, float]]) -> tuple[int, int, int, int, list[Stray]]:
    """(unexcused seconds with no node, with two or more, excused with none, excused with two or more,
    the unexcused seconds as runs) over every camera and second in [lo, hi)."""
    per_cam: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for cam, node, start, end in rows:
        per_cam[cam].append((start.timestamp(), end.timestamp(), node))
    gaps = overlaps = ex_gaps = ex_overlaps = 0
    strays: list[Stray] = []
    for cam in cameras:
        segs = per_cam.get(cam, [])
        for s in range(int(lo), int(hi)):
            mid = s + 0.5
            # a segment boundary leaves up to a second between two files of one session: bridged
            nodes = {n for a, b, n in segs if a - 1.0 <= mid < b + 1.0}
            if len(nodes) == 1:
                continue
            ok = any(a <= mid < b for a, b in excused)
            if not nodes:
                ex_gaps += ok
                gaps += not ok
            else:
                ex_overlaps += ok
                overlaps += not ok
            if not ok:
                last = strays[-1] if strays else None
                if last and last.cam == cam and last.end == s and last.nodes == frozenset(nodes):
                    strays[-1] = last._replace(end=s + 1)
                else:
                    strays.append(Stray(cam, s, s + 1, frozenset(nodes)))
    return gaps, overlaps, ex_gaps, ex_overlaps, strays


def explain(stray: Stray, events: list[tuple[float, str]], nodes: list[Node], rows) -> list[str]:
    """What was happening around an unexcused run: the nearest kill or start, the camera's segments
    there, and the nodes' log lines about the camera or the cluster within a lease of it."""
    def at(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")

    near = min(events, key=lambda e: abs(e[0] - stray.start), default=None)
    what = "recorded by " + "+".join(sorted(stray.nodes)) if stray.nodes else "recorded by no node"
    out = [f"  {stray.cam} {at(stray.start)}-{at(stray.end)} ({stray.end - stray.start:.0f} s) {what}; nearest "
           + (f"event {near[1]} at {at(near[0])} ({stray.start - near[0]:+.0f} s)" if near else "event: none")]
    for cam, node, s, e in sorted(rows, key=lambda r: r[2]):
        if cam == stray.cam and s.timestamp() < stray.end + 15 and e.timestamp() > stray.start - 15:
            out.append(f"    segment {node} {at(s.timestamp())}-{at(e.timestamp())}")
    key = re.compile(rf"{stray.cam}\b|nodes alive|leading|standby|assign", re.IGNORECASE)
    for n in nodes:
        for t, x in list(n.lines):
            if stray.start - 15 <= t <= stray.end + 15 and key.search(x):
                out.append(f"    {n.name} {at(t)} {x.strip()[:200]}")
    return out


def kill_once(victim: Node, was_leader: bool, nodes: list[Node], events: list, a: argparse.Namespace
              ) -> tuple[float | None, float]:
    """SIGKILL one node; (seconds until another leads if it led, seconds until every other node has
    dropped it from its live set, so that its cameras are recorded elsewhere)."""
    t_kill = time.time()
    victim.kill()
    events.append((t_kill, f"kill {victim.name}{' (leader)' if was_leader else ''}"))
    others = [n for n in nodes if n is not victim]
    failover = None
    if was_leader:
        wait_until(lambda: any(n.first("leading: node", t_kill) for n in others), 4 * a.lease + 30, "a new leader")
        failover = min(t for n in others if (t := n.first("leading: node", t_kill))) - t_kill
    gone = rf"nodes alive: (?!.*\b{victim.name}\b)"
    wait_until(lambda: all(n.first(gone, t_kill) for n in others), 4 * a.lease + 30,
               f"the others to drop {victim.name}")
    return failover, max(n.first(gone, t_kill) for n in others) - t_kill


def restart(victim: Node, nodes: list[Node], events: list, a: argparse.Namespace) -> float:
    """Start a killed node again; the seconds from its start until every other node counts it alive.

    Both moments are events: the process start, and the join, when the others see its first heartbeat
    and hand it its share of the cameras (booting takes seconds more on a loaded machine)."""
    t_start = time.time()
    victim.start()
    events.append((t_start, f"start {victim.name}"))
    wait_until(lambda: victim.first(r"standby: node|leading: node", t_start) is not None, 90, f"{victim.name} back")
    seen = rf"nodes alive: .*\b{victim.name}\b"
    others = [n for n in nodes if n is not victim]
    wait_until(lambda: all(n.first(seen, t_start) for n in others), 4 * a.lease + 30,
               f"the others to see {victim.name}")
    t_join = max(n.first(seen, t_start) for n in others)
    events.append((t_join, f"{victim.name} joined"))
    time.sleep(a.beat * 2)
    return t_join - t_start


def incident_problems(nodes: list[Node]) -> tuple[int, list[str]]:
    lines = sorted((t, x) for n in nodes for t, x in n.lines if "decision: incident" in x)
    state: dict[str, str] = {}
    problems = []
    for _, x in lines:
        m = re.search(r"incident (I\d+) (open|update|closed)", x)
        if m is None:
            continue
        iid, what = m.groups()
        if what == "open" and iid in state:
            problems.append(f"incident {iid} opened again after it was {state[iid]}")
        state[iid] = "closed" if what == "closed" else "open"
    return len(state), problems


def cpu_phases(nodes: list[Node], events: list, a: argparse.Namespace) -> None:
    """1. one node alone: the reference CPU; 2. all nodes: each one's CPU beside it."""
    nodes[0].start()
    events.append((time.time(), "start n1"))
    wait_until(lambda: nodes[0].first(r"round \d{4}-", 0) is not None, 90, "n1's first round")
    time.sleep(a.lease)
    c0, t0 = nodes[0].cpu_s(), time.monotonic()
    time.sleep(a.steady)
    ref = (nodes[0].cpu_s() - c0) / (time.monotonic() - t0)
    for n in nodes[1:]:
        n.start()
        events.append((time.time(), f"start {n.name}"))
    for n in nodes[1:]:
        wait_until(lambda n=n: n.first("standby: node", 0) is not None, 90, f"{n.name} standing by")
    time.sleep(2 * a.lease)
    c0s, t0 = [n.cpu_s() for n in nodes], time.monotonic()
    time.sleep(a.steady)
    per_node = [(n.cpu_s() - c) / (time.monotonic() - t0) for n, c in zip(nodes, c0s, strict=True)]
    print(f"cpu: 1 node x {a.cameras} cameras: {ref * 100:.1f}% of a core (reference)")
    for n, u in zip(nodes, per_node, strict=True):
        role = "leader" if leader_of(nodes) is n else "standby"
        print(f"cpu: {n.name} ({role}) of {a.nodes} x {a.cameras}: {u * 100:.1f}% of a core, {times(u, ref)}")
    print(f"cpu: {a.nodes} nodes together {sum(per_node) * 100:.1f}%, {times(sum(per_node), ref)}")


class Kills(NamedTuple):
    """What the kills phase saw: its span, and seconds per leader failover, re-recording and join."""

    lo: float
    hi: float
    failovers: list[float]
    reassign: list[float]
    joins: list[float]


def kill_phase(nodes: list[Node], fleet: SimulatedFleet, down: list[str], events: list, a: argparse.Namespace,
               rng: random.Random) -> Kills:
    """3. owners to ask (``down`` go down, come back halfway, go down again), and the kills."""
    for cam in down:
        fleet.stop(cam)
    failovers, reassign, joins = [], [], []
    lo = time.time()
    for k in range(a.kills):
        lead = leader_of(nodes)
        victim = lead if (k % 3 == 0 and lead is not None) else rng.choice(nodes)
        failover, moved = kill_once(victim, victim is lead, nodes, events, a)
        reassign.append(moved)
        if failover is not None:
            failovers.append(failover)
        if k == a.kills // 2:
            for cam in down:
                fleet.start(cam)  # back: their incidents close
        joins.append(restart(victim, nodes, events, a))
    for cam in down:
        fleet.stop(cam)  # a second outage after the kills: new incidents, new ids
    time.sleep(max(30.0, 3 * a.lease))
    return Kills(lo, time.time(), failovers, reassign, joins)


def evidence(url: str, nodes: list[Node], events: list, recorded: list[str], run: Kills,
             a: argparse.Namespace) -> int:
    """4. the evidence, read back from the database and the nodes' logs; prints it, returns the exit code."""
    engine = create_engine(url)
    with engine.connect() as c:
        rows = [(r[0], r[1], r[2], r[3]) for r in c.execute(text(
            "SELECT camera_id, node, start, \"end\" FROM rec_segments"))]
        owner_msgs = Counter((r[0], r[1]) for r in c.execute(text(
            "SELECT camera_id, incident_id FROM notifications "
            "WHERE audience = 'owner' AND kind = 'reboot_request'")))
        outbox_owner = c.execute(text(
            "SELECT COUNT(*) FROM ntf_outbox WHERE kind = 'owner.reboot_request'")).scalar()
    engine.dispose()
    span = 2 * a.lease
    # "around a failure": a SIGKILL also loses the fragment being written when it lands (up to a
    # segment's fragment before the kill), so the window reaches two leases either side
    excused = [(t - span, t + span) for t, e in events]
    rows = [(cam, node, s.replace(tzinfo=s.tzinfo or UTC), e.replace(tzinfo=e.tzinfo or UTC))
            for cam, node, s, e in rows if cam in recorded]  # the two taken down are not recorded then
    gaps, overlaps, ex_gaps, ex_overlaps, strays = coverage(rows, recorded, run.lo, run.hi, excused)
    n_incidents, inc_problems = incident_problems(nodes)
    failovers, reassign, joins = run.failovers, run.reassign, run.joins
    print(f"failover (leader SIGKILL -> new leader): {len(failovers)} kills, median "
          f"{statistics.median(failovers):.1f}s, worst {max(failovers):.1f}s (lease {a.lease:g}s)"
          if failovers else "failover: no leader was killed")
    print(f"cameras re-recorded after a SIGKILL: median {statistics.median(reassign):.1f}s, "
          f"worst {max(reassign):.1f}s (bound: two leases, {2 * a.lease:g}s)")
    print(f"restarted nodes seen alive by the others: median {statistics.median(joins):.1f}s, "
          f"worst {max(joins):.1f}s after their start")
    print(f"recording: {len(recorded)} cameras (all but the 2 taken down) x {run.hi - run.lo:.0f}s: camera-seconds "
          f"recorded by no node {gaps} outside / {ex_gaps} inside two leases around a kill, start or join; "
          f"by two nodes {overlaps} outside / {ex_overlaps} inside")
    for stray in strays[:12]:  # each unexcused run, and what was going on around it
        print("\n".join(explain(stray, events, nodes, rows)))
    dups = {k: v for k, v in owner_msgs.items() if v > 1}
    print(f"owners asked: {sum(owner_msgs.values())} reboot requests over {len(owner_msgs)} (camera, incident) "
          f"pairs, {len(dups)} duplicated; outbox {outbox_owner}; incidents {n_incidents}")
    problems = [*inc_problems]
    if gaps or overlaps:
        problems.append(f"{gaps} camera-seconds unrecorded and {overlaps} recorded twice outside the failures")
    if dups or outbox_owner != sum(owner_msgs.values()):
        problems.append(f"duplicate owner requests: {dups}, outbox {outbox_owner}")
    if not owner_msgs:
        problems.append("no owner was asked: the run proves nothing about duplicates")
    if failovers and max(failovers) > a.lease:
        problems.append(f"a standby took {max(failovers):.1f}s to lead (lease {a.lease:g}s)")
    if reassign and max(reassign) > 2 * a.lease + a.beat + 1:
        problems.append(f"cameras waited {max(reassign):.1f}s for another node")
    print("invariants: " + ("ok" if not problems else "; ".join(problems)))
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--cameras", type=int, default=30)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--lease", type=float, default=6.0, help="cluster.lease_s")
    ap.add_argument("--beat", type=float, default=2.0, help="cluster.heartbeat_s")
    ap.add_argument("--steady", type=float, default=30.0, help="seconds of CPU measurement per phase")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]  # figures as they come
    rng = random.Random(a.seed)
    name = f"bench_cluster_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    nodes: list[Node] = []
    print(f"# {a.nodes} nodes x {a.cameras} simulated cameras on PostgreSQL, {a.kills} SIGKILLs, "
          f"lease {a.lease:g}s, heartbeat {a.beat:g}s")
    try:
        with (tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp,
              SimulatedFleet(a.cameras, fps=10.0) as fleet):
            tmp_p = Path(tmp)
            env = {k: v for k, v in os.environ.items() if not k.startswith("MIMAMORI_")}
            env.update(MIMAMORI_CONFIG=str(config(tmp_p, url, a)), MIMAMORI_SECRET_KEY=Fernet.generate_key().decode())
            subprocess.run([*MIMAMORI, "cameras", "import", str(fleet.write_csv(tmp_p / "cameras.csv"))], env=env,
                           check=True, capture_output=True, timeout=120)
            nodes = [Node(f"n{i + 1}", env, tmp_p) for i in range(a.nodes)]
            NODES[:] = nodes
            events: list[tuple[float, str]] = []
            cpu_phases(nodes, events, a)
            down = sorted(fleet.sims)[:2]
            run = kill_phase(nodes, fleet, down, events, a, rng)
            for n in nodes:
                n.kill(signal.SIGTERM)
        return evidence(url, nodes, events, [c for c in sorted(fleet.sims) if c not in down], run, a)
    finally:
        for n in nodes:
            n.kill()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    sys.exit(main())
