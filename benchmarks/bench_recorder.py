"""Recorder vs one ffmpeg process per camera, on the same simulated streams in the same run.

    .venv/bin/python benchmarks/bench_recorder.py --counts 10,25,50 --seconds 30

For each N, N simulated RTSP cameras (15 fps, 640x480, GOP 15; monitor/simulate/rtsp_server.py) are
pulled at the same time by (a) one recorder process (PyAV, a thread per camera, fragmented-MP4
segments) and (b) N processes of
``ffmpeg -rtsp_transport tcp -i URL -c copy -f segment -segment_time 60 ...`` writing the same kind
of fragmented MP4. Reported per side: CPU seconds per stream-hour (rusage of the process tree),
memory per stream (peak RSS summed over processes, and PSS sampled near the end, which does not
count shared libraries once per process), frames written against the frames the camera sent, and how
often the recorder reconnected (its session-end log lines go to stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIMULATOR = REPO / "monitor" / "simulate" / "rtsp_server.py"
FPS = 15
PER_SIM_PROCESS = 25
WARMUP_S = 6.0


def start_sims(n: int) -> tuple[list[subprocess.Popen], list[str]]:
    procs, urls = [], []
    for first in range(0, n, PER_SIM_PROCESS):
        cams = [f"B{i:03d}" for i in range(first, min(n, first + PER_SIM_PROCESS))]
        p = subprocess.Popen(["/usr/bin/python3", str(SIMULATOR), "--cams", ",".join(f"{c}:0:{FPS}" for c in cams)],
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
    """utime + stime of a live process (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def reap(pid: int) -> tuple[float, int]:
    """Wait for a child; return its CPU seconds and peak RSS in KiB."""
    _, _, ru = os.wait4(pid, 0)
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss


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


def bench(n: int, seconds: float) -> dict:
    sims, urls = start_sims(n)
    work = Path(tempfile.mkdtemp(prefix=f"bench{n}-"))
    try:
        rec = subprocess.Popen([sys.executable, __file__, "--child", str(work / "rec"), *urls],
                               stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert rec.stdout.readline().strip() == "recording"
        ffmpegs = []
        for i, url in enumerate(urls):
            out = work / "ff" / f"B{i:03d}"
            out.mkdir(parents=True)
            ffmpegs.append(subprocess.Popen(
                ["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i", url, "-c", "copy",
                 "-f", "segment", "-segment_time", "60", "-reset_timestamps", "1",
                 "-segment_format_options", "movflags=+frag_keyframe+empty_moov+default_base_moof",
                 str(out / "%03d.mp4")],
                stdin=subprocess.DEVNULL))
        t0 = time.monotonic()
        time.sleep(WARMUP_S)  # start-up (imports, RTSP handshakes) is left out of the steady CPU figure
        rec_cpu0, ff_cpu0, w0 = cpu_s(rec.pid), sum(cpu_s(p.pid) for p in ffmpegs), time.monotonic()
        time.sleep(max(0.0, t0 + seconds - 3 - time.monotonic()))
        rec_pss = pss_kib(rec.pid)
        ff_pss = sum(pss_kib(p.pid) for p in ffmpegs)
        time.sleep(max(0.0, t0 + seconds - time.monotonic()))
        rec_steady = cpu_s(rec.pid) - rec_cpu0
        ff_steady = sum(cpu_s(p.pid) for p in ffmpegs) - ff_cpu0
        steady_h = n * (time.monotonic() - w0) / 3600
        for p in ffmpegs:
            p.send_signal(signal.SIGINT)
        rec.send_signal(signal.SIGTERM)
        ff = [reap(p.pid) for p in ffmpegs]
        child = json.loads(rec.stdout.readline())
        rec_frames, rec_reconnects = child["frames"], child["reconnects"]
        rec_cpu, rec_rss = reap(rec.pid)
        rec.stdout.close()
        ff_frames, ff_lost, ff_bad = frames_and_gaps(sorted((work / "ff").rglob("*.mp4")))
        rec_files, rec_lost, rec_bad = frames_and_gaps(sorted((work / "rec" / "segments").rglob("*.mp4")))
        assert rec_files == rec_frames, (rec_files, rec_frames)
    finally:
        for s in sims:
            s.stdin.close()
            s.wait()
    hours = n * seconds / 3600
    expected = n * seconds * FPS
    return {
        "n": n, "seconds": seconds,
        "rec_cpu_s_per_stream_h": rec_steady / steady_h, "ff_cpu_s_per_stream_h": ff_steady / steady_h,
        "rec_cpu_total": rec_cpu / hours, "ff_cpu_total": sum(c for c, _ in ff) / hours,
        "rec_rss_mib_per_stream": rec_rss / 1024 / n, "ff_rss_mib_per_stream": sum(r for _, r in ff) / 1024 / n,
        "rec_pss_mib_per_stream": rec_pss / 1024 / n, "ff_pss_mib_per_stream": ff_pss / 1024 / n,
        "rec_frames": rec_frames, "ff_frames": ff_frames, "expected_frames": expected,
        "rec_lost": rec_lost, "ff_lost": ff_lost, "rec_bad": rec_bad, "ff_bad": ff_bad,
        "rec_reconnects": rec_reconnects,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        run_child_recorder(sys.argv[2], sys.argv[3:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default="10,25")
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    print("| N | steady CPU s/stream-h rec | ffmpeg | ratio | lifetime CPU s/stream-h rec | ffmpeg "
          "| peak RSS MiB/stream rec | ffmpeg | ratio | PSS MiB/stream rec | ffmpeg | ratio "
          "| frames written rec / ffmpeg (nominal) | frames lost inside recordings rec / ffmpeg "
          "| unreadable files rec / ffmpeg | rec reconnects |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in (int(x) for x in args.counts.split(",")):
        r = bench(n, args.seconds)
        print(f"| {n} | {r['rec_cpu_s_per_stream_h']:.1f} | {r['ff_cpu_s_per_stream_h']:.1f} | "
              f"{r['rec_cpu_s_per_stream_h'] / r['ff_cpu_s_per_stream_h']:.2f} | "
              f"{r['rec_cpu_total']:.1f} | {r['ff_cpu_total']:.1f} | "
              f"{r['rec_rss_mib_per_stream']:.2f} | {r['ff_rss_mib_per_stream']:.2f} | "
              f"{r['rec_rss_mib_per_stream'] / r['ff_rss_mib_per_stream']:.2f} | "
              f"{r['rec_pss_mib_per_stream']:.2f} | {r['ff_pss_mib_per_stream']:.2f} | "
              f"{r['rec_pss_mib_per_stream'] / max(r['ff_pss_mib_per_stream'], 1e-9):.2f} | "
              f"{r['rec_frames']} / {r['ff_frames']} ({r['expected_frames']:.0f}) | "
              f"{r['rec_lost']} / {r['ff_lost']} | {r['rec_bad']} / {r['ff_bad']} | {r['rec_reconnects']} |",
              flush=True)


if __name__ == "__main__":
    main()
