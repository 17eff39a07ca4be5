"""From decided notifications to outbox rows: recipients, localised context, rendered messages.

Runs inside the decision loop's transaction, so a decision and its outbox rows commit together;
the outbox's idempotency key makes a repeated decision a no-op. Channels are built here from
settings (the composition root's job): Twilio and SMTP when configured, else a folder.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.orm import Session

from monitor.config.settings import Person, Settings
from monitor.core.domain import Camera, Cause, Contact
from monitor.core.policy import EscalationPolicy
from monitor.core.tickets import Ticket
from monitor.service.ticketing import cancel_for, open_for, ticket_context
from monitor.store.decisions import notification_key
from monitor.store.models import IncidentRow
from notify.channels import EmailChannel, FolderChannel, SmsChannel, SmtpConfig, SmtpSecurity, VoiceChannel
from notify.channels.webhook import WebhookChannel
from notify.message import FALLBACK_ORDER, ChannelKind, Kind, Lang, Recipient, RenderError
from notify.outbox import Outbox
from notify.render import Renderer

log = logging.getLogger("mimamori.delivery")

def owner_recipient(cam: Camera) -> Recipient:
    """The owner's preferred channel first, then the others they have, in the usual order."""
    preferred = {Contact.SMS: ChannelKind.SMS, Contact.VOICE: ChannelKind.VOICE, Contact.EMAIL: ChannelKind.EMAIL}
    first = preferred[cam.contact]
    order = (first, *(c for c in FALLBACK_ORDER if c not in (first, ChannelKind.WEBHOOK)))
    return Recipient(name=cam.owner_name or cam.camera_id, lang=Lang(str(cam.lang)), phone=cam.phone or None,
                     email=cam.email or None, channels=order)


def person_recipient(p: Person) -> Recipient:
    return Recipient(name=p.name, lang=Lang(p.lang), phone=p.phone, email=p.email, webhook_url=p.webhook_url)


SCOPE_LABELS = {"area": ("地区", "area"), "isp": ("回線事業者", "ISP"), "line": ("回線", "line"),
                "camera": ("カメラ", "camera"), "monitor": ("監視システム", "monitor")}


def scope_text(scope: Mapping, lang: Lang) -> str:
    """{"area": "A04"} -> "地区 A04" / "area A04"; {"monitor": true} -> "監視システム"."""
    parts = []
    for k, v in scope.items():
        label = SCOPE_LABELS.get(k, (k, k))[0 if lang is Lang.JA else 1]
        parts.append(label if v is True else f"{label} {v}")
    return "、".join(parts) if lang is Lang.JA else ", ".join(parts)


def _when(t: datetime | None, tz: ZoneInfo, lang: Lang) -> str | None:
    if t is None:
        return None
    local = t.astimezone(tz)
    return f"{local.month}月{local.day}日 {local:%H:%M}" if lang is Lang.JA else f"{local.day} {local:%b %H:%M}"


