"""A seeded generator of synthetic fleets in the scenario format (shared/scenarios/README.md).

It draws fleets differently from the shared examples on purpose: other sizes, frame rates 8-30,
soft to very deep congestion (down to a frame every few minutes), congestion confined to one area
of an ISP, more probe noise, overlapping events, with or without reference checks. The classifier
is tuned to physics, so it must hold its figures here too.

    python -m tests.monitor.scenario_gen OUT_DIR --seed 7 --cameras 80 --days 2 [--noref]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

JST = timezone(timedelta(hours=9))
ISPS = ["flets-ocn", "flets-sonet", "flets-biglobe", "nuro", "au-hikari"]
PRIO = {"monitor_outage": 0, "area_outage": 1, "isp_outage": 2, "local_outage": 3, "camera_fault": 4,
        "local_congestion": 5, "isp_congestion": 6}


@dataclass
class Spec:
    seed: int = 1
    cameras: int = 80
    areas: int = 6
    isps: int = 4
    days: int = 2
    references: bool = True
    noise: float = 0.004  # probability of a lone failed probe
    congestion_depth: tuple[float, float] = (0.55, 0.995)  # 1 - fps ratio; 0.995 = a frame every ~20 s at 10 fps
    local_outages_per_day: float = 6.0
    start: datetime = datetime(2026, 12, 7, tzinfo=JST)
    messy: bool = False
    """What a real city looks like (drawn from a separate random stream, so a clean fleet of the same seed
    stays the same): registry rows wrong (`wrong_isp`, `wrong_area`, `wrong_fps` shares of household
    lines or cameras), rows missing (`missing_rows`), monitor restarts (`restarts` gaps of 3-8 minutes
    with no rows at all), probe times spread up to `spread_s` within their minute, and household
    congestion on top of its provider's congestion."""
    wrong_isp: float = 0.05
    wrong_area: float = 0.03
    wrong_fps: float = 0.08
    missing_rows: float = 0.01
    restarts: int = 2
    spread_s: int = 45


def _poisson(rng: random.Random, lam: float) -> int:
    if lam > 30:
        return max(0, int(rng.gauss(lam, math.sqrt(lam))))
    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _faulted(events: list[dict], cameras: list[str], s: int, e: int) -> bool:
    """Whether any of ``cameras`` already has a household fault overlapping [s, e)."""
    return any(ev["cause"] in ("local_outage", "camera_fault") and set(ev["cameras"]) & set(cameras)
               and ev["s"] < e and s < ev["e"] for ev in events)


