"""The scenario observation format (shared/scenarios/README.md): JSON Lines, one object per line.

One strict reader serves replay and the store's re-import alike: every line is checked (``t`` an ISO
time with an offset; ``camera`` or ``reference``; ``reachable`` a boolean; numbers non-negative or
null), and a bad line stops the read with ``line N, field F: why``. Lines are grouped into probe
rounds by the probe interval they fall in (`rounds`), not by their raw time: live probes are spread
over the interval, so one round's lines carry different times.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated, Any

import msgspec

from monitor.core.domain import Observation, ReferenceObservation
from monitor.core.errors import ObservationFormatError

Record = Observation | ReferenceObservation
Sample = tuple  # (camera, reachable, rtt_ms, onvif_ok, fps, max_gap_s): what the classifier reads
Row = tuple[datetime, str | None, Any]  # (time, camera or None for a reference check, sample or reachable)
Round = tuple[datetime, list, list]  # (the interval's start, its camera rows, its reference rows)

_NUMBERS = (int, float)
_NonNegative = Annotated[int, msgspec.Meta(ge=0)] | Annotated[float, msgspec.Meta(ge=0)]
_TIME_CACHE_MAX = 8192


def _bad(n: int, field: str, why: str) -> ObservationFormatError:
    return ObservationFormatError(f"line {n}, field {field}: {why}")


def _time(raw: object, n: int) -> datetime:
    if not isinstance(raw, str):
        raise _bad(n, "t", f"expected an ISO 8601 time, got {raw!r}")
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        raise _bad(n, "t", f"not an ISO 8601 time: {raw!r}") from None
    if t.tzinfo is None:
        raise _bad(n, "t", "time has no UTC offset")
    return t


def _num(d: dict, name: str, n: int) -> Any:
    v = d.get(name)
    if v is None:
        return None
    if type(v) not in _NUMBERS or not v >= 0:  # bool is not a number here; NaN and negatives fail v >= 0
        raise _bad(n, name, f"expected a non-negative number or null, got {v!r}")
    return v


def _bool(d: dict, name: str, n: int, default: bool | None = None) -> bool:
    v = d.get(name, default)
    if type(v) is not bool:
        raise _bad(n, name, f"expected true or false, got {v!r}")
    return v


def _loads(line: str, n: int) -> dict | None:
    try:
        d = json.loads(line)
    except ValueError:
        if not line.strip():
            return None
        raise ObservationFormatError(f"line {n}: not a JSON object") from None
    if type(d) is not dict:
        raise ObservationFormatError(f"line {n}: not a JSON object")
    return d


def check_row(d: dict, n: int, t: datetime) -> Row:
    """One parsed line, checked: (t, camera, sample) or (t, None, reference reachable)."""
    cam = d.get("camera")
    if cam is None:
        if type(d.get("reference")) is not str:
            raise ObservationFormatError(f"line {n}: needs 'camera' or 'reference'")
        return t, None, _bool(d, "reachable", n)
    if type(cam) is not str or not cam:
        raise _bad(n, "camera", f"expected a camera id, got {cam!r}")
    reachable = _bool(d, "reachable", n)
    onvif = _bool(d, "onvif_ok", n, False)
    return t, cam, (cam, reachable, _num(d, "rtt_ms", n), onvif, _num(d, "fps", n), _num(d, "max_gap_s", n))


class _Line(msgspec.Struct):
    """A well-formed line, as msgspec decodes and checks it in one pass (the fast path)."""

    t: str
    reachable: bool | None = None
    camera: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    reference: str | None = None
    onvif_ok: bool = False
    rtt_ms: _NonNegative | None = None
    fps: _NonNegative | None = None
    max_gap_s: _NonNegative | None = None


_DECODE = msgspec.json.Decoder(_Line).decode


def _slow_row(line: str | bytes, n: int) -> Row | None:
    """A line the fast path refused, read again by `check_row`: its row, None if blank, or the error."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            raise ObservationFormatError(f"line {n}: not UTF-8 text") from None
    d = _loads(line, n)
    if d is None:
        return None
    return check_row(d, n, _time(d.get("t"), n))


def iter_rows(lines: Iterable[str | bytes]) -> Iterator[Row]:
    """Checked rows of a scenario file, as light tuples (the fast path: no dataclass per line).

    msgspec decodes and checks a well-formed line in one pass; anything it refuses is read again
    through `check_row`, which either names the line and field at fault or accepts what the schema is
    stricter about (an infinite number). Both accept exactly the same lines with the same values."""
    times: dict[str, datetime] = {}
    decode, error = _DECODE, msgspec.DecodeError
    for n, line in enumerate(lines, 1):
        try:
            x = decode(line)
        except error:
            row = _slow_row(line, n)
            if row is not None:
                yield row
            continue
        raw = x.t
        t = times.get(raw)
        if t is None:
            if len(times) > _TIME_CACHE_MAX:
                times.clear()
            t = times[raw] = _time(raw, n)
        cam, r = x.camera, x.reachable
        if r is None:
            yield _slow_row(line, n)  # type: ignore[misc]  # always the error naming the missing field
        elif cam is not None:
            yield t, cam, (cam, r, x.rtt_ms, x.onvif_ok, x.fps, x.max_gap_s)
        elif x.reference is not None:
            yield t, None, r
        else:
            yield _slow_row(line, n)  # type: ignore[misc]  # neither camera nor reference: the error


