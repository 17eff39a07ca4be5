"""The scenario observation format (shared/scenarios/README.md): JSON Lines, one object per line."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO

from monitor.core.domain import Observation, ReferenceObservation
from monitor.core.errors import ObservationFormatError

Record = Observation | ReferenceObservation


def _num(v: object, name: str, n: int) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ObservationFormatError(f"line {n}, field {name}: expected a number, got {v!r}")
    return float(v)


def parse_line(line: str, n: int = 0) -> Record:
    try:
        d = json.loads(line)
        t = datetime.fromisoformat(d["t"])
    except (ValueError, KeyError, TypeError) as e:
        raise ObservationFormatError(f"line {n}: not an observation: {e}") from None
    if t.tzinfo is None:
        raise ObservationFormatError(f"line {n}, field t: time has no UTC offset")
    if "reference" in d:
        return ReferenceObservation(t=t, reference=str(d["reference"]), reachable=bool(d.get("reachable")))
    if "camera" not in d or not isinstance(d.get("reachable"), bool):
        raise ObservationFormatError(f"line {n}: needs 'camera' and boolean 'reachable'")
    return Observation(
        t=t,
        camera=str(d["camera"]),
        reachable=d["reachable"],
        rtt_ms=_num(d.get("rtt_ms"), "rtt_ms", n),
        onvif_ok=bool(d.get("onvif_ok", False)),
        fps=_num(d.get("fps"), "fps", n),
        max_gap_s=_num(d.get("max_gap_s"), "max_gap_s", n),
        clock_skew_s=_num(d.get("clock_skew_s"), "clock_skew_s", n),
    )


def to_dict(r: Record) -> dict:
    t = r.t.isoformat(timespec="seconds")
    if isinstance(r, ReferenceObservation):
        return {"t": t, "reference": r.reference, "reachable": r.reachable}
    d: dict = {
        "t": t,
        "camera": r.camera,
        "reachable": r.reachable,
        "rtt_ms": None if r.rtt_ms is None else round(r.rtt_ms, 1),
        "onvif_ok": r.onvif_ok,
        "fps": None if r.fps is None else round(r.fps, 2),
        "max_gap_s": None if r.max_gap_s is None else round(r.max_gap_s, 2),
    }
    if r.clock_skew_s is not None:
        d["clock_skew_s"] = round(r.clock_skew_s, 1)
    return d


def dumps(r: Record) -> str:
    return json.dumps(to_dict(r), ensure_ascii=False, separators=(",", ":"))


def open_text(path: Path | str, mode: str = "rt") -> IO[str]:
    p = str(path)
    if p.endswith(".gz"):
        return gzip.open(p, mode, encoding="utf-8")  # type: ignore[return-value]
    return open(p, mode.replace("t", ""), encoding="utf-8")


def read(path: Path | str) -> Iterator[Record]:
    with open_text(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                yield parse_line(line, n)


def write(path: Path | str, records: Iterable[Record]) -> int:
    count = 0
    with open_text(path, "wt") as f:
        for r in records:
            f.write(dumps(r) + "\n")
            count += 1
    return count


def rounds_of(records: Iterable[Record]) -> Iterator[tuple[datetime, list[Observation], list[ReferenceObservation]]]:
    """Time-ordered records grouped into probe rounds (one per distinct time): (t, cameras, references)."""
    cur: datetime | None = None
    obs: list[Observation] = []
    refs: list[ReferenceObservation] = []
    for r in records:
        if r.t != cur:
            if cur is not None:
                if r.t < cur:
                    raise ObservationFormatError(f"records out of time order at {r.t.isoformat()}")
                yield cur, obs, refs
            cur, obs, refs = r.t, [], []
        (refs if isinstance(r, ReferenceObservation) else obs).append(r)
    if cur is not None:
        yield cur, obs, refs
