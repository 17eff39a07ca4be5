"""A small city as Linux network namespaces: households, area routers, a core, the monitor.

    monitor ──up0── core ──aK── area K router (bridge br0) ──hJ── household K.J (camera)

Every address is in 10.213.0.0/16 and lives only inside namespaces this module made: nothing is
added to the machine's own namespace, and every namespace has an ``unreachable default`` route, so
no packet can leave the box (and name lookups fail at once instead of stalling). Faults are made in
the network, never in the simulator:

* ``household_down(k, j)``: the household's cable is pulled (its bridge port is set down);
* ``area_down(k)``: the area's uplink at the core is down (a district power cut, as the monitor sees it);
* ``congest(k, kbit)``: the area's uplink is shaped with ``tc tbf`` to a trickle; with no netem in this
  kernel, delay comes from the queue (``latency``), as on a saturated shared fiber;
* ``drop(ns, …)``: an nft rule that silently drops (a filtering middlebox: timeouts, not refusals);
* ``monitor_down()``: the monitor's own uplink.

Taking a link down deletes its routes, so ``*_up`` puts them back. ``teardown`` kills every process in
the namespaces before deleting them, and ``leftovers`` says what, if anything, survived.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field

NET = "10.213"


def sh(*argv: str, check: bool = True) -> str:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def root_snapshot() -> dict[str, set[str]]:
    """What the machine's own namespace holds, to prove a run left nothing behind."""
    return {
        "links": {line.split(":")[1].strip().split("@")[0] for line in sh("ip", "-o", "link").splitlines()},
        "routes": set(sh("ip", "route", "show", "table", "all").splitlines()),
        "netns": {line.split()[0] for line in sh("ip", "netns", "list").splitlines() if line.strip()},
    }


@dataclass
class Household:
    area: int
    index: int
    ns: str

    @property
    def ip(self) -> str:
        return f"{NET}.{self.area}.{10 + self.index}"

    @property
    def port(self) -> str:
        return f"h{self.index}"  # its bridge port in the area router


