"""Articles of OCR'd pages: headlines, section labels, bylines and bodies from line shapes.

The text comes cleaned by :func:`retrieval.parse.cleanup.clean_text`, one paragraph,
headline or label per line.
"""

from __future__ import annotations

from retrieval.documents import Article
from retrieval.parse.cleanup import (
    ARTICLE_START_RE,
    LEAD_BYLINE_RE,
    byline,
    byline_names,
    is_headline_like,
    is_subhead,
)
from retrieval.parse.masthead import masthead_end, page_number
from retrieval.text import text_width

# A section label or column slogan is a few words ("全力以赴抓经济 踔厉奋发开新局" is the
# seed page's longest, 15 characters); a first line this long is part of a headline.
_LONG_HEADLINE_LINE = 20


def split_page(text: str) -> list[Article]:
    """Split cleaned OCR text (one paragraph per line) into articles.

    * a run of headline-like lines followed by body text opens an article; when the run
      has several lines, the first is the section label (place or column slogan) and
      the rest is the headline;
    * a single headline-like line opens an article only at the start of the page, after
      an article was closed by a byline, or before a "本报讯" paragraph; elsewhere it is
      a subheading and stays in the body;
    * a paragraph ending with a "（name）" byline closes the article, and body text that
      follows a closed article opens an untitled one (headline "");
    * masthead lines at the top of the page (date, "第N版") are skipped.

    Args:
        text: Text as :func:`retrieval.parse.cleanup.clean_text` returns it.

    Returns:
        The articles in reading order; ``page`` is set only when the page prints "第N版".
    """
    lines = text.split("\n") if text else []
    masthead = masthead_end(lines)
    page = page_number(lines[:masthead])
    articles: list[Article] = []
    bodies: list[list[str]] = []
    # A page whose articles end with bylines uses bare headline-like lines as subheads
    # too; a page without any (OCR of an encyclopedia digest, a press-release digest)
    # opens an article at every headline that is not a numbered subhead.
    closes = any(byline(line) for line in lines)
    closed = True  # at the top of the page, as after a byline, text opens an article
    i = masthead
    while i < len(lines):
        end = i
        while end < len(lines) and is_headline_like(lines[end]):
            end += 1
        if end > i:
            heads = lines[i:end]
            before_dateline = end < len(lines) and ARTICLE_START_RE.match(lines[end])
            opens = len(heads) > 1 or closed or before_dateline or not is_subhead(heads[0])
            if opens if not closes else len(heads) > 1 or closed or before_dateline:
                section, headline = _section_and_headline(heads)
                articles.append(Article(headline=headline, body="", section=section, page=page))
                bodies.append([])
            else:
                bodies[-1].extend(heads)  # a subheading inside the article
            closed = False
            i = end
            continue
        line = lines[i]
        if closed or (ARTICLE_START_RE.match(line) and bodies[-1]):
            articles.append(Article(headline="", body="", page=page))
            bodies.append([])
        signed = byline(line)
        closed = signed is not None
        if signed:
            line, articles[-1].author = signed
        if line:
            bodies[-1].append(line)
        i += 1
    for article, body in zip(articles, bodies, strict=True):
        article.body = "\n".join(body)
        lead = LEAD_BYLINE_RE.match(article.body)
        if article.author is None and lead:
            article.author = byline_names(lead.group(1))
    return articles


def _section_and_headline(heads: list[str]) -> tuple[str | None, str]:
    """A run of headline-like lines: the first is the section label ("交城县", a column
    slogan), the rest the headline; unless the first is as long as a headline line, when
    the run is one headline broken over lines."""
    if len(heads) == 1:
        return None, heads[0]
    if text_width(heads[0]) >= _LONG_HEADLINE_LINE:
        return None, "".join(heads)
    return heads[0], " ".join(heads[1:])
