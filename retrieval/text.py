"""Character classes shared by parsing, chunking, lexical search and quoting.

Kept in one place so that what counts as a Chinese character or as the end of a
sentence is the same everywhere in the pipeline.
"""

from __future__ import annotations

import re
import unicodedata

# Han ideographs: CJK Extension A, the Unified block, compatibility ideographs and the
# supplementary planes (Extensions B–H), which OCR of names and places does produce.
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
# CJK symbols, full-width forms, dashes, ellipsis, curly quotes, middle dots.
CJK_PUNCT = "\u3000-\u303f\uff00-\uffef\u2014\u2015\u2026\u2018\u2019\u201c\u201d\u00b7\u2027"
CJK = HAN + CJK_PUNCT
HAN_RE = re.compile(f"[{HAN}]")
HAN_RUN_RE = re.compile(f"[{HAN}]+")
CJK_PUNCT_RE = re.compile(f"[{CJK_PUNCT}]")

# What ends a sentence, in either width.
SENTENCE_END = "。！？；…!?;"
# Opening brackets and quotes: never printed at a line's end (they go down with what
# they open), and their ink stands in the right half of their square.
OPENING = frozenset("(（「『“‘《〈【〔[{")

_SPACES_RE = re.compile(r" +")


def char_width(char: str) -> float:
    """Columns a character takes in print: 1 for Chinese and full-width forms, else 1/2."""
    return 1.0 if unicodedata.east_asian_width(char) in "WF" else 0.5


def text_width(text: str) -> float:
    """Printed width of a line in Chinese-character columns.

    A space between two full-width characters is OCR's, not the printer's, and takes
    none; one next to a Latin letter, a digit or a half-width bracket ("今 (113) 年")
    takes its half column on the printed line (counted as none, such a body line looked
    short of the column and was read as a paragraph's end).
    """
    width = sum(char_width(c) for c in text if c != " ")
    for match in _SPACES_RE.finditer(text):
        start, end = match.span()
        between_wide = start > 0 and end < len(text) and char_width(text[start - 1]) == 1.0
        if not (between_wide and char_width(text[end]) == 1.0):
            width += 0.5 * (end - start)
    return width
