"""The camera registry in the store: rows <-> :class:`Camera`, and atomic re-import with a diff."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.config.secrets import PasswordBox
from monitor.core.domain import Access, Camera, Contact, Lang
from monitor.store.models import CameraRow

_PLAIN = [f.name for f in fields(Camera) if f.name not in ("camera_id", "onvif_password")]


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryDiff:
    added: tuple[str, ...]
    changed: tuple[tuple[str, tuple[str, ...]], ...]  # camera id, names of changed fields
    unchanged: int
    missing: tuple[str, ...]  # in the store, not in the file

    def summary(self, *, prune: bool = False, done: bool = True) -> str:
        """What the import does (``done``: did) to the store; with ``prune``, the cameras not in the file
        are listed as removed, exactly those that a pruning import removes."""
        gone = ("removed" if done else "to remove") if prune else "not in file"
        lines = [f"added: {len(self.added)}, changed: {len(self.changed)}, unchanged: {self.unchanged}, "
                 f"{gone}: {len(self.missing)}"]
        lines += [f"  + {cid}" for cid in self.added]
        lines += [f"  ~ {cid}: {', '.join(fs)}" for cid, fs in self.changed]
        if prune:
            mark = "  - {} (removed)" if done else "  - {} (--prune removes it)"
        else:
            mark = "  ? {} (kept; --prune removes it)"
        lines += [mark.format(cid) for cid in self.missing]
        return "\n".join(lines)

    def prune_share(self) -> float:
        """The share of the cameras in the store that a pruning import removes."""
        total = len(self.changed) + self.unchanged + len(self.missing)
        return len(self.missing) / total if total else 0.0


def to_camera(row: CameraRow, box: PasswordBox | None) -> Camera:
    password = box.open(row.onvif_password_enc) if (box and row.onvif_password_enc) else None
    return Camera(
        camera_id=row.camera_id, area=row.area, isp=row.isp, line_id=row.line_id,
        expected_fps=row.expected_fps, address=row.address, owner_name=row.owner_name,
        contact=Contact(row.contact), phone=row.phone, email=row.email, lang=Lang(row.lang),
        vendor=row.vendor, rtsp_url=row.rtsp_url, onvif_url=row.onvif_url,
        access=Access(row.access) if row.access else None, lat=row.lat, lon=row.lon,
        onvif_user=row.onvif_user, onvif_password=password,
    )


def _plain_value(cam: Camera, name: str):
    v = getattr(cam, name)
    return v.value if hasattr(v, "value") else v


def _changes(row: CameraRow, cam: Camera, box: PasswordBox) -> list[str]:
    changed = [n for n in _PLAIN if getattr(row, n) != _plain_value(cam, n)]
    old = box.open(row.onvif_password_enc).reveal() if row.onvif_password_enc else None
    new = cam.onvif_password.reveal() if cam.onvif_password is not None else None
    if old != new:
        changed.append("onvif_password")
    return changed


def _fill(row: CameraRow, cam: Camera, box: PasswordBox, now: datetime) -> None:
    for n in _PLAIN:
        setattr(row, n, _plain_value(cam, n))
    row.onvif_password_enc = box.seal(cam.onvif_password) if cam.onvif_password is not None else None
    row.updated_at = now


EDITABLE = ("area", "isp", "line_id", "expected_fps", "address", "owner_name", "contact", "phone", "email", "lang",
            "vendor", "lat", "lon")  # from the console; URLs and the camera's login only by an import


def edit_camera(session: Session, cam: Camera, now: datetime) -> list[str] | None:
    """Set a camera's editable fields to ``cam``'s (its URLs and login stay); the fields that changed, or
    None when it is unknown."""
    row = session.get(CameraRow, cam.camera_id)
    if row is None:
        return None
    changed = [n for n in EDITABLE if not _same(getattr(row, n), _plain_value(cam, n))]
    for n in changed:
        setattr(row, n, _plain_value(cam, n))
    if changed:
        row.updated_at = now
    return changed


def _same(a: object, b: object) -> bool:
    """Equal, a float shown in a form and read back (35.801 for 35.801000000000002) included."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a))
    return a == b


def diff_registry(session: Session, cameras: Sequence[Camera], box: PasswordBox) -> RegistryDiff:
    existing = {r.camera_id: r for r in session.scalars(select(CameraRow))}
    added, changed, unchanged = [], [], 0
    for cam in cameras:
        row = existing.get(cam.camera_id)
        if row is None:
            added.append(cam.camera_id)
        elif fs := _changes(row, cam, box):
            changed.append((cam.camera_id, tuple(fs)))
        else:
            unchanged += 1
    ids = {c.camera_id for c in cameras}
    missing = tuple(sorted(cid for cid in existing if cid not in ids))
    return RegistryDiff(added=tuple(added), changed=tuple(changed), unchanged=unchanged, missing=missing)


def apply_registry(
    session: Session, cameras: Sequence[Camera], box: PasswordBox, now: datetime, *, prune: bool = False
) -> RegistryDiff:
    """Insert new cameras and update changed ones in place, inside the caller's transaction."""
    diff = diff_registry(session, cameras, box)
    existing = {r.camera_id: r for r in session.scalars(select(CameraRow))}
    changed_ids = {cid for cid, _ in diff.changed}
    for cam in cameras:
        row = existing.get(cam.camera_id)
        if row is None:
            row = CameraRow(camera_id=cam.camera_id, created_at=now)
            _fill(row, cam, box, now)
            session.add(row)
        elif cam.camera_id in changed_ids:
            _fill(row, cam, box, now)
    if prune:
        for cid in diff.missing:
            session.delete(existing[cid])
    return diff


def list_cameras(session: Session, box: PasswordBox | None = None, *, monitored: bool = False) -> list[Camera]:
    """Every camera of the registry, or (``monitored``) those not disabled: the ones probed and recorded."""
    q = select(CameraRow).order_by(CameraRow.camera_id)
    if monitored:
        q = q.where(CameraRow.disabled_at.is_(None))
    return [to_camera(r, box) for r in session.scalars(q)]


@dataclass(frozen=True, slots=True)
class Disabled:
    camera_id: str
    at: datetime
    reason: str


def disabled_cameras(session: Session) -> dict[str, Disabled]:
    rows = session.scalars(select(CameraRow).where(CameraRow.disabled_at.is_not(None)))
    return {r.camera_id: Disabled(r.camera_id, r.disabled_at, r.disabled_reason or "") for r in rows}


def set_disabled(session: Session, camera_id: str, now: datetime, reason: str | None) -> bool | None:
    """Disable (``reason`` given) or enable (``None``) one camera; whether it changed, ``None`` when unknown."""
    row = session.get(CameraRow, camera_id)
    if row is None:
        return None
    if (row.disabled_at is not None) == (reason is not None) and (reason is None or row.disabled_reason == reason):
        return False
    row.disabled_at, row.disabled_reason = (now, reason) if reason is not None else (None, None)
    row.updated_at = now
    return True


def get_camera(session: Session, camera_id: str, box: PasswordBox | None = None) -> Camera | None:
    row = session.get(CameraRow, camera_id)
    return None if row is None else to_camera(row, box)
