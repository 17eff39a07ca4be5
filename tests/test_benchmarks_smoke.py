"""Nothing else runs benchmarks/, so it rots silently: each script runs here once, at a tiny size.

Every ``benchmarks/*.py`` is run as ``python benchmarks/X.py <tiny args>`` from the repository root and
must exit 0 and print its figures (the lines it always prints; the values are not judged: at these sizes
they mean nothing). A script without a case in ``SMOKE`` fails ``test_every_benchmark_has_a_smoke_case``,
and ``../shared/tools/check_imports.py`` checks that each script's module-level imports still resolve.

bench_probes and bench_recorder start the GStreamer RTSP simulator (Debian /usr/bin/python3 with gi) and
bench_recorder runs ffmpeg: `make deps` installs both, CI always has them, so they fail, never skip.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
CHECK_IMPORTS = REPO.parent / "shared" / "tools" / "check_imports.py"
NUM = r"[\d,.]+"

# script: (tiny arguments, patterns its output must match: the header and figure lines it always prints)
SMOKE: dict[str, tuple[list[str], list[str]]] = {
    "bench_probes.py": (
        ["--endpoints", "10", "--rtsp", "1"],
        [
            r"^# 10 TCP/ONVIF endpoints .* 1 RTSP cameras",
            *(rf'^\{{"kind": "{kind}", .*"cpu_s_per_1000": {NUM}'
              for kind in ("tcp", "onvif", "onvif_check_sequential_per_call", "onvif_naive_ONVIFCamera_per_call",
                           "rtsp_sample_4s")),
            r"^# rtsp: .* \d+/1 reachable",
        ],
    ),
    "bench_recorder.py": (
        ["--counts", "2", "--seconds", "3", "--warmup", "1", "--rounds", "1"],
        [
            r"^Each side alone, 1 alternating phases of 3 s each",
            rf"^\| 2 \| {NUM} \| {NUM} \| \*\*{NUM}\*\* \({NUM}\) \| {NUM} \| {NUM} \| \*\*{NUM}\*\* \|",
            r"^Both sides at once, one phase",
            rf"^\| 2 \| {NUM} \| {NUM} \| {NUM} \| {NUM} \| \d+ / \d+ \(\d+\) \|",
        ],
    ),
    "bench_cluster.py": (
        ["--nodes", "2", "--cameras", "3", "--kills", "2", "--lease", "6", "--beat", "2", "--steady", "3"],
        [
            r"^# 2 nodes x 3 simulated cameras on PostgreSQL, 2 SIGKILLs",
            rf"^cpu: 1 node x 3 cameras: {NUM}% of a core \(reference\)",
            # a tiny run's lone node may read 0 clock ticks (10 ms each): then it says so instead of dividing
            rf"^cpu: 2 nodes together {NUM}%, ({NUM}x the lone node|not comparable \(the lone node read 0 clock)",
            rf"^failover \(leader SIGKILL -> new leader\): \d+ kills, median {NUM}s, worst {NUM}s",
            rf"^cameras re-recorded after a SIGKILL: median {NUM}s",
            r"^recording: 1 cameras .* by no node \d+ outside",
            r"^owners asked: \d+ reboot requests",
            r"^invariants: ok",
        ],
    ),
    "bench_console.py": (
        ["--cameras", "50", "--requests", "3"],
        [
            r"^# fleet page, 50 cameras on SQLite, 3 requests each",
            rf"^store query alone \(store.console.fleet\): median {NUM} ms",
            rf"^GET /console \(all 50 listed, map of 50\): median {NUM} ms, p99 {NUM} ms",
            rf"^page / store query: {NUM}x \(medians\)",
        ],
    ),
    "bench_drift.py": (
        ["--endpoints", "10", "--concurrency", "5"],
        [
            r"^# 10 simulated ONVIF cameras in one responder",
            rf'^\{{"run": "full drift check", "cameras": 10, "wall_s": {NUM}, "cpu_s": {NUM}',
            r'^\{"run": "reference: one ONVIF probe round", "cameras": 10',
            r"^drift check: 10 cameras in .* 10 answered; 1 findings for 1 cameras drifted",
            rf"^drift / probe round: {NUM}x the CPU",
        ],
    ),
    "bench_replay.py": (
        ["--limit", "60000"],
        [
            r"^scenario +fleet-11 \(first 60,000 lines\): [\d,]+ camera observations",
            rf"^parse only +{NUM} obs/s",
            rf"^full replay +{NUM} obs/s +\({NUM} s, \d+ decisions\)",
            rf"^replay / parse +{NUM} x the time",
        ],
    ),
    "bench_report.py": (
        ["--cameras", "20"],
        [
            r"^20 cameras x 7 days \(3,360 hourly rollups\) on sqlite",
            rf"^load \+ maths {NUM} s, charts \+ HTML \+ PDF \+ CSV {NUM} s: report in {NUM} s",
            rf"^PDF {NUM} KiB, CSV {NUM} KiB, HTML {NUM} KiB",
            rf"^store: {NUM} MiB = {NUM} KiB per camera-week",
        ],
    ),
    "score_scenarios.py": (
        ["--no-shared", "--generated", "1", "--max-cameras", "30", "--days", "1"],
        [
            r"^figure +gen-seed21 +target$",
            rf"^cause_accuracy_mean +{NUM} +>= 0.95$",
            r"^worst cause \(accuracy\) +\S+ [\d.]+ +>= 0.85$",
            r"^gen-seed21: (all targets met|MISSED: .+)$",
        ],
    ),
    "sweep_generated.py": (
        ["--seeds", "400", "--jobs", "1", "--max-cameras", "30", "--days", "1"],
        [
            rf"^seed 400: 30 cams, .*: cause mean {NUM}: (all targets met|MISSED .+)$",
            r"^[01]/1 fleets meet every target$",
        ],
    ),
}
NEEDS_PEERS = {"bench_probes.py", "bench_recorder.py"}  # GStreamer RTSP simulator (and ffmpeg for the recorder)


def test_every_benchmark_has_a_smoke_case() -> None:
    scripts = {p.name for p in BENCHMARKS.glob("*.py")}
    assert scripts, f"no scripts in {BENCHMARKS}"
    missing, stale = sorted(scripts - SMOKE.keys()), sorted(SMOKE.keys() - scripts)
    assert not missing, f"benchmarks without a smoke case in {__file__} (add tiny arguments to SMOKE): {missing}"
    assert not stale, f"smoke cases for scripts that are gone: {stale}"


def test_benchmark_imports_resolve() -> None:
    assert CHECK_IMPORTS.exists(), f"{CHECK_IMPORTS} is missing: the tests need ../shared beside the checkout"
    scripts = sorted(str(p.relative_to(REPO)) for p in BENCHMARKS.glob("*.py"))
    r = subprocess.run([sys.executable, str(CHECK_IMPORTS), *scripts], cwd=REPO, capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert r.returncode == 0, f"imports in benchmarks/ that no longer resolve:\n{r.stdout}{r.stderr}"


@pytest.mark.parametrize(
    "script",
    [pytest.param(s, marks=pytest.mark.peers) if s in NEEDS_PEERS else s for s in sorted(SMOKE)],
)
def test_benchmark_runs_at_a_tiny_size(script: str) -> None:
    args, patterns = SMOKE[script]
    start = time.monotonic()
    r = subprocess.run([sys.executable, f"benchmarks/{script}", *args], cwd=REPO, capture_output=True, text=True,
                       timeout=180)  # fmt: skip
    took = time.monotonic() - start
    shown = (f"$ benchmarks/{script} {' '.join(args)}  ({took:.1f} s)\n--- stdout\n{r.stdout}\n"
             f"--- stderr\n{r.stderr[-4000:]}")  # fmt: skip
    assert r.returncode == 0, f"exit {r.returncode}\n{shown}"
    absent = [p for p in patterns if not re.search(p, r.stdout, re.MULTILINE)]
    assert not absent, f"figures not printed (patterns {absent})\n{shown}"
