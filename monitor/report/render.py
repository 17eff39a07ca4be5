"""Render a WeeklyReport: the HTML mail (Japanese first, then English), the same content as PDF, and a
CSV per camera (UTF-8 with BOM, so Excel in Japan opens it as UTF-8).

Templates live in ``templates/report/`` (Jinja2, StrictUndefined, autoescaped). Charts are PNG: the
mail refers to them by Content-ID (mail clients block ``data:`` images), the PDF and the stand-alone
HTML file carry them as ``data:`` URIs.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import jinja2

from monitor.core.domain import Cause
from monitor.core.drift import CHECK_LABELS, DriftRecord
from monitor.report import charts
from monitor.report.maths import CAUSES, Figures, WeeklyReport, worst_cameras
from monitor.store.findings import StoredFinding, evidence_summary, value_text

CAUSE_LABELS: Mapping[str, Mapping[Cause, str]] = {
    "ja": {
        Cause.LOCAL_OUTAGE: "宅内回線断", Cause.LOCAL_CONGESTION: "宅内回線混雑", Cause.CAMERA_FAULT: "カメラ故障",
        Cause.AREA_OUTAGE: "地域障害", Cause.ISP_OUTAGE: "ISP障害", Cause.ISP_CONGESTION: "ISP混雑",
        Cause.MONITOR_OUTAGE: "監視側障害",
    },
    "en": {
        Cause.LOCAL_OUTAGE: "local outage", Cause.LOCAL_CONGESTION: "local congestion",
        Cause.CAMERA_FAULT: "camera fault", Cause.AREA_OUTAGE: "area outage", Cause.ISP_OUTAGE: "ISP outage",
        Cause.ISP_CONGESTION: "ISP congestion", Cause.MONITOR_OUTAGE: "monitor outage",
    },
}
TITLE = {"ja": "週次稼働レポート", "en": "Weekly uptime report"}
FIELD_LABELS: Mapping[str, Mapping[str, str]] = {
    "ja": {"isp": "回線事業者", "area": "地域", "expected_fps": "フレームレート"},
    "en": {"isp": "ISP", "area": "area", "expected_fps": "frame rate"},
}
CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("camera_id", "カメラID"), ("area", "地域"), ("isp", "ISP"), ("uptime_pct", "稼働率(%)"),
    ("completeness_pct", "録画完全性(%)"), ("down_minutes", "停止(分)"), ("degraded_minutes", "劣化(分)"),
    *((f"downtime_{c.value}_min", f"{CAUSE_LABELS['ja'][c]}(分)") for c in CAUSES),
    ("owner_requests", "設置者への依頼"), ("tickets_opened", "チケット起票"), ("tickets_closed", "チケット完了"),
    ("mttr_hours", "平均修理時間(時間)"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Chart:
    cid: str
    filename: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedReport:
    subject: str
    text: str
    mail_html: str  # images by cid:
    file_html: str  # images inline (data:)
    pdf: bytes
    csv: bytes
    charts: tuple[Chart, ...]
    basename: str  # "mimamori-weekly-2026-W45"


def _autoescape(name: str | None) -> bool:
    return bool(name) and (name.endswith(".html.j2") or name.endswith(".html"))


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("templates", "report"),
        undefined=jinja2.StrictUndefined,
        autoescape=_autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v: "–" if v is None else f"{v:.1f}"
    env.filters["pp"] = lambda v: "–" if v is None else f"{v:+.1f}"
    env.filters["num"] = lambda v: f"{v:,.0f}"
    env.filters["signed"] = lambda v: f"{v:+,.0f}"
    env.filters["hours"] = lambda v: "–" if v is None else f"{v:,.1f}"
    return env


def make_charts(report: WeeklyReport) -> tuple[Chart, ...]:
    heat = charts.heatmap_png(report.heatmap, f"録画完全性 recording completeness (%) — {report.week.label}")
    labels = {c: f"{CAUSE_LABELS['ja'][c]} {CAUSE_LABELS['en'][c]}" for c in CAUSES}
    bars = charts.downtime_bars_png(report.fleet.by_cause, labels,
                                    f"原因別停止時間 downtime by cause — {report.week.label}")
    return (Chart(cid="heatmap", filename="heatmap.png", png=heat),
            Chart(cid="causes", filename="downtime-by-cause.png", png=bars))


def context(report: WeeklyReport, images: Mapping[str, str], *, for_pdf: bool, worst: int = 20) -> dict:
    tz = ZoneInfo(report.tz)
    last_day = (report.end.astimezone(tz) - timedelta(seconds=1)).date()
    return {
        "r": report, "causes": CAUSES, "labels": CAUSE_LABELS, "title": TITLE, "images": images,
        "for_pdf": for_pdf, "first_day": report.start.astimezone(tz).date().isoformat(),
        "last_day": last_day.isoformat(),
        "generated": report.generated_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        "worst": worst_cameras(report, worst), "tz_name": report.tz,
        "findings": [finding_view(f, tz) for f in report.registry_findings],
        "drift": [drift_view(f, tz) for f in report.drift_findings],
        "works": [{"scope": dict(zip(("ja", "en"), WORK_SCOPES.get(w.scope, (w.scope, w.scope)), strict=True)),
                   "targets": ", ".join(w.values), "from": _local(w.starts_at, tz), "to": _local(w.ends_at, tz),
                   "reason": w.reason} for w in report.maintenance],
    }


def _local(t: datetime | None, tz: ZoneInfo) -> str:
    return "" if t is None else t.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def finding_view(f: StoredFinding, tz: ZoneInfo) -> dict:
    """A registry row to check, in the words of each language (the templates escape them)."""
    return {
        "camera": f.camera, "registry": value_text(f.registry), "observed": value_text(f.observed),
        "field": {lang: FIELD_LABELS[lang].get(f.field, f.field) for lang in FIELD_LABELS},
        "since": _local(f.since, tz), "withdrawn": _local(f.withdrawn_at, tz),
        "evidence": {lang: evidence_summary(f.evidence, lang) for lang in FIELD_LABELS},
    }


WORK_SCOPES = {"area": ("地区", "area"), "isp": ("回線事業者", "provider"), "cameras": ("カメラ", "cameras")}


def drift_view(f: DriftRecord, tz: ZoneInfo) -> dict:
    """A camera to check (its settings not as approved), in the words of each language."""
    ja, en = CHECK_LABELS[f.check]
    return {"camera": f.camera_id, "check": {"ja": ja, "en": en}, "expected": f.expected, "observed": f.observed,
            "since": _local(f.since, tz), "closed": _local(f.closed_at, tz), "corrected": _local(f.corrected_at, tz),
            "urgent": str(f.severity) == "urgent"}


def render_csv(report: WeeklyReport) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([f"{ja} [{key}]" for key, ja in CSV_COLUMNS])
    for f in report.cameras:
        w.writerow(_csv_row(f))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _fmt(v: float | None, digits: int = 2) -> str:
    return "" if v is None else f"{v:.{digits}f}"


_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_text(text: str) -> str:
    """A text cell a spreadsheet cannot take for a formula (OWASP, CSV injection): a cell beginning with
    = + - @, a tab or a carriage return gets a leading apostrophe. Registry values are typed by people."""
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def _csv_row(f: Figures) -> list[str]:
    return [
        csv_text(f.name), csv_text(f.area), csv_text(f.isp), _fmt(f.uptime_pct), _fmt(f.completeness_pct),
        _fmt(f.down_minutes, 1),
        _fmt(f.degraded_minutes, 1), *(_fmt(f.by_cause.get(c, 0.0), 1) for c in CAUSES),
        str(f.owner_requests), str(f.tickets_opened), str(f.tickets_closed), _fmt(f.mttr_hours),
    ]


def render_pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported late: pango is loaded only when a PDF is made

    return HTML(string=html, base_url=".").write_pdf()


def render_report(report: WeeklyReport, *, worst: int = 20, env: jinja2.Environment | None = None) -> RenderedReport:
    """Every form of the report. ``worst``: how many cameras the mail and PDF list by name."""
    env = env or environment()
    imgs = make_charts(report)
    by_cid = {c.cid: f"cid:{c.cid}" for c in imgs}
    inline = {c.cid: c.data_uri for c in imgs}
    page = env.get_template("weekly.html.j2")
    pdf_html = page.render(context(report, inline, for_pdf=True, worst=worst))
    ctx = context(report, inline, for_pdf=False, worst=worst)
    return RenderedReport(
        subject=env.get_template("weekly.subject.j2").render(ctx).strip(),
        text=env.get_template("weekly.txt.j2").render(ctx),
        mail_html=page.render(context(report, by_cid, for_pdf=False, worst=worst)),
        file_html=page.render(ctx),
        pdf=render_pdf(pdf_html),
        csv=render_csv(report),
        charts=imgs,
        basename=f"mimamori-weekly-{report.week.label}",
    )

