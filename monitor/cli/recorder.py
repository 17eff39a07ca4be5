"""``mimamori recorder status``, ``requests add|approve|list``, ``export``, ``audit verify``.

Nothing here plays or serves footage: `export` copies segment files, unchanged, into a package with a
SHA-256 manifest, and only for an approved lawful request (approved by someone other than the
requester) that covers the camera and the time range. Every request, approval, export and refusal is
written to the hash-chained audit log.

Registered on the main app by `register(app)`.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from monitor.cli.common import fail, parse_time

if TYPE_CHECKING:
    from monitor.config.settings import Settings

recorder_app = typer.Typer(help="The recorder (status only; footage is never played).", no_args_is_help=True)
requests_app = typer.Typer(help="Lawful requests for footage.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log of requests and exports.", no_args_is_help=True)

TimeOpt = Annotated[str, typer.Option(help="ISO 8601; without an offset, the fleet's time zone")]


def _settings() -> Settings:
    from monitor.cli.common import settings

    return settings()


def _recorder_parts(s: Settings):
    """The store and the recorder's repositories over it."""
    from monitor.service.app import open_store
    from recorder import AuditLog, LawfulRequests, SegmentIndex

    store = open_store(s)
    audit = AuditLog(store.sessions)
    return store, SegmentIndex(store.sessions), audit, LawfulRequests(store.sessions, audit)


def _days(d: timedelta) -> str:
    return f"{d.total_seconds() / 86400:.2f} d"


@recorder_app.command("status")
def recorder_status() -> None:
    """Per camera: connected and fps (from the running service), last segment, retention held."""
    from monitor.service.recording import read_status, recorder_settings, status_path

    s = _settings()
    store, index, _, _ = _recorder_parts(s)
    footage = index.footage_by_camera()
    registry = {c.camera_id for c in store.cameras()}
    doc = read_status(status_path(s))
    now = datetime.now(UTC)
    live: dict = {}
    if doc is None:
        typer.echo("no live status: the service is not running (or has not written its status yet)")
    else:
        written = datetime.fromisoformat(doc["written_at"])
        age = (now - written).total_seconds()
        if age > 3 * recorder_settings(s).status_interval_s:
            typer.echo(f"live status is stale: written {age:.0f} s ago")
        else:
            live = doc["cameras"]
    typer.echo(f"retention period {recorder_settings(s).retention_days:g} d; footage held per camera below")
    typer.echo("camera\tconnected\tfps\tlast segment ends\tretention held\tsegments")
    for cam in sorted(registry | set(footage) | set(live)):
        st = live.get(cam)
        connected = "-" if st is None else ("yes" if st["connected"] else "no")
        fps = "-" if st is None else f"{st['fps']:.1f}"
        f = footage.get(cam)
        if f is None:
            last, held, n = "-", "-", "0"
        else:
            last = f.last_end.astimezone(s.tz).isoformat(timespec="seconds")
            held, n = _days(now - f.first_start), str(f.segments)
        typer.echo(f"{cam}\t{connected}\t{fps}\t{last}\t{held}\t{n}")


@requests_app.command("add")
def requests_add(
    reference: Annotated[str, typer.Option(help="the agency's reference of the request")],
    agency: Annotated[str, typer.Option(help="requesting agency")],
    legal_basis: Annotated[str, typer.Option("--legal-basis", help="the law the request rests on")],
    requester: Annotated[str, typer.Option(help="who records the request")],
    camera: Annotated[str, typer.Option(help="camera id")],
    from_: Annotated[str, typer.Option("--from", help="start (ISO 8601)")],
    to: Annotated[str, typer.Option("--to", help="end, exclusive (ISO 8601)")],
) -> None:
    """Record a lawful request. It needs a second person's approval before any export."""
    s = _settings()
    _, _, _, requests = _recorder_parts(s)
    try:
        req = requests.record(reference=reference, agency=agency, legal_basis=legal_basis, requester=requester,
                              camera_id=camera, start=parse_time(from_, s), end=parse_time(to, s),
                              now=datetime.now(UTC))
    except ValueError as e:
        raise fail(f"request not recorded: {e}") from None
    typer.echo(f"recorded lawful request {req.reference} for camera {req.camera_id}; "
               "it needs approval by someone other than the requester")


@requests_app.command("approve")
def requests_approve(
    reference: Annotated[str, typer.Argument(help="the request's reference")],
    approver: Annotated[str, typer.Option(help="who approves (not the requester)")],
) -> None:
    """Approve a lawful request (the approver must not be its requester)."""
    from recorder import ExportRefused

    s = _settings()
    _, _, _, requests = _recorder_parts(s)
    try:
        req = requests.approve(reference, approver=approver, now=datetime.now(UTC))
    except ExportRefused as e:
        raise fail(str(e)) from None
    typer.echo(f"lawful request {req.reference} approved by {req.approver}")


