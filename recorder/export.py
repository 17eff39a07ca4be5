"""Lawful-request records and the audited export of footage.

A request records reference, requesting agency, legal basis, requester, camera and time range. A
second person approves it (approver != requester). Only then can an operator export the segments of
that camera overlapping the requested range: they are copied unchanged into a fresh directory with
``manifest.json`` (each file's SHA-256, the request, the operator, the time). Every request,
approval, export and refusal is appended to the hash-chained audit log. Nothing here plays footage.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from recorder.audit import AuditLog
from recorder.domain import LawfulRequest, Segment, check_camera_id, same_person
from recorder.errors import ExportRefused
from recorder.index import LawfulRequestRow, SegmentIndex
from recorder.segments import fsync_dir, sha256_file

MANIFEST = "manifest.json"


def _request(row: LawfulRequestRow) -> LawfulRequest:
    return LawfulRequest(
        reference=row.reference, agency=row.agency, legal_basis=row.legal_basis, requester=row.requester,
        camera_id=row.camera_id, start=row.start, end=row.end, created_at=row.created_at,
        approver=row.approver, approved_at=row.approved_at,
    )


def _jsonable(req: LawfulRequest) -> dict:
    return {k: (v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v) for k, v in asdict(req).items()}


class LawfulRequests:
    def __init__(self, session_factory: sessionmaker[Session], audit: AuditLog):
        self._sessions = session_factory
        self._audit = audit

    def record(
        self, *, reference: str, agency: str, legal_basis: str, requester: str, camera_id: str,
        start: datetime, end: datetime, now: datetime,
    ) -> LawfulRequest:
        check_camera_id(camera_id)
        if not all(x.strip() for x in (reference, agency, legal_basis, requester)):
            raise ValueError("reference, agency, legal basis and requester are all required")
        if not start < end:
            raise ValueError("the requested time range is empty")
        with self._sessions.begin() as s:
            if s.get(LawfulRequestRow, reference) is not None:
                raise ValueError(f"lawful request {reference!r} already exists")
            row = LawfulRequestRow(
                reference=reference, agency=agency, legal_basis=legal_basis, requester=requester,
                camera_id=camera_id, start=start, end=end, created_at=now,
            )
            s.add(row)
            s.flush()
            req = _request(row)
            self._audit.append_in(s, actor=requester, action="request", detail=_jsonable(req), now=now)
            return req

    def get(self, reference: str) -> LawfulRequest | None:
        with self._sessions() as s:
            row = s.get(LawfulRequestRow, reference)
            return _request(row) if row else None

    def all(self) -> list[LawfulRequest]:
        with self._sessions() as s:
            rows = s.scalars(select(LawfulRequestRow).order_by(LawfulRequestRow.created_at,
                                                               LawfulRequestRow.reference))
            return [_request(r) for r in rows]

    def approve(self, reference: str, *, approver: str, now: datetime) -> LawfulRequest:
        with self._sessions.begin() as s:
            row = s.get(LawfulRequestRow, reference)
            why = None
            if row is None:
                why = "no such lawful request"
            elif row.approver is not None:
                why = f"already approved by {row.approver}"
            elif not approver.strip() or same_person(approver, row.requester):
                why = "the approver must be someone other than the requester"
            if why is None and row is not None:
                row.approver, row.approved_at = approver, now
                s.flush()
                self._audit.append_in(s, actor=approver, action="approve",
                                      detail={"reference": reference}, now=now)
                return _request(row)
        self._audit.append(actor=approver, action="approve_refused",
                           detail={"reference": reference, "reason": why}, now=now)
        raise ExportRefused(f"approval of {reference!r} refused: {why}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportResult:
    out_dir: Path
    manifest: Path
    files: tuple[str, ...]
    audit_seq: int


def _footage_problem(segments: list[Segment], where) -> str | None:  # noqa: ANN001 - segment -> path or None
    """Why these segments cannot be copied (none, on nodes with no folder given, missing, changed), or None."""
    if not segments:
        return "no footage in that range"
    elsewhere = sorted({seg.node for seg in segments if where(seg) is None and seg.node})
    if elsewhere:
        return (f"segments of that range are on node(s) {', '.join(elsewhere)}: give their recordings folders "
                f"(--node-root NODE=PATH) or export on those nodes")
    for seg in segments:
        path = where(seg)
        if path is not None and not path.is_file():
            return f"segment {seg.path} is indexed but its file is missing on node {seg.node or 'this node'}"
        if path is not None and sha256_file(path) != seg.sha256:
            return f"segment {seg.path} no longer matches its indexed SHA-256"
    return None


def export_footage(
    *, requests: LawfulRequests, index: SegmentIndex, audit: AuditLog, root: Path, reference: str,
    camera_id: str, start: datetime, end: datetime, operator: str, out_dir: Path, now: datetime,
    node: str | None = None, node_roots: Mapping[str, Path] | None = None,
    annotate: Callable[[Segment], dict] | None = None,
) -> ExportResult:
    """Copy the segments covering [start, end) for an approved, matching lawful request.

    In a cluster each node's segments are on its own disk: ``root`` is this node's (``node``), and
    ``node_roots`` names the other nodes' recordings folders as this host sees them (read-only mounts
    are enough). A segment on a node with no folder given refuses the export and names the nodes.
    ``annotate`` adds what the caller knows of a segment to its manifest entry (the camera clock's
    offset, whether its privacy masks were as approved)."""
    roots = {**(node_roots or {}), **({node: root} if node else {})}

    def where(seg: Segment) -> Path | None:
        return root / seg.path if seg.node is None else (roots[seg.node] / seg.path if seg.node in roots else None)

    req = requests.get(reference)
    why = None
    if req is None:
        why = "no such lawful request"
    elif not req.approved:
        why = "the request is not approved by a second person"
    elif req.camera_id != camera_id:
        why = f"the request covers camera {req.camera_id}, not {camera_id}"
    elif not (req.start <= start < end <= req.end):
        why = "the time range is outside the request's range"
    elif out_dir.exists() and any(out_dir.iterdir()):
        why = f"{out_dir} is not empty"
    segments = index.segments(camera_id, start, end) if why is None else []
    if why is None:
        why = _footage_problem(segments, where)
    if why is not None:
        audit.append(actor=operator, action="export_refused", now=now,
                     detail={"reference": reference, "camera_id": camera_id, "reason": why})
        raise ExportRefused(f"export refused: {why}")
    assert req is not None

    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = []
    for seg in segments:
        name = f"{seg.camera_id}_{Path(seg.path).name}"
        dest = out_dir / name
        shutil.copyfile(where(seg), dest)  # type: ignore[arg-type]
        os.chmod(dest, 0o600)
        files.append({"name": name, "sha256": sha256_file(dest), "bytes": dest.stat().st_size,
                      "start": seg.start.isoformat(), "end": seg.end.isoformat(),
                      **({"node": seg.node} if seg.node else {}), **(annotate(seg) if annotate else {})})
    manifest = {
        "request": _jsonable(req), "operator": operator, "exported_at": now.astimezone(UTC).isoformat(),
        "camera_id": camera_id, "start": start.isoformat(), "end": end.isoformat(), "files": files,
    }
    path = out_dir / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    os.chmod(path, 0o600)
    fsync_dir(out_dir)
    entry = audit.append(actor=operator, action="export", now=now, detail={
        "reference": reference, "camera_id": camera_id, "start": start.isoformat(), "end": end.isoformat(),
        "files": len(files), "manifest_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    })
    return ExportResult(out_dir=out_dir, manifest=path, files=tuple(f["name"] for f in files), audit_seq=entry.seq)


def verify_export(out_dir: Path) -> list[str]:
    """Problems found checking an export package against its manifest (empty: it verifies)."""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        return [f"manifest unreadable: {e}"]
    problems = []
    listed = set()
    for f in manifest.get("files", []):
        listed.add(f["name"])
        p = out_dir / f["name"]
        if not p.is_file():
            problems.append(f"{f['name']}: missing")
        elif sha256_file(p) != f["sha256"]:
            problems.append(f"{f['name']}: SHA-256 mismatch")
    extra = {p.name for p in out_dir.iterdir()} - listed - {MANIFEST}
    problems += [f"{name}: not in the manifest" for name in sorted(extra)]
    return problems
