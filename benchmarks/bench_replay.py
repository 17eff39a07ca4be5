"""Replay throughput on the largest shared scenario, against a plain parse of the same file.

    .venv/bin/python benchmarks/bench_replay.py [SCENARIO_DIR] [--limit LINES]

Prints observations/s for the full replay (read + classify + escalate + write decisions) and for two
passes that only parse, each the median of 3 runs in the same process: the reference the targets are
stated against (gzip + the standard library's json.loads per line), and the same with msgspec's untyped
decoder (the library the replay's reader uses, with its schema), so that the reader's share shows too.
``--limit`` replays only the first LINES lines of the scenario (completed to the end of that probe round),
for a quick run: the smoke test uses it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.replay.files import replay_files  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[1] / "../shared/scenarios/fleet-11"


def parse_only(path: Path) -> tuple[int, float]:
    start = time.perf_counter()
    n = 0
    loads = json.loads
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            d = loads(line)
            n += "camera" in d
    return n, time.perf_counter() - start


def parse_msgspec(path: Path) -> float:
    start = time.perf_counter()
    decode = msgspec.json.decode
    with gzip.open(path, "rb") as f:
        for line in f:
            decode(line)
    return time.perf_counter() - start


def head(src: Path, dst: Path, limit: int) -> Path:
    """The first ``limit`` lines of ``src`` and the rest of the last one's probe round (same "t"), gzipped."""
    last_t = None
    with gzip.open(src, "rt", encoding="utf-8") as f, gzip.open(dst, "wt", encoding="utf-8") as out:
        for i, line in enumerate(f):
            t = json.loads(line).get("t")
            if i >= limit and t != last_t:
                break
            last_t = t
            out.write(line)
    return dst


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", type=Path, default=DEFAULT, help="a scenario folder (default: fleet-11)")
    ap.add_argument("--limit", type=int, metavar="LINES", help="only the first LINES observation lines")
    a = ap.parse_args(argv)
    scn = a.scenario
    obs = scn / "observations.jsonl.gz"
    parse, fast, full = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        if a.limit is not None:
            obs = head(obs, Path(tmp) / "observations.jsonl.gz", a.limit)
        for _ in range(3):
            n, secs = parse_only(obs)
            parse.append(secs)
            fast.append(parse_msgspec(obs))
            start = time.perf_counter()
            stats = replay_files(scn / "cameras.csv", obs, Path(tmp) / "decisions.jsonl")
            full.append(time.perf_counter() - start)
    p, q, f = statistics.median(parse), statistics.median(fast), statistics.median(full)
    part = f" (first {a.limit:,} lines)" if a.limit is not None else ""
    print(f"scenario            {scn.name}{part}: {n:,} camera observations")
    print(f"parse only          {n / p:12,.0f} obs/s  ({p:.2f} s)")
    print(f"full replay         {stats.observations / f:12,.0f} obs/s  ({f:.2f} s, {stats.decisions} decisions)")
    print(f"parse (msgspec)     {n / q:12,.0f} obs/s  ({q:.2f} s)")
    print(f"replay / parse      {f / p:12.2f} x the time (against json.loads: the stated reference)")
    print(f"replay / msgspec    {f / q:12.2f} x the time (against msgspec's untyped decode)")


if __name__ == "__main__":
    main()
