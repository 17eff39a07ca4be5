"""The weekly report's section "registry rows to check", from findings in the store, on both backends."""

from __future__ import annotations

import html
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from monitor.core.decisions import FindingDecision
from monitor.report.delivery import build_report
from monitor.report.render import context, environment
from monitor.report.week import IsoWeek
from monitor.store.decisions import save_step

JST = timezone(timedelta(hours=9))
TZ = ZoneInfo("Asia/Tokyo")
W45 = IsoWeek.parse("2026-W45")  # Monday 2026-11-02 to Sunday 2026-11-08, Tokyo
TUESDAY = datetime(2026, 11, 3, 14, 0, tzinfo=JST)
AFTER = datetime(2026, 11, 9, 9, 0, tzinfo=JST)
OUTAGE = {"incident": "I6", "cause": "isp_outage", "went_down_and_came_back_with": {"isp": "flets-biglobe"}}


def finding(t, camera, field, registry, observed, evidence):
    return FindingDecision(t=t, camera=camera, field=field, registry=registry, observed=observed, evidence=evidence)


def rendered(report) -> tuple[str, str]:
    env = environment()
    ctx = context(report, {"heatmap": "heatmap.png", "causes": "causes.png"}, for_pdf=False)
    return env.get_template("weekly.html.j2").render(ctx), env.get_template("weekly.txt.j2").render(ctx)


def save(sessions, t, *decisions):
    with sessions.begin() as s:
        save_step(s, t, {}, list(decisions))


def test_the_report_lists_the_registry_rows_to_check_with_their_evidence(sessions):
    save(sessions, TUESDAY, finding(TUESDAY, "C0088", "isp", "flets-sonet", "flets-biglobe", OUTAGE),
         finding(TUESDAY, "C0023", "expected_fps", 20.0, 10.0, {"clean_intervals": 60, "learned_fps": 9.99}),
         finding(TUESDAY, "C0042", "area", "A01", "<b>A02</b>", {"incident": "I7"}))
    friday = TUESDAY + timedelta(days=3)
    save(sessions, friday, finding(friday, "C0042", "area", "A01", "A01", {}))  # withdrawn within the week
    with sessions() as s:
        report = build_report(s, W45, TZ, AFTER)
    assert [(f.camera, f.field, f.withdrawn_at is not None) for f in report.registry_findings] == [
        ("C0023", "expected_fps", False), ("C0042", "area", True), ("C0088", "isp", False)]
    page, text = rendered(report)

    ja = page[page.index('id="registry-findings-ja"'):page.index('<div class="lang-en">')]
    assert "登録内容の確認" in ja and "回線事業者" in ja and "フレームレート" in ja
    assert ">flets-sonet<" in ja and ">flets-biglobe<" in ja and ">20<" in ja and ">10<" in ja
    assert "2026-11-03 14:00" in ja and "取消 2026-11-06 14:00" in ja
    assert html.escape("障害 I6（isp_outage: isp flets-biglobe）と同時に停止し、同時に復旧") in ja
    en = page[page.index('id="registry-findings-en"'):]
    assert "Registry rows to check" in en and "frame rate" in en and "withdrawn 2026-11-06 14:00" in en
    assert "went down and came back with incident I6 (isp_outage: isp flets-biglobe)" in en
    assert "9.99 fps measured over 60 clean intervals" in en
    assert "<b>A02</b>" not in page and "&lt;b&gt;A02&lt;/b&gt;" in page

    assert "登録内容の確認（観測と登録が食い違うカメラ）: 3 件" in text
    assert "C0088 回線事業者: 登録 flets-sonet → 観測 flets-biglobe（2026-11-03 14:00 検出）" in text
    assert "C0088 ISP: registry flets-sonet -> observed flets-biglobe (since 2026-11-03 14:00) went down" in text
    assert "Registry rows to check (the observations contradict the registry): 3" in text


def test_a_week_before_the_findings_or_after_their_withdrawal_has_none(sessions):
    save(sessions, TUESDAY, finding(TUESDAY, "C0088", "isp", "flets-sonet", "flets-biglobe", OUTAGE),
         finding(TUESDAY, "C0023", "expected_fps", 20.0, 10.0, {"clean_intervals": 60, "learned_fps": 9.99}))
    later = TUESDAY + timedelta(hours=1)
    save(sessions, later, finding(later, "C0023", "expected_fps", 20.0, 20.0, {}))
    with sessions() as s:
        before = build_report(s, W45.previous(), TZ, AFTER)
        after = build_report(s, IsoWeek.parse("2026-W46"), TZ, AFTER + timedelta(days=7))
    assert before.registry_findings == ()
    assert [f.camera for f in after.registry_findings] == ["C0088"]  # still current; C0023 withdrawn in W45
    page, text = rendered(before)
    assert "登録内容の確認（観測と登録が食い違うカメラ）: 0 件" in text
    section = page[page.index('id="registry-findings-en"'):]
    assert ">None<" in section and "C0088" not in page
