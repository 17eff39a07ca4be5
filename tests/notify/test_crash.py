"""A dispatcher killed with SIGKILL at random moments while delivering a burst, then restarted, loses
nothing. What can repeat is only the message a worker had handed to the provider when it died: the
outbox cannot know whether the provider took it. Such a repeat carries the same Message-ID (email)
so a receiver can drop it; the test counts them and bounds them by the number of kills."""

from __future__ import annotations

import email
import email.policy
import random
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import sessionmaker

from monitor.demo.peers import prism_requests
from monitor.store.db import make_engine
from notify.message import ChannelKind, Kind, Lang, Recipient
from notify.outbox import NotifyBase, Outbox, OutboxStatus
from notify.render import render
from tests.notify.contexts import context_for
from tests.notify_peers import REPO, TWILIO_SPEC, free_port, wait_for_port

N_EMAIL, N_SMS, KILLS = 160, 40, 6


def sent_count(outbox: Outbox) -> int:
    return sum(i.status == OutboxStatus.SENT for i in outbox.all())


def test_sigkill_during_a_burst_loses_nothing(tmp_path, smtp_peer):
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    engine = make_engine(url)
    NotifyBase.metadata.create_all(engine)
    outbox = Outbox(sessionmaker(engine, expire_on_commit=False))
    now = datetime.now(UTC)
    for i in range(N_EMAIL + N_SMS):
        channel = ChannelKind.EMAIL if i < N_EMAIL else ChannelKind.SMS
        ctx = context_for(Kind.OWNER_REBOOT_REQUEST.audience, Lang.JA) | {"camera_id": f"C{i:04d}"}
        msg = render(Kind.OWNER_REBOOT_REQUEST, Lang.JA, channel, ctx)
        rcpt = Recipient(name=f"設置者{i}", phone="+819012345678", email=f"owner{i}@example.jp", channels=(channel,))
        outbox.enqueue(key=f"I{i}:reboot_request:owner:C{i:04d}", message=msg, recipient=rcpt, context=ctx, now=now,
                       deadline=now + timedelta(hours=1))

    prism_port = free_port()
    prism_log = (tmp_path / "prism.log").open("w")
    prism = subprocess.Popen(["node", str(REPO / ".prism/node_modules/.bin/prism"), "mock", "-h", "127.0.0.1", "-p",
                              str(prism_port), str(TWILIO_SPEC)], stdout=prism_log, stderr=subprocess.STDOUT,
                             start_new_session=True)
    child = [sys.executable, "-m", "tests.notify.dispatcher_child", url, str(smtp_peer.port),
             str(smtp_peer.tls.cert), f"http://127.0.0.1:{prism_port}"]
    rng = random.Random(7)
    kills = 0
    try:
        wait_for_port(prism_port, 60, prism)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            proc = subprocess.Popen(child, cwd=REPO)
            if kills < KILLS:
                before = sent_count(outbox)
                while proc.poll() is None and sent_count(outbox) == before:  # kill it mid-burst, not at start-up
                    time.sleep(0.05)
                time.sleep(rng.uniform(0.0, 0.4))
                if proc.poll() is None:
                    proc.kill()  # SIGKILL: no cleanup, claims left behind
                    kills += 1
                proc.wait()
                continue
            assert proc.wait(timeout=180) == 0
            if all(i.status == OutboxStatus.SENT for i in outbox.all()):
                break
        else:
            raise AssertionError("the outbox was not drained in time")
    finally:
        prism.terminate()
        prism.wait(10)
        prism_log.close()
        engine.dispose()

    items = outbox.all()
    assert Counter(i.status for i in items) == {OutboxStatus.SENT: N_EMAIL + N_SMS}
    assert kills == KILLS
    mails = [email.message_from_bytes(raw, policy=email.policy.default) for raw in smtp_peer.messages]
    by_id = Counter(m["Message-ID"] for m in mails)
    assert len(by_id) == N_EMAIL  # every e-mail arrived ...
    assert sum(by_id.values()) - N_EMAIL <= KILLS  # ... and only a message in flight at a kill may repeat
    sms_posts = prism_requests(tmp_path / "prism.log")["Messages"]
    assert N_SMS <= sms_posts <= N_SMS + KILLS
    print(f"{kills} kills: {sum(by_id.values()) - N_EMAIL} e-mail and {sms_posts - N_SMS} SMS repeats")
