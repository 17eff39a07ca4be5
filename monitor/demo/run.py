"""`mimamori demo`: the embedded default made visible.

Starts simulated cameras (real GStreamer RTSP and ONVIF SOAP on 127.0.0.1), imports their registry
into a fresh SQLite database, and runs the service's own rounds against them: real probes, the
live decision loop, the outbox and its dispatcher. Time is compressed, not faked in the network:
each real round of a few seconds stands for one probe interval (one minute) on a virtual clock that
starts on a weekday morning, so an owner's reboot request (due ~15 minutes after an outage) shows
up after about fifteen rounds. Faults are injected on the way. Messages go to a folder, since no
provider credentials are set. Finishes by itself and leaves no process behind.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

from monitor.config.registry import load_cameras
from monitor.config.settings import (
    NotifySettings,
    Person,
    ProbeSettings,
    Settings,
    SmtpSettings,
    TwilioSettings,
    WebSettings,
)
from monitor.core.domain import Observation
from monitor.core.health import observation_state
from monitor.demo.peers import DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN, DemoPeers
from monitor.demo.simulate.fleet import SimulatedFleet
from monitor.probes.onvif import close_shared
from monitor.service.app import open_store
from monitor.service.clock import VirtualClock
from monitor.service.runner import ProbeService, describe
from monitor.service.weekly import write_weekly_report
from monitor.store.cameras import apply_registry
from notify.outbox import OutboxRow

Say = Callable[[str], None]
Step = tuple[str, Callable[[], object]]


def _script(fleet: SimulatedFleet) -> dict[int, list[Step]]:
    """What happens when (round number -> faults), on the fleet's own cameras."""
    cams = fleet.cameras
    a01 = [c.camera_id for c in cams if c.area == "A01"]
    a02 = [c.camera_id for c in cams if c.area == "A02"]
    home, stalled, busy = a01[1], a01[2], a01[3]

    def each(ids, *acts):
        return lambda: [act(i) for i in ids for act in acts]

    taken = {home, stalled, busy}
    isp = Counter(c.isp for c in cams if c.camera_id not in taken).most_common(1)[0][0]
    peak = [c.camera_id for c in cams if c.isp == isp and c.camera_id not in taken]

    return {
        2: [(f"{home}: the household's router is switched off (camera and ONVIF unreachable)",
             each([home], fleet.stop, fleet.onvif_down)),
            (f"{stalled}: the camera still answers ONVIF but sends no frames", each([stalled], fleet.stall))],
        4: [(f"{busy}: the household's line is saturated (3 fps instead of 15)",
             lambda: fleet.throttle(busy, 3))],
        6: [(f"area A02 ({len(a02)} cameras): a power cut takes the whole district down",
             each(a02, fleet.stop, fleet.onvif_down))],
        13: [(f"area A02: power is back, but at {a02[0]} the household's router does not come back up",
              each(a02[1:], fleet.start, fleet.onvif_up))],
        33: [(f"{a02[0]}: the owner restarted the router", each(a02[:1], fleet.start, fleet.onvif_up))],
        15: [(f"{isp} ({len(peak)} cameras, both districts): the provider's shared fiber congests, "
              f"as it does every evening (frames trickle in at 1.5 fps)",
              each(peak, lambda c: fleet.throttle(c, 1.5)))],
        23: [(f"{isp}: the congestion is over", each(peak, fleet.normal))],
        20: [(f"{stalled}: the owner power-cycled the camera", each([stalled], fleet.normal)),
             (f"{busy}: the household's line is quiet again", each([busy], fleet.normal))],
        24: [(f"{home}: the owner switched the router back on", each([home], fleet.start, fleet.onvif_up))],
    }


def _sent(svc: ProbeService, seen: set[int]) -> list[OutboxRow]:
    """Outbox rows handed to a channel since the last call (sent, or failed for good)."""
    with svc.store.sessions() as session:
        rows = session.scalars(select(OutboxRow).where(OutboxRow.finished_at.is_not(None)).order_by(OutboxRow.id))
        out = [r for r in rows if r.id not in seen]
        session.expunge_all()
    seen.update(r.id for r in out)
    return out


def _summary(svc: ProbeService, obs: list[Observation]) -> str:
    states = Counter(observation_state(o, svc.cameras[o.camera].expected_fps).value for o in obs)
    bad = [f"{o.camera}:{observation_state(o, svc.cameras[o.camera].expected_fps).value}" for o in obs
           if observation_state(o, svc.cameras[o.camera].expected_fps).value != "up"]
    return f"{states.get('up', 0)} up, {states.get('degraded', 0)} degraded, {states.get('down', 0)} down" + (
        f"  ({' '.join(bad)})" if bad else "")


async def _play(svc: ProbeService, clock: VirtualClock, script: dict[int, list[Step]], rounds: int,
                pace_s: float, say: Say) -> Counter:
    seen: set[int] = set()
    via = {k: _via(ch) for k, ch in svc.channels.items()}
    totals: Counter = Counter()
    for n in range(rounds):
        for text, act in script.get(n, []):
            say(f"  >> {text}")
            await asyncio.to_thread(act)
        started = time.monotonic()
        records, decisions = await svc.round()
        await svc.dispatch()
        obs = [r for r in records if isinstance(r, Observation)]
        say(f"{clock.now().astimezone(svc.settings.tz):%H:%M}  {_summary(svc, obs)}")
        for d in decisions:
            say(f"    decided: {describe(d)}")
        for r in await asyncio.to_thread(_sent, svc, seen):
            totals[r.kind] += 1
            first = r.text.strip().splitlines()[0]
            what = {"sent": "sent", "delivered": "sent", "filed": "filed (not sent)"}.get(r.status,
                                                                                        f"NOT sent ({r.status})")
            who = r.recipient.get("name", "?")
            say(f"    {what} {r.channel} to {who} {via.get(r.channel, '')}: {r.subject or first}")
        clock.advance(timedelta(seconds=svc.settings.probes.interval_s))
        await asyncio.sleep(max(0.0, pace_s - (time.monotonic() - started)))
    return totals


