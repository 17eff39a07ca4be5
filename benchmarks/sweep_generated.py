"""Random generated fleets (tests/monitor/scenario_gen.py) through `replay`, scored against the targets.

    .venv/bin/python benchmarks/sweep_generated.py [--seeds 400-430] [--jobs 2] [--max-cameras N] [--days 2] [--messy]

Each seed draws its own fleet: 30-200 cameras over 3-10 areas and 2-6 ISPs, with or without
reference checks, probe noise 0.2-2 %, congestion from soft to a frame every ~20 s. Prints one line
per fleet (what missed, if anything) and the pass count. Not part of the suite: it takes minutes.
``--max-cameras`` and ``--days`` shrink each fleet (the rest of its draw unchanged) for a quick run.
``--messy`` draws each fleet as a real city's: wrong registry rows (provider, area, frame rate), missing
rows, monitor restarts, probe times spread up to 45 s, household congestion on top of its provider's.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import random
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.replay.files import replay_files  # noqa: E402
from tests.monitor.scenario_gen import Spec, generate  # noqa: E402
from tests.monitor.scoring import check_targets, load_scorer  # noqa: E402


def spec_for(seed: int) -> Spec:
    rng = random.Random(seed)
    low = rng.uniform(0.4, 0.7)
    return Spec(seed=seed, cameras=rng.randint(30, 200), areas=rng.randint(3, 10), isps=rng.randint(2, 6), days=2,
                references=rng.random() < 0.6, noise=rng.uniform(0.002, 0.02),
                congestion_depth=(low, rng.uniform(max(low + 0.1, 0.9), 0.999)))


def one(seed: int, max_cameras: int | None = None, days: int | None = None,
        messy: bool = False) -> tuple[int, str, list[str], float]:
    spec = dataclasses.replace(spec_for(seed), messy=messy)
    if max_cameras is not None:
        spec = dataclasses.replace(spec, cameras=min(spec.cameras, max_cameras))
    if days is not None:
        spec = dataclasses.replace(spec, days=days)
    sr = load_scorer()
    with tempfile.TemporaryDirectory() as d:
        generate(d, spec)
        out = Path(d) / "decisions.jsonl"
        replay_files(Path(d) / "cameras.csv", Path(d) / "observations.jsonl.gz", out)
        res = sr.score(*sr.load(d, str(out)))
    desc = (f"{'messy, ' if spec.messy else ''}{spec.cameras} cams, {spec.areas} areas, {spec.isps} ISPs, "
            f"{'refs' if spec.references else 'no refs'}, noise {spec.noise:.3f}")
    return seed, desc, check_targets(res), res["cause_accuracy_mean"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="400-430", help="first-last, inclusive (or one seed)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--max-cameras", type=int, help="at most this many cameras a fleet (default: as drawn, 30-200)")
    ap.add_argument("--days", type=int, help="days a fleet (default: 2)")
    ap.add_argument("--messy", action="store_true", help="a real city's fleets (see above)")
    a = ap.parse_args()
    lo, _, hi = a.seeds.partition("-")
    first, last = int(lo), int(hi or lo)
    run = functools.partial(one, max_cameras=a.max_cameras, days=a.days, messy=a.messy)
    passed = 0
    with ProcessPoolExecutor(a.jobs) as pool:
        for seed, desc, missed, mean in pool.map(run, range(first, last + 1)):
            passed += not missed
            print(f"seed {seed}: {desc}: cause mean {mean:.3f}: " + ("all targets met" if not missed
                                                                     else "MISSED " + "; ".join(missed)), flush=True)
    print(f"{passed}/{last - first + 1} fleets meet every target")


if __name__ == "__main__":
    main()
