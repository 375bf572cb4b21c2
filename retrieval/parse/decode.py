"""Decode the bytes of a text issue, whatever encoding it was saved in."""

from __future__ import annotations

import functools
import html
import re

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# Plain Big5 first, then the Microsoft (cp950) and Hong Kong supersets, which decode some
# characters plain Big5 rejects.
_BIG5_CODECS = ("big5", "cp950", "big5hkscs")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MAX_CONTROL_RATIO = 0.01
_MIN_COMMON_RATIO = 0.5
_SAMPLE_CHARS = 20_000  # enough to tell two readings apart; keeps large files fast
# A character reference with its semicolon: "&bull;", "&#39;", "&#x2022;". Without one
# ("AT&T", "R&D") it is text, though HTML reads some of them ("&not" in "&notes").
_ENTITY_RE = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")
# Punctuation a Chinese text is made of; mis-decoded bytes rarely land on it.
_COMMON_PUNCT = frozenset("，。、：；！？「」『』（）《》〈〉【】“”‘’—…·　％")


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode the bytes of a text file, detecting its encoding.

    UTF-8 (with or without BOM) and BOM-marked UTF-16/32 are recognised first. Other
    text must be GB18030 (a superset of GBK and GB2312) or Big5: both are tried
    strictly and the reading whose characters are the commoner Chinese characters wins,
    which stays reliable on texts of a few characters where statistical detectors guess.

    Args:
        data: The raw file content.

    Returns:
        The text, with newlines normalised to "\\n", the BOM removed (form feeds,
        which separate pages, are kept) and HTML character references read ("&bull;",
        "&#39;": text copied from a web page keeps them), and the name of the codec that
        decoded it (e.g. "utf-8", "utf-8-sig", "gb18030", "big5").

    Raises:
        ValueError: The data is binary or in none of the supported encodings; the
            message says which.
    """
    text, encoding = _decode(data)
    if text and len(_CONTROL_RE.findall(text)) > _MAX_CONTROL_RATIO * len(text):
        raise ValueError("binary file (not text)")
    text = _ENTITY_RE.sub(lambda m: html.unescape(m.group()), text.removeprefix("\ufeff"))
    # Only the file's own line breaks: a U+2028 inside a headline is part of the headline.
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


def _decode(data: bytes) -> tuple[str, str]:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            text = _strict(data, codec)
            if text is None:
                raise ValueError(f"cannot decode: invalid {codec.upper()} text")
            return text, codec
    if b"\x00" in data:
        raise ValueError("binary file (not text)")
    text = _strict(data, "utf-8")
    if text is not None:
        return text, "utf-8"
    readings = []
    gb = _strict(data, "gb18030")
    if gb is not None:
        readings.append((_common_ratio(gb), 1, gb, "gb18030"))
    for codec in _BIG5_CODECS:
        big5 = _strict(data, codec)
        if big5 is not None:
            readings.append((_common_ratio(big5), 0, big5, codec))
            break
    # The middle item breaks ties for GB18030: the bulletins are mainland papers first.
    best = max(readings, default=None)
    if best is None or best[0] < _MIN_COMMON_RATIO:
        raise ValueError("cannot decode: not UTF-8, GB18030 or Big5 text")
    return best[2], best[3]


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def _common_ratio(text: str) -> float:
    """Share of the non-ASCII characters that are common Chinese characters or punctuation."""
    chars = [c for c in text if c >= "\x80"][:_SAMPLE_CHARS]
    if not chars:
        return 1.0
    return sum(c in _COMMON_PUNCT or _is_common_han(c) for c in chars) / len(chars)


@functools.cache
def _is_common_han(char: str) -> bool:
    """Whether a character is in GB2312 level 1 or in Big5's frequently-used block.

    These two standard tables list the ~3,700 simplified and ~5,400 traditional
    characters of everyday text. Bytes decoded with the wrong codec scatter over the
    whole code space (rare characters, kana, box drawing, private use), so they fall
    outside both tables far more often than real text does.
    """
    try:
        gb = char.encode("gb2312")
    except UnicodeEncodeError:
        pass
    else:
        if len(gb) == 2 and 0xB0 <= gb[0] <= 0xD7:
            return True
    try:
        big5 = char.encode("big5")
    except UnicodeEncodeError:
        return False
    return len(big5) == 2 and 0xA440 <= int.from_bytes(big5, "big") <= 0xC67E
