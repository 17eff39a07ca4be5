"""Sample contexts, as the monitor passes them (already localised), per audience and language."""

from __future__ import annotations

from notify.message import Audience, Lang

CITY = {
    Lang.JA: {
        "city_name": "見守り市",
        "city_phone": "03-1234-5678",
        "city_email": "bouhan@city.mimamori.example",
    },
    Lang.EN: {
        "city_name": "Mimamori City",
        "city_phone": "03-1234-5678",
        "city_email": "bouhan@city.mimamori.example",
    },
}

OWNER = {
    Lang.JA: {
        "camera_id": "CAM-0123",
        "camera_label": "CAM-0123",
        "address": "見守り市本町3-4-5",
        "owner_name": "山田 花子",
        "incident_id": "INC-20260501-0042",
        "started_at": "5月1日 19:40",
        "fault": "line",
    },
    Lang.EN: {
        "camera_id": "CAM-0123",
        "camera_label": "CAM-0123",
        "address": "3-4-5 Honcho, Mimamori",
        "owner_name": "Hanako Yamada",
        "incident_id": "INC-20260501-0042",
        "started_at": "1 May 19:40",
        "fault": "line",
    },
}

VENDOR = {
    Lang.JA: OWNER[Lang.JA]
    | {
        "ticket_number": "T-2026-0007",
        "owner_phone": "+819012345678",
        "owner_email": None,
        "timeline": [
            {"at": "5/1 19:40", "event": "通信断を検知"},
            {"at": "5/1 20:10", "event": "設置者にSMSで再起動を依頼"},
        ],
        "steps_taken": ["ONVIFによる再起動（応答なし）", "設置者への再起動依頼（SMS・メール）"],
        "last_probes": [{"at": "5/2 19:39", "probe": "TCP 554", "result": "タイムアウト <5s>"}],
        "recovered_at": "5月2日 21:00",
        "dispatched_at": "5月2日 19:45",
        "ticket_state": "受付済み",
    },
    Lang.EN: OWNER[Lang.EN]
    | {
        "ticket_number": "T-2026-0007",
        "owner_phone": "+819012345678",
        "owner_email": "hanako@example.jp",
        "timeline": [{"at": "1 May 19:40", "event": "link down detected"}],
        "steps_taken": ["ONVIF reboot (no answer)", "owner asked to reboot (SMS, email)"],
        "last_probes": [{"at": "2 May 19:39", "probe": "TCP 554", "result": "timeout <5s>"}],
        "recovered_at": "2 May 21:00",
        "dispatched_at": "2 May 19:45",
        "ticket_state": "acknowledged",
    },
}

DRIFT = {  # a drift finding (issue 19), for the operator and the vendor
    lang: {"check": "privacy_masks", "check_label": "プライバシーマスク" if lang is Lang.JA else "privacy masks",
           "expected": "2 mask(s), 2 enabled", "observed": "0 mask(s), 0 enabled", "since": "5/1 19:40",
           "urgent": True, "ticket_number": "T-2026-000042", "action_taken": None,
           "address": "見守り市本町1-2-3" if lang is Lang.JA else "1-2-3 Honcho, Mimamori"}
    for lang in Lang
}

OPERATOR = {
    lang: {
        "incident_id": "INC-20260501-0001",
        "cause": "area_outage",
        "scope": "本町地区" if lang is Lang.JA else "Honcho area",
        "affected_count": 23,
        "started_at": "5/1 19:40",
        "ended_at": "5/1 21:00",
        "duration": "1時間20分" if lang is Lang.JA else "1 h 20 min",
        "camera_id": "CAM-0123",
        "failed_kind": "owner.reboot_request",
        "failed_channel": "sms",
        "recipient_name": "山田 花子",
        "error": "permanent [21211]: Twilio HTTP 400",
        "attempts": 1,
        "fallback_channel": "voice",
        "days_kept": 5.4,
        "period_days": 7,
        "detail": "disk guard: free space 9.5 GB below the floor of 10 GB",
    } | DRIFT[lang]
    for lang in Lang
}


def context_for(audience: Audience, lang: Lang) -> dict:
    table = {Audience.OWNER: OWNER, Audience.VENDOR: VENDOR, Audience.OPERATOR: OPERATOR}
    drift = DRIFT[lang] if audience is not Audience.OWNER else {}  # the audience's own values win
    return CITY[lang] | drift | table[audience][lang]
