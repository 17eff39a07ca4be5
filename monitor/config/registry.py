"""The camera registry CSV: parse, validate every row, report every error at once.

Rows are numbered as in a spreadsheet: the header is row 1, the first camera row 2.
Nothing here touches the database; :mod:`monitor.store.cameras` applies a validated registry.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import math
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from monitor.core.domain import Access, Camera, Contact, Lang, Secret
from monitor.core.errors import RegistryError, RowError

REQUIRED = (
    "camera_id", "area", "isp", "line_id", "expected_fps", "address", "owner_name", "contact",
    "phone", "email", "lang", "vendor", "rtsp_url", "onvif_url",
)
OPTIONAL = ("access", "lat", "lon", "onvif_user", "onvif_password")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


class _Bad(ValueError):
    pass


def normalise_phone(raw: str) -> str:
    """E.164; Japanese numbers written 090-1234-5678 or 03-1234-5678 become +81…."""
    try:
        num = phonenumbers.parse(raw, "JP")
    except phonenumbers.NumberParseException:
        raise _Bad(f"{raw!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(num):
        raise _Bad(f"{raw!r} is not a valid phone number (E.164, or Japanese 090-…/03-…)")
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def check_email(raw: str) -> str:
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise _Bad(f"{raw!r} is not a valid e-mail address: {e}") from None


def check_host(host: str | None) -> None:
    if not host:
        raise _Bad("has no host")
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    if not _HOST.match(host) or host.replace(".", "").isdigit():
        raise _Bad(f"host {host!r} is neither an IPv4/IPv6 address nor a host name")


def check_url(raw: str, schemes: tuple[str, ...]) -> str:
    try:
        u = urlsplit(raw)
        port = u.port
    except ValueError as e:
        raise _Bad(f"{raw!r} is not a valid URL: {e}") from None
    if u.scheme not in schemes:
        raise _Bad(f"scheme must be {' or '.join(schemes)}, got {u.scheme or 'none'!r}")
    if port is not None and not 0 < port < 65536:
        raise _Bad(f"port {port} out of range")
    if u.password:
        raise _Bad("URL must not carry a password (use onvif_user/onvif_password)")
    check_host(u.hostname)
    return raw


def _fps(raw: str) -> float:
    try:
        v = float(raw)
    except ValueError:
        raise _Bad(f"{raw!r} is not a number") from None
    if not math.isfinite(v) or v <= 0 or v > 240:
        raise _Bad(f"must be a number above 0 (and at most 240), got {raw!r}")
    return v


def _coord(lo: float, hi: float) -> Callable[[str], float | None]:
    def parse(raw: str) -> float | None:
        if not raw:
            return None
        try:
            v = float(raw)
        except ValueError:
            raise _Bad(f"{raw!r} is not a number") from None
        if not lo <= v <= hi:
            raise _Bad(f"must be between {lo} and {hi}")
        return v

    return parse


def _choice(enum_cls) -> Callable[[str], object]:
    def parse(raw: str):
        try:
            return enum_cls(raw.strip().lower())
        except ValueError:
            raise _Bad(f"must be one of {', '.join(e.value for e in enum_cls)}, got {raw!r}") from None

    return parse


def _nonempty(raw: str) -> str:
    if not raw.strip():
        raise _Bad("must not be empty")
    return raw.strip()


def _camera_id(raw: str) -> str:
    if not _ID.match(raw):
        raise _Bad(f"{raw!r} must be 1-64 letters, digits, '.', '_' or '-'")
    return raw


def _parse_row(row: dict[str, str], n: int, errors: list[RowError]) -> Camera | None:
    values: dict[str, object] = {}

    def take(field: str, parse: Callable[[str], object]) -> None:
        raw = (row.get(field) or "").strip()
        try:
            values[field] = parse(raw)
        except _Bad as e:
            errors.append(RowError(n, field, str(e)))

    take("camera_id", _camera_id)
    for f in ("area", "isp", "line_id"):
        take(f, _nonempty)
    take("expected_fps", _fps)
    take("contact", _choice(Contact))
    take("lang", _choice(Lang))
    take("phone", lambda r: normalise_phone(r) if r else "")
    take("email", lambda r: check_email(r) if r else "")
    take("rtsp_url", lambda r: check_url(r, ("rtsp", "rtsps")))
    take("onvif_url", lambda r: check_url(r, ("http", "https")) if r else "")
    take("access", lambda r: _choice(Access)(r) if r else None)
    take("lat", _coord(-90, 90))
    take("lon", _coord(-180, 180))
    for f in ("address", "owner_name", "vendor", "onvif_user"):
        values[f] = (row.get(f) or "").strip()
    pw = row.get("onvif_password") or ""
    values["onvif_password"] = Secret(pw) if pw else None
    contact = values.get("contact")
    if contact in (Contact.SMS, Contact.VOICE) and values.get("phone") == "":
        errors.append(RowError(n, "phone", f"needed because contact is {contact}"))
    if contact == Contact.EMAIL and values.get("email") == "":
        errors.append(RowError(n, "email", "needed because contact is email"))
    if values["onvif_password"] is not None and not values["onvif_user"]:
        errors.append(RowError(n, "onvif_user", "needed when onvif_password is given"))
    if any(e.row == n for e in errors):
        return None
    return Camera(**values)  # type: ignore[arg-type]


def _decode(data: bytes) -> tuple[str, list[RowError]]:
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        errors = []
        for n, line in enumerate(data.split(b"\n"), 1):
            try:
                line.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError as e:
                errors.append(RowError(n, "(encoding)", f"not UTF-8 (byte {e.start + 1}); save as UTF-8 CSV"))
        return "", errors


def parse_registry(data: bytes) -> list[Camera]:
    """Every camera of a registry CSV, or :class:`RegistryError` listing every bad row and field."""
    text, errors = _decode(data)
    if errors:
        raise RegistryError(errors)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    errors = [RowError(1, f, "required column is missing") for f in REQUIRED if f not in header]
    errors += [RowError(1, f, "unknown column") for f in header if f not in REQUIRED + OPTIONAL]
    if len(set(header)) != len(header):
        errors.append(RowError(1, "(header)", "a column name appears twice"))
    if errors:
        raise RegistryError(errors)
    cameras: list[Camera] = []
    first_row: dict[str, int] = {}
    for row in reader:
        n = reader.line_num  # physical line of the row's end; equals the row for one-line rows
        if None in row:
            errors.append(RowError(n, "(row)", "more values than columns"))
            continue
        cam = _parse_row(row, n, errors)
        cid = (row.get("camera_id") or "").strip()
        if cid in first_row:
            errors.append(RowError(n, "camera_id", f"duplicate id {cid!r} (first in row {first_row[cid]})"))
            continue
        first_row.setdefault(cid, n)
        if cam is not None:
            cameras.append(cam)
    if errors:
        raise RegistryError(sorted(errors, key=lambda e: e.row))
    if not cameras:
        raise RegistryError([RowError(2, "(row)", "the registry has no cameras")])
    return cameras


def load_cameras(path: Path | str) -> list[Camera]:
    return parse_registry(Path(path).read_bytes())
