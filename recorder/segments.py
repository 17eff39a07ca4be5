"""Segment files: naming, the crash-safe writer, probing, and start-up reconciliation.

A segment is fragmented MP4 (``frag_keyframe+empty_moov+default_base_moof``), so a file cut short
by a crash still plays up to its last complete fragment. It is written as ``NAME.mp4.partial``; on
close the file and its directory are fsynced, it is renamed, the directory is fsynced again, and
only then is it indexed with its size and SHA-256. Files are 0600 and directories 0700.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av

from recorder.domain import SegmentRecord, check_camera_id

log = logging.getLogger(__name__)

SUFFIX = ".mp4"
PARTIAL = ".partial"
QUARANTINE = "quarantine"
# flush_packets: hand each finished fragment to the kernel at once, not when the 32 KiB AVIO buffer fills
MP4_OPTIONS = {"movflags": "+frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
_STAMP = "%Y%m%dT%H%M%S.%fZ"


def segment_relpath(camera_id: str, start: datetime) -> str:
    """``CAM/YYYYMMDD/YYYYMMDDTHHMMSS.ffffffZ.mp4`` relative to the root."""
    check_camera_id(camera_id)
    start = start.astimezone(UTC)
    return f"{camera_id}/{start:%Y%m%d}/{start.strftime(_STAMP)}{SUFFIX}"


def parse_relpath(rel: str) -> tuple[str, datetime] | None:
    """Camera id and start time from a segment path (final or partial), or None."""
    parts = rel.split("/")
    if len(parts) != 3:
        return None
    name = parts[2].removesuffix(PARTIAL)
    if not name.endswith(SUFFIX):
        return None
    try:
        start = datetime.strptime(name.removesuffix(SUFFIX), _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None
    return parts[0], start


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_private_dirs(root: Path, path: Path) -> None:
    """Create `path` (under `root`) with 0700 directories, fsyncing each new entry's parent."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    missing = []
    p = path
    while p != root and not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue
        fsync_dir(d.parent)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def publish(root: Path, partial: Path) -> Path:
    """fsync the partial file and its directory, rename it to its final name, fsync again."""
    final = partial.with_name(partial.name.removesuffix(PARTIAL))
    fsync_file(partial)
    fsync_dir(partial.parent)
    os.replace(partial, final)
    fsync_dir(final.parent)
    return final


class SegmentWriter:
    """Remuxes packets of one input stream into one segment file. Timestamps restart at zero."""

    def __init__(self, root: Path, camera_id: str, start: datetime, template: av.video.stream.VideoStream):
        self.root = root
        self.camera_id = camera_id
        self.start = start
        self.relpath = segment_relpath(camera_id, start)
        final = root / self.relpath
        self.partial = final.with_name(final.name + PARTIAL)
        make_private_dirs(root, final.parent)
        fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        self._out = av.open(str(self.partial), mode="w", format="mp4", container_options=MP4_OPTIONS)
        try:
            self._stream = self._out.add_stream_from_template(template)
        except Exception:
            self._out.close()
            raise
        self.frames = 0
        self._first_dts: int | None = None
        self._last_end: int = 0
        self._tb = 0.0  # the packets' time base, as a float

    def write(self, packet: av.Packet) -> None:
        """Mux one packet (the first must be a keyframe); `packet.duration` should be set."""
        first = self._first_dts
        if first is None:
            first = self._first_dts = packet.dts
            self._tb = float(packet.time_base)
        dts = packet.dts - first
        packet.dts = dts
        packet.pts -= first
        self._last_end = dts + (packet.duration or 0)
        packet.stream = self._stream
        self._out.mux_one(packet)
        self.frames += 1

    @property
    def stream_seconds(self) -> float:
        return self._last_end * self._tb

    def close(self, start: datetime | None = None) -> SegmentRecord | None:
        """Finish the file, publish it and describe it; None (file removed) if nothing was written.
        `start` refines the wall-clock start given at open (the file name keeps the first guess)."""
        start = start or self.start
        try:
            self._out.close()
        finally:
            if self.frames == 0:
                self.partial.unlink(missing_ok=True)
        if self.frames == 0:
            return None
        final = publish(self.root, self.partial)
        return SegmentRecord(
            camera_id=self.camera_id,
            path=self.relpath,
            start=start,
            end=start + timedelta(seconds=self.stream_seconds),
            frames=self.frames,
            bytes=final.stat().st_size,
            sha256=sha256_file(final),
        )

    def abort(self) -> None:
        try:
            self._out.close()
        except Exception:  # noqa: BLE001 - already failing; the file is reconciled at start-up
            log.debug("closing an aborted segment failed", exc_info=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Probe:
    """What PyAV could read from a segment file: playable if its first frame decodes."""

    frames: int
    duration_s: float
    playable: bool


def probe_segment(path: Path) -> Probe:
    """Demux a whole file (tolerating a truncated tail) and decode its first frame."""
    frames = 0
    first = last_end = None
    playable = False
    try:
        with av.open(str(path), mode="r") as c:
            if not c.streams.video:
                return Probe(frames=0, duration_s=0.0, playable=False)
            stream = c.streams.video[0]
            tb = stream.time_base
            try:
                for pkt in c.demux(stream):
                    if pkt.dts is None or pkt.size == 0:
                        continue
                    if frames == 0:
                        playable = pkt.is_keyframe and bool(pkt.decode())
                    frames += 1
                    first = pkt.dts if first is None else first
                    last_end = pkt.dts + (pkt.duration or 0)
            except av.error.FFmpegError:
                pass  # a truncated last fragment: keep what was readable
            duration = float((last_end - first) * tb) if frames and tb else 0.0
    except (av.error.FFmpegError, OSError):
        return Probe(frames=0, duration_s=0.0, playable=False)
    return Probe(frames=frames, duration_s=duration, playable=playable and frames > 0)
