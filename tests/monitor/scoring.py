"""The shared scorer (../shared/tools/score_replay.py) and the issue's targets, for tests and benchmarks."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SCORER = SHARED / "tools" / "score_replay.py"
SCENARIOS = sorted(p for p in (SHARED / "scenarios").glob("*") if (p / "truth.jsonl").exists())

TARGETS = [
    ("owner_precision", ">=", 0.98), ("owner_recall", ">=", 0.98),
    ("owner_alerts_during_upstream", "==", 0), ("owner_quiet_hour_violations", "==", 0),
    ("owner_duplicate_requests", "==", 0), ("vendor_precision", ">=", 0.95),
    ("vendor_recall", "==", 1.0), ("cause_accuracy_mean", ">=", 0.95),
    ("operator_notices_max_per_upstream_event", "<=", 2),
    ("registry_precision", ">=", 0.95), ("registry_recall", ">=", 0.9),
]
MIN_CAUSE_ACCURACY = 0.85


def load_scorer() -> ModuleType:
    """The scorer module; ../shared is always beside the checkout (CI lays it there), so its absence fails."""
    if not SCORER.exists():
        raise AssertionError(f"{SCORER} is missing: the tests need ../shared beside the checkout")
    spec = importlib.util.spec_from_file_location("score_replay", SCORER)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def check_targets(res: dict, *, skip_causes: frozenset[str] = frozenset()) -> list[str]:
    bad = []
    for k, op, v in TARGETS:
        x = res[k]
        if not {">=": x >= v, "==": x == v, "<=": x <= v}[op]:
            bad.append(f"{k}={x} (want {op} {v})")
    for cause, acc in res["cause_accuracy"].items():
        if acc < MIN_CAUSE_ACCURACY and cause not in skip_causes:
            bad.append(f"cause_accuracy[{cause}]={acc}")
    return bad


def score_files(scenario: Path, decisions: Path) -> dict:
    sr = load_scorer()
    return sr.score(*sr.load(str(scenario), str(decisions)))
