"""Replays every shared scenario through the decision core: the decisions file is held to a digest
(a restructuring must not change one byte of it) and the scores to the targets.

Run alone with:  pytest tests/monitor/test_replay_scenarios.py   (about a minute)

When a change is meant to change decisions, regenerate the digests with
    .venv/bin/python -m tests.monitor.test_replay_scenarios --update
and say in the commit which scenario's decisions changed and why.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from monitor.replay.files import replay_files

from .scoring import SCENARIOS, check_targets, score_files

DIGESTS = Path(__file__).with_name("scenario_decision_digests.json")


def _replay(scenario: Path, out_dir: Path) -> Path:
    out = out_dir / f"{scenario.name}.decisions.jsonl"
    if not out.exists():
        replay_files(scenario / "cameras.csv", scenario / "observations.jsonl.gz", out)
    return out


@pytest.fixture(scope="module")
def decisions_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("decisions")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_decisions_are_byte_identical_to_the_recorded_digest(scenario: Path, decisions_dir: Path):
    expected = json.loads(DIGESTS.read_text())
    assert scenario.name in expected, f"no digest for {scenario.name}: run this module with --update"
    assert _digest(_replay(scenario, decisions_dir)) == expected[scenario.name]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_scenario_meets_targets(scenario: Path, decisions_dir: Path):
    res = score_files(scenario, _replay(scenario, decisions_dir))
    problems = check_targets(res)
    assert not problems, f"{scenario.name}: {problems}\n{res}"


def _update() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        digests = {p.name: _digest(_replay(p, Path(tmp))) for p in SCENARIOS}
    DIGESTS.write_text(json.dumps(digests, indent=2, sort_keys=True) + "\n")
    print(f"wrote {DIGESTS}")


if __name__ == "__main__" and "--update" in sys.argv:
    _update()
