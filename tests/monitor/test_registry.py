"""Registry parsing: table-driven, every field's rule, every error reported with row and field."""

from __future__ import annotations

import pytest

from monitor.config.registry import REQUIRED, parse_registry
from monitor.core.domain import Contact
from monitor.core.errors import RegistryError

HEADER = ",".join(REQUIRED)
GOOD = ("C1,A01,nuro,A01-L1,15,東京都千代田区1-1,山田太郎,sms,090-1234-5678,taro@example.com,ja,v1,"
        "rtsp://cam1.example.net:554/s,http://cam1.example.net/onvif/device_service")


def csv_of(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


def with_field(field: str, value: str) -> str:
    parts = GOOD.split(",")
    parts[REQUIRED.index(field)] = value
    return ",".join(parts)


def errors_of(data: bytes) -> list[str]:
    with pytest.raises(RegistryError) as e:
        parse_registry(data)
    return [str(x) for x in e.value.errors]


def test_good_row_normalises_phone_to_e164():
    (cam,) = parse_registry(csv_of(GOOD))
    assert cam.phone == "+819012345678"
    assert cam.contact is Contact.SMS
    assert cam.expected_fps == 15.0


def test_excel_bom_is_fine():
    (cam,) = parse_registry(b"\xef\xbb\xbf" + csv_of(GOOD))
    assert cam.camera_id == "C1"


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("phone", "12345", "not a valid phone number"),
        ("phone", "abc", "not a phone number"),
        ("email", "not-an-email", "not a valid e-mail"),
        ("contact", "fax", "must be one of sms, email, voice"),
        ("lang", "fr", "must be one of ja, en"),
        ("expected_fps", "0", "above 0"),
        ("expected_fps", "-3", "above 0"),
        ("expected_fps", "fast", "not a number"),
        ("rtsp_url", "http://cam1.example.net/s", "scheme must be rtsp"),
        ("rtsp_url", "rtsp://bad_host!/s", "neither an IPv4/IPv6 address nor a host name"),
        ("rtsp_url", "rtsp://cam:99999/s", "is not a valid URL (check the host"),
        ("rtsp_url", "rtsp://u:pw@cam1.example.net/s", "must not carry a password"),
        ("rtsp_url", "rtsp://admin:Sekret-9@[fe80::1/s", "is not a valid URL (check the host"),
        ("onvif_url", "ftp://cam1/onvif", "scheme must be http or https"),
        ("camera_id", "", "must be 1-64"),
        ("area", "", "must not be empty"),
    ],
)
def test_bad_field_is_named_with_row(field, value, why):
    errs = errors_of(csv_of(GOOD.replace("C1", "C0"), with_field(field, value)))
    assert any(e.startswith(f"row 3, field {field}:") and why in e for e in errs), errs
    assert "Sekret" not in " ".join(errs)  # a URL that does not parse is not quoted: it may carry a password
    if field in ("phone", "email"):
        assert value not in " ".join(errs)  # nor an owner's phone number or e-mail address


@pytest.mark.parametrize(
    "url", ["rtsp://192.0.2.10:554/stream1", "rtsp://[2001:db8::10]:554/stream1", "rtsp://cam-1.city.lg.jp/s"]
)
def test_ipv4_ipv6_and_host_names_accepted(url):
    (cam,) = parse_registry(csv_of(with_field("rtsp_url", url)))
    assert cam.rtsp_url == url


def test_landline_normalised():
    (cam,) = parse_registry(csv_of(with_field("phone", "03-1234-5678")))
    assert cam.phone == "+81312345678"


def test_contact_needs_its_address():
    errs = errors_of(csv_of(with_field("phone", "")))
    assert errs == ["row 2, field phone: needed because contact is sms"]


def test_every_error_reported_including_duplicates():
    rows = [GOOD.replace("C1", f"C{i}") for i in range(1, 9)]
    rows[3] = with_field("phone", "999").replace("C1", "C4", 1)  # spreadsheet row 5
    rows.append(GOOD.replace("C1", "C2"))  # row 10: duplicate of row 3
    errs = errors_of(csv_of(*rows))
    assert any(e.startswith("row 5, field phone:") for e in errs)
    assert "row 10, field camera_id: duplicate id 'C2' (first in row 3)" in errs


def test_unknown_and_missing_columns():
    errs = errors_of(csv_of(GOOD + ",x", header=HEADER.replace("vendor", "vendr") + ",colour"))
    assert "row 1, field vendor: required column is missing" in errs
    assert "row 1, field vendr: unknown column" in errs
    assert "row 1, field colour: unknown column" in errs


def test_bad_encoding_names_the_row():
    data = csv_of(GOOD).replace("山田".encode(), "山田".encode("shift_jis"))
    assert errors_of(data)[0].startswith("row 2, field (encoding): not UTF-8")


