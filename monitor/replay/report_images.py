"""The README's pictures of the weekly report, made from a scenario (``make report-images``)::

    python -m monitor.replay.report_images ../shared/scenarios/fleet-11 docs

Replays the scenario through the live DecisionLoop into a temporary SQLite database, makes the report
of the scenario's first week, and writes ``report-page1.png`` (the PDF's first page, by poppler's
``pdftoppm``) and ``heatmap.png`` into the output folder.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor.replay.db import replay_into_db
from monitor.report.delivery import build_report
from monitor.report.render import render_report
from monitor.report.week import IsoWeek
from monitor.store.db import make_engine, session_factory


def make_images(scenario: Path, out: Path, tz: ZoneInfo = ZoneInfo("Asia/Tokyo")) -> list[Path]:
    if shutil.which("pdftoppm") is None:
        raise SystemExit("pdftoppm not found: install poppler-utils")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'scenario.db'}"
        stats = replay_into_db(scenario / "cameras.csv", scenario / "observations.jsonl.gz", url)
        if stats.first is None:
            raise SystemExit(f"{scenario}: no observations")
        week = IsoWeek.containing(stats.first, tz)
        engine = make_engine(url)
        try:
            with session_factory(engine)() as s:
                report = build_report(s, week, tz, max(datetime.now(UTC), week.bounds(tz)[1]))
        finally:
            engine.dispose()
        rendered = render_report(report)
        pdf = Path(tmp) / "report.pdf"
        pdf.write_bytes(rendered.pdf)
        page = out / "report-page1"
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(page)],
                       check=True)
    heat = out / "heatmap.png"
    heat.write_bytes(next(c.png for c in rendered.charts if c.cid == "heatmap"))
    return [page.with_suffix(".png"), heat]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m monitor.replay.report_images", description=__doc__.splitlines()[0])
    ap.add_argument("scenario", type=Path)
    ap.add_argument("out", type=Path)
    a = ap.parse_args(argv)
    for p in make_images(a.scenario, a.out):
        print(f"wrote {p}")


if __name__ == "__main__":
    main()
