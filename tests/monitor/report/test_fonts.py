"""The report's Japanese font, found even when matplotlib's font cache predates its installation."""

from __future__ import annotations

from matplotlib import font_manager

from monitor.report import charts


def test_a_japanese_font_installed_after_matplotlibs_cache_was_made_is_found(monkeypatch):
    # matplotlib's cache as it was before `apt-get install fonts-noto-cjk`: no Japanese font in it
    stale = [f for f in font_manager.fontManager.ttflist if f.name not in charts.JAPANESE_FONTS]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", stale)
    charts.japanese_font.cache_clear()
    try:
        assert charts.japanese_font() in charts.JAPANESE_FONTS  # CI installs fonts-noto-cjk (make deps)
    finally:
        charts.japanese_font.cache_clear()
