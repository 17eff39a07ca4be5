"""SMS text: clean stray characters, pick the encoding, and count segments.

One non-GSM character turns the whole SMS into UCS-2: 70 characters fit in one segment and each
part of a split message holds 67. In GSM-7, 160 fit in one and each part holds 153, with the
extension characters (``^{}\\[~]|€`` and form feed) taking two septets each.
"""

from __future__ import annotations

import enum
import re

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

# Characters that look like ASCII but are not, and would force UCS-2 (or waste a character).
_REPLACE = {
    "\xa0": " ",  # no-break space
    "\u2002": " ",
    "\u2003": " ",
    "\u2009": " ",  # thin space
    "\u202f": " ",  # narrow no-break space
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2026": "...",
}
_DELETE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\xad"))
_TABLE = str.maketrans(_REPLACE) | _DELETE
_SPACES = re.compile(r"[ \t]+")


class SmsEncoding(enum.StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


def clean_sms_text(text: str, *, keep_typography: bool = False) -> str:
    """Drop invisible characters, turn look-alike spaces into spaces, trim every line and
    drop blank lines. Unless ``keep_typography``, smart quotes, dashes and ellipses become
    ASCII so an English text stays GSM-7. Japanese punctuation is kept as it is.
    """
    table = _DELETE | str.maketrans({k: v for k, v in _REPLACE.items() if v == " "})
    text = text.translate(table if keep_typography else _TABLE)
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def sms_encoding(text: str) -> SmsEncoding:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        return SmsEncoding.GSM7
    return SmsEncoding.UCS2


def _units(text: str, encoding: SmsEncoding) -> list[int]:
    """The cost of each character: septets in GSM-7, UTF-16 code units in UCS-2."""
    if encoding is SmsEncoding.GSM7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def sms_segments(text: str) -> tuple[SmsEncoding, int]:
    """The encoding a phone network will use for ``text`` and how many segments it takes.

    Counts exactly as carriers split: an escape pair or surrogate pair never straddles parts.
    """
    encoding = sms_encoding(text)
    single, multi = (160, 153) if encoding is SmsEncoding.GSM7 else (70, 67)
    units = _units(text, encoding)
    if sum(units) <= single:
        return encoding, 1
    parts, used = 1, 0
    for u in units:
        if used + u > multi:
            parts, used = parts + 1, 0
        used += u
    return encoding, parts
