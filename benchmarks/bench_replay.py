"""Replay throughput on the largest shared scenario, against a plain parse of the same file.

    .venv/bin/python benchmarks/bench_replay.py [SCENARIO_DIR]

Prints observations/s for the full replay (read + classify + escalate + write decisions) and for a pass
that only parses (gzip + json.loads per line), each the median of 3 runs in the same process.
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    scn = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    obs = scn / "observations.jsonl.gz"
    parse, full = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(3):
            n, secs = parse_only(obs)
            parse.append(secs)
            start = time.perf_counter()
            stats = replay_files(scn / "cameras.csv", obs, Path(tmp) / "decisions.jsonl")
            full.append(time.perf_counter() - start)
    p, f = statistics.median(parse), statistics.median(full)
    print(f"scenario            {scn.name}: {n:,} camera observations")
    print(f"parse only          {n / p:12,.0f} obs/s  ({p:.2f} s)")
    print(f"full replay         {stats.observations / f:12,.0f} obs/s  ({f:.2f} s, {stats.decisions} decisions)")
    print(f"replay / parse      {f / p:12.2f} x the time")


if __name__ == "__main__":
    main()
