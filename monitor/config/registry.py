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
        raise _Bad("is not a phone number (E.164, or Japanese 090-…/03-…)") from None
    if not phonenumbers.is_valid_number(num):  # never quoted: an owner's number is personal data
        raise _Bad("is not a valid phone number (E.164, or Japanese 090-…/03-…)")
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def check_email(raw: str) -> str:
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise _Bad(f"is not a valid e-mail address: {e}") from None  # the address itself is not quoted


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
    except ValueError:  # never quoted: a URL may carry a password (refused below, but only once it parses)
        raise _Bad("is not a valid URL (check the host, the brackets of an IPv6 address and the port)") from None
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


# The longest value each column may hold, the same for SQLite and PostgreSQL (the store's column sizes;
# free text is capped too, so a runaway cell is refused here, not by one database and not the other).
MAX_LENGTH = {
    "camera_id": 64, "area": 64, "isp": 64, "line_id": 64, "expected_fps": 32, "address": 300,
    "owner_name": 200, "contact": 8, "phone": 32, "email": 254, "lang": 4, "vendor": 64, "rtsp_url": 2048,
    "onvif_url": 2048, "access": 8, "lat": 32, "lon": 32, "onvif_user": 128, "onvif_password": 256,
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _text_problem(field: str, raw: str) -> str | None:
    """Why a raw cell cannot be stored as it is (never quoting it: it may be personal data or a secret)."""
    bad = _CONTROL.search(raw)
    if bad:
        ch = bad.group()
        if ch in "\r\n\u2028\u2029":
            return "contains a line break (Alt+Enter in Excel); keep the value on one line"
        return f"contains a control character (U+{ord(ch):04X})"
    if len(raw.strip()) > MAX_LENGTH[field]:
        return f"is {len(raw.strip())} characters long; at most {MAX_LENGTH[field]}"
    return None


def _parse_row(row: dict[str, str], n: int, errors: list[RowError]) -> Camera | None:
    values: dict[str, object] = {}
    refused = set()
    for field in REQUIRED + OPTIONAL:
        why = _text_problem(field, row.get(field) or "")
        if why:
            errors.append(RowError(n, field, why))
            refused.add(field)

    def take(field: str, parse: Callable[[str], object]) -> None:
        if field in refused:
            return  # already named; the row's other fields are still checked, every problem at once
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


def parse_row(row: dict[str, str]) -> tuple[Camera | None, list[RowError]]:
    """One registry row (as the CSV's columns), checked as an import checks it: the camera, or the
    problems (row 2, as if it were the file's only row; no value is quoted)."""
    errors: list[RowError] = []
    for field in row:
        if field not in REQUIRED + OPTIONAL:
            errors.append(RowError(2, field, "unknown column"))
    cam = _parse_row(row, 2, errors)
    return (None if errors else cam), errors


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
        if errors and _is_cp932(data):  # Excel's plain "CSV" in Japan: one line for the file, not one per row
            return "", [RowError(errors[0].row, "(encoding)",
                                 "not UTF-8: the file is Shift-JIS (cp932), as Excel saves \"CSV (comma delimited)\"; "
                                 "save it as \"CSV UTF-8 (comma delimited)\" and import it again")]
        return "", errors


def _is_cp932(data: bytes) -> bool:
    try:
        data.decode("cp932")
    except UnicodeDecodeError:
        return False
    return True


def _line_breaks(cell: str) -> int:
    return cell.count("\n") + cell.count("\r") - cell.count("\r\n")


def parse_registry(data: bytes) -> list[Camera]:
    """Every camera of a registry CSV, or :class:`RegistryError` listing every bad row and field."""
    text, errors = _decode(data)
    if errors:
        raise RegistryError(errors)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as e:
        raise RegistryError([RowError(1, "(header)", _csv_problem(e))]) from None
    reader.fieldnames = header
    if sum(f in header for f in REQUIRED) < len(REQUIRED) / 2:  # one line for the file, not one per column
        raise RegistryError([RowError(1, "(header)", _no_header(header))])
    errors = [RowError(1, f, "required column is missing") for f in REQUIRED if f not in header]
    errors += [RowError(1, f, "unknown column") for f in header if f not in REQUIRED + OPTIONAL]
    if len(set(header)) != len(header):
        errors.append(RowError(1, "(header)", "a column name appears twice"))
    if errors:
        raise RegistryError(errors)
    cameras: list[Camera] = []
    first_row: dict[str, int] = {}
    folded = 0  # line breaks inside quoted cells so far: a spreadsheet shows each record as one row
    rows, n = iter(reader), 1
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as e:  # the rest of the file cannot be read as CSV: this row is named, nothing imported
            errors.append(RowError(n + 1, "(row)", _csv_problem(e)))  # the record after the last one read
            break
        inside = sum(_line_breaks(v) for v in row.values() if isinstance(v, str))
        n = reader.line_num - inside - folded  # the row as a spreadsheet numbers it
        folded += inside
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


def _csv_problem(e: csv.Error) -> str:
    if "field larger than field limit" in str(e):
        return (f"a cell is longer than {csv.field_size_limit()} characters (often a quote that is never "
                "closed); nothing after it could be read")
    return f"not readable as CSV ({e}); nothing after it could be read"


def _no_header(header: list[str]) -> str:
    if not header:
        return "the file is empty: the first row must name the columns (camera_id, area, isp, …)"
    first = header[0]
    for sep, name in (("\t", "tabs"), (";", "semicolons")):
        if sep in first:
            return (f"the columns are separated by {name}, not commas: save it as \"CSV UTF-8 (comma delimited)\" "
                    "and import it again")
    return ("not a registry: the first row must name the columns, separated by commas (camera_id, area, isp, …; "
            "see the README)")


def load_cameras(path: Path | str) -> list[Camera]:
    return parse_registry(Path(path).read_bytes())