@requests_app.command("list")
def requests_list() -> None:
    """One line per lawful request."""
    s = _settings()
    _, _, _, requests = _recorder_parts(s)
    for r in requests.all():
        span = f"{r.start.astimezone(s.tz).isoformat()} .. {r.end.astimezone(s.tz).isoformat()}"
        typer.echo(f"{r.reference}\t{r.camera_id}\t{span}\t{r.agency}\trequested by {r.requester}\t"
                   f"{'approved by ' + r.approver if r.approved else 'awaiting approval'}")


def export_command(
    request: Annotated[str, typer.Option("--request", help="reference of an approved lawful request")],
    camera: Annotated[str, typer.Option(help="camera id (must be the request's)")],
    from_: Annotated[str, typer.Option("--from", help="start (ISO 8601), inside the request's range")],
    to: Annotated[str, typer.Option("--to", help="end, exclusive (ISO 8601), inside the request's range")],
    out: Annotated[Path, typer.Option(help="a new or empty directory for the export package")],
    operator: Annotated[str | None, typer.Option(help="who exports (default: the login name)")] = None,
    node_root: Annotated[list[str] | None, typer.Option(
        "--node-root", help="NODE=PATH: another node's recordings folder as this host sees it (repeatable)")] = None,
) -> None:
    """Export footage for an approved lawful request: files, a SHA-256 manifest, an audit entry. In a
    cluster, segments recorded by other nodes are read from the folders given with --node-root."""
    from monitor.service.recording import recorder_root
    from recorder import ExportRefused, export_footage, verify_export

    s = _settings()
    store, index, audit, requests = _recorder_parts(s)
    try:
        who = operator or getpass.getuser()
    except (KeyError, OSError):
        raise fail("say who exports: --operator NAME") from None
    roots = {}
    for item in node_root or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise fail(f"--node-root {item!r}: give NODE=PATH, e.g. --node-root n2=/mnt/n2/recordings")
        roots[name] = Path(path)
    start, end, now = parse_time(from_, s), parse_time(to, s), datetime.now(UTC)
    try:
        result = export_footage(
            requests=requests, index=index, audit=audit, root=recorder_root(s), reference=request,
            camera_id=camera, start=start, end=end, operator=who, out_dir=out,
            now=now, node=s.cluster.node_id, node_roots=roots, annotate=_drift_notes(s, store, camera, start, end, now),
        )
    except ExportRefused as e:
        raise fail(str(e)) from None
    problems = verify_export(result.out_dir)
    if problems:
        raise fail("the export package does not verify:\n" + "\n".join(problems))
    typer.echo(f"exported {len(result.files)} file(s) to {result.out_dir}; manifest {result.manifest} "
               f"verifies; audit entry {result.audit_seq}")


def _drift_notes(s: Settings, store, camera: str, start: datetime, end: datetime, now: datetime):  # noqa: ANN001, ANN202
    """For each exported segment: the camera clock's offset measured over it, and whether its privacy
    masks were as approved (`core.drift.segment_clock`, `masks_missing`)."""
    from monitor.core.drift import masks_missing, segment_clock
    from monitor.store.drift import clock_offsets, mask_windows

    reach = timedelta(seconds=max(s.drift.every().values()))
    with store.sessions() as session:
        readings = clock_offsets(session, camera, start - reach, end + reach)
        windows = mask_windows(session, camera, reach)

    def notes(seg) -> dict:  # noqa: ANN001 - a recorder Segment
        out = {"camera_clock": segment_clock(readings, seg.start, seg.end, reach)}
        if masks_missing(windows, seg.start, seg.end, now):
            out["privacy_masks"] = "not as approved: a drift check found the masks missing or changed"
        return out

    return notes


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the hash chain of the audit log; names the first entry that fails."""
    s = _settings()
    _, _, audit, _ = _recorder_parts(s)
    verdict = audit.verify()
    if not verdict.ok:
        raise fail(f"audit log BROKEN at entry {verdict.first_bad_seq}: {verdict.reason}")
    typer.echo(f"audit log intact: {verdict.entries} entries")


def register(app: typer.Typer) -> None:
    """Add these commands to the ``mimamori`` app (once)."""
    if any(g.name == "recorder" for g in app.registered_groups):
        return
    app.add_typer(recorder_app, name="recorder")
    app.add_typer(requests_app, name="requests")
    app.add_typer(audit_app, name="audit")
    app.command("export")(export_command)
