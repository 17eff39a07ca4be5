"""fleet-11 replayed through the live DecisionLoop into SQLite, then `mimamori report weekly`: HTML, PDF and
CSV; the CSV's downtime by cause agrees with the scenario's truth within the classifier's hysteresis.

Tolerance, per camera: a budget of minutes per truth event of that camera, by the event's cause, plus
1 min for the scenario's end (its last probe is at 23:59, truth says 24:00). Every cause's |report -
truth| must be within the budget, and the sum over causes within twice the budget (a minute given to
the wrong cause is missing from one and extra in another, as happens at the edges of events: a
straggler of an area outage called local for its last minutes, a camera called locally congested for a
few minutes before its ISP's congestion is recognised). A camera with no truth event has a budget of
1 min: the report must not invent downtime.

- outages, camera faults, local congestion: 3 min per event. Incident spans start and end at the
  decisions; the classifier opens after 3 bad intervals and closes after 3 good ones, so both ends
  lag by about the same 3 minutes and the length comes out within a minute or two.
- ISP congestion: 30 min per event. The ISP incident opens only once >= 30 % of the ISP's cameras
  (on >= 3 lines) are congested, each needing 3 slow intervals of 5, and a camera stays a member
  until 10 intervals after its own congestion clears. On an evening peak that ramps up, the report
  counts fewer minutes than the truth; fleet-11 measures 8-22 min short per event. The fleet's
  total ISP congestion must also be within 5 % of the truth, every other cause's total within 3 min
  per truth event of the scenario.
- local congestion during its ISP's congestion is moved to ISP congestion in the truth (see truth.py).
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from monitor.cli.main import app
from monitor.core.domain import Cause
from monitor.report.week import IsoWeek
from tests.monitor.report.truth import read_truth, truth_minutes

PER_EVENT_MIN = {c: 3.0 for c in Cause} | {Cause.ISP_CONGESTION: 30.0}
SCENARIO_END_MIN = 1.0


@pytest.fixture(scope="module")
def report_dir(fleet11_db, tmp_path_factory):
    from monitor.cli.report import report_app

    if not any(g.name == "report" for g in app.registered_groups):
        app.add_typer(report_app, name="report")  # until cli.py registers it
    out = tmp_path_factory.mktemp("report")
    env = {"MIMAMORI_DATABASE_URL": fleet11_db, "MIMAMORI_DATA_DIR": str(out / "data"),
           "MIMAMORI_CONFIG": str(out / "none.toml")}
    (out / "none.toml").write_text("", encoding="utf-8")
    res = CliRunner().invoke(app, ["report", "weekly", "--week", "2026-W45", "--out", str(out)], env=env)
    assert res.exit_code == 0, res.output
    return out


def read_csv(path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM, for Excel"
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    keys = [re.search(r"\[(\w+)\]", h)[1] for h in rows[0]]
    return [dict(zip(keys, r, strict=True)) for r in rows[1:]]


def test_three_files_and_the_pdf_has_the_japanese_title(report_dir, tmp_path):
    base = report_dir / "mimamori-weekly-2026-W45"
    html = (base.with_suffix(".html")).read_text(encoding="utf-8")
    assert "週次稼働レポート 2026-W45" in html and "Weekly uptime report 2026-W45" in html
    assert html.index("週次稼働レポート") < html.index("Weekly uptime report")  # Japanese first
    assert html.count("data:image/png;base64,") == 4  # two charts, in each language
    pdf = base.with_suffix(".pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    assert shutil.which("pdftoppm") and shutil.which("pdftotext"), "poppler-utils is part of the set-up"
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                    str(tmp_path / "page1")], check=True)
    assert (tmp_path / "page1.png").read_bytes().startswith(b"\x89PNG")
    text = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    assert "週次稼働レポート" in text and "2026-W45" in text
    assert len(read_csv(base.with_suffix(".csv"))) == 132


def test_csv_downtime_by_cause_agrees_with_the_truth(report_dir, fleet11_dir):
    rows = read_csv(report_dir / "mimamori-weekly-2026-W45.csv")
    isp_of = {r["camera_id"]: r["isp"] for r in rows}
    events = read_truth(fleet11_dir / "truth.jsonl")
    lo, hi = IsoWeek.parse("2026-W45").bounds(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    truth, _, relabelled = truth_minutes(events, isp_of, lo, hi)
    budget: dict[str, float] = {}
    for e in events:
        for cam in e.cameras:
            budget[cam] = budget.get(cam, SCENARIO_END_MIN) + PER_EVENT_MIN[e.cause]
    assert relabelled == 0.0  # fleet-11's local congestion never meets its ISP's congestion
    misses, totals = [], {c: [0.0, 0.0] for c in Cause}
    for r in rows:
        cam = r["camera_id"]
        tol = budget.get(cam, SCENARIO_END_MIN)
        diffs = {}
        for c in Cause:
            got, want = float(r[f"downtime_{c.value}_min"]), truth.get(cam, {}).get(c, 0.0)
            totals[c][0] += got
            totals[c][1] += want
            diffs[c.value] = got - want
        if max(map(abs, diffs.values())) > tol or sum(map(abs, diffs.values())) > 2 * tol:
            misses.append((cam, tol, {k: v for k, v in diffs.items() if v}))
    assert misses == []
    for c, (got, want) in totals.items():  # fleet totals: ISP congestion within 5 %, the rest 3 min per event
        assert abs(got - want) <= (0.05 * want if c is Cause.ISP_CONGESTION else 3.0 * len(events)), (c, got, want)
    assert totals[Cause.LOCAL_OUTAGE][1] > 7_000 and totals[Cause.ISP_CONGESTION][1] > 40_000  # not vacuous
