"""The one strict observation reader (replay and the store import) and its grouping into probe rounds."""

from __future__ import annotations

import gzip
from datetime import datetime

import pytest

from monitor.core.errors import ObservationFormatError
from monitor.replay.obsformat import iter_rows, parse_line, read_rounds, rounds

GOOD = ('{"t":"2026-11-02T18:00:00+09:00","camera":"C1","reachable":true,"rtt_ms":12.3,"onvif_ok":true,'
        '"fps":14.8,"max_gap_s":0.2}')


@pytest.mark.parametrize(("line", "message"), [
    ('{"t":"2026-11-02T18:00:00+09:00","camera":"C1","rtt_ms":1}', "line 1, field reachable: expected true or false"),
    ('{"t":"2026-11-02T18:00:00+09:00","camera":"C1","reachable":"yes"}', "line 1, field reachable"),
    ('{"t":"2026-11-02T18:00:00+09:00","camera":"C1","reachable":true,"fps":"15"}', "line 1, field fps"),
    ('{"t":"2026-11-02T18:00:00+09:00","camera":"C1","reachable":true,"fps":-1}', "line 1, field fps"),
    ('{"t":"2026-11-02T18:00:00+09:00","camera":"C1","reachable":true,"rtt_ms":NaN}', "line 1, field rtt_ms"),
    ('{"t":"2026-11-02T18:00:00+09:00","camera":"C1","reachable":true,"max_gap_s":true}', "line 1, field max_gap_s"),
    ('{"t":"2026-11-02T18:00:00+09:00","camera":"C1","reachable":true,"onvif_ok":1}', "line 1, field onvif_ok"),
    ('{"t":"2026-11-02T18:00:00","camera":"C1","reachable":true}', "line 1, field t: time has no UTC offset"),
    ('{"t":"yesterday","camera":"C1","reachable":true}', "line 1, field t: not an ISO 8601 time"),
    ('{"camera":"C1","reachable":true}', "line 1, field t"),
    ('{"t":"2026-11-02T18:00:00+09:00","reachable":true}', "line 1: needs 'camera' or 'reference'"),
    ('{"t":"2026-11-02T18:00:00+09:00","reference":"gw"}', "line 1, field reachable"),
    ('[1, 2]', "line 1: not a JSON object"),
    ('{"t":', "line 1: not a JSON object"),
])
def test_a_bad_line_is_refused_naming_line_and_field(line: str, message: str):
    with pytest.raises(ObservationFormatError, match=message.replace("(", r"\(")):
        list(iter_rows([line]))
    with pytest.raises(ObservationFormatError, match=message.replace("(", r"\(")):
        parse_line(line, 1)


def test_the_fast_rows_and_the_typed_records_agree():
    (t, cam, sample), = list(iter_rows([GOOD]))
    rec = parse_line(GOOD, 1)
    assert (t, cam) == (rec.t, rec.camera)
    assert sample == (rec.camera, rec.reachable, rec.rtt_ms, rec.onvif_ok, rec.fps, rec.max_gap_s)


def _row(hhmmss: str, cam: str | None, value=True):
    return datetime.fromisoformat(f"2026-11-02T{hhmmss}+09:00"), cam, value


def test_probes_spread_over_the_minute_are_one_round_dated_by_the_minute():
    rows = [_row("18:00:00", None), _row("18:00:07", "C1"), _row("18:00:31", "C2"), _row("18:00:44", "C3"),
            _row("18:01:02", "C1"), _row("18:01:40", "C2")]
    got = list(rounds(rows, 60))
    assert [(t.strftime("%H:%M:%S"), cams, refs) for t, cams, refs in got] == [
        ("18:00:00", [True, True, True], [True]), ("18:01:00", [True, True], [])]


def test_a_camera_twice_in_one_interval_counts_once_and_a_silent_interval_yields_no_round():
    rows = [_row("18:00:05", "C1", "first"), _row("18:00:50", "C1", "second"), _row("18:03:01", "C1", "later")]
    got = [(t.strftime("%H:%M"), cams) for t, cams, _ in rounds(rows, 60)]
    assert got == [("18:00", ["second"]), ("18:03", ["later"])]


def test_rows_from_an_earlier_interval_after_a_later_one_are_refused():
    with pytest.raises(ObservationFormatError, match="out of time order"):
        list(rounds([_row("18:01:00", "C1"), _row("18:00:59", "C2")], 60))


def test_read_rounds_reads_a_gzip_file_and_skips_blank_lines(tmp_path):
    p = tmp_path / "obs.jsonl.gz"
    with gzip.open(p, "wt", encoding="utf-8") as f:
        f.write(GOOD + "\n\n" + GOOD.replace('"C1"', '"C2"').replace("18:00:00", "18:00:30") + "\n")
    (t, cams, refs), = list(read_rounds(p, 60))
    assert [c[0] for c in cams] == ["C1", "C2"] and refs == []


@pytest.mark.parametrize("line", [
    GOOD,
    GOOD.replace("14.8", "15"),  # an integer stays an integer, as json.loads reads it
    GOOD.replace("12.3", "1e400"),  # infinite: the schema refuses it, the strict reader accepts it
    GOOD.replace('"camera":"C1"', '"camera":"C1","camera":"C2"'),  # a repeated key: the last wins
    GOOD.replace(',"onvif_ok":true', ""),  # onvif_ok defaults to false
    '{"t":"2026-11-02T18:00:00+09:00","reference":"gw","reachable":false,"extra":[1,{"a":2}]}',
    '  ' + GOOD + '  ',
])
def test_the_schema_fast_path_reads_a_line_exactly_as_the_strict_checks_do(line: str):
    import json

    from monitor.replay.obsformat import check_row
    d = json.loads(line)
    expected = check_row(d, 1, datetime.fromisoformat(d["t"]))
    for given in (line, line.encode()):
        (got,) = list(iter_rows([given]))
        assert got == expected and [type(v) for v in got[2] or ()] == [type(v) for v in expected[2] or ()]


def test_a_line_that_is_not_utf8_is_refused_by_number():
    with pytest.raises(ObservationFormatError, match="line 2: not UTF-8"):
        list(iter_rows([GOOD.encode(), GOOD.encode().replace(b"C1", b"C\xff")]))
