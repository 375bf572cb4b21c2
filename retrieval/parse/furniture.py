"""Page furniture: what a page prints around its articles, not part of any.

Mastheads and running heads (:mod:`retrieval.parse.masthead`), page-number lines
(``- 2 -``, ``第3版``), continuation markers (``下转第2版``, ``上接第1版``) and photo
credits (``（摄影 王小明）``, ``本报记者 李华 摄``).
"""

from __future__ import annotations

import re

from retrieval.parse.cleanup import HSPACE_RE, NAME
from retrieval.parse.masthead import is_masthead_line

PAGE_NUMBER_LINE_RE = re.compile(
    r"^(?:[-—–·.\s]*\d{1,3}[-—–·.\s]*|第\s*[0-9一二三四五六七八九十]{1,3}\s*[版页頁]"
    r"|[Pp](?:age)?\.?\s*\d{1,3})$"
)
PAGE_IN_LINE_RE = re.compile(
    r"第\s*([0-9一二三四五六七八九十]{1,3})\s*[版页頁]|^[-—–·.\s]*(\d{1,3})"
)
CONTINUATION_RE = re.compile(
    r"[（(]?\s*(?:下转|转至|转|上接|接)\s*第?\s*[0-9一二三四五六七八九十]{1,3}\s*[版页頁]"
    r"(?:\s*[A-Za-z0-9]{0,3})?\s*[）)]?"
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
