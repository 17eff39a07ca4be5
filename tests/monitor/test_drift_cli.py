"""`mimamori cameras baseline` and `mimamori cameras drift [--check] [--json]` against simulated cameras
(real RTSP and ONVIF peers on loopback), on SQLite and PostgreSQL, as an operator runs them.

Two cameras get baselines (audited). Then C0001 loses its privacy masks and C0002's clock goes 90 s
off: one check finds both, sets C0002's clock right over ONVIF (recorded, nobody mailed), and queues an
urgent notice for the operators and the vendor (with a ticket) about the masks, and nothing at all for
the owners.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text

from monitor.demo.simulate.fleet import SimulatedFleet
from tests.cli import mimamori

pytestmark = pytest.mark.peers


@pytest.fixture
def fleet():
    with SimulatedFleet(2, fps=5.0) as f:
        yield f


@pytest.fixture
def env(cli_env, tmp_path, fleet):
    cfg = tmp_path / "mimamori.toml"
    cfg.write_text("[notify]\nfolder_delivery = true\n"
                   "[[notify.operators]]\nname = '市民安全課'\nemail = 'anzen@city.example.jp'\n"
                   "[notify.vendors.vendor-1]\nname = '保守'\nemail = 'hoshu@vendor.example.jp'\n")
    e = {**cli_env, "MIMAMORI_CONFIG": str(cfg)}
    mimamori(["cameras", "import", str(fleet.write_csv(tmp_path / "cams.csv"))], e)
    return e


def rows(db_url: str, sql: str) -> list[tuple]:
    eng = create_engine(db_url)
    with eng.connect() as c:
        out = [tuple(r) for r in c.execute(text(sql))]
    eng.dispose()
    return out


def test_baseline_then_masks_lost_and_clock_off_are_found_told_and_corrected(env, db_url, fleet):
    for cam in ("C0001", "C0002"):
        out = mimamori(["cameras", "baseline", cam, "--operator", "tanaka"], env).stdout
        assert f"{cam}: baseline taken by tanaka: masks, view, stream settings, identity" in out
    assert mimamori(["cameras", "drift", "--check", "--json"], env).stdout == ""
    assert "no drift" in mimamori(["cameras", "drift"], env).stdout

    fleet.drift("C0001", "masks", [])
    fleet.clock_skew("C0002", 90)
    p = mimamori(["cameras", "drift", "--check", "--json"], env)
    found = [json.loads(line) for line in p.stdout.splitlines()]
    assert {(f["camera"], f["check"]) for f in found} == {("C0001", "privacy_masks"), ("C0002", "clock")}
    for f in found:
        assert {"camera", "check", "expected", "observed", "since"} <= f.keys()
    clock = next(f for f in found if f["check"] == "clock")
    assert abs(float(clock["observed"].split()[0]) - 90) < 2 and clock["corrected_at"] is not None
    assert abs(fleet.onvif_status()["C0002"]["skew_s"]) < 2  # set right over ONVIF

    kinds = sorted(k for (k,) in rows(db_url, "SELECT kind FROM ntf_outbox"))
    assert kinds == ["operator.drift", "vendor.drift"]  # the masks; a clock set right is only recorded; no owner
    assert [c for _, c in rows(db_url, "SELECT incident_id, camera_id FROM tickets")] == ["C0001"]
    audit = rows(db_url, "SELECT actor, action FROM rec_audit_log ORDER BY seq")
    assert audit == [("tanaka", "drift_baseline")] * 2

    # the same check again: nothing new is sent, the findings stay open with their first time
    again = [json.loads(line) for line in mimamori(["cameras", "drift", "--check", "--json"], env).stdout.splitlines()]
    assert {(f["camera"], f["check"], f["since"]) for f in again} >= {
        (f["camera"], f["check"], f["since"]) for f in found if f["check"] == "privacy_masks"}
    assert len(rows(db_url, "SELECT id FROM ntf_outbox")) == 2
    # the clock was set right: its finding closes at this check
    assert ("C0002", "clock") not in {(f["camera"], f["check"]) for f in again}


def test_baseline_of_an_unknown_or_unreachable_camera_changes_nothing(env, db_url, fleet):
    p = mimamori(["cameras", "baseline", "C9999", "--operator", "tanaka"], env, check=False)
    assert p.returncode != 0 and "unknown or disabled camera 'C9999'" in p.stderr
    fleet.onvif_down("C0001")
    p = mimamori(["cameras", "baseline", "C0001", "--operator", "tanaka"], env, check=False)
    assert p.returncode != 0 and "no baseline taken; nothing changed" in p.stderr
    assert rows(db_url, "SELECT camera_id FROM drift_baselines") == []