def test_a_shift_jis_file_from_excel_is_refused_in_one_line_that_says_how_to_save_it(tmp_path):
    rows = [GOOD.replace("C1", f"C{i}").replace("山田太郎", f"設置者{i}") for i in range(1, 40)]
    data = csv_of(*rows).decode().encode("cp932")
    errs = errors_of(data)
    assert errs == ['row 2, field (encoding): not UTF-8: the file is Shift-JIS (cp932), as Excel saves '
                    '"CSV (comma delimited)"; save it as "CSV UTF-8 (comma delimited)" and import it again']


@pytest.mark.parametrize("data, why", [
    (b"", "the file is empty: the first row must name the columns"),
    (b"\xef\xbb\xbf\n\n", "the file is empty: the first row must name the columns"),
    (csv_of(GOOD).replace(b",", b"\t"), 'separated by tabs, not commas: save it as "CSV UTF-8 (comma delimited)"'),
    (csv_of(GOOD).replace(b",", b";"), "separated by semicolons, not commas"),
    (b"name,phone\n\xe5\xb1\xb1\xe7\x94\xb0,090\n", "not a registry: the first row must name the columns"),
], ids=["empty", "bom-only", "tabs", "semicolons", "another-sheet"])
def test_a_file_that_is_not_a_registry_is_refused_in_one_line(data, why):
    (err,) = errors_of(data)
    assert err.startswith("row 1, field (header): ") and why in err


def test_a_cell_too_long_for_csv_names_its_row_instead_of_a_traceback():
    """A 10 MB cell (or a quote never closed) exceeds the csv module's field limit."""
    big = GOOD.replace("東京都千代田区1-1", "x" * 10_000_000)
    errs = errors_of(csv_of(GOOD, big, GOOD.replace("C1", "C3")))
    assert errs == ["row 3, field (row): a cell is longer than 131072 characters (often a quote that is never "
                    "closed); nothing after it could be read"]
    errs = errors_of(csv_of(GOOD, GOOD.replace("C1", "C2").replace("山田太郎", '"山田太郎') + "\n" + "y" * 200_000))
    assert len(errs) == 1 and errs[0].startswith("row 3, field (row): a cell is longer than")


def test_a_utf8_file_with_a_broken_line_names_that_line():
    data = csv_of(GOOD, GOOD.replace("C1", "C2")).replace("山田".encode(), b"\xff\xfe", 1)
    assert errors_of(data) == ["row 2, field (encoding): not UTF-8 (byte 48); save as UTF-8 CSV"]


def test_optional_columns_and_password_hidden():
    header = HEADER + ",access,lat,lon,onvif_user,onvif_password"
    (cam,) = parse_registry(csv_of(GOOD + ",pppoe,35.68,139.76,admin,s3cret", header=header))
    assert cam.access == "pppoe" and cam.lat == 35.68
    assert cam.onvif_password.reveal() == "s3cret"
    assert "s3cret" not in repr(cam)


def test_shared_fleet_parses(fleet11):
    cams = parse_registry((fleet11 / "cameras.csv").read_bytes())
    assert len(cams) == 132


def quoted_row(field: str, value: str) -> str:
    parts = GOOD.split(",")
    parts[REQUIRED.index(field)] = '"' + value.replace('"', '""') + '"'
    return ",".join(parts)


@pytest.mark.parametrize(("field", "value", "why"), [
    ("owner_name", "山田\n太郎", "contains a line break (Alt+Enter in Excel)"),
    ("owner_name", "山田\r\n太郎", "contains a line break"),
    ("address", "東京都\u2028千代田区", "contains a line break"),
    ("area", "A\x0001", "contains a control character (U+0000)"),
    ("vendor", "v\t1", "contains a control character (U+0009)"),
    ("area", "A" * 65, "is 65 characters long; at most 64"),
    ("owner_name", "山" * 201, "is 201 characters long; at most 200"),
    ("isp", "x" * 65, "is 65 characters long; at most 64"),
])
def test_a_cell_no_store_can_keep_as_typed_is_refused_naming_row_and_field(field, value, why):
    """The same limits on SQLite and PostgreSQL: a line break in a name would break every e-mail header to
    that owner; a NUL or an over-long area is refused by PostgreSQL alone (with a traceback, before)."""
    errs = errors_of(csv_of(GOOD.replace("C1", "C0"), quoted_row(field, value), GOOD.replace("C1", "C2")))
    assert len(errs) == 1 and errs[0].startswith(f"row 3, field {field}: {why}"), errs
    assert value not in errs[0]  # the cell itself (personal data) is not echoed


def test_rows_after_a_multi_line_cell_keep_their_spreadsheet_numbers():
    errs = errors_of(csv_of(quoted_row("owner_name", "山田\n太\r\n郎"), with_field("lang", "fr").replace("C1", "C3")))
    assert [e.split(":")[0] for e in errs] == ["row 2, field owner_name", "row 3, field lang"]


def test_a_refused_cell_does_not_hide_the_rows_other_problems():
    row = quoted_row("owner_name", "山田\n太郎").replace("090-1234-5678", "12345")
    errs = errors_of(csv_of(row))
    assert [e.split(":")[0] for e in errs] == ["row 2, field owner_name", "row 2, field phone"]
