"""``mimamori cameras …``: the camera registry (import, list, show, disable, enable, findings, drift,
baseline)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.common import fail, settings
from monitor.cli.drift import cameras_baseline, cameras_drift
from monitor.cli.findings import cameras_findings

cameras_app = typer.Typer(help="The camera registry.", no_args_is_help=True)
cameras_app.command("findings")(cameras_findings)
cameras_app.command("drift")(cameras_drift)
cameras_app.command("baseline")(cameras_baseline)

PRUNE_LIMIT = 0.10  # an import that would remove more of the fleet than this asks for --yes


@cameras_app.command("import")
def cameras_import(
    file: Annotated[Path, typer.Argument(help="registry CSV (UTF-8; Excel's BOM is fine)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would change; change nothing")] = False,
    prune: Annotated[bool, typer.Option("--prune", help="remove cameras that are not in the file")] = False,
    yes: Annotated[bool, typer.Option("--yes", help=f"with --prune: remove even more than {PRUNE_LIMIT:.0%} "
                                                    "of the fleet")] = False,
) -> None:
    """Validate every row, then import all cameras at once (or nothing). With --prune, --dry-run lists
    exactly the cameras that would be removed; removing more than 10 % of the fleet needs --yes."""
    from datetime import UTC

    from monitor.config.registry import load_cameras
    from monitor.core.errors import RegistryError
    from monitor.service.app import open_store
    from monitor.store.cameras import apply_registry, diff_registry

    try:
        cams = load_cameras(file)
    except RegistryError as e:
        for err in e.errors:
            typer.echo(str(err), err=True)
        raise fail(f"{file}: {len(e.errors)} error(s); nothing was imported") from None
    except OSError as e:
        raise fail(f"{file}: {e.strerror}") from None
    store = open_store(settings())
    with store.sessions() as session:
        preview = diff_registry(session, cams, store.box)
        if dry_run:
            typer.echo("dry run, nothing changed\n" + preview.summary(prune=prune, done=False))
            return
        if prune and preview.prune_share() > PRUNE_LIMIT and not yes:
            raise fail(f"{file}: --prune would remove {len(preview.missing)} of "
                       f"{len(preview.missing) + len(preview.changed) + preview.unchanged} cameras (more than "
                       f"{PRUNE_LIMIT:.0%}); see them with --dry-run --prune, then add --yes; nothing was imported")
        session.rollback()  # the preview's read; the import below is one transaction of its own
        with session.begin():
            diff = apply_registry(session, cams, store.box, datetime.now(UTC), prune=prune)
    typer.echo(f"imported {len(cams)} cameras from {file}\n" + diff.summary(prune=prune))


@cameras_app.command("list")
def cameras_list() -> None:
    """One line per camera; a disabled one ends with "disabled" and the reason."""
    from monitor.service.app import open_store
    from monitor.store.cameras import disabled_cameras

    store = open_store(settings())
    with store.sessions() as s:
        off = disabled_cameras(s)
    for c in store.cameras(with_disabled=True):
        d = off.get(c.camera_id)
        state = f"\tdisabled {d.at:%Y-%m-%d %H:%M}Z: {d.reason}" if d else ""
        typer.echo(f"{c.camera_id}\t{c.area}\t{c.isp}\t{c.line_id}\t{c.expected_fps:g} fps\t{c.contact}\t{c.rtsp_url}"
                   + state)


REASON_MAX = 200


def _set_disabled(camera_id: str, reason: str | None) -> None:
    from datetime import UTC

    from monitor.service.app import open_store
    from monitor.store.cameras import set_disabled

    store = open_store(settings())
    with store.sessions() as s, s.begin():
        changed = set_disabled(s, camera_id, datetime.now(UTC), reason)
    if changed is None:
        raise fail(f"unknown camera {camera_id!r}; nothing changed")
    word = "disabled" if reason is not None else "enabled"
    typer.echo(f"{camera_id} {word}" + ("" if changed else " already") + "; a running service takes it at its "
               "next registry reload (probes.registry_reload_s), or at once on SIGHUP")


@cameras_app.command("disable")
def cameras_disable(
    camera_id: str,
    reason: Annotated[str, typer.Option("--reason", help="why, for the other operators (one line)")],
) -> None:
    """Stop probing, recording and contacting anyone about one camera.

    Its registry row is kept, and a re-import does not enable it again."""
    import unicodedata

    reason = reason.strip()
    if not reason or len(reason) > REASON_MAX or any(unicodedata.category(ch) == "Cc" for ch in reason):
        raise fail(f"--reason: one line of 1 to {REASON_MAX} characters, without control characters; nothing changed")
    _set_disabled(camera_id, reason)


@cameras_app.command("enable")
def cameras_enable(camera_id: str) -> None:
    """Probe and record a disabled camera again."""
    _set_disabled(camera_id, None)


@cameras_app.command("show")
def cameras_show(camera_id: str) -> None:
    """Everything about one camera (the password is never shown)."""
    from monitor.service.app import open_store
    from monitor.store.cameras import disabled_cameras, get_camera

    store = open_store(settings())
    with store.sessions() as s:
        cam = get_camera(s, camera_id, store.box)
        off = disabled_cameras(s).get(camera_id)
    if cam is None:
        raise fail(f"unknown camera {camera_id!r}")
    for k in cam.__dataclass_fields__:
        v = getattr(cam, k)
        if k == "onvif_password":
            v = "(set)" if v else "(none)"
        typer.echo(f"{k}: {v if v is not None else ''}")
    typer.echo(f"disabled: {f'{off.at:%Y-%m-%d %H:%M}Z: {off.reason}' if off else 'no'}")
