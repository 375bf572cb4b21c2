"""The records that flow through the pipeline: issues, articles, chunks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass
class Article:
    """One article of an issue, as printed.

    Attributes:
        headline: The article's title ("" when the page lost it).
        body: Clean text, one paragraph per line (joined with "\\n").
        section: Section or column label printed above the headline (e.g. "交城县").
        author: Reporter byline or issuing department, without brackets.
        page: Page number within the issue, when known.
    """

    headline: str
    body: str
    section: str | None = None
    author: str | None = None
    page: int | None = None


@dataclass
class Issue:
    """One bulletin issue, parsed from one file (or from the page files of one issue).

    Attributes:
        issue_id: Stable identity, from the file name (e.g. "2024-03-01").
        title: Masthead or sidecar title, when known.
        date: Publication date, or None when nothing states it.
        source: The file the issue was read from.
        articles: Articles in reading order.
    """

    issue_id: str
    source: str
    title: str | None = None
    date: dt.date | None = None
    articles: list[Article] = field(default_factory=list)


@dataclass
class Chunk:
    """A run of whole sentences of one article: the unit that is embedded and retrieved.

    Attributes:
        article_index: Position of the article within its issue.
        seq: Position of the chunk within its article.
        text: The chunk's text, exactly ``article.body[start:end]``.
        start: Offset of the chunk in the article body.
        end: End offset (exclusive) of the chunk in the article body.
    """

    article_index: int
    seq: int
    text: str
    start: int
    end: int
