"""The masthead of a page: paper name, date, issue number and page ("第N版").

Printed at the top of every page ("交城报 2023年3月1日 星期三 第2版") and, in OCR text,
repeated wherever a page starts. It gives an issue its title and date and an article its
page, and is never article text.
"""

from __future__ import annotations

import datetime as dt
import re

_FULL_DATE_RE = re.compile(r"(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_PAGE_NO_RE = re.compile(r"第\s*([0-9一二三四五六七八九十]{1,3})\s*版")
_ISSUE_NO_RE = re.compile(r"第\s*\d+\s*期")
_DATE_SPACES_RE = re.compile(r"(?<=\d)\s+(?=[年月日版期])|(?<=[年月第])\s+(?=\d)")
_MASTHEAD_ITEM_RE = re.compile(
    r"\d{4}年\d{1,2}月\d{1,2}日|星期[一二三四五六日天]|周[一二三四五六日]"
    r"|[(（]?总?第[0-9一二三四五六七八九十]{1,4}[版期][)）]?|本期\d+篇"
)
MASTHEAD_LINES = 5
_GAP_MARKS_RE = re.compile("[”“\"'|｜丨]")
_MASTHEAD_MAX = 60
PAPER_NAME_MAX = 12
_CHINESE_DIGITS = {c: i for i, c in enumerate("一二三四五六七八九十", start=1)}
MIN_YEAR, MAX_YEAR = 1900, 2100


def masthead_end(lines: list[str]) -> int:
    """Number of masthead lines (paper name, date, page) at the top of an OCR page."""
    end = 0
    for i, line in enumerate(lines[:MASTHEAD_LINES]):
        if is_masthead_line(line):
            end = i + 1
    return end


def is_masthead_line(line: str) -> bool:
    """A line made only of masthead items: paper name, date, weekday, page, issue number.

    "交城报 2023年3月1日 星期三 第2版" is one; "2023年2月21日召开会议" is a headline.
    """
    # OCR reads the wide gaps between the items as a quote mark or a bar now and then.
    tokens = _DATE_SPACES_RE.sub("", _GAP_MARKS_RE.sub(" ", line)).split()
    if not tokens or len(line) > _MASTHEAD_MAX:
        return False
    dated = False
    for token in tokens:
        if _MASTHEAD_ITEM_RE.fullmatch(token):
            dated = dated or not token.startswith(("星期", "周"))
        elif len(token) > PAPER_NAME_MAX or any(c.isdigit() or c in "，。" for c in token):
            return False
    return dated


def page_number(masthead: list[str]) -> int | None:
    for line in masthead:
        match = _PAGE_NO_RE.search(line)
        if match:
            return page_numeral(match.group(1))
    return None


def page_numeral(numeral: str) -> int | None:
    """Value of a page numeral: digits, or up to 99 in Chinese ("三", "十二", "二十")."""
    if numeral.isdigit():
        return int(numeral)
    if "十" not in numeral:
        return _CHINESE_DIGITS[numeral] if len(numeral) == 1 else None
    tens, _, units = numeral.partition("十")
    if len(tens) > 1 or len(units) > 1:
        return None
    return (_CHINESE_DIGITS[tens] if tens else 1) * 10 + (_CHINESE_DIGITS[units] if units else 0)


def masthead_date(masthead: list[str]) -> dt.date | None:
    for line in masthead:
        for match in _FULL_DATE_RE.finditer(line):
            date = valid_date(*match.groups())
            if date:
                return date
    return None


def valid_date(year: str, month: str, day: str) -> dt.date | None:
    if not MIN_YEAR <= int(year) <= MAX_YEAR:
        return None
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        return None


def masthead_title(head: list[str], masthead: list[str]) -> str | None:
    """Paper name and issue number from the masthead: "台南市政府新闻汇编 第61期"."""
    if not masthead:
        return None
    # The paper's name is the first thing printed that is not a date or a number.
    names = (
        name
        for line in head[: head.index(masthead[-1]) + 1]
        if (name := _MASTHEAD_ITEM_RE.sub("", _DATE_SPACES_RE.sub("", line)).strip())
    )
    number = next((m.group(0) for line in masthead if (m := _ISSUE_NO_RE.search(line))), None)
    return " ".join(part for part in (next(names, None), number) if part) or None
