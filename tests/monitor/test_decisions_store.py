"""Decisions in the store, on both backends: incidents, idempotent notifications, state checkpoint."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from monitor.core.decisions import Audience, ChangeKind, IncidentDecision, Kind, NotificationDecision
from monitor.core.domain import Cause
from monitor.store.decisions import list_incidents, list_notifications, load_state, save_step

JST = timezone(timedelta(hours=9))
T = datetime(2026, 11, 2, 9, 0, tzinfo=JST)


def inc(state, t, **kw):
    return IncidentDecision(t=t, id="I1", state=ChangeKind(state), cause=Cause.LOCAL_OUTAGE, **kw)


def note(t, kind=Kind.REBOOT_REQUEST):
    return NotificationDecision(t=t, audience=Audience.OWNER, kind=kind, camera="C1", channel="sms", incident="I1")


def test_incident_lifecycle_and_notifications_at_most_once(sessions):
    with sessions.begin() as s:
        save_step(s, T, {"n": 1}, [inc("open", T, cameras=("C1",), scope={"line": "L1"},
                                       evidence={"down_intervals": 3})])
    t2 = T + timedelta(minutes=15)
    with sessions.begin() as s:
        save_step(s, t2, {"n": 2}, [note(t2)])
    with sessions.begin() as s:  # the same decision again, as after a crash between rounds
        save_step(s, t2, {"n": 2}, [note(t2)])
    t3 = T + timedelta(hours=2)
    with sessions.begin() as s:
        save_step(s, t3, {"n": 3}, [inc("closed", t3, evidence={"recovered": True}), note(t3, Kind.RECOVERED_THANKS)])
    with sessions() as s:
        (i,) = list_incidents(s)
        assert (i.cause, i.state, i.cameras, i.scope) == ("local_outage", "closed", ["C1"], {"line": "L1"})
        assert i.evidence == {"down_intervals": 3}  # a closing leaves what decided the opening
        assert i.opened_at == T and i.closed_at == t3
        notes = list_notifications(s)
        assert [(n.kind, n.due_at) for n in notes] == [("reboot_request", t2), ("recovered_thanks", t3)]
        assert [n.key for n in notes] == ["I1:reboot_request:owner:C1", "I1:recovered_thanks:owner:C1"]
        assert load_state(s) == (t3, {"n": 3})
        assert list_incidents(s, open_only=True) == []
