"""Registry findings in the store, on both backends: saved in the round's transaction, the last one per
camera and field counts, a withdrawal takes it off the list, a corrected registry row too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.fernet import Fernet

from monitor.config.secrets import PasswordBox
from monitor.core.decisions import ChangeKind, FindingDecision, IncidentDecision
from monitor.core.domain import Camera, Cause
from monitor.store.cameras import apply_registry
from monitor.store.decisions import load_state, save_step
from monitor.store.findings import current_findings, evidence_summary, findings_during, value_text

JST = timezone(timedelta(hours=9))
T = datetime(2026, 11, 2, 9, 0, tzinfo=JST)
OUTAGE = {"incident": "I6", "cause": "isp_outage", "went_down_and_came_back_with": {"isp": "flets-biglobe"}}
RATE = {"clean_intervals": 60, "learned_fps": 9.99, "tolerance": 0.15}


def isp(t, observed="flets-biglobe", evidence=OUTAGE, camera="C0088"):
    return FindingDecision(t=t, camera=camera, field="isp", registry="flets-sonet", observed=observed,
                           evidence=evidence)


def fps(t, observed=10.0):
    return FindingDecision(t=t, camera="C0023", field="expected_fps", registry=20.0, observed=observed,
                           evidence=RATE)


def rows(sessions):
    with sessions() as s:
        return [(f.camera, f.field, f.registry, f.observed, f.since, f.found_at) for f in current_findings(s)]


def test_findings_are_saved_in_the_round_and_read_back_typed(sessions):
    opened = IncidentDecision(t=T, id="I6", state=ChangeKind.OPEN, cause=Cause.ISP_OUTAGE, cameras=("C0001",),
                              scope={"isp": "flets-biglobe"})
    with sessions.begin() as s:
        save_step(s, T, {"n": 1}, [opened, isp(T), fps(T)])
    with sessions() as s:
        found = current_findings(s)
        assert load_state(s) == (T, {"n": 1})
    assert [(f.camera, f.field, f.registry, f.observed) for f in found] == [
        ("C0023", "expected_fps", 20.0, 10.0), ("C0088", "isp", "flets-sonet", "flets-biglobe")]
    assert isinstance(found[0].observed, int | float) and isinstance(found[1].observed, str)  # numbers stay numbers
    assert found[1].evidence == OUTAGE and found[0].evidence == RATE
    assert all(f.since == T and f.since.tzinfo is not None and f.withdrawn_at is None for f in found)


def test_the_last_finding_counts_and_since_stays_while_the_value_does(sessions):
    t2, t3 = T + timedelta(days=1), T + timedelta(days=2)
    again = {**OUTAGE, "incident": "I9"}
    with sessions.begin() as s:
        save_step(s, T, {}, [isp(T)])
    with sessions.begin() as s:
        save_step(s, t2, {}, [isp(t2, evidence=again)])
    ((_, _, _, observed, since, found_at),) = rows(sessions)
    assert (observed, since, found_at) == ("flets-biglobe", T, t2)
    with sessions() as s:
        assert current_findings(s)[0].evidence["incident"] == "I9"
    with sessions.begin() as s:  # another value: a new finding, since then
        save_step(s, t3, {}, [isp(t3, observed="nuro")])
    assert rows(sessions) == [("C0088", "isp", "flets-sonet", "nuro", t3, t3)]


def test_a_withdrawal_takes_the_finding_off_the_list(sessions):
    t2, t3 = T + timedelta(hours=2), T + timedelta(hours=5)
    with sessions.begin() as s:
        save_step(s, T, {}, [fps(T), isp(T)])
    with sessions.begin() as s:
        save_step(s, t2, {}, [fps(t2, observed=20.0)])  # the learned rate is the registry's again
    assert [r[:2] for r in rows(sessions)] == [("C0088", "isp")]
    with sessions() as s:  # the week's report still shows it, withdrawn
        week = {f.field: f.withdrawn_at for f in findings_during(s, T - timedelta(days=1), T + timedelta(days=6))}
        assert week == {"expected_fps": t2, "isp": None}
        assert [f.field for f in findings_during(s, t3, t3 + timedelta(days=7))] == ["isp"]  # withdrawn before
        assert findings_during(s, T - timedelta(days=7), T) == []  # found after that week
    with sessions.begin() as s:  # found again later: current again, since then
        save_step(s, t3, {}, [fps(t3)])
    assert [(r[1], r[4]) for r in rows(sessions)] == [("expected_fps", t3), ("isp", T)]


def test_a_withdrawal_of_nothing_stores_nothing(sessions):
    with sessions.begin() as s:
        save_step(s, T, {}, [fps(T, observed=20.0)])
    assert rows(sessions) == []


def test_a_registry_row_corrected_to_the_evidence_is_no_longer_listed(sessions):
    cam = Camera(camera_id="C0088", area="A01", isp="flets-sonet", line_id="L1", expected_fps=10.0)
    box = PasswordBox(Fernet.generate_key())
    with sessions.begin() as s:
        apply_registry(s, [cam, Camera(camera_id="C0089", area="A01", isp="flets-sonet", line_id="L2",
                                       expected_fps=10.0)], box, datetime.now(UTC))
        save_step(s, T, {}, [isp(T), isp(T, camera="C0089")])
    assert [r[0] for r in rows(sessions)] == ["C0088", "C0089"]
    with sessions.begin() as s:
        apply_registry(s, [Camera(camera_id="C0088", area="A01", isp="flets-biglobe", line_id="L1",
                                  expected_fps=10.0)], box, datetime.now(UTC))
    assert [r[0] for r in rows(sessions)] == ["C0089"]


@pytest.mark.parametrize(("evidence", "en", "ja"), [
    (OUTAGE, "went down and came back with incident I6 (isp_outage: isp flets-biglobe)", "障害 I6（isp_outage"),
    ({"incident": "I9", "congested_intervals": 40, "incident_intervals": 45, "mean_misfit": 0.12},
     "congested with incident I9 in 40 of 45 intervals (mean misfit 0.12)", "45 区間中 40 区間"),
    (RATE, "9.99 fps measured over 60 clean intervals", "正常な 60 区間の実測 9.99 fps"),
    ({"b": 2.0, "a": "x"}, "a=x, b=2", "a=x, b=2"),
], ids=["outage", "congestion", "rate", "unknown"])
def test_evidence_summary(evidence, en, ja):
    assert evidence_summary(evidence) == en
    assert evidence_summary(evidence, "ja").startswith(ja) or ja in evidence_summary(evidence, "ja")


def test_value_text():
    assert [value_text(v) for v in (20.0, 7.5, "nuro", 3)] == ["20", "7.5", "nuro", "3"]
