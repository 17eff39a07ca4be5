"""Recorder vs one ffmpeg process per camera, on the same simulated streams in the same run.

    .venv/bin/python benchmarks/bench_recorder.py --counts 10,25,50 --seconds 30 --rounds 3

(The smoke test, tests/test_benchmarks_smoke.py, runs it with --counts 2 --seconds 3 --warmup 1 --rounds 1:
figures that only show it still runs.)

For each N, N simulated RTSP cameras (15 fps, 640x480, GOP 15; monitor/demo/simulate/rtsp_server.py) are
pulled by (a) one recorder process (PyAV, a thread per camera, fragmented-MP4 segments) and (b) N
processes of ``ffmpeg -rtsp_transport tcp -i URL -c copy -f segment -segment_time 60 ...`` writing
the same kind of fragmented MP4.

The main figures come from phases in which each side runs alone, alternating which goes first,
`--rounds` times; the ratio is the median of the per-round ratios. On this 2-core machine the
simulators, the recorder and 50 ffmpeg processes running at once compete for the cores, and the
scheduling cost of that contest lands on whichever side happens to wait; so a last phase runs both at
once and is reported apart, as a second table (`--no-together` leaves it out).

Reported per side: CPU seconds per stream-hour after a warm-up (utime + stime of the processes),
memory per stream (peak RSS summed over processes, and PSS sampled near the end, which does not count
shared libraries once per process), frames written against the frames the cameras sent, frames
missing inside the recordings, and how often the recorder reconnected.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FPS = 15
PER_SIM_PROCESS = 25
WARMUP_S = 6.0


def start_sims(n: int) -> tuple[list[subprocess.Popen], list[str]]:
    # The simulator's script and interpreter as the simulator package names them (so a move follows);
    # imported here, not at module level, so that the measured --child recorder does not load monitor.
    sys.path.insert(0, str(REPO))
    from monitor.demo.simulate.fleet import GI_PYTHON, RTSP_SCRIPT

    procs, urls = [], []
    for first in range(0, n, PER_SIM_PROCESS):
        cams = [f"B{i:03d}" for i in range(first, min(n, first + PER_SIM_PROCESS))]
        p = subprocess.Popen([GI_PYTHON, str(RTSP_SCRIPT), "--cams", ",".join(f"{c}:0:{FPS}" for c in cams)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ports = json.loads(p.stdout.readline())["ports"]
        procs.append(p)
        urls += [f"rtsp://127.0.0.1:{ports[c]}/stream1" for c in cams]
    return procs, urls


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_s(pid: int) -> float:
    """CPU time of a live process in seconds, summed over its threads from the scheduler's own
    nanosecond account (``/proc/PID/task/*/schedstat``), not from 10 ms ticks."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended while we looked
    return total / 1e9


def frames_and_gaps(files: list[Path]) -> tuple[int, int, int]:
    """Frames in the files, frames missing inside them (dts steps over 1.5 nominal intervals), and
    files that could not be read at all (a process that never got its stream going)."""
    import av

    frames = lost = unreadable = 0
    for f in files:
        try:
            with av.open(str(f)) as c:
                st = c.streams.video[0]
                dts = [p.dts for p in c.demux(st) if p.dts is not None]
        except (av.error.FFmpegError, IndexError):
            unreadable += 1
            continue
        frames += len(dts)
        if len(dts) > 2:
            steps = sorted(b - a for a, b in zip(dts, dts[1:], strict=False))
            nominal = steps[len(steps) // 2] or 1
            lost += sum(max(0, round(step / nominal) - 1) for step in steps if step > 1.5 * nominal)
    return frames, lost, unreadable


def reap(pid: int) -> int:
    """Wait for a child; return its peak RSS in KiB."""
    return os.wait4(pid, 0)[2].ru_maxrss


def run_child_recorder(root: str, urls: list[str]) -> None:
    """--child mode: record until SIGTERM, then print the frames indexed per camera."""
    from sqlalchemy import create_engine, func, select
    from sqlalchemy.orm import sessionmaker

    from recorder.index import RecorderBase, SegmentRow
    from recorder.service import Recorder, RecorderConfig

    Path(root).mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{root}/index.db")
    RecorderBase.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    recorder = Recorder(RecorderConfig(root=Path(root) / "segments", segment_s=60), sessions)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="rec %(asctime)s %(name)s: %(message)s")
    logging.getLogger("recorder.service").setLevel(logging.WARNING)  # not the start-up reconciliation
    signal.signal(signal.SIGTERM, lambda *_: None)
    recorder.start([(f"B{i:03d}", u) for i, u in enumerate(urls)])
    print("recording", flush=True)
    signal.sigwait({signal.SIGTERM})
    reconnects = sum(st.reconnects for st in recorder.status().values())
    recorder.stop()
    with sessions() as s:
        frames = s.scalar(select(func.coalesce(func.sum(SegmentRow.frames), 0)))
    print(json.dumps({"frames": frames, "reconnects": reconnects}), flush=True)


def ffmpeg_cmd(url: str, out: Path) -> list[str]:
    return ["ffmpeg", "-nostdin", "-nostats", "-v", "error", "-rtsp_transport", "tcp", "-i", url, "-c", "copy",
            "-f", "segment", "-segment_time", "60", "-reset_timestamps", "1",
            "-segment_format_options", "movflags=+frag_keyframe+empty_moov+default_base_moof", str(out / "%03d.mp4")]


class Side:
    """One contender over one phase: the recorder (one process) or N ffmpeg processes."""

    def __init__(self, kind: str, urls: list[str], work: Path):
        self.kind, self.dir = kind, work / kind
        if kind == "rec":
            self.procs = [subprocess.Popen([sys.executable, __file__, "--child", str(self.dir), *urls],
                                           stdout=subprocess.PIPE, text=True, cwd=REPO)]
            assert self.procs[0].stdout.readline().strip() == "recording"
        else:
            self.procs = []
            for i, url in enumerate(urls):
                out = self.dir / f"B{i:03d}"
                out.mkdir(parents=True)
                self.procs.append(subprocess.Popen(ffmpeg_cmd(url, out), stdin=subprocess.DEVNULL))

    def cpu(self) -> float:
        return sum(cpu_s(p.pid) for p in self.procs)

    def pss(self) -> int:
        return sum(pss_kib(p.pid) for p in self.procs)

    def stop(self) -> dict:
        """Stop, reap, and read back what was written."""
        rec = self.kind == "rec"
        for p in self.procs:
            p.send_signal(signal.SIGTERM if rec else signal.SIGINT)
        child = json.loads(self.procs[0].stdout.readline()) if rec else {}
        rss_kib = sum(reap(p.pid) for p in self.procs)
        if rec:
            self.procs[0].stdout.close()
        files = sorted((self.dir / "segments" if rec else self.dir).rglob("*.mp4"))
        frames, lost, bad = frames_and_gaps(files)
        if rec:
            assert frames == child["frames"], (frames, child["frames"])
        return {"rss_kib": rss_kib, "frames": frames, "lost": lost, "bad": bad,
                "reconnects": child.get("reconnects", 0)}


def run_phase(kinds: tuple[str, ...], urls: list[str], seconds: float, warmup: float = WARMUP_S) -> dict[str, dict]:
    """Start the given sides together, measure steady CPU from `warmup` to `seconds`, stop them."""
    work = Path(tempfile.mkdtemp(prefix=f"bench{len(urls)}-"))
    sides: list[Side] = []
    try:
        for kind in kinds:
            sides.append(Side(kind, urls, work))
        t0 = time.monotonic()
        time.sleep(warmup)  # start-up (imports, RTSP handshakes) is left out of the steady CPU figure
        cpu0, w0 = [s.cpu() for s in sides], time.monotonic()
        time.sleep(max(0.0, t0 + seconds - 3 - time.monotonic()))
        pss = [s.pss() for s in sides]
        time.sleep(max(0.0, t0 + seconds - time.monotonic()))
        steady = [s.cpu() - c for s, c in zip(sides, cpu0, strict=True)]
        n = len(urls)
        steady_h = n * (time.monotonic() - w0) / 3600
        results = {}
        for side, cpu, p in zip(sides, steady, pss, strict=True):
            r = side.stop()
            results[side.kind] = {**r, "cpu_per_stream_h": cpu / steady_h, "pss_mib": p / 1024 / n,
                                  "rss_mib": r["rss_kib"] / 1024 / n, "expected": n * seconds * FPS}
        sides = []
        return results
    finally:
        for side in sides:
            for p in side.procs:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


def bench(n: int, seconds: float, rounds: int, together: bool, warmup: float = WARMUP_S) -> dict:
    """`rounds` phases of each side alone, alternating which goes first; then, if asked, one phase
    with both at once. The same simulated cameras serve every phase."""
    sims, urls = start_sims(n)
    try:
        alone: dict[str, list[dict]] = {"rec": [], "ff": []}
        for r in range(rounds):
            for kind in ("rec", "ff") if r % 2 == 0 else ("ff", "rec"):
                alone[kind].append(run_phase((kind,), urls, seconds, warmup)[kind])
        both = run_phase(("rec", "ff"), urls, seconds, warmup) if together else None
    finally:
        for s in sims:
            s.stdin.close()
            s.wait()
    return {"n": n, "alone": alone, "together": both}


def med(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def print_alone(r: dict) -> None:
    rec, ff = r["alone"]["rec"], r["alone"]["ff"]
    ratios = [a["cpu_per_stream_h"] / b["cpu_per_stream_h"] for a, b in zip(rec, ff, strict=True)]
    print(f"| {r['n']} | {med(rec, 'cpu_per_stream_h'):.2f} | {med(ff, 'cpu_per_stream_h'):.2f} | "
          f"**{statistics.median(ratios):.2f}** ({', '.join(f'{x:.2f}' for x in ratios)}) | "
          f"{med(rec, 'rss_mib'):.1f} | {med(ff, 'rss_mib'):.1f} | "
          f"**{med(rec, 'rss_mib') / med(ff, 'rss_mib'):.2f}** | "
          f"{med(rec, 'pss_mib') / max(med(ff, 'pss_mib'), 1e-9):.2f} | "
          f"{sum(x['frames'] for x in rec)} / {sum(x['frames'] for x in ff)} "
          f"({sum(x['expected'] for x in rec):.0f}) | "
          f"{sum(x['lost'] for x in rec)} / {sum(x['lost'] for x in ff)} | "
          f"{sum(x['bad'] for x in rec)} / {sum(x['bad'] for x in ff)} | {sum(x['reconnects'] for x in rec)} |",
          flush=True)


def print_together(r: dict) -> None:
    rec, ff = r["together"]["rec"], r["together"]["ff"]
    print(f"| {r['n']} | {rec['cpu_per_stream_h']:.2f} | {ff['cpu_per_stream_h']:.2f} | "
          f"{rec['cpu_per_stream_h'] / ff['cpu_per_stream_h']:.2f} | {rec['rss_mib'] / ff['rss_mib']:.2f} | "
          f"{rec['frames']} / {ff['frames']} ({rec['expected']:.0f}) | {rec['lost']} / {ff['lost']} | "
          f"{rec['reconnects']} |", flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        run_child_recorder(sys.argv[2], sys.argv[3:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default="10,25,50")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=3, help="phases of each side alone, alternating")
    ap.add_argument("--warmup", type=float, default=WARMUP_S,
                    help="seconds at the start of each phase left out of the steady CPU figure (default 6)")
    ap.add_argument("--together", action=argparse.BooleanOptionalAction, default=True,
                    help="also one phase with both sides at once (they then compete for the same cores)")
    args = ap.parse_args()
    results = []
    print(f"Each side alone, {args.rounds} alternating phases of {args.seconds:.0f} s each; medians "
          "(the ratio is the median of the per-round ratios, which are listed):\n")
    print("| N | steady CPU s/stream-h rec | ffmpeg | CPU ratio (per round) | peak RSS MiB/stream rec | ffmpeg "
          "| RSS ratio | PSS ratio | frames written rec / ffmpeg (nominal) | frames lost inside recordings "
          "rec / ffmpeg | unreadable files rec / ffmpeg | rec reconnects |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in (int(x) for x in args.counts.split(",")):
        results.append(bench(n, args.seconds, args.rounds, args.together, args.warmup))
        print_alone(results[-1])
    if args.together:
        print("\nBoth sides at once, one phase (on a small machine they compete for the same cores):\n")
        print("| N | steady CPU s/stream-h rec | ffmpeg | CPU ratio | RSS ratio | frames written rec / ffmpeg "
              "(nominal) | frames lost rec / ffmpeg | rec reconnects |")
        print("|---|---|---|---|---|---|---|---|")
        for r in results:
            print_together(r)


if __name__ == "__main__":
    main()
