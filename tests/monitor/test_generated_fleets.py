"""Fleets drawn differently from the shared examples (tests/monitor/scenario_gen.py), held to the targets."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from monitor.replay import replay_files

from .scenario_gen import Spec, generate

SCORER = Path(__file__).parents[2] / "../shared/tools/score_replay.py"

FLEETS = [
    Spec(seed=11, cameras=50, areas=4, isps=3, days=2),
    Spec(seed=12, cameras=40, areas=3, isps=3, days=2, references=False),
    Spec(seed=13, cameras=70, areas=6, isps=5, days=2, noise=0.01, congestion_depth=(0.45, 0.8)),
    Spec(seed=14, cameras=60, areas=5, isps=4, days=2, references=False, congestion_depth=(0.9, 0.999)),
]


def load_scorer():
    if not SCORER.exists():
        pytest.skip("shared/tools/score_replay.py is not available")
    spec = importlib.util.spec_from_file_location("score_replay", SCORER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("spec", FLEETS, ids=[f"seed{s.seed}-{s.cameras}cams{'-noref' * (not s.references)}"
                                              for s in FLEETS])
def test_generated_fleet_meets_targets(spec: Spec, tmp_path: Path):
    from .test_replay_scenarios import check_targets

    sr = load_scorer()
    generate(tmp_path, spec)
    out = tmp_path / "decisions.jsonl"
    replay_files(tmp_path / "cameras.csv", tmp_path / "observations.jsonl.gz", out)
    cams, truth, decs = sr.load(str(tmp_path), str(out))
    res = sr.score(cams, truth, decs)
    assert not check_targets(res), res
