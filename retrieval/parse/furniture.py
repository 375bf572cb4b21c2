"""Page furniture: what a page prints around its articles, not part of any.

Mastheads and running heads (:mod:`retrieval.parse.masthead`), page-number lines
(``- 2 -``, ``第3版``), continuation markers (``下转第2版``, ``上接第1版``, ``接上版``) and photo
credits (``（摄影 王小明）``, ``本报记者 李华 摄``).
"""

from __future__ import annotations

import re

from retrieval.parse.cleanup import HSPACE_RE, NAME
from retrieval.parse.masthead import is_masthead_line, masthead_end, page_numeral

PAGE_NUMBER_LINE_RE = re.compile(
    r"^(?:[-—–·.\s]*\d{1,3}[-—–·.\s]*|第\s*[0-9一二三四五六七八九十]{1,3}\s*[版页頁]"
    r"|[Pp](?:age)?\.?\s*\d{1,3})$"
)
PAGE_IN_LINE_RE = re.compile(
    r"第\s*([0-9一二三四五六七八九十]{1,3})\s*[版页頁]|^[-—–·.\s]*(\d{1,3})"
)
CONTINUATION_RE = re.compile(
    r"[（(]?\s*(?:(?:下转|转至|转|上接|接)\s*第?\s*[0-9一二三四五六七八九十]{1,3}\s*[版页頁]"
    r"(?:\s*[A-Za-z0-9]{0,3})?|(?:接上|转下)[版页頁])\s*[）)]?"
)
# The marker opening text that goes on from another page: "（上接第3版）", "接第3版";
# "接上版" names the page before.
_CONTINUED_FROM_RE = re.compile(
    r"^[（(]?\s*(?:(?:上接|接)\s*第?\s*([0-9一二三四五六七八九十]{1,3})\s*[版页頁]|接上[版页頁])"
)
_NAMES = rf"{NAME}(?:\s*[、\s]\s*{NAME}){{0,3}}"
CREDIT_RE = re.compile(
    rf"^[（(]?\s*(?:(?:本[报報])?(?:记者|記者|通讯员|通訊員)?\s*"
    rf"(?:摄影|攝影|摄|攝|图|圖|图片|圖片)\s*[/／:：]?\s*{_NAMES}"
    rf"|(?:本[报報])?(?:记者|記者|通讯员|通訊員)?\s*{_NAMES}\s*(?:摄影?|攝影?))\s*[）)]?$"
)


def is_furniture(line: str) -> bool:
    """A line of page furniture: masthead or running head, page number, continuation
    marker ("下转第2版") or photo credit."""
    core = HSPACE_RE.sub("", line)
    if not core:
        return False
    return bool(
        PAGE_NUMBER_LINE_RE.match(core)
        or CONTINUATION_RE.fullmatch(core)
        or CREDIT_RE.match(line)
        or is_masthead_line(line)
    )


def jumps_in(page: str, number: int | None) -> bool:
    """Whether the text opening a page says it goes on from another page than the one
    before ("上接第3版" opening page 5, or any page when the page's number is unknown):
    then it is not the run-on of the page before's last article.

    Args:
        page: The page's text, masthead included.
        number: The page's number, if known.
    """
    lines = [line.strip() for line in page.split("\n") if line.strip()]
    lines = lines[masthead_end(lines) :]
    match = _CONTINUED_FROM_RE.match(lines[0]) if lines else None
    if match is None or match.group(1) is None:  # no marker, or "接上版"
        return False
    return number is None or page_numeral(match.group(1)) != number - 1