def _duration(a: datetime, b: datetime, lang: Lang) -> str:
    minutes = int((b - a).total_seconds() // 60)
    h, m = divmod(minutes, 60)
    return (f"{h}時間{m}分" if h else f"{m}分") if lang is Lang.JA else (f"{h} h {m} min" if h else f"{m} min")


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    settings: Settings
    renderer: Renderer
    escalation: EscalationPolicy
    outbox: Outbox

    @property
    def tz(self) -> ZoneInfo:
        return self.settings.tz

    def city(self, lang: Lang) -> dict:
        c = self.settings.city
        return {"city_name": c.name if lang is Lang.JA else c.name_en, "city_phone": c.phone, "city_email": c.email}

    def context(self, d: Mapping, lang: Lang, cam: Camera | None, inc: IncidentRow | None, now: datetime,
                ticket: Ticket | None = None) -> dict:
        ctx = self.city(lang) | {"incident_id": d["incident"]}
        started = inc.opened_at if inc is not None else now
        if cam is not None:
            # what the owner is asked to power off and on: the camera alone when it answers but sends no video
            cause = inc.cause if inc is not None else d.get("cause")
            ctx |= {"camera_id": cam.camera_id, "camera_label": cam.camera_id, "address": cam.address,
                    "owner_name": cam.owner_name, "started_at": _when(started, self.tz, lang),
                    "fault": "camera" if cause == Cause.CAMERA_FAULT else "line"}
        if d["audience"] == "vendor" and cam is not None:
            ctx |= {"ticket_number": d["incident"], "owner_phone": cam.phone or None, "owner_email": cam.email or None,
                    "timeline": [{"at": _when(started, self.tz, lang), "event": "通信断を検知" if lang is Lang.JA
                                  else "outage detected"}],
                    "steps_taken": [], "last_probes": [], "recovered_at": _when(now, self.tz, lang),
                    "dispatched_at": _when(now, self.tz, lang), "ticket_state": "open"}
            if ticket is not None:
                ctx |= ticket_context(ticket, lang, lambda t: _when(t, self.tz, lang))
                ctx["dispatched_at"] = _when(ticket.created_at, self.tz, lang)
        if d["audience"] == "operator":
            cause = d.get("cause") or (inc.cause if inc is not None else "")
            scope = scope_text(inc.scope if inc is not None else {}, lang)
            ended = inc.closed_at if inc is not None else None
            ctx |= {"cause": cause, "scope": scope, "affected_count": d.get("count") or
                    (len(inc.cameras) if inc is not None else 0),
                    "started_at": _when(started, self.tz, lang), "ended_at": _when(ended, self.tz, lang),
                    "duration": _duration(started, ended, lang) if ended else None}
        return ctx

    def recipients(self, d: Mapping, cam: Camera | None) -> list[Recipient]:
        n = self.settings.notify
        if d["audience"] == "owner" and cam is not None:
            return [owner_recipient(cam)]
        if d["audience"] == "vendor" and cam is not None:
            vendor = n.vendors.get(cam.vendor)
            if vendor is not None:
                return [person_recipient(vendor)]
            log.warning("vendor %r of %s has no contact in settings; the operators get the ticket", cam.vendor,
                        cam.camera_id)
        return [person_recipient(p) for p in n.operators]

    def deadline(self, audience: str, now: datetime) -> datetime:
        """Owner messages give up before quiet hours begin, so no retry ever lands at night."""
        hours = self.settings.notify.owner_deadline_h if audience == "owner" else 24.0
        limit = now + timedelta(hours=hours)
        if audience != "owner":
            return limit
        local = now.astimezone(self.tz)
        quiet = local.replace(hour=self.escalation.quiet_start.hour, minute=self.escalation.quiet_start.minute,
                              second=0, microsecond=0)
        if quiet <= local:
            quiet += timedelta(days=1)
        return min(limit, quiet.astimezone(now.tzinfo))

    def enqueue(self, session: Session, decisions: Sequence[Mapping], cameras: Mapping[str, Camera],
                now: datetime) -> int:
        """Outbox rows for this round's notifications, in the caller's transaction; returns how many are new."""
        new = 0
        for d in decisions:
            if d.get("type") != "notification" or d["audience"] not in ("owner", "vendor", "operator"):
                continue
            cam = cameras.get(d.get("camera") or "")
            inc = session.get(IncidentRow, d["incident"])
            kind = Kind(f"{d['audience']}.{d['kind']}")
            ticket = self._ticket(session, d, cam, now)
            for i, rcpt in enumerate(self.recipients(d, cam)):
                ctx = self.context(d, rcpt.lang, cam, inc, now, ticket)
                message = self._render(kind, rcpt, ctx)
                if message is None:
                    log.error("no channel can carry %s to recipient %d of incident %s", kind, i, d["incident"])
                    continue
                key = f"{notification_key(d)}:{i}"
                r = self.outbox.enqueue(key=key, message=message.with_key(key), recipient=rcpt, context=ctx, now=now,
                                   deadline=self.deadline(d["audience"], now), session=session)
                new += r.created
        return new

    def notify_operators(self, kind: Kind, key: str, context: Mapping, now: datetime) -> int:
        """A notice for the operators that no incident carries (e.g. the recorder's retention falling short)."""
        new = 0
        for i, p in enumerate(self.settings.notify.operators):
            rcpt = person_recipient(p)
            ctx = self.city(rcpt.lang) | dict(context) | {"incident_id": key}
            message = self._render(kind, rcpt, ctx)
            if message is None:
                log.error("no channel can carry %s to operator %d", kind, i)
                continue
            r = self.outbox.enqueue(key=f"{key}:{i}", message=message.with_key(f"{key}:{i}"), recipient=rcpt,
                                    context=ctx, now=now, deadline=self.deadline("operator", now))
            new += r.created
        return new

    def _ticket(self, session: Session, d: Mapping, cam: Camera | None, now: datetime) -> Ticket | None:
        """A dispatch opens the vendor's ticket; a cancellation cancels it (both idempotent)."""
        if d["audience"] != "vendor" or cam is None:
            return None
        if d["kind"] == "dispatch":
            return open_for(session, d, cam, now, self.tz)
        if d["kind"] == "dispatch_cancel":
            cancelled = cancel_for(session, d, cam, now)
            return cancelled[0] if cancelled else None
        return None

    def _render(self, kind: Kind, rcpt: Recipient, ctx: dict):
        for channel in rcpt.reachable_channels():
            if not self.renderer.has(kind, rcpt.lang, channel):
                continue
            try:
                return self.renderer.render(kind, rcpt.lang, channel, ctx)
            except RenderError as e:  # e.g. an SMS that would not fit one segment: the next channel
                log.info("%s by %s not possible (%s); trying the next channel", kind, channel, e)
        return None


def build_channels(s: Settings) -> dict[ChannelKind, object]:
    """Real providers where configured; otherwise messages are written to the outbox folder."""
    n = s.notify
    folder = FolderChannel(n.outbox_dir or s.data_dir / "outbox")
    channels: dict[ChannelKind, object] = {k: folder for k in (ChannelKind.SMS, ChannelKind.VOICE, ChannelKind.EMAIL)}
    if n.twilio is not None and s.twilio_auth_token is not None:
        from twilio.rest import Client

        from notify.channels._twilio import BaseUrlHttpClient

        http = BaseUrlHttpClient(n.twilio.api_base_url) if n.twilio.api_base_url else None
        client = Client(n.twilio.account_sid, s.twilio_auth_token.get_secret_value(), http_client=http)
        channels[ChannelKind.SMS] = SmsChannel(client, from_number=n.twilio.from_number,
                                               status_callback=n.twilio.status_callback_url)
        channels[ChannelKind.VOICE] = VoiceChannel(client, from_number=n.twilio.from_number,
                                                   status_callback=n.twilio.status_callback_url)
    if n.smtp is not None:
        import ssl

        ctx = ssl.create_default_context(cafile=str(n.smtp.ca_file)) if n.smtp.ca_file else None
        channels[ChannelKind.EMAIL] = EmailChannel(SmtpConfig(
            host=n.smtp.host, port=n.smtp.port, security=SmtpSecurity(n.smtp.security), username=n.smtp.username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None, from_addr=n.smtp.from_addr,
            from_name=n.smtp.from_name), ssl_context=ctx)
    channels[ChannelKind.WEBHOOK] = WebhookChannel(httpx.Client(timeout=10.0))
    return channels


def describe_channels(channels: Mapping[ChannelKind, object]) -> str:
    return ", ".join(f"{k}: {'folder' if isinstance(v, FolderChannel) else type(v).__name__}"
                     for k, v in channels.items())
