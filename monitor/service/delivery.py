"""From decided notifications to outbox rows: recipients, localised context, rendered messages.

Runs inside the decision loop's transaction, so a decision and its outbox rows commit together;
the outbox's idempotency key makes a repeated decision a no-op. Channels are built here from
settings (the composition root's job): Twilio and SMTP when configured, else a folder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.orm import Session

from monitor.config.settings import Person, Settings
from monitor.core import decisions as dec
from monitor.core.domain import Camera, Cause, Contact
from monitor.core.holds import hold_until, not_at_night
from monitor.core.policy import EscalationPolicy
from monitor.core.tickets import Ticket
from monitor.service.holds import request_went_at
from monitor.service.ticketing import ticket_context, vendor_ticket
from monitor.store.holds import silences, windows
from monitor.store.models import IncidentRow
from notify.channels import EmailChannel, FolderChannel, SmsChannel, SmtpConfig, SmtpSecurity, VoiceChannel
from notify.channels.webhook import WebhookChannel
from notify.message import FALLBACK_ORDER, Audience, ChannelKind, Kind, Lang, Recipient, RenderError
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


#: The message a decided notification is sent as: the one place where the core's audience and step meet
#: a template. Actions on the camera itself (ONVIF reboot) are no message.
MESSAGE_KINDS: Mapping[tuple[dec.Audience, dec.Kind], Kind] = {
    (dec.Audience.OWNER, dec.Kind.REBOOT_REQUEST): Kind.OWNER_REBOOT_REQUEST,
    (dec.Audience.OWNER, dec.Kind.REMINDER): Kind.OWNER_REMINDER,
    (dec.Audience.OWNER, dec.Kind.RECOVERED_THANKS): Kind.OWNER_RECOVERED_THANKS,
    (dec.Audience.VENDOR, dec.Kind.DISPATCH): Kind.VENDOR_DISPATCH,
    (dec.Audience.VENDOR, dec.Kind.DISPATCH_CANCEL): Kind.VENDOR_DISPATCH_CANCEL,
    (dec.Audience.OPERATOR, dec.Kind.INCIDENT_OPENED): Kind.OPERATOR_INCIDENT_OPENED,
    (dec.Audience.OPERATOR, dec.Kind.INCIDENT_CLOSED): Kind.OPERATOR_INCIDENT_CLOSED,
}


def message_kind(n: dec.NotificationDecision) -> Kind | None:
    """The message ``n`` is delivered as; None for an action on the camera, which is no message."""
    if n.audience is dec.Audience.CAMERA:
        return None
    kind = MESSAGE_KINDS.get((n.audience, n.kind))
    if kind is None:
        raise ValueError(f"no message for a {n.kind} to the {n.audience}")
    return kind


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

    def context(self, audience: Audience, incident: str, lang: Lang, cam: Camera | None, inc: IncidentRow | None,
                now: datetime, ticket: Ticket | None = None, *, cause: Cause | None = None,
                count: int | None = None) -> dict:
        """What the templates of ``audience`` are filled with, about ``incident`` (its row, once stored) and
        ``cam``; ``cause`` and ``count`` as an operator notice carries them."""
        ctx = self.city(lang) | {"incident_id": incident}
        started = inc.opened_at if inc is not None else now
        if cam is not None:
            # what the owner is asked to power off and on: the camera alone when it answers but sends no video
            fault = inc.cause if inc is not None else cause
            ctx |= {"camera_id": cam.camera_id, "camera_label": cam.camera_id, "address": cam.address,
                    "owner_name": cam.owner_name, "started_at": self._at(started, lang),
                    "fault": "camera" if fault == Cause.CAMERA_FAULT else "line"}
        if audience is Audience.VENDOR and cam is not None:
            ctx |= self._vendor_context(incident, cam, started, now, lang, ticket)
        if audience is Audience.OPERATOR:
            ctx |= self._operator_context(inc, started, lang, cause, count)
        return ctx

    def _at(self, t: datetime | None, lang: Lang) -> str | None:
        return _when(t, self.tz, lang)

    def _vendor_context(self, incident: str, cam: Camera, started: datetime, now: datetime, lang: Lang,
                        ticket: Ticket | None) -> dict:
        ctx = {"ticket_number": incident, "owner_phone": cam.phone or None, "owner_email": cam.email or None,
               "timeline": [{"at": self._at(started, lang),
                             "event": "通信断を検知" if lang is Lang.JA else "outage detected"}],
               "steps_taken": [], "last_probes": [], "recovered_at": self._at(now, lang),
               "dispatched_at": self._at(now, lang), "ticket_state": "open"}
        if ticket is not None:
            ctx |= ticket_context(ticket, lang, lambda t: self._at(t, lang))
            ctx["dispatched_at"] = self._at(ticket.created_at, lang)
        return ctx

    def _operator_context(self, inc: IncidentRow | None, started: datetime, lang: Lang, cause: Cause | None,
                          count: int | None) -> dict:
        ended = inc.closed_at if inc is not None else None
        return {"cause": str(cause) if cause is not None else (inc.cause if inc is not None else ""),
                "scope": scope_text(inc.scope if inc is not None else {}, lang),
                "affected_count": count or (len(inc.cameras) if inc is not None else 0),
                "started_at": self._at(started, lang), "ended_at": self._at(ended, lang),
                "duration": _duration(started, ended, lang) if ended else None}

    def recipients(self, audience: Audience, cam: Camera | None) -> list[Recipient]:
        n = self.settings.notify
        if audience is Audience.OWNER and cam is not None:
            return [owner_recipient(cam)]
        if audience is Audience.VENDOR and cam is not None:
            vendor = n.vendors.get(cam.vendor)
            if vendor is not None:
                return [person_recipient(vendor)]
            log.warning("vendor %r of %s has no contact in settings; the operators get the ticket", cam.vendor,
                        cam.camera_id)
        return [person_recipient(p) for p in n.operators]

    def deadline(self, audience: Audience, now: datetime) -> datetime:
        """Owner messages give up before quiet hours begin, so no retry ever lands at night."""
        hours = self.settings.notify.owner_deadline_h if audience is Audience.OWNER else 24.0
        limit = now + timedelta(hours=hours)
        if audience is not Audience.OWNER:
            return limit
        local = now.astimezone(self.tz)
        quiet = local.replace(hour=self.escalation.quiet_start.hour, minute=self.escalation.quiet_start.minute,
                              second=0, microsecond=0)
        if quiet <= local:
            quiet += timedelta(days=1)
        return min(limit, quiet.astimezone(now.tzinfo))

    def enqueue(self, session: Session, decisions: Sequence[dec.Decision], cameras: Mapping[str, Camera],
                now: datetime) -> int:
        """Outbox rows for this round's notifications, in the caller's transaction; returns how many are new."""
        new = 0
        holds: tuple[list, list] | None = None  # the silences and maintenance windows, read once a round
        for d in decisions:
            kind = message_kind(d) if isinstance(d, dec.NotificationDecision) else None
            if kind is not None:
                if holds is None:
                    holds = (silences(session, now), windows(session, now))
                new += self._enqueue(session, d, kind, cameras.get(d.camera or ""), now, holds)
        return new

    def _enqueue(self, session: Session, n: dec.NotificationDecision, kind: Kind, cam: Camera | None,
                 now: datetime, holds: tuple[list, list] = ([], [])) -> int:
        inc = session.get(IncidentRow, n.incident)  # when it began, its scope: stored by this round's save_step
        ticket = vendor_ticket(session, n, cam, now, self.tz)
        key, new = dec.notification_key(n), 0
        until = hold_until(str(kind.audience), n.incident, cam, now, *holds)
        send_at = None
        if until is not None:  # a silence or planned works: it waits, and an owner's never goes at night
            if kind is Kind.OWNER_REMINDER:  # the request goes at the end; its reminder follows as it would have
                until += self.escalation.reminder_after
            send_at = not_at_night(until, self.tz, self.escalation) if kind.audience is Audience.OWNER else until
            log.info("%s of incident %s held until %s (silence or maintenance)", kind, n.incident,
                     send_at.astimezone(self.tz).isoformat(timespec="minutes"))
        if kind is Kind.OWNER_REMINDER and (asked := request_went_at(session, n.incident, n.camera)) is not None:
            # the ladder counts from when it decided the request; a request that went later (it waited for
            # an acknowledgement to be withdrawn) keeps its reminder at the same distance from when it went
            due = asked + self.escalation.reminder_after
            if due > (send_at or now):
                send_at = not_at_night(due, self.tz, self.escalation)
        for i, rcpt in enumerate(self.recipients(kind.audience, cam)):
            ctx = self.context(kind.audience, n.incident, rcpt.lang, cam, inc, now, ticket, cause=n.cause,
                               count=n.count)
            message = self._render(kind, rcpt, ctx)
            if message is None:
                log.error("no channel can carry %s to recipient %d of incident %s", kind, i, n.incident)
                continue
            r = self.outbox.enqueue(key=f"{key}:{i}", message=message.with_key(f"{key}:{i}"), recipient=rcpt,
                                    context=ctx, now=now, deadline=self.deadline(kind.audience, send_at or now),
                                    not_before=send_at, session=session)
            new += r.created
        return new

    def notify_operators(self, kind: Kind, key: str, context: Mapping, now: datetime) -> int:
        """A notice for the operators that no incident carries (e.g. the recorder's retention falling short)."""
        return self.notify_about(None, kind, None, key, lambda _lang: context, now)

    def notify_about(self, session: Session | None, kind: Kind, cam: Camera | None, key: str,
                     context: Callable[[Lang], Mapping], now: datetime) -> int:
        """A notice that no incident carries, keyed ``key`` (sent at most once): to the operators, or to the
        camera's vendor (its operators when the vendor has no contact). In ``session``'s transaction if given."""
        new = 0
        for i, rcpt in enumerate(self.recipients(kind.audience, cam)):
            ctx = self.city(rcpt.lang) | dict(context(rcpt.lang)) | {"incident_id": key}
            message = self._render(kind, rcpt, ctx)
            if message is None:
                log.error("no channel can carry %s to recipient %d of %s", kind, i, key)
                continue
            r = self.outbox.enqueue(key=f"{key}:{i}", message=message.with_key(f"{key}:{i}"), recipient=rcpt,
                                    context=ctx, now=now, deadline=self.deadline(kind.audience, now), session=session)
            new += r.created
        return new

    def _render(self, kind: Kind, rcpt: Recipient, ctx: dict):
        for channel in rcpt.reachable_channels():
            if not self.renderer.has(kind, rcpt.lang, channel):
                continue
            try:
                return self.renderer.render(kind, rcpt.lang, channel, ctx)
            except RenderError as e:  # e.g. an SMS that would not fit one segment: the next channel
                log.info("%s by %s not possible (%s); trying the next channel", kind, channel, e)
        return None


def unprovided_channels(s: Settings) -> list[str]:
    """The owner-facing channels with no provider configured (``notify.folder_delivery`` files them)."""
    twilio = s.notify.twilio is not None and s.twilio_auth_token is not None
    return [str(k) for k, ok in ((ChannelKind.SMS, twilio), (ChannelKind.VOICE, twilio),
                                 (ChannelKind.EMAIL, s.notify.smtp is not None)) if not ok]


def build_channels(s: Settings) -> dict[ChannelKind, object]:
    """Real providers where configured; otherwise (``notify.folder_delivery``, checked at start) messages are
    written to the outbox folder."""
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


def folder_channels(channels: Mapping[ChannelKind, object]) -> list[str]:
    """The owner-facing channels (SMS, voice, e-mail) that only file messages in the outbox folder."""
    return [str(k) for k in (ChannelKind.SMS, ChannelKind.VOICE, ChannelKind.EMAIL)
            if isinstance(channels.get(k), FolderChannel)]


def describe_channels(channels: Mapping[ChannelKind, object]) -> str:
    return ", ".join(f"{k}: {'folder' if isinstance(v, FolderChannel) else type(v).__name__}"
                     for k, v in channels.items())
