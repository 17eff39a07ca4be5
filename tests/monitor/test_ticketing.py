"""A long household outage from a shared scenario, replayed through the live path (decision loop, outbox,
dispatcher): exactly one vendor ticket, e-mailed to the vendor, cancelled when the camera recovers first."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta
from itertools import groupby

from monitor.config.registry import load_cameras
from monitor.config.settings import Settings
from monitor.core.tickets import TicketState
from monitor.replay.obsformat import parse_line
from monitor.service.decide import DecisionLoop, policies_of
from monitor.service.delivery import Delivery, build_channels, person_recipient
from monitor.store import tickets as ticket_repo
from monitor.store.db import make_engine, session_factory, upgrade
from notify.dispatch import Dispatcher, RetryPolicy
from notify.outbox import Outbox
from notify.render import Renderer

FROM, UNTIL = "2026-11-02T18:00:00+09:00", "2026-11-04T15:00:00+09:00"  # C0066 down 11-02 21:16 .. 11-04 13:16


class Clock:
    t = datetime.fromisoformat(FROM)

    def now(self):
        return self.t


def test_long_household_outage_one_ticket_mailed_then_cancelled(db_url, fleet11, tmp_path):
    cams = {c.camera_id: c for c in load_cameras(fleet11 / "cameras.csv")}
    area = cams["C0066"].area
    cams = {k: c for k, c in cams.items() if c.area == area}  # the household's own district, all of it
    s = Settings(data_dir=tmp_path, notify={
        "outbox_dir": str(tmp_path / "outbox"),
        "operators": [{"name": "市民安全課", "email": "ops@city.example.jp"}],
        "vendors": {cams["C0066"].vendor: {"name": "保守センター", "email": "desk@vendor.example.jp"}}})
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    policies, renderer, clock = policies_of(s), Renderer(), Clock()
    delivery = Delivery(settings=s, renderer=renderer, escalation=policies.escalation, outbox=Outbox(sessions))
    loop = DecisionLoop(sessions, policies, 60, after_step=delivery.enqueue)
    dispatcher = Dispatcher(sessions, build_channels(s), RetryPolicy(), clock, renderer=renderer,
                            operators=[person_recipient(p) for p in s.notify.operators])
    with gzip.open(fleet11 / "observations.jsonl.gz", "rt", encoding="utf-8") as f:
        lines = (x for x in f if FROM <= x[6:31] < UNTIL)
        records = (parse_line(x) for x in lines if '"reference"' in x or json.loads(x)["camera"] in cams)
        for t, group in groupby(records, key=lambda r: r.t):
            group = list(group)
            clock.t = t
            loop.round(cams, [r for r in group if hasattr(r, "camera")],
                       [r for r in group if hasattr(r, "reference")], t)
            if t.minute % 10 == 0:
                dispatcher.dispatch_due()
    clock.t += timedelta(minutes=1)
    dispatcher.dispatch_due()

    with sessions() as session:
        tickets = ticket_repo.list_tickets(session)
    assert [(t.camera_id, t.state) for t in tickets] == [("C0066", TicketState.CANCELLED)]
    (ticket,) = tickets
    assert ticket.created_at >= datetime.fromisoformat("2026-11-03T21:16:00+09:00")  # a day after it went down
    # what was tried before the vendor: the morning request (the outage began at night) and the evening reminder
    assert [st.step for st in ticket.steps_taken] == ["reboot_request", "reminder"]
    assert ticket.evidence and not ticket.evidence[-1]["reachable"]

    sent = [json.loads(p.read_text(encoding="utf-8")) for p in (tmp_path / "outbox").glob("*.json")]
    vendor = [m for m in sent if m["kind"].startswith("vendor.")]
    assert sorted(m["kind"] for m in vendor) == ["vendor.dispatch", "vendor.dispatch_cancel"]
    assert all(m["to"]["address"] == "desk@vendor.example.jp" and ticket.number in m["subject"] for m in vendor)
    dispatch = next(m for m in vendor if m["kind"] == "vendor.dispatch")
    assert cams["C0066"].address in dispatch["text"] and "設置者へ再起動を依頼" in dispatch["text"]
    owner = sorted(m["kind"] for m in sent if m["kind"].startswith("owner.") and "C0066" in m["text"])
    assert owner == ["owner.reboot_request", "owner.recovered_thanks", "owner.reminder"]

    # and the weekly report counts it: one ticket opened and closed that week
    from zoneinfo import ZoneInfo

    from cryptography.fernet import Fernet

    from monitor.config.secrets import PasswordBox
    from monitor.report.delivery import build_report
    from monitor.report.week import IsoWeek
    from monitor.store.cameras import apply_registry

    with sessions.begin() as session:  # the report lists the registry's cameras
        apply_registry(session, list(cams.values()), PasswordBox(Fernet.generate_key()), clock.t)
    with sessions() as session:
        report = build_report(session, IsoWeek.parse("2026-W45"), ZoneInfo("Asia/Tokyo"), clock.t)
    assert (report.fleet.tickets_opened, report.fleet.tickets_closed) == (1, 1)
    engine.dispose()
