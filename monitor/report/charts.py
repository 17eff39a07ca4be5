"""The report's two charts as PNG bytes: the completeness heatmap and downtime by cause.

matplotlib with the Agg backend (no display), labels in Japanese and English. The Japanese font is a
system font (Debian ``fonts-noto-cjk`` or ``fonts-ipafont-gothic``), found through matplotlib's font
manager; without one the labels would render as boxes, so :func:`japanese_font` fails loudly instead.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from functools import lru_cache

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from monitor.core.domain import Cause  # noqa: E402
from monitor.report.maths import HOURS_OF_WEEK, Heatmap  # noqa: E402

JAPANESE_FONTS = ("Noto Sans CJK JP", "IPAexGothic", "IPAGothic", "IPAPGothic", "TakaoGothic")
WEEKDAYS_JA = ("月", "火", "水", "木", "金", "土", "日")
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
CAUSE_COLOURS: Mapping[Cause, str] = {
    Cause.LOCAL_OUTAGE: "#d62728", Cause.LOCAL_CONGESTION: "#ff9896", Cause.CAMERA_FAULT: "#9467bd",
    Cause.AREA_OUTAGE: "#8c564b", Cause.ISP_OUTAGE: "#1f77b4", Cause.ISP_CONGESTION: "#aec7e8",
    Cause.MONITOR_OUTAGE: "#7f7f7f",
}
DPI = 150


class MissingFontError(RuntimeError):
    """No font that can draw Japanese is installed."""


@lru_cache(maxsize=1)
def japanese_font() -> str:
    for have in (lambda: {f.name for f in font_manager.fontManager.ttflist}, _rescan_system_fonts):
        found = next((name for name in JAPANESE_FONTS if name in have()), None)
        if found:
            return found
    raise MissingFontError("no Japanese font found; install fonts-noto-cjk or fonts-ipafont-gothic")


def _rescan_system_fonts() -> set[str]:
    """matplotlib keeps its font list in a cache made when it first ran: a font installed after that
    (as the error above tells the operator to do) is not in it. Look at the system's fonts again."""
    for path in font_manager.findSystemFonts():
        try:
            font_manager.fontManager.addfont(path)
        except (OSError, RuntimeError, ValueError):
            continue  # a font file matplotlib cannot read is no Japanese font for us
    return {f.name for f in font_manager.fontManager.ttflist}


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


_CMAP = LinearSegmentedColormap.from_list("completeness", ["#b2182b", "#f4a582", "#fddbc7", "#d1e5f0", "#2166ac"])


def heatmap_png(heatmap: Heatmap, title: str) -> bytes:
    """Areas down, local hours of the week across; colour = recording completeness (0-100 %)."""
    font = japanese_font()
    rows = max(1, len(heatmap.areas))
    fig = Figure(figsize=(11, 1.2 + 0.32 * rows))
    ax = fig.add_subplot()
    data = [[float("nan") if v is None else v for v in row] for row in heatmap.values] or [[float("nan")] * 168]
    im = ax.imshow(data, aspect="auto", cmap=_CMAP, vmin=0, vmax=100, interpolation="nearest")
    ax.set_yticks(range(len(heatmap.areas)), heatmap.areas, fontsize=8, family=font)
    ax.set_xticks([d * 24 + 12 for d in range(7)],
                  [f"{WEEKDAYS_JA[d]} {WEEKDAYS_EN[d]}" for d in range(7)], fontsize=8, family=font)
    ax.set_xticks([d * 24 + h for d in range(7) for h in (0, 6, 12, 18)], minor=True)
    for d in range(1, 7):
        ax.axvline(d * 24 - 0.5, color="white", linewidth=1.2)
    ax.set_xlim(-0.5, HOURS_OF_WEEK - 0.5)
    ax.tick_params(axis="x", which="minor", length=2)
    ax.set_title(title, fontsize=10, family=font)
    cb = fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01)
    cb.set_label("%", fontsize=8)
    cb.ax.tick_params(labelsize=7)
    return _png(fig)


def downtime_bars_png(minutes: Mapping[Cause, float], labels: Mapping[Cause, str], title: str) -> bytes:
    """Camera-hours of downtime per cause, one horizontal bar each."""
    font = japanese_font()
    causes = list(Cause)
    hours = [minutes.get(c, 0.0) / 60.0 for c in causes]
    fig = Figure(figsize=(7, 3.2))
    ax = fig.add_subplot()
    ys = range(len(causes))
    ax.barh(ys, hours, color=[CAUSE_COLOURS[c] for c in causes])
    ax.set_yticks(ys, [labels[c] for c in causes], fontsize=8, family=font)
    ax.invert_yaxis()
    top = max(hours) if any(hours) else 1.0
    for y, h in zip(ys, hours, strict=True):
        ax.text(h + top * 0.01, y, f"{h:,.1f}", va="center", fontsize=7)
    ax.set_xlim(0, top * 1.15)
    ax.set_xlabel("カメラ時間 camera-hours", fontsize=8, family=font)
    ax.set_title(title, fontsize=10, family=font)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)
