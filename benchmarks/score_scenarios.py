"""Replay every shared scenario with `mimamori replay`'s code and print the scorer's figures as a table.

    .venv/bin/python benchmarks/score_scenarios.py        (or: make scores)

Also replays a few fleets from the tests' own generator (other sizes, frame rates, congestion depths,
no reference checks) so that the table is not only about the shared examples.

For a quick run (the smoke test): ``--no-shared --generated 1 --max-cameras 30 --days 1`` replays one
small generated fleet and nothing else.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.replay.files import replay_files  # noqa: E402
from tests.monitor.scenario_gen import Spec, generate  # noqa: E402
from tests.monitor.scoring import SCENARIOS, TARGETS, check_targets, score_files  # noqa: E402

GENERATED = [
    Spec(seed=21, cameras=90, areas=7, isps=4, days=3),
    Spec(seed=22, cameras=45, areas=4, isps=3, days=2, references=False, congestion_depth=(0.9, 0.999)),
    Spec(seed=23, cameras=120, areas=8, isps=5, days=2, noise=0.01, congestion_depth=(0.4, 0.7)),
]


def score(folder: Path, work: Path) -> dict:
    out = work / f"{folder.name}.decisions.jsonl"
    replay_files(folder / "cameras.csv", folder / "observations.jsonl.gz", out)
    return score_files(folder, out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", action=argparse.BooleanOptionalAction, default=True,
                    help="replay the shared scenarios (../shared/scenarios)")
    ap.add_argument("--generated", type=int, default=len(GENERATED), metavar="K",
                    help=f"replay the first K of the {len(GENERATED)} generated fleets")
    ap.add_argument("--max-cameras", type=int, help="at most this many cameras a generated fleet")
    ap.add_argument("--days", type=int, help="days a generated fleet (default: each fleet's own)")
    a = ap.parse_args(argv)
    specs = GENERATED[: a.generated]
    if a.max_cameras is not None:
        specs = [dataclasses.replace(s, cameras=min(s.cameras, a.max_cameras)) for s in specs]
    if a.days is not None:
        specs = [dataclasses.replace(s, days=a.days) for s in specs]
    rows: list[tuple[str, dict]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for folder in SCENARIOS if a.shared else []:
            rows.append((folder.name, score(folder, work)))
        for spec in specs:
            folder = work / f"gen-seed{spec.seed}{'-noref' * (not spec.references)}"
            generate(folder, spec)
            rows.append((folder.name, score(folder, work)))
    keys = [k for k, _, _ in TARGETS]
    width = max(len(k) for k in keys + ["worst cause (accuracy)"]) + 2
    print("figure".ljust(width) + "".join(name[:18].rjust(19) for name, _ in rows) + "   target")
    for k, op, v in TARGETS:
        print(k.ljust(width) + "".join(str(r[k]).rjust(19) for _, r in rows) + f"   {op} {v}")
    worst = [min(r["cause_accuracy"].items(), key=lambda kv: kv[1]) for _, r in rows]
    print("worst cause (accuracy)".ljust(width) + "".join(f"{c[:12]} {a}".rjust(19) for c, a in worst) + "   >= 0.85")
    print()
    for name, r in rows:
        bad = check_targets(r)
        print(f"{name}: {'all targets met' if not bad else 'MISSED: ' + '; '.join(bad)}")


if __name__ == "__main__":
    main()
