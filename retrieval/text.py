"""Character classes and scripts shared by parsing, chunking, search and quoting.

Kept in one place so that what counts as a Chinese character, as the end of a sentence
or as Traditional text is the same everywhere in the pipeline.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Any

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
CLOSING = frozenset(")）」』”’》〉】〕]}")

_SPACES_RE = re.compile(r" +")
# Characters on either side of a line break that jieba reads to cut the words there.
_WORD_CONTEXT = 6
# A number at the end of a line whose unit starts the next ("…停车需求，113" / "年4月4日
# 当天…") was cut by the column: in the corpus no paragraph or headline ending in a digit
# is followed by one starting with these (the paragraphs after one start with "台南",
# "周五", "活动", "日本", …, which are left out: 日, 周, 天, 时, 台, 位, 户).
_UNIT_START_RE = re.compile(
    r"[年月号元万亿个名人次件座间米吨辆场届项%％]|公(?:里|尺|顷|斤|分|吨)|小时|分钟"
)


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


@cache
def _opencc(config: str) -> Any:  # opencc ships no type stubs
    import opencc  # imported on first use: a process that never converts does not load it

    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    """Traditional characters of ``text`` as Simplified (OpenCC t2s); the rest as it is."""
    return _opencc("t2s").convert(text)


def _changed(text: str, converted: str) -> int:
    return sum(a != b for a, b in zip(text, converted, strict=False)) + abs(
        len(text) - len(converted)
    )


def is_traditional(text: str) -> bool:
    """Whether ``text`` is written in Traditional script.

    It is when converting it to Simplified (OpenCC t2s) changes more of its characters
    than converting it to Traditional (s2t) does. Simplified text is not left alone by
    t2s (OpenCC reads "於" and "祕" as Traditional: 4 of the corpus's 28,000 chunks), but
    s2t changes it far more (60 characters or more in each of those 4); Traditional text
    is the reverse (s2t changes at most 0.4 times as many characters as t2s in the
    corpus's Traditional originals, where it rewrites Taiwan's "台" as "臺"). Every
    question of the eval set is told right: its 34 Traditional ones and 350 others.
    Text with no character of either script (English, numbers) is not Traditional.
    """
    return _reads_traditional(text, to_simplified(text))


def _reads_traditional(text: str, simplified: str) -> bool:
    """:func:`is_traditional`, given ``text`` converted to Simplified already."""
    changed = _changed(text, simplified)
    return changed > 0 and changed > _changed(text, _opencc("s2t").convert(text))


@cache
def jieba_rs() -> Any:  # rjieba ships no type stubs
    """jieba-rs (rjieba): jieba's dictionary and cuts in Rust, loaded on first use (0.1 s
    where jieba takes 0.8 s)."""
    import rjieba

    return rjieba


def breaks_word(left: str, right: str) -> bool:
    """Whether a line break between ``left`` and ``right`` falls inside a word.

    Chinese wraps anywhere, so a printed line often ends inside a word: 37% of the
    corpus's body lines wrapped at 12, 18 or 26 characters do by this test (47% of those
    that break between two Chinese characters); a headline or a paragraph ends between
    words (by this test, 3 of 664 headlines run on into their first paragraph, none of
    2,494 paragraphs into the next). A break inside a word is therefore a line that ran
    on, however short of the column it looks. The word is jieba's, from its dictionary
    only (no guessing at unknown words), cut over the few characters on either side.

    Args:
        left: The line before the break.
        right: The line after it.

    Returns:
        True when jieba cuts a word across the break, or a number is cut from its unit
        ("113" / "年4月"); otherwise False when either side does not meet it with a
        Chinese character.
    """
    before, after = left.rstrip()[-_WORD_CONTEXT:], right.lstrip()[:_WORD_CONTEXT]
    if before[-1:].isdigit() and _UNIT_START_RE.match(after):
        return True
    if not (before and after and HAN_RE.match(before[-1]) and HAN_RE.match(after[0])):
        return False
    text = before + after
    simplified = to_simplified(text)  # the dictionary is Simplified
    if len(simplified) == len(text):
        text = simplified
    offset = 0
    for word in jieba_rs().cut(text, False):
        if offset < len(before) < offset + len(word):
            return True
        offset += len(word)
    return False


def one_script(text: str) -> str:
    """``text`` in Simplified script if it is Traditional (:func:`is_traditional`), else as is.

    What the embedding model reads, passages and questions alike: the model places a
    Traditional passage further from a Simplified question than the same passage in
    Simplified. Simplified text comes back unchanged, so its vectors do not change.
    The result is as long as ``text`` (character offsets into ``text`` hold for it):
    should a conversion change the length, ``text`` comes back as it is.
    """
    simplified = to_simplified(text)
    if len(simplified) != len(text) or not _reads_traditional(text, simplified):
        return text
    return simplified
