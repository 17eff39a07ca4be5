"""Start-up reconciliation of the segment directory with the index.

1. Finish the garbage list (deletions that a crash interrupted).
2. Index complete files that are not indexed (a crash between rename and index).
3. A leftover ``.partial`` (a crash mid-segment): if PyAV can read it from a keyframe, publish and
   index it as playable up to its last complete fragment (``recovered=True``); otherwise quarantine.
4. Unreadable or unrecognised files go to ``ROOT/quarantine/`` (same relative path); index rows
   whose file is gone are dropped and reported.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from recorder.domain import SegmentRecord
from recorder.index import SegmentIndex
from recorder.janitor import delete_files
from recorder.segments import (
    PARTIAL,
    QUARANTINE,
    fsync_dir,
    make_private_dirs,
    parse_relpath,
    probe_segment,
    publish,
    sha256_file,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileReport:
    deletions_finished: tuple[str, ...]
    indexed: tuple[str, ...]
    recovered_partials: tuple[str, ...]
    quarantined: tuple[str, ...]
    missing: tuple[str, ...]


def quarantine(root: Path, rel: str) -> str:
    src = root / rel
    dest = root / QUARANTINE / rel
    make_private_dirs(root, dest.parent)
    os.replace(src, dest)
    fsync_dir(dest.parent)
    fsync_dir(src.parent)
    log.warning("quarantined unreadable segment file %s", rel)
    return f"{QUARANTINE}/{rel}"


def _files(root: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root:
            dirnames[:] = [d for d in dirnames if d != QUARANTINE]
        for name in filenames:
            out.append(Path(dirpath, name).relative_to(root).as_posix())
    return sorted(out)


def reconcile(root: Path, index: SegmentIndex) -> ReconcileReport:
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    pending = index.pending_deletions()
    delete_files(root, index, pending)

    known = index.paths()
    on_disk = set()
    indexed, recovered, quarantined = [], [], []
    for rel in _files(root):
        on_disk.add(rel)
        if rel in known:
            continue
        parsed = parse_relpath(rel)
        if parsed is None:
            if rel.count("/") == 2:  # a stranger inside a camera's day directory
                quarantined.append(quarantine(root, rel))
            continue
        camera_id, start = parsed
        probe = probe_segment(root / rel)
        if not probe.playable:
            quarantined.append(quarantine(root, rel))
            continue
        path = root / rel
        if rel.endswith(PARTIAL):
            path = publish(root, path)
            rel = rel.removesuffix(PARTIAL)
            recovered.append(rel)
        else:
            indexed.append(rel)
        index.add(
            SegmentRecord(
                camera_id=camera_id,
                path=rel,
                start=start,
                end=start + timedelta(seconds=probe.duration_s),
                frames=probe.frames,
                bytes=path.stat().st_size,
                sha256=sha256_file(path),
                recovered=True,
            )
        )
    missing = sorted(known - on_disk)
    index.forget(missing)
    return ReconcileReport(
        deletions_finished=tuple(pending),
        indexed=tuple(indexed),
        recovered_partials=tuple(recovered),
        quarantined=tuple(quarantined),
        missing=tuple(missing),
    )
