"""Weekly report benchmark: 1,000 cameras x 7 days of hourly rollups (generated), the whole report.

    .venv/bin/python benchmarks/bench_report.py [--cameras 1000] [--db URL]

Generates a fleet (20 areas, 5 ISPs) with one week of hourly rollups, an evening congestion on two
ISPs every day, a few local outages, and the state intervals and incident spans that go with them;
then times what the Monday job does: load from the store, the maths, the two charts, the HTML, the
PDF and the CSV. Prints the seconds (target: under 30 s) and the store's size per camera-week
(rollups, state intervals and incident spans; raw observations are kept only a few days and are not
part of a report).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text  # noqa: E402

from monitor.report.delivery import build_report  # noqa: E402
from monitor.report.render import render_report  # noqa: E402
from monitor.report.week import IsoWeek  # noqa: E402
from monitor.store.db import make_engine, session_factory, upgrade  # noqa: E402
from monitor.store.models import CameraRow, HourlyRollupRow, StateIntervalRow  # noqa: E402
from monitor.store.report_models import IncidentSpanRow  # noqa: E402

TZ = ZoneInfo("Asia/Tokyo")
WEEK = IsoWeek.parse("2026-W45")
ISPS = ("flets-ocn", "flets-sonet", "flets-biglobe", "nuro", "au-hikari")
CONGESTED = ("flets-ocn", "flets-sonet")


def generate(engine, n: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    lo, _ = WEEK.bounds(TZ)
    made = datetime(2026, 10, 1, tzinfo=UTC)
    cams = [{"camera_id": f"C{i:05d}", "area": f"A{i % 20:02d}", "isp": ISPS[i % len(ISPS)],
             "line_id": f"L{i:05d}", "expected_fps": 10.0, "address": "", "owner_name": "", "contact": "sms",
             "phone": "", "email": "", "lang": "ja", "vendor": "", "rtsp_url": "", "onvif_url": "",
             "onvif_user": "", "created_at": made, "updated_at": made} for i in range(n)]
    rollups, intervals, spans = [], [], []
    for c in cams:
        cid, congested = c["camera_id"], c["isp"] in CONGESTED
        outage_hour = rnd.randrange(168) if rnd.random() < 0.15 else None
        for h in range(168):
            hour = lo + timedelta(hours=h)
            local = hour.astimezone(TZ).hour
            ok = 60
            fr = 36000.0 * rnd.uniform(0.97, 1.0)
            if congested and 19 <= local < 23:
                fr *= rnd.uniform(0.2, 0.6)
            if outage_hour is not None and outage_hour <= h < outage_hour + 3:
                ok, fr = 0, 0.0
            rollups.append({"camera_id": cid, "hour": hour, "probes_ok": ok, "probes_failed": 60 - ok,
                            "frames_received": fr, "frames_expected": 36000.0, "max_gap_s": 0.3})
        if congested:
            for d in range(7):
                s = datetime.combine(WEEK.monday + timedelta(days=d), datetime.min.time(), TZ).replace(hour=19)
                e = s + timedelta(hours=4)
                intervals.append({"camera_id": cid, "state": "degraded", "cause": None, "start": s, "end": e})
                spans.append({"incident_id": f"I-{c['isp']}-{d}", "camera_id": cid, "cause": "isp_congestion",
                              "start": s, "end": e})
        if outage_hour is not None:
            s = lo + timedelta(hours=outage_hour)
            e = s + timedelta(hours=3)
            intervals.append({"camera_id": cid, "state": "down", "cause": None, "start": s, "end": e})
            spans.append({"incident_id": f"I-{cid}", "camera_id": cid, "cause": "local_outage", "start": s,
                          "end": e})
    with engine.begin() as conn:
        conn.execute(insert(CameraRow), cams)
        for i in range(0, len(rollups), 20000):
            conn.execute(insert(HourlyRollupRow), rollups[i:i + 20000])
        if intervals:
            conn.execute(insert(StateIntervalRow), intervals)
        if spans:
            conn.execute(insert(IncidentSpanRow), spans)


def store_bytes(engine, url: str) -> int:
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        return Path(engine.url.database).stat().st_size
    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT pg_total_relation_size('hourly_rollups') + pg_total_relation_size('state_intervals')"
            " + pg_total_relation_size('incident_spans') + pg_total_relation_size('cameras')")).scalar())


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=1000)
    ap.add_argument("--db", help="SQLAlchemy URL of an EMPTY database (default: a temporary SQLite file)")
    ap.add_argument("--out", type=Path, help="also write the report files here")
    a = ap.parse_args(argv)
    tmp = tempfile.TemporaryDirectory()
    url = a.db or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    t0 = time.perf_counter()
    generate(engine, a.cameras)
    gen_s = time.perf_counter() - t0
    sessions = session_factory(engine)
    now = datetime(2026, 11, 9, 0, 0, tzinfo=UTC)
    t0 = time.perf_counter()
    with sessions() as s:
        report = build_report(s, WEEK, TZ, now)
    t1 = time.perf_counter()
    rendered = render_report(report)
    t2 = time.perf_counter()
    total = t2 - t0
    size = store_bytes(engine, url)
    print(f"{a.cameras} cameras x 7 days ({a.cameras * 168:,} hourly rollups) on {engine.dialect.name}; "
          f"generated in {gen_s:.1f} s")
    print(f"load + maths {t1 - t0:.2f} s, charts + HTML + PDF + CSV {t2 - t1:.2f} s: "
          f"report in {total:.2f} s (target < 30 s) {'OK' if total < 30 else 'TOO SLOW'}")
    print(f"PDF {len(rendered.pdf) / 1024:.0f} KiB, CSV {len(rendered.csv) / 1024:.0f} KiB, "
          f"HTML {len(rendered.file_html) / 1024:.0f} KiB")
    print(f"store: {size / 1024 / 1024:.1f} MiB = {size / a.cameras / 1024:.1f} KiB per camera-week")
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / f"{rendered.basename}.pdf").write_bytes(rendered.pdf)
        (a.out / f"{rendered.basename}.csv").write_bytes(rendered.csv)
        (a.out / f"{rendered.basename}.html").write_text(rendered.file_html, encoding="utf-8")
    engine.dispose()
    tmp.cleanup()
    return total


if __name__ == "__main__":
    main()