def generate(out: Path | str, spec: Spec) -> dict:
    rng = random.Random(spec.seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    isps = ISPS[: spec.isps]
    cams, lines = [], []
    for i in range(spec.cameras):
        area = f"A{rng.randrange(spec.areas) + 1:02d}"
        if lines and rng.random() < 0.15 and lines[-1][1] == area:
            line, isp = lines[-1][0], lines[-1][2]  # a second camera on the same household line
        else:
            line, isp = f"{area}-L{i + 1:03d}", rng.choice(isps)
            lines.append((line, area, isp))
        cams.append({"camera_id": f"C{i + 1:04d}", "area": area, "isp": isp, "line_id": line,
                     "expected_fps": rng.choice([8, 10, 12, 15, 20, 25, 30]),
                     "rtt": rng.uniform(5, 45)})
    by_line: dict[str, list[str]] = {}
    for c in cams:
        by_line.setdefault(c["line_id"], []).append(c["camera_id"])
    minutes = spec.days * 1440
    events: list[dict] = []

    def add(cause: str, ids: list[str], s: int, e: int, scope: dict, **extra) -> None:
        events.append({"cause": cause, "cameras": sorted(ids), "s": s, "e": min(e, minutes), "scope": scope,
                       **extra})

    areas = sorted({c["area"] for c in cams})
    for day in range(spec.days):
        base = day * 1440
        # Evening congestion on one or two ISPs; sometimes confined to one area of the ISP.
        for isp in rng.sample(isps, k=min(len(isps), rng.choice([1, 2]))):
            members = [c for c in cams if c["isp"] == isp]
            scope = {"isp": isp}
            if rng.random() < 0.35:
                area = rng.choice(sorted({c["area"] for c in members}))
                members = [c for c in members if c["area"] == area]
                scope = {"isp": isp, "area": area}
            hit = [c["camera_id"] for c in members if rng.random() < 0.85]
            if len({next(x["line_id"] for x in cams if x["camera_id"] == h) for h in hit}) >= 3:
                s = base + 18 * 60 + rng.randrange(0, 120)
                add("isp_congestion", hit, s, s + rng.randrange(150, 330), scope,
                    depth=rng.uniform(*spec.congestion_depth), ramp=rng.randrange(5, 30))
        # Household outages at any hour (some inside congestion evenings), a few camera faults.
        # A household already down cannot fail again: one fault per camera at a time (a second
        # event inside the first would be the same outage in the truth, not a new one).
        for _ in range(_poisson(rng, spec.local_outages_per_day)):
            line = rng.choice(lines)[0]
            s = base + rng.randrange(0, 1440)
            dur = rng.choice([3, 4, 15, 45, 90, 240, 600, 2400])
            if not _faulted(events, by_line[line], s, s + dur):
                add("local_outage", by_line[line], s, s + dur, {"line": line})
        if rng.random() < 0.7:
            c = rng.choice(cams)["camera_id"]
            s = base + rng.randrange(0, 1440)
            dur = rng.choice([40, 200, 500])
            if not _faulted(events, [c], s, s + dur):
                add("camera_fault", [c], s, s + dur, {"camera": c})
        # A household saturating its own line in the evening, on an ISP that is calm that evening.
        busy = {e["scope"]["isp"] for e in events if e["cause"] == "isp_congestion" and base <= e["s"] < base + 1440}
        calm = [ln for ln in lines if ln[2] not in busy]
        if calm:
            line = rng.choice(calm)[0]
            s = base + 19 * 60 + rng.randrange(0, 90)
            add("local_congestion", by_line[line], s, s + rng.randrange(60, 200), {"line": line},
                depth=rng.uniform(0.6, 0.9), ramp=0)
    # One area outage with a straggler, one ISP outage, one monitor outage.
    area = rng.choice(areas)
    acams = [c["camera_id"] for c in cams if c["area"] == area]
    hit = [c for c in acams if rng.random() < 0.9]
    s = rng.randrange(60, minutes - 300)
    e = s + rng.randrange(25, 120)
    add("area_outage", hit, s, e, {"area": area}, spread=rng.randrange(1, 4))
    straggler = rng.choice(hit)
    add("local_outage", [straggler], e, e + rng.randrange(60, 400),
        {"camera": straggler}, after="area_outage")
    isp = rng.choice(isps)
    hit = [c["camera_id"] for c in cams if c["isp"] == isp and rng.random() < 0.9]
    s = rng.randrange(60, minutes - 300)
    add("isp_outage", hit, s, s + rng.randrange(20, 80), {"isp": isp}, spread=rng.randrange(1, 3))
    s = rng.randrange(60, minutes - 300)
    add("monitor_outage", [c["camera_id"] for c in cams], s, s + rng.randrange(10, 30), {"monitor": True})

    # A household outage that begins while a shared outage already holds the camera down cannot be
    # seen until the shared one ends: from then on it is a local outage (as in the shared examples).
    shared = [e for e in events if e["cause"] in ("area_outage", "isp_outage", "monitor_outage")]
    for ev in events:
        if ev["cause"] != "local_outage":
            continue
        for sh in shared:
            if sh["s"] <= ev["s"] < sh["e"] and set(ev["cameras"]) <= set(sh["cameras"]):
                ev["s"] = sh["e"]
    # After the shifts above, keep one household fault per camera at a time (the earlier one wins).
    kept: list[dict] = []
    for ev in sorted(events, key=lambda e: e["s"]):
        if ev["cause"] in ("local_outage", "camera_fault") and _faulted(kept, ev["cameras"], ev["s"], ev["e"]):
            continue
        kept.append(ev)
    events[:] = kept
    registry = [dict(c) for c in cams]
    gaps: list[tuple[int, int]] = []
    if spec.messy:
        mrng = random.Random(spec.seed * 7919 + 17)
        _congestion_on_congestion(mrng, events, by_line, cams)
        registry = _wrong_registry(mrng, spec, cams, isps, areas)
        gaps = [(s, s + mrng.randrange(3, 9)) for s in (mrng.randrange(60, minutes - 60) for _ in range(spec.restarts))]
    per_cam: dict[str, list[dict]] = {}
    for ev in events:
        for cid in ev["cameras"]:
            per_cam.setdefault(cid, []).append(ev)
    monitor = [e for e in events if e["cause"] == "monitor_outage"]

    with gzip.open(out / "observations.jsonl.gz", "wt", encoding="utf-8") as f:
        for m in range(minutes):
            t = (spec.start + timedelta(minutes=m)).isoformat()
            mon_down = any(e["s"] <= m < e["e"] for e in monitor)
            rows = []
            if spec.references:
                for ref in ("gateway", "resolver"):
                    ok = not mon_down and rng.random() > spec.noise / 2
                    rows.append({"t": t, "reference": ref, "reachable": ok})
            for c in cams:
                rows.append(_observe(rng, spec, c, m, t, per_cam.get(c["camera_id"], ())))
            if spec.messy:
                rows = _messy_minute(mrng, spec, rows, m, gaps)
            for row in rows:
                f.write(json.dumps(row) + "\n")

    with open(out / "cameras.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["camera_id", "area", "isp", "line_id", "expected_fps", "address", "owner_name", "contact",
                    "phone", "email", "lang", "vendor", "rtsp_url", "onvif_url"])
        for n, c in enumerate(registry, 1):
            w.writerow([c["camera_id"], c["area"], c["isp"], c["line_id"], c["expected_fps"],
                        f"千葉県松戸市{n}-1-1", f"設置者{n:04d}", rng.choice(["sms", "email", "voice"]),
                        f"+8190{12340000 + n:08d}", f"owner{n:04d}@example.com", "ja", "vendor-1",
                        f"rtsp://cam{n:04d}.example.net:554/stream1",
                        f"http://cam{n:04d}.example.net:80/onvif/device_service"])
    with open(out / "registry_truth.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["camera_id", "area", "isp", "expected_fps"])
        for c in cams:
            w.writerow([c["camera_id"], c["area"], c["isp"], c["expected_fps"]])
    with open(out / "truth.jsonl", "w", encoding="utf-8") as f:
        for ev in sorted(events, key=lambda e: e["s"]):
            if ev["e"] <= ev["s"]:
                continue
            rec = {"cause": ev["cause"], "cameras": ev["cameras"],
                   "start": (spec.start + timedelta(minutes=ev["s"])).isoformat(),
                   "end": (spec.start + timedelta(minutes=ev["e"])).isoformat(), "scope": ev["scope"]}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return {"cameras": len(cams), "events": len(events), "minutes": minutes}


def _observe(rng: random.Random, spec: Spec, c: dict, m: int, t: str, evs) -> dict:
    cid, exp, rtt0 = c["camera_id"], c["expected_fps"], c["rtt"]
    active = []
    for e in evs:
        s = e["s"] + (int(cid[1:]) * 7 % (e["spread"] + 1) if e.get("spread") else 0)  # fixed per camera
        if s <= m < e["e"]:
            active.append(e)
    down = [e for e in active if e["cause"] in ("monitor_outage", "area_outage", "isp_outage", "local_outage")]
    if down or rng.random() < spec.noise:
        return {"t": t, "camera": cid, "reachable": False, "rtt_ms": None, "onvif_ok": False, "fps": 0.0,
                "max_gap_s": 60.0}
    if any(e["cause"] == "camera_fault" for e in active):
        return {"t": t, "camera": cid, "reachable": True, "rtt_ms": round(rtt0 * rng.uniform(0.8, 1.3), 1),
                "onvif_ok": rng.random() > 0.05, "fps": 0.0, "max_gap_s": 60.0}
    depth = 0.0
    for e in active:
        if "depth" in e:
            ramp = e.get("ramp", 0)
            k = min(1.0, (m - e["s"] + 1) / ramp) if ramp else 1.0
            d = e["depth"] * (k if rng.random() < k else 0.0)
            # two bottlenecks in series (a household congested inside its provider's congestion) multiply
            depth = 1 - (1 - depth) * (1 - d) if spec.messy else max(depth, d)
    if depth > 0 or rng.random() < spec.noise / 2:
        depth = depth or rng.uniform(0.5, 0.9)  # a lone slow interval (noise)
        lam = max(0.0, exp * (1 - depth) * rng.uniform(0.6, 1.4)) * 60
        frames = _poisson(rng, lam)
        fps = round(frames / 60, 2)
        gap = 60.0 if frames == 0 else round(min(60.0, 60 / (frames + 1) * rng.uniform(1.5, 4.0) + 0.5), 2)
        if rng.random() < 0.03 + 0.25 * depth:
            return {"t": t, "camera": cid, "reachable": False, "rtt_ms": None, "onvif_ok": False, "fps": fps,
                    "max_gap_s": gap}
        rtt = rtt0 + rng.uniform(40, 500) * depth
        return {"t": t, "camera": cid, "reachable": True, "rtt_ms": round(rtt, 1),
                "onvif_ok": rng.random() > 0.1 * depth, "fps": fps, "max_gap_s": gap}
    return {"t": t, "camera": cid, "reachable": True, "rtt_ms": round(rtt0 * rng.uniform(0.8, 1.3), 1),
            "onvif_ok": rng.random() > 0.002, "fps": round(exp * rng.uniform(0.96, 1.0), 2),
            "max_gap_s": round(1 / exp + rng.uniform(0.0, 0.25), 2)}


def _congestion_on_congestion(rng: random.Random, events: list[dict], by_line: dict[str, list[str]],
                              cams: list[dict]) -> None:
    """A household saturating its own line while its provider is congested too (both in series)."""
    line_of = {c["camera_id"]: c["line_id"] for c in cams}
    for ev in [e for e in events if e["cause"] == "isp_congestion"]:
        if rng.random() < 0.5:
            continue
        line = line_of[rng.choice(ev["cameras"])]
        s = ev["s"] + rng.randrange(20, 60)
        e = min(ev["e"] - 10, s + rng.randrange(60, 180))
        if e - s >= 40 and not any(x["cause"] == "local_congestion" and x["scope"].get("line") == line
                                   for x in events):
            events.append({"cause": "local_congestion", "cameras": sorted(by_line[line]), "s": s, "e": e,
                           "scope": {"line": line}, "depth": rng.uniform(0.5, 0.85), "ramp": 0})


def _wrong_registry(rng: random.Random, spec: Spec, cams: list[dict], isps: list[str],
                    areas: list[str]) -> list[dict]:
    """The registry as the city typed it: some lines on another provider than written (the owner moved),
    some cameras in another area, some set to another frame rate than written."""
    reg = [dict(c) for c in cams]
    lines = sorted({c["line_id"] for c in cams})
    moved_isp = {ln for ln in lines if rng.random() < spec.wrong_isp}
    moved_area = {ln for ln in lines if rng.random() < spec.wrong_area}
    for r in reg:
        if r["line_id"] in moved_isp and len(isps) > 1:
            others = sorted(i for i in isps if i != r["isp"])
            r["isp"] = others[sum(map(ord, r["line_id"])) % len(others)]
        if r["line_id"] in moved_area and len(areas) > 1:
            others = sorted(a for a in areas if a != r["area"])
            r["area"] = others[sum(map(ord, r["line_id"])) % len(others)]
        if rng.random() < spec.wrong_fps:
            r["expected_fps"] = rng.choice([f for f in (8, 10, 12, 15, 20, 25, 30)
                                            if abs(f - r["expected_fps"]) > 0.3 * r["expected_fps"]])
    return reg


def _messy_minute(rng: random.Random, spec: Spec, rows: list[dict], m: int, gaps: list[tuple[int, int]]) -> list[dict]:
    """One minute's rows as a real monitor writes them: none while it restarts, about 1 % missing, each
    probe's time somewhere in its minute (rows in time order)."""
    if any(s <= m < e for s, e in gaps):
        return []
    kept = []
    for row in rows:
        if "camera" in row and rng.random() < spec.missing_rows:
            continue
        t = datetime.fromisoformat(row["t"]) + timedelta(seconds=rng.randrange(0, spec.spread_s + 1))
        kept.append({**row, "t": t.isoformat()})
    kept.sort(key=lambda r: r["t"])
    return kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cameras", type=int, default=80)
    ap.add_argument("--areas", type=int, default=6)
    ap.add_argument("--isps", type=int, default=4)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--noref", action="store_true")
    ap.add_argument("--messy", action="store_true", help="wrong registry rows, missing rows, restarts, spread times")
    a = ap.parse_args()
    print(generate(a.out, Spec(seed=a.seed, cameras=a.cameras, areas=a.areas, isps=a.isps, days=a.days,
                               references=not a.noref, messy=a.messy)))


if __name__ == "__main__":
    main()
