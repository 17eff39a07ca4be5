import pytest

from notify.render import SmsEncoding, sms_segments
from notify.sms_text import clean_sms_text

GSM, UCS = SmsEncoding.GSM7, SmsEncoding.UCS2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (GSM, 1)),
        ("a" * 160, (GSM, 1)),
        ("a" * 161, (GSM, 2)),
        ("a" * 306, (GSM, 2)),
        ("a" * 307, (GSM, 3)),
        ("€" * 80, (GSM, 1)),  # extension characters take two septets
        ("€" * 81, (GSM, 2)),
        ("a" * 152 + "€" * 77, (GSM, 3)),  # 306 septets, but no pair straddles a part: 152+153+1
        ("a" * 159 + "€", (GSM, 2)),  # 161 septets: two parts, the escape pair is not split
        ("あ" * 70, (UCS, 1)),
        ("あ" * 71, (UCS, 2)),
        ("あ" * 134, (UCS, 2)),
        ("あ" * 135, (UCS, 3)),
        ("a" * 69 + "あ", (UCS, 1)),  # one non-GSM character turns it all into UCS-2
        ("🙂" * 35, (UCS, 1)),  # surrogate pairs count twice
        ("🙂" * 36, (UCS, 2)),
        ("price\xa0100", (UCS, 1)),  # a stray no-break space forces UCS-2 ...
    ],
)
def test_segments(text, expected):
    assert sms_segments(text) == expected


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("price\xa0100", "price 100"),  # ... which clean_sms_text removes
        ("it\u2019s \u201cok\u201d \u2013 fine\u2026", 'it\'s "ok" - fine...'),
        ("  two   spaces \n\n  next\u200b line \n", "two spaces\nnext line"),
        ("soft\xadhyphen", "softhyphen"),
    ],
)
def test_clean(raw, clean):
    assert clean_sms_text(raw) == clean
    assert sms_segments(clean)[0] is GSM


def test_clean_keeps_japanese_punctuation():
    assert clean_sms_text("【市】お願い。\xa0問合せ…", keep_typography=True) == "【市】お願い。 問合せ…"
