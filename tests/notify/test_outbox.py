"""The outbox on SQLite and PostgreSQL: idempotent enqueue, atomic claims, stale claims."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from notify.message import Audience, ChannelKind, Kind, Lang, Recipient
from notify.outbox import NotifyBase, Outbox, OutboxStatus
from notify.render import render
from tests.notify.contexts import context_for

T0 = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
OWNER = Recipient(name="山田 花子", phone="+819012345678", email="hanako@example.jp")


@pytest.fixture
def sessions(db_url):
    engine = create_engine(db_url)
    NotifyBase.metadata.create_all(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def enqueue(outbox, key, now=T0):
    ctx = context_for(Audience.OWNER, Lang.JA)
    msg = render(Kind.OWNER_REBOOT_REQUEST, Lang.JA, ChannelKind.SMS, ctx)
    return outbox.enqueue(
        key=key, message=msg, recipient=OWNER, context=ctx, now=now, deadline=now + timedelta(hours=6)
    )


def test_tables_are_prefixed():
    assert all(name.startswith("ntf_") for name in NotifyBase.metadata.tables)


def test_enqueue_is_idempotent(sessions):
    outbox = Outbox(sessions)
    key = "INC-1:reboot_request:owner:CAM-0123:0"  # the caller's key (the monitor's: decision key, recipient)
    first = enqueue(outbox, key)
    second = enqueue(outbox, key, now=T0 + timedelta(hours=1))
    assert first.created and not second.created and first.id == second.id
    rows = outbox.all()
    assert len(rows) == 1
    item = rows[0]
    assert item.created_at == T0 and item.created_at.tzinfo is not None  # aware UTC back
    assert item.message.text.startswith("【見守り市】") and item.recipient == OWNER
    assert item.status is OutboxStatus.QUEUED


def test_enqueue_inside_callers_transaction_rolls_back_with_it(sessions):
    outbox = Outbox(sessions)
    with sessions() as s:
        s.begin()
        enqueue_in = outbox.enqueue
        ctx = context_for(Audience.OWNER, Lang.JA)
        msg = render(Kind.OWNER_REMINDER, Lang.JA, ChannelKind.SMS, ctx)
        enqueue_in(
            key="INC-2:reminder:owner",
            message=msg,
            recipient=OWNER,
            context=ctx,
            now=T0,
            deadline=T0 + timedelta(hours=1),
            session=s,
        )
        s.rollback()
    assert outbox.by_key("INC-2:reminder:owner") is None


def test_claim_is_exclusive_and_respects_next_attempt(sessions):
    outbox = Outbox(sessions)
    row = enqueue(outbox, "INC-1:a:owner")
    assert outbox.claim(row.id, worker="w1", now=T0 - timedelta(seconds=1), lease=LEASE) is None  # not due
    item = outbox.claim(row.id, worker="w1", now=T0, lease=LEASE)
    assert item is not None and item.attempts == 1 and item.claimed_by == "w1"
    assert outbox.claim(row.id, worker="w2", now=T0, lease=LEASE) is None
    assert outbox.claim(row.id, worker="w2", now=T0 + LEASE - timedelta(seconds=1), lease=LEASE) is None


def test_stale_claim_is_taken_over_and_the_old_worker_cannot_finish(sessions):
    outbox = Outbox(sessions)
    row = enqueue(outbox, "INC-1:a:owner")
    assert outbox.claim(row.id, worker="dead", now=T0, lease=LEASE)
    later = T0 + LEASE
    assert row.id in outbox.due_ids(now=later, lease=LEASE, limit=10)
    item = outbox.claim(row.id, worker="alive", now=later, lease=LEASE)
    assert item is not None and item.attempts == 2
    assert not outbox.mark_sent(row.id, worker="dead", provider_id="SMx", now=later)
    assert outbox.mark_sent(row.id, worker="alive", provider_id="SMy", now=later)
    assert outbox.get(row.id).status is OutboxStatus.SENT and outbox.get(row.id).provider_id == "SMy"


def test_racing_workers_claim_each_row_once(sessions):
    outbox = Outbox(sessions)
    ids = [enqueue(outbox, f"INC-{i}:a:owner").id for i in range(30)]
    won: dict[str, list[int]] = {"w1": [], "w2": [], "w3": []}
    barrier = threading.Barrier(len(won))

    def work(worker):
        barrier.wait()
        for row_id in outbox.due_ids(now=T0, lease=LEASE, limit=100):
            try:
                if outbox.claim(row_id, worker=worker, now=T0, lease=LEASE):
                    won[worker].append(row_id)
            except Exception as e:  # SQLite may report "database is locked" under contention
                if "locked" not in str(e):
                    raise

    threads = [threading.Thread(target=work, args=(w,)) for w in won]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [i for rows in won.values() for i in rows]
    assert len(claimed) == len(set(claimed))
    assert all(outbox.get(i).attempts == 1 for i in claimed)
    assert all(outbox.get(i).status is OutboxStatus.CLAIMED for i in claimed)
    assert set(claimed) <= set(ids)
