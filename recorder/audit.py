"""The hash-chained audit log of lawful requests, approvals and exports.

Each entry's hash covers its own fields and the previous entry's hash, so changing, removing or
reordering any entry breaks every hash after it. ``verify()`` names the first entry that fails.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from recorder.domain import AuditEntry
from recorder.index import AuditRow

GENESIS = "0" * 64


def entry_hash(*, prev_hash: str, seq: int, at: datetime, actor: str, action: str, detail: dict) -> str:
    body = json.dumps(
        {
            "prev": prev_hash,
            "seq": seq,
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "detail": detail,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditVerdict:
    ok: bool
    entries: int
    first_bad_seq: int | None
    reason: str


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        seq=row.seq, at=row.at, actor=row.actor, action=row.action, detail=dict(row.detail),
        prev_hash=row.prev_hash, hash=row.hash,
    )


class AuditLog:
    def __init__(self, session_factory: sessionmaker[Session]):
        self._sessions = session_factory

    def append(self, *, actor: str, action: str, detail: dict, now: datetime) -> AuditEntry:
        with self._sessions.begin() as s:
            return self.append_in(s, actor=actor, action=action, detail=detail, now=now)

    @staticmethod
    def append_in(s: Session, *, actor: str, action: str, detail: dict, now: datetime) -> AuditEntry:
        """Append inside the caller's transaction, so the entry commits with what it records.
        Two concurrent appends collide on the primary key ``seq``; the loser's transaction fails."""
        last = s.scalars(select(AuditRow).order_by(AuditRow.seq.desc()).limit(1)).first()
        seq = 1 if last is None else last.seq + 1
        prev = GENESIS if last is None else last.hash
        detail = json.loads(json.dumps(detail, default=str))  # what the JSON column will give back
        row = AuditRow(
            seq=seq, at=now, actor=actor, action=action, detail=detail, prev_hash=prev,
            hash=entry_hash(prev_hash=prev, seq=seq, at=now, actor=actor, action=action, detail=detail),
        )
        s.add(row)
        s.flush()
        return _entry(row)

    def entries(self) -> list[AuditEntry]:
        with self._sessions() as s:
            return [_entry(r) for r in s.scalars(select(AuditRow).order_by(AuditRow.seq))]

    def verify(self) -> AuditVerdict:
        entries = self.entries()
        prev = GENESIS
        for i, e in enumerate(entries, start=1):
            if e.seq != i:
                return AuditVerdict(ok=False, entries=len(entries), first_bad_seq=e.seq,
                                    reason=f"entry {e.seq}: expected sequence number {i}")
            if e.prev_hash != prev:
                return AuditVerdict(ok=False, entries=len(entries), first_bad_seq=e.seq,
                                    reason=f"entry {e.seq}: does not follow entry {i - 1}")
            expected = entry_hash(prev_hash=e.prev_hash, seq=e.seq, at=e.at, actor=e.actor,
                                  action=e.action, detail=e.detail)
            if e.hash != expected:
                return AuditVerdict(ok=False, entries=len(entries), first_bad_seq=e.seq,
                                    reason=f"entry {e.seq} ({e.action}): content does not match its hash")
            prev = e.hash
        return AuditVerdict(ok=True, entries=len(entries), first_bad_seq=None, reason="chain intact")
