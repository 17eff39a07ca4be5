"""Who does what in a cluster: which nodes are alive, which one decides, which cameras each records.

Pure: the rows the store read, and ``now``, in; values out. The store holds one lease row for the
decider (holder, epoch, expiry) and one row per node with its last heartbeat.

- **Alive**: a node whose last heartbeat is less than one lease old.
- **Leader**: the holder of an unexpired decider lease. Each take-over raises the lease's epoch, the
  fencing token: a decision is written only together with a renewal of the lease at the writer's own
  epoch, so a deposed leader's late write finds another epoch and is refused (`store.cluster`).
- **Cameras per node**: rendezvous (highest random weight) hashing of each camera over the live nodes
  that record (a node may only decide, or only record).
  Every node computes the same answer from the same heartbeats, with no coordinator and no claim rows;
  when a node dies only its cameras move (each to the node that ranks next for it), and when one joins it
  takes about 1/N of the cameras from the others and nothing else moves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class NodeSeen:
    """One node's row: its id and its last heartbeat."""

    id: str
    started_at: datetime
    heartbeat_at: datetime
    records: bool = True  # takes a share of the cameras
    decides: bool = True  # may hold the decider lease


@dataclass(frozen=True)
class LeaseSeen:
    """The decider lease as stored: nobody holds it when ``holder`` is None."""

    holder: str | None
    epoch: int
    expires_at: datetime | None


def alive(nodes: Iterable[NodeSeen], now: datetime, lease: timedelta, *, recording: bool = False) -> list[str]:
    """The nodes that beat within the last lease (``recording``: those of them that record), sorted."""
    return sorted(n.id for n in nodes if now - n.heartbeat_at < lease and (n.records or not recording))


def leader(lease_row: LeaseSeen | None, now: datetime) -> str | None:
    """The holder of an unexpired lease, or None."""
    if lease_row is None or lease_row.holder is None or lease_row.expires_at is None:
        return None
    return lease_row.holder if lease_row.expires_at > now else None


def _weight(node: str, camera: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{node}\x1f{camera}".encode(), digest_size=8).digest(), "big")


def owner(camera: str, nodes: Sequence[str]) -> str | None:
    """The live node that records ``camera``: the one with the highest weight for it (ties: the lower id)."""
    return max(sorted(nodes), key=lambda n: _weight(n, camera), default=None)


def assign(cameras: Iterable[str], nodes: Sequence[str]) -> dict[str, list[str]]:
    """node -> its cameras (sorted), every live node present (an idle one with none)."""
    out: dict[str, list[str]] = {n: [] for n in sorted(nodes)}
    for c in sorted(set(cameras)):
        n = owner(c, nodes)
        if n is not None:
            out[n].append(c)
    return out


@dataclass(frozen=True)
class ClusterStatus:
    """What `mimamori cluster status` shows."""

    now: datetime
    leader: str | None
    epoch: int
    nodes: tuple[NodeSeen, ...]
    alive: tuple[str, ...]
    cameras: Mapping[str, list[str]]  # live node -> cameras it records

    def to_json(self) -> dict:
        return {"leader": self.leader, "epoch": self.epoch, "nodes": [
            {"id": n.id, "alive": n.id in self.alive, "leader": n.id == self.leader,
             "heartbeat_age_s": round((self.now - n.heartbeat_at).total_seconds(), 1),
             "records": n.records, "decides": n.decides, "cameras": list(self.cameras.get(n.id, []))}
            for n in self.nodes]}


def cluster_status(nodes: Sequence[NodeSeen], lease_row: LeaseSeen | None, cameras: Iterable[str],
                   now: datetime, lease: timedelta) -> ClusterStatus:
    return ClusterStatus(now=now, leader=leader(lease_row, now), epoch=lease_row.epoch if lease_row else 0,
                         nodes=tuple(sorted(nodes, key=lambda n: n.id)), alive=tuple(alive(nodes, now, lease)),
                         cameras=assign(cameras, alive(nodes, now, lease, recording=True)))
