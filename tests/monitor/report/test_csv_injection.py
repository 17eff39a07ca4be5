"""The weekly report's CSV opens in Excel: a registry value typed as a formula stays text (OWASP)."""

from __future__ import annotations

import pytest

from monitor.report.maths import Figures
from monitor.report.render import _csv_row


@pytest.mark.parametrize(("typed", "cell"), [
    ("=1+2", "'=1+2"),
    ("@SUM(1)", "'@SUM(1)"),
    ("+81 area", "'+81 area"),
    ("-A03", "'-A03"),
    ("\tA03", "'\tA03"),
    ("\rA03", "'\rA03"),
    ("A03", "A03"),
    ("flets-ocn", "flets-ocn"),  # a dash inside is harmless
    ("中央区", "中央区"),
])
def test_a_text_cell_that_a_spreadsheet_would_run_is_escaped(typed, cell):
    row = _csv_row(Figures(name=typed, area=typed, isp=typed, probes=10, probes_ok=9))
    assert row[:3] == [cell, cell, cell]
    assert row[3] == "90.00"  # numbers stay numbers
