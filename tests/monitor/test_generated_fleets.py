"""Fleets drawn differently from the shared examples (tests/monitor/scenario_gen.py), held to the targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.replay.files import replay_files

from .scenario_gen import Spec, generate
from .scoring import check_targets, load_scorer

FLEETS = [
    Spec(seed=11, cameras=50, areas=4, isps=3, days=2),
    Spec(seed=12, cameras=40, areas=3, isps=3, days=2, references=False),
    Spec(seed=13, cameras=70, areas=6, isps=5, days=2, noise=0.01, congestion_depth=(0.45, 0.8)),
    Spec(seed=14, cameras=60, areas=5, isps=4, days=2, references=False, congestion_depth=(0.9, 0.999)),
]


@pytest.mark.parametrize("spec", FLEETS, ids=[f"seed{s.seed}-{s.cameras}cams{'-noref' * (not s.references)}"
                                              for s in FLEETS])
def test_generated_fleet_meets_targets(spec: Spec, tmp_path: Path):
    sr = load_scorer()
    generate(tmp_path, spec)
    out = tmp_path / "decisions.jsonl"
    replay_files(tmp_path / "cameras.csv", tmp_path / "observations.jsonl.gz", out)
    cams, truth, decs = sr.load(str(tmp_path), str(out))
    res = sr.score(cams, truth, decs)
    assert not check_targets(res), res
