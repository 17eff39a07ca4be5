"""Probe rounds waiting for the database, oldest first, at most ``limit`` of them.

While the database is reachable a round is held only for the moment between its probe and its commit,
in memory. Once the database is away, every held round is also written to ``folder`` (one JSON file per
round, readable by the service user only), so that a decider killed or restarted during the outage
loses none: the next start reads them back and stores and decides them, in order, when the database
returns. A stored round's file is removed; past ``limit`` the oldest are dropped, file and all.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections import deque
from datetime import datetime
from pathlib import Path

from monitor.core.domain import Camera, Observation, ReferenceObservation

log = logging.getLogger("mimamori.service")
Held = tuple[datetime, list[Observation], list[ReferenceObservation], dict[str, Camera]]


def _name(t: datetime) -> str:
    return f"round-{int(t.timestamp()):012d}.json"


def _dump(t: datetime, obs: list[Observation], refs: list[ReferenceObservation]) -> str:
    def row(x: Observation | ReferenceObservation) -> dict:
        return {**dataclasses.asdict(x), "t": x.t.isoformat()}
    return json.dumps({"t": t.isoformat(), "observations": [row(o) for o in obs],
                       "references": [row(r) for r in refs]})


def _load(text: str) -> tuple[datetime, list[Observation], list[ReferenceObservation]]:
    d = json.loads(text)
    return (datetime.fromisoformat(d["t"]),
            [Observation(**{**o, "t": datetime.fromisoformat(o["t"])}) for o in d["observations"]],
            [ReferenceObservation(**{**r, "t": datetime.fromisoformat(r["t"])}) for r in d["references"]])


class HeldRounds:
    def __init__(self, folder: Path, limit: int):
        self.folder = folder
        self.limit = limit
        self._rounds: deque[Held] = deque()
        self.dropped = 0  # since the last `reset_dropped`

    def __len__(self) -> int:
        return len(self._rounds)

    def append(self, held: Held, *, on_disk: bool) -> None:
        self._rounds.append(held)
        if on_disk:
            self._write(held)
        while len(self._rounds) > self.limit:
            self._forget(self._rounds.popleft())
            self.dropped += 1

    def first(self) -> Held:
        return self._rounds[0]

    def done(self) -> None:
        """The first round is stored."""
        self._forget(self._rounds.popleft())

    def spill(self) -> None:
        """The database went away: what is held goes to disk as well."""
        for held in self._rounds:
            self._write(held)

    def clear(self) -> None:
        while self._rounds:
            self._forget(self._rounds.popleft())

    def load(self, cameras: dict[str, Camera]) -> int:
        """Rounds a previous run left on disk, oldest first, judged with today's registry; how many.
        A file that cannot be read is set aside (``.bad``) with a warning, never a crash."""
        if not self.folder.is_dir():
            return 0
        n = 0
        for path in sorted(self.folder.glob("round-*.json")):
            try:
                t, obs, refs = _load(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, TypeError, KeyError) as e:
                log.warning("held round %s unreadable (%s): set aside as %s.bad", path.name, e, path.name)
                path.replace(path.with_name(path.name + ".bad"))
                continue
            self._rounds.append((t, obs, refs, dict(cameras)))
            n += 1
        while len(self._rounds) > self.limit:
            self._forget(self._rounds.popleft())
        return n

    def _write(self, held: Held) -> None:
        t, obs, refs, _ = held
        path = self.folder / _name(t)
        if path.exists():
            return
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(_dump(t, obs, refs))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def _forget(self, held: Held) -> None:
        (self.folder / _name(held[0])).unlink(missing_ok=True)