DEMO_VENDOR_AFTER = timedelta(minutes=20)  # 24 hours in a real city; the demo has half an hour


def demo_settings(data_dir: Path, peers: DemoPeers | None = None) -> Settings:
    """The embedded default, with the demo's local peers as the SMTP relay and the Twilio API."""
    smtp = twilio = token = None
    if peers is not None and peers.smtp_port is not None:
        smtp = SmtpSettings(host="127.0.0.1", port=peers.smtp_port, security="none",
                            from_addr="mimamori@city.example.jp")
    if peers is not None and peers.prism_url is not None:
        twilio = TwilioSettings(account_sid=DEMO_ACCOUNT_SID, from_number="+815012345678",
                                api_base_url=peers.prism_url)
        token = SecretStr(DEMO_AUTH_TOKEN)
    return Settings(
        data_dir=data_dir,
        twilio_auth_token=token,
        probes=ProbeSettings(interval_s=60, sample_s=3.0, tcp_timeout_s=2.0, onvif_timeout_s=2.0, spread=0.0),
        notify=NotifySettings(outbox_dir=data_dir / "outbox", smtp=smtp, twilio=twilio, folder_delivery=True,
                              operators=[Person(name="市民安全課", email="anzen@city.example.jp")],
                              vendors={"vendor-1": Person(name="保守センター", email="support@vendor.example.jp")}),
        escalation={"vendor_after": DEMO_VENDOR_AFTER},
        web=WebSettings(enabled=False),
    )


def _via(channel: object) -> str:
    name = type(channel).__name__
    return {"EmailChannel": "(SMTP, local mailbox)", "SmsChannel": "(Twilio API, Prism)",
            "VoiceChannel": "(Twilio API, Prism)", "FolderChannel": "(outbox folder)"}.get(name, "")


def run_demo(*, cameras: int, rounds: int, pace_s: float, data_dir: Path, say: Say = print) -> Path:
    import onvif.client  # noqa: F401  # it calls logging.basicConfig(level=INFO) on import; undo that below

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True)
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(mode=0o700, parents=True)
    with DemoPeers(data_dir / "peers") as peers:
        settings = demo_settings(data_dir, peers)
        mail = f"a local SMTP mailbox (aiosmtpd) on 127.0.0.1:{peers.smtp_port}" if peers.smtp_port else "a folder"
        sms = f"Twilio's API spec served by Prism on {peers.prism_url}" if peers.prism_url else "a folder"
        say(f"delivery: e-mail to {mail}, SMS and calls to {sms}")
        for what in peers.missing:
            say(f"  (not available here: {what}; those messages go to {data_dir / 'outbox'})")
        totals, clock = _run(settings, cameras, rounds, pace_s, data_dir, say)
        mails, twilio = len(peers.mailbox.received), peers.twilio_requests()
    week = clock.now().astimezone(settings.tz).isocalendar()
    paths = write_weekly_report(settings, f"{week.year}-W{week.week:02d}", data_dir / "report", clock.now())
    say("")
    say("the weekly report for the demo's week: " + ", ".join(str(p) for p in paths))
    say("what was sent: " + (", ".join(f"{k} × {v}" for k, v in sorted(totals.items())) or "nothing"))
    say(f"the local peers received: {mails} e-mail(s) at the SMTP mailbox, {twilio['Messages']} SMS and "
        f"{twilio['Calls']} call(s) at Prism; nothing left this machine. The database is {data_dir / 'mimamori.db'}")
    return data_dir / "mimamori.db"


def _run(settings: Settings, cameras: int, rounds: int, pace_s: float, data_dir: Path, say: Say):
    local_now = datetime.now(settings.tz)
    start = (local_now + timedelta(days=(7 - local_now.weekday()) % 7 or 7)).replace(
        hour=19, minute=30, second=0, microsecond=0)  # next Monday evening, before the owners' quiet hours
    clock = VirtualClock(start.astimezone(UTC))
    say(f"starting {cameras} simulated cameras on 127.0.0.1 (GStreamer RTSP + ONVIF SOAP)…")
    with SimulatedFleet(cameras, fps=15.0) as fleet:
        csv_path = fleet.write_csv(data_dir / "cameras.csv")
        store = open_store(settings)
        with store.sessions.begin() as session:
            diff = apply_registry(session, load_cameras(csv_path), store.box, datetime.now(UTC))
        say(f"imported {len(diff.added)} cameras into {settings.effective_database_url}")
        say(f"each round below is one real probe of every camera; the clock moves one minute per round, "
            f"from {start:%a %Y-%m-%d %H:%M} (Asia/Tokyo); the vendor is called after "
            f"{DEMO_VENDOR_AFTER.seconds // 60} minutes instead of 24 hours")
        svc = ProbeService(settings, store, clock=clock)
        svc.leadership.tick()  # the demo's one node: it takes the decider lease

        async def main() -> Counter:
            try:
                return await _play(svc, clock, _script(fleet), rounds, pace_s, say)
            finally:
                await close_shared()

        totals = asyncio.run(main())
        store.engine.dispose()
    return totals, clock
