"""``mimamori cameras drift`` and ``mimamori cameras baseline``: a camera's settings against the approved ones.

Registered on the ``cameras`` sub-app. Works from the cameras' ONVIF answers only, never a frame.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from monitor.cli.common import fail, settings


def cameras_drift(
    check: Annotated[bool, typer.Option("--check", help="first run every drift check on every camera, now")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per open finding")] = False,
) -> None:
    """The open drift findings: camera, check, what was approved, what the camera says, since when."""
    from monitor.probes.onvif import close_shared
    from monitor.service.app import open_store
    from monitor.service.drift import drift_checks
    from monitor.store.drift import findings

    s = settings()
    store = open_store(s)
    try:
        if check:
            cams = store.cameras()

            async def run() -> dict:
                try:
                    return await drift_checks(s, store.sessions, lambda: datetime.now(UTC)).run(
                        cams, datetime.now(UTC))
                finally:
                    await close_shared()

            outcomes = asyncio.run(run())
            failed = sorted(c for c, o in outcomes.items() if not (o.checked | o.unsupported | o.unbaselined))
            typer.echo(f"checked {len(outcomes)} cameras" + (f"; no answer from {', '.join(failed)}" if failed else ""),
                       err=as_json)
        with store.sessions() as session:
            rows = findings(session)
    finally:
        store.engine.dispose()
    for r in rows:
        doc = {"camera": r.camera_id, "check": r.check, "expected": r.expected, "observed": r.observed,
               "since": r.since.astimezone(UTC).isoformat(), "severity": r.severity,
               "corrected_at": r.corrected_at.astimezone(UTC).isoformat() if r.corrected_at else None}
        if as_json:
            typer.echo(json.dumps(doc, ensure_ascii=False))
        else:
            since = r.since.astimezone(s.tz).isoformat(timespec="minutes")
            fixed = f"\tcorrected {r.corrected_at.astimezone(s.tz):%H:%M}" if r.corrected_at else ""
            typer.echo(f"{r.camera_id}\t{r.check}\t{r.severity}\tapproved: {r.expected}\tnow: {r.observed}\t"
                       f"since {since}{fixed}")
    if not rows and not as_json:
        typer.echo("no drift: every checked camera matches its approved settings")


def cameras_baseline(
    camera_id: str,
    operator: Annotated[str | None, typer.Option(help="who approves (default: the login name)")] = None,
) -> None:
    """Read the camera now and approve its masks, view, stream settings and identity as its baseline
    (audited). Its open drift findings close: it is compared with this from now on."""
    from monitor.probes.onvif import close_shared
    from monitor.service.app import open_store
    from monitor.service.drift import take_baseline
    from monitor.store.drift import save_baseline
    from monitor.store.drift_models import BaselineRow
    from recorder import AuditLog

    s = settings()
    try:
        who = operator or getpass.getuser()
    except (KeyError, OSError):
        raise fail("say who approves: --operator NAME") from None
    store = open_store(s)
    try:
        cam = next((c for c in store.cameras() if c.camera_id == camera_id), None)
        if cam is None:
            raise fail(f"unknown or disabled camera {camera_id!r}; nothing changed")
        if not cam.onvif_url:
            raise fail(f"{camera_id} has no onvif_url in the registry: there is nothing to read; nothing changed")
        now = datetime.now(UTC)

        async def read():  # noqa: ANN202
            try:
                return await take_baseline(s, cam, who, now)
            finally:
                await close_shared()

        base, answer = asyncio.run(read())
        if answer.failed:
            raise fail(f"{camera_id} did not answer {', '.join(sorted(answer.failed))}: no baseline taken; nothing "
                       "changed")
        with store.sessions.begin() as session:
            had = session.get(BaselineRow, camera_id) is not None
            save_baseline(session, base)
            AuditLog.append_in(session, actor=who, action="drift_baseline", now=now, detail={
                "camera_id": camera_id, "refreshed": had, "masks": None if base.masks is None else len(base.masks),
                "position": None if base.position is None else [base.position.pan, base.position.tilt,
                                                                base.position.zoom],
                "encoder": None if base.encoder is None else base.encoder.encoding,
                "firmware": None if base.identity is None else base.identity.firmware})
    finally:
        store.engine.dispose()
    parts = [name for name, v in (("masks", base.masks), ("view", base.position), ("stream settings", base.encoder),
                                  ("identity", base.identity)) if v is not None]
    unsupported = sorted(answer.unsupported)
    typer.echo(f"{camera_id}: baseline {'refreshed' if had else 'taken'} by {who}: {', '.join(parts)}"
               + (f"; not offered by the camera: {', '.join(unsupported)}" if unsupported else ""))