@dataclass
class City:
    """``areas[k]`` = number of households in area k (1-based areas)."""

    areas: dict[int, int]
    tag: str = field(default_factory=lambda: "mm" + secrets.token_hex(2))
    namespaces: list[str] = field(default_factory=list)
    households: dict[tuple[int, int], Household] = field(default_factory=dict)
    procs: list[subprocess.Popen] = field(default_factory=list)
    killed: set[int] = field(default_factory=set)  # pids found in the namespaces at teardown

    # names ---------------------------------------------------------------------------------------
    @property
    def mon(self) -> str:
        return f"{self.tag}-mon"

    @property
    def core(self) -> str:
        return f"{self.tag}-core"

    def area_ns(self, k: int) -> str:
        return f"{self.tag}-a{k}"

    MON_IP = f"{NET}.0.1"
    CORE_IP = f"{NET}.0.2"

    # building ------------------------------------------------------------------------------------
    def _ns(self, name: str, forward: bool = False) -> None:
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        sh("ip", "-n", name, "route", "add", "unreachable", "default", "metric", "4000")
        sh("ip", "netns", "exec", name, "sysctl", "-q", "-w", f"net.ipv4.ip_forward={int(forward)}")

    def _veth(self, ns_a: str, name_a: str, ns_b: str, name_b: str) -> None:
        sh("ip", "-n", ns_a, "link", "add", name_a, "type", "veth", "peer", "name", name_b, "netns", ns_b)

    def build(self) -> City:
        try:
            self._build()
        except BaseException:
            self.teardown()
            raise
        return self

    def _build(self) -> None:
        self._ns(self.mon)
        self._ns(self.core, forward=True)
        self._veth(self.mon, "up0", self.core, "mon0")
        self._addr(self.mon, "up0", f"{self.MON_IP}/30")
        self._addr(self.core, "mon0", f"{self.CORE_IP}/30")
        self._routes_mon()
        for k, n in self.areas.items():
            a = self.area_ns(k)
            self._ns(a, forward=True)
            self._veth(self.core, f"a{k}", a, "up0")
            self._addr(self.core, f"a{k}", f"{NET}.{100 + k}.1/30")
            self._addr(a, "up0", f"{NET}.{100 + k}.2/30")
            self._routes_area(k)
            sh("ip", "-n", a, "link", "add", "br0", "type", "bridge")
            self._addr(a, "br0", f"{NET}.{k}.1/24")
            for j in range(1, n + 1):
                h = Household(area=k, index=j, ns=f"{self.tag}-a{k}h{j}")
                self._ns(h.ns)
                self._veth(a, h.port, h.ns, "eth0")
                sh("ip", "-n", a, "link", "set", h.port, "master", "br0", "up")
                self._addr(h.ns, "eth0", f"{h.ip}/24")
                sh("ip", "-n", h.ns, "route", "add", "default", "via", f"{NET}.{k}.1")
                self.households[(k, j)] = h
            self._routes_core(k)

    def _addr(self, ns: str, dev: str, cidr: str) -> None:
        sh("ip", "-n", ns, "addr", "add", cidr, "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")

    def _routes_mon(self) -> None:
        sh("ip", "-n", self.mon, "route", "replace", f"{NET}.0.0/16", "via", self.CORE_IP)

    def _routes_area(self, k: int) -> None:
        sh("ip", "-n", self.area_ns(k), "route", "replace", "default", "via", f"{NET}.{100 + k}.1", "metric", "10")

    def _routes_core(self, k: int) -> None:
        sh("ip", "-n", self.core, "route", "replace", f"{NET}.{k}.0/24", "via", f"{NET}.{100 + k}.2")

    # processes -----------------------------------------------------------------------------------
    def popen(self, ns: str, argv: list[str], **kw) -> subprocess.Popen:
        """Start a process inside a namespace (``ip netns exec`` execs it, so the pid is the process)."""
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], **kw)
        self.procs.append(proc)
        return proc

    # faults --------------------------------------------------------------------------------------
    def household_down(self, k: int, j: int) -> None:
        sh("ip", "-n", self.area_ns(k), "link", "set", self.households[(k, j)].port, "down")

    def household_up(self, k: int, j: int) -> None:
        sh("ip", "-n", self.area_ns(k), "link", "set", self.households[(k, j)].port, "up")

    def area_down(self, k: int) -> None:
        sh("ip", "-n", self.core, "link", "set", f"a{k}", "down")

    def area_up(self, k: int) -> None:
        sh("ip", "-n", self.core, "link", "set", f"a{k}", "up")
        self._routes_core(k)  # setting a link down deleted its routes

    def congest(self, k: int, kbit: int, latency_ms: int = 800) -> None:
        """Shape the area's uplink (both directions' egress) down to a trickle."""
        for ns, dev in ((self.area_ns(k), "up0"), (self.core, f"a{k}")):
            sh("ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev, "root", "tbf",
               "rate", f"{kbit}kbit", "burst", "4kb", "latency", f"{latency_ms}ms")

    def uncongest(self, k: int) -> None:
        for ns, dev in ((self.area_ns(k), "up0"), (self.core, f"a{k}")):
            sh("ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", dev, "root", check=False)

    def drop(self, ns: str, rule: str) -> None:
        """An nft filter that silently drops, e.g. ``drop(ns, "tcp dport 8554")``."""
        sh("ip", "netns", "exec", ns, "nft", "add table inet mm")
        sh("ip", "netns", "exec", ns, "nft", "add chain inet mm in { type filter hook input priority 0; }")
        sh("ip", "netns", "exec", ns, "nft", f"add rule inet mm in {rule} drop")

    def undrop(self, ns: str) -> None:
        sh("ip", "netns", "exec", ns, "nft", "delete table inet mm", check=False)

    def monitor_down(self) -> None:
        sh("ip", "-n", self.mon, "link", "set", "up0", "down")

    def monitor_up(self) -> None:
        sh("ip", "-n", self.mon, "link", "set", "up0", "up")
        self._routes_mon()

    # teardown ------------------------------------------------------------------------------------
    def teardown(self) -> None:
        """Kill what runs in the namespaces, then delete them; safe to call twice."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
        for ns in reversed(self.namespaces):
            for pid in sh("ip", "netns", "pids", ns, check=False).split():
                self.killed.add(int(pid))
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)
        self.namespaces = [ns for ns in self.namespaces if ns in root_snapshot()["netns"]]

    def leftovers(self, before: dict[str, set[str]]) -> list[str]:
        """Everything of this city still on the machine: namespaces, links, routes, processes."""
        now = root_snapshot()
        out = [f"namespace {n}" for n in sorted(now["netns"]) if n.startswith(self.tag)]
        out += [f"link {link}" for link in sorted(now["links"] - before["links"])]
        out += [f"route {r}" for r in sorted(now["routes"] - before["routes"])]
        out += [f"process {p.pid} ({' '.join(map(str, p.args[3:5]))})" for p in self.procs if p.poll() is None]
        time.sleep(0.2)  # SIGKILLed grandchildren are reaped by init, not by us
        out += [f"process {pid} (found in a namespace)" for pid in sorted(self.killed) if _alive(pid)]
        return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
