"""`mimamori demo`, shortened: real simulated cameras, the service's rounds, and the local peers
(aiosmtpd and Prism) receiving what it sends; nothing is left running afterwards."""

from __future__ import annotations

import os
from pathlib import Path

from monitor.demo.run import run_demo


def _children() -> set[str]:
    """Commands of this process's live descendants (simulators, Prism)."""
    out = set()
    me = str(os.getpid())
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[1] == me and fields[0] != "Z":
            out.add(cmd)
    return out


def test_short_demo_prints_decisions_and_deliveries(tmp_path):
    lines: list[str] = []
    before = _children()
    db = run_demo(cameras=12, rounds=9, pace_s=0.0, data_dir=tmp_path / "demo", say=lines.append)
    text = "\n".join(lines)
    assert "local SMTP mailbox (aiosmtpd)" in text and "served by Prism" in text, text[:400]
    assert "incident I1 open: local_outage" in text, text
    assert "area_outage 2 camera(s) {'area': 'A02'}" in text, text
    assert "sent email to 市民安全課 (SMTP, local mailbox): 【障害発生】" in text, text
    assert "the local peers received: 1 e-mail(s) at the SMTP mailbox, 0 SMS" in text, text
    assert db.exists()
    assert all(p.exists() for p in (tmp_path / "demo" / "report").glob("mimamori-weekly-*"))
    assert len(list((tmp_path / "demo" / "report").glob("mimamori-weekly-*"))) == 3
    assert _children() - before == set()
