"""The weekly report's section "cameras to check" (issue 19): drift findings open in the week, from the
store, on both backends."""

from __future__ import annotations

from datetime import timedelta

from monitor.core.drift import Check, Finding, OpenFinding, Reconciled, Severity
from monitor.report.delivery import build_report
from monitor.store.drift import write

from .test_registry_findings import AFTER, TUESDAY, TZ, W45, rendered


def opened(camera: str, check: Check, expected: str, observed: str, severity: Severity, t) -> Reconciled:
    f = Finding(camera_id=camera, check=check, expected=expected, observed=observed, severity=severity)
    return Reconciled(opened=(OpenFinding(finding=f, since=t, last_seen=t),), kept=(), closed=())


def test_the_report_lists_the_cameras_to_check_and_a_week_before_has_none(sessions):
    with sessions.begin() as s:
        write(s, opened("C0007", Check.PRIVACY_MASKS, "2 mask(s), 2 enabled", "0 mask(s), 0 enabled",
                        Severity.URGENT, TUESDAY), TUESDAY)
        write(s, opened("C0011", Check.FIRMWARE, "SIM-1 firmware 1.0.0", "SIM-1 firmware <b>2.0</b>",
                        Severity.RECORD, TUESDAY + timedelta(days=1)), TUESDAY)
    with sessions() as s:
        report = build_report(s, W45, TZ, AFTER)
        before = build_report(s, W45.previous(), TZ, AFTER)
    assert [(f.camera_id, f.check) for f in report.drift_findings] == [
        ("C0007", Check.PRIVACY_MASKS), ("C0011", Check.FIRMWARE)]
    page, text = rendered(report)
    ja = page[page.index('id="drift-ja"'):page.index('<div class="lang-en">')]
    assert "点検が必要なカメラ" in ja and "プライバシーマスク" in ja and "C0007 （至急）" in ja
    assert "<b>2.0</b>" not in page and "&lt;b&gt;2.0&lt;/b&gt;" in page
    assert "Cameras to check (settings changed since approved)" in page[page.index('id="drift-en"'):]
    assert "点検が必要なカメラ（承認時から設定が変わったもの）: 2 件" in text
    assert "C0007 privacy masks (urgent): approved 2 mask(s), 2 enabled -> found 0 mask(s), 0 enabled" in text
    assert before.drift_findings == ()
    assert "Cameras to check (settings changed since approved): 0" in rendered(before)[1]


def test_the_report_lists_the_maintenance_windows_of_the_week(sessions):
    from monitor.core.holds import Maintenance
    from monitor.store.holds import add_window

    with sessions.begin() as s:
        works = Maintenance(id=0, scope="area", values=("A04",), starts_at=TUESDAY,
                            ends_at=TUESDAY + timedelta(hours=4), reason="NTT の光回線工事", by="tanaka")
        add_window(s, works, TUESDAY)
    with sessions() as s:
        report = build_report(s, W45, TZ, AFTER)
        before = build_report(s, W45.previous(), TZ, AFTER)
    assert [(w.scope, w.values) for w in report.maintenance] == [("area", ("A04",))] and before.maintenance == ()
    page, text = rendered(report)
    assert "工事予定（設置者・保守業者への連絡を保留）: 1 件" in text and "A04: 2026-11-03 14:00" in text
    assert "NTT の光回線工事" in page[page.index('id="works-ja"'):]