def parse_line(line: str, n: int = 0) -> Record:
    """One line as an `Observation` or `ReferenceObservation` (the same checks as `iter_rows`)."""
    d = _loads(line, n)
    if d is None:
        raise ObservationFormatError(f"line {n}: empty")
    t, cam, value = check_row(d, n, _time(d.get("t"), n))
    if cam is None:
        return ReferenceObservation(t=t, reference=d["reference"], reachable=value)
    _, reachable, rtt, onvif, fps, gap = value
    skew = d.get("clock_skew_s")
    if skew is not None and (type(skew) not in _NUMBERS or skew != skew):  # a clock may be behind: negative is fine
        raise _bad(n, "clock_skew_s", f"expected a number or null, got {skew!r}")
    return Observation(
        t=t, camera=cam, reachable=reachable, onvif_ok=onvif,
        rtt_ms=None if rtt is None else float(rtt), fps=None if fps is None else float(fps),
        max_gap_s=None if gap is None else float(gap), clock_skew_s=None if skew is None else float(skew),
    )


def rounds(rows: Iterable[Row], interval_s: float) -> Iterator[Round]:
    """Rows grouped into the probe interval they fall in, each round dated by the interval's start.

    Intervals are whole multiples of ``interval_s`` since the Unix epoch (on the minute for 60 s), so a
    probe spread over its minute joins that minute's round. A camera seen twice in one interval counts
    once (its last row). An interval with no rows yields nothing: a missing row is unknown, not down.
    """
    step = int(interval_s) if interval_s else 0  # 0: one round per distinct time (the old grouping)
    cur: Any = None
    start: datetime | None = None
    cams: dict[str, Any] = {}
    refs: list[Any] = []
    last_t: datetime | None = None
    e: Any = None
    for t, cam, value in rows:
        if step:
            if t is not last_t:  # rows of one time share one datetime (iter_rows caches them)
                e, last_t = int(t.timestamp()), t
            b: Any = e - e % step
        else:
            e = b = t
        if b != cur:
            if cur is not None:
                if b < cur:
                    raise ObservationFormatError(f"records out of time order at {t.isoformat()}")
                yield start, list(cams.values()), refs  # type: ignore[misc]
            cur, cams, refs = b, {}, []
            start = t if not step or (e == b and t.microsecond == 0) else datetime.fromtimestamp(b, t.tzinfo)
        if cam is None:
            refs.append(value)
        else:
            cams[cam] = value
    if cur is not None:
        yield start, list(cams.values()), refs  # type: ignore[misc]


def record_rows(records: Iterable[Record]) -> Iterator[Row]:
    """Typed records as rows for `rounds` (the live-shaped path: the service's own records)."""
    for r in records:
        yield (r.t, None, r) if isinstance(r, ReferenceObservation) else (r.t, r.camera, r)


@contextmanager
def _reading(path: Path | str) -> Iterator[None]:
    """A file that cannot be read to its end is one :class:`ObservationFormatError` naming it, not a
    traceback (or click's bare "Aborted!" for the EOFError of a gzip file cut short)."""
    try:
        yield
    except EOFError:
        raise ObservationFormatError(f"{path}: the compressed file is cut short (an interrupted copy or download?); "
                                     "copy it again") from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise ObservationFormatError(f"{path}: not a readable gzip file ({e})") from None
    except UnicodeDecodeError as e:
        raise ObservationFormatError(f"{path}: not UTF-8 (byte {e.start + 1} of a block); save it as UTF-8") from None
    except OSError as e:
        raise ObservationFormatError(f"{path}: {e.strerror or e}") from None


def read_rounds(path: Path | str, interval_s: float) -> Iterator[Round]:
    """A scenario file's probe rounds of light samples and reference reachabilities (the replay path)."""
    with _reading(path), open_bytes(path) as f:
        yield from rounds(iter_rows(f), interval_s)


def to_dict(r: Record) -> dict:
    t = r.t.isoformat(timespec="seconds")
    if isinstance(r, ReferenceObservation):
        return {"t": t, "reference": r.reference, "reachable": r.reachable}
    d: dict = {
        "t": t,
        "camera": r.camera,
        "reachable": r.reachable,
        "rtt_ms": None if r.rtt_ms is None else round(r.rtt_ms, 1),
        "onvif_ok": r.onvif_ok,
        "fps": None if r.fps is None else round(r.fps, 2),
        "max_gap_s": None if r.max_gap_s is None else round(r.max_gap_s, 2),
    }
    if r.clock_skew_s is not None:
        d["clock_skew_s"] = round(r.clock_skew_s, 1)
    return d


def dumps(r: Record) -> str:
    return json.dumps(to_dict(r), ensure_ascii=False, separators=(",", ":"))


def open_text(path: Path | str, mode: str = "rt") -> IO[str]:
    p = str(path)
    if p.endswith(".gz"):
        return gzip.open(p, mode, encoding="utf-8")  # type: ignore[return-value]
    return open(p, mode.replace("t", ""), encoding="utf-8")


def open_bytes(path: Path | str) -> IO[bytes]:
    p = str(path)
    return gzip.open(p, "rb") if p.endswith(".gz") else open(p, "rb")  # type: ignore[return-value]


def read(path: Path | str) -> Iterator[Record]:
    with _reading(path), open_text(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                yield parse_line(line, n)


def write(path: Path | str, records: Iterable[Record]) -> int:
    count = 0
    with open_text(path, "wt") as f:
        for r in records:
            f.write(dumps(r) + "\n")
            count += 1
    return count


def rounds_of(records: Iterable[Record], interval_s: float) -> Iterator[tuple[datetime, list[Observation],
                                                                                list[ReferenceObservation]]]:
    """Typed records grouped into probe rounds, as `rounds` groups rows: (interval start, cameras, references)."""
    return rounds(record_rows(records), interval_s)
