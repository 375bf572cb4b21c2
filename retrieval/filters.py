"""Restricting a question to some issues: date ranges and issue ids.

Filters come from options (``--since``, ``--until``, ``--issue``), from a leading date
in the question (``2024-03 灯会``, as typed after ``/ask`` in Telegram), or from a
natural phrase in it (``2024年3月``, ``3月份``, ``2024年``) when the phrase can mean only
one range.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass

_LEADING = re.compile(
    r"^\s*(?P<y>\d{4})-(?P<m>\d{1,2})(?:-(?P<d>\d{1,2}))?"
    r"(?:\s*(?:\.\.|~|～|至|到)\s*(?P<y2>\d{4})-(?P<m2>\d{1,2})(?:-(?P<d2>\d{1,2}))?)?\s+"
)
_YEAR_MONTH = re.compile(r"(?P<y>20\d{2})\s*年\s*(?P<m>1[0-2]|0?[1-9])\s*月(?!\s*\d+\s*[日号])")
_YEAR = re.compile(r"(?P<y>20\d{2})\s*年(?!\s*\d)|(?:in|during)\s+(?P<ey>20\d{2})\b", re.IGNORECASE)
# "3月份" names a month; "3月10日" names an event's date, not the issue's.
_MONTH = re.compile(r"(?<!\d)(?P<m>1[0-2]|0?[1-9])\s*月份")


@dataclass(frozen=True)
class Filters:
    """Which issues a search may quote from; empty fields do not restrict."""

    since: dt.date | None = None
    until: dt.date | None = None
    issue: str | None = None

    def __bool__(self) -> bool:
        return bool(self.since or self.until or self.issue)

    def describe(self) -> str:
        """A short human description, e.g. ``2024-03-01…2024-03-31``."""
        parts = []
        if self.since or self.until:
            since = self.since.isoformat() if self.since else ""
            until = self.until.isoformat() if self.until else ""
            parts.append(f"{since}…{until}")
        if self.issue:
            parts.append(f"issue {self.issue}")
        return ", ".join(parts)


def _month_range(year: int, month: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def _date(y: str, m: str, d: str | None, end: bool) -> dt.date:
    year, month = int(y), int(m)
    if d:
        return dt.date(year, month, int(d))
    return _month_range(year, month)[1 if end else 0]


def leading_filter(question: str) -> tuple[Filters, str]:
    """Split a leading ``YYYY-MM[-DD][..YYYY-MM[-DD]]`` off the question.

    Returns:
        The filter (empty when there is none) and the rest of the question.

    Raises:
        ValueError: The leading date is not a real date.
    """
    match = _LEADING.match(question)
    if not match:
        return Filters(), question
    since = _date(match["y"], match["m"], match["d"], end=False)
    if match["y2"]:
        until = _date(match["y2"], match["m2"], match["d2"], end=True)
    else:
        until = _date(match["y"], match["m"], match["d"], end=True)
    return Filters(since=since, until=until), question[match.end() :]


def phrase_filter(question: str, years: Collection[int]) -> Filters:
    """A date filter named by a phrase of the question, when it is unambiguous.

    Args:
        question: The question.
        years: The years of the indexed issues: ``3月份`` means March of the only year
            there is, and nothing when there are several.

    Returns:
        The filter, empty when the question names no range or names it ambiguously.
    """
    months = list(_YEAR_MONTH.finditer(question))
    if len(months) == 1:
        since, until = _month_range(int(months[0]["y"]), int(months[0]["m"]))
        return Filters(since=since, until=until)
    if months:
        return Filters()
    found_years = {int(m["y"] or m["ey"]) for m in _YEAR.finditer(question)}
    bare_months = {int(m["m"]) for m in _MONTH.finditer(question)}
    if len(found_years) > 1 or len(bare_months) > 1:
        return Filters()
    if found_years and bare_months:
        since, until = _month_range(found_years.pop(), bare_months.pop())
        return Filters(since=since, until=until)
    if found_years:
        year = found_years.pop()
        return Filters(since=dt.date(year, 1, 1), until=dt.date(year, 12, 31))
    if bare_months and len(years) == 1:
        since, until = _month_range(next(iter(years)), bare_months.pop())
        return Filters(since=since, until=until)
    return Filters()
