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
)
from retrieval.parse.masthead import masthead_end, page_number


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
    closed = True  # at the top of the page, as after a byline, text opens an article
    i = masthead
    while i < len(lines):
        end = i
        while end < len(lines) and is_headline_like(lines[end]):
            end += 1
        if end > i:
            heads = lines[i:end]
            before_dateline = end < len(lines) and ARTICLE_START_RE.match(lines[end])
            if len(heads) > 1 or closed or before_dateline:
                section = heads[0] if len(heads) > 1 else None
                headline = " ".join(heads[1:]) if len(heads) > 1 else heads[0]
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
