"""Articles of pages whose headlines are marked: PDF text layers, OCR'd scans, Markdown.

The layout of a PDF page or a scanned page knows the size every line is printed in, and
headlines are printed larger than the text: :func:`retrieval.parse.pdf.block_paragraphs`
writes them as Markdown headings ("# 标题"), as pymupdf4llm and docling do when they
turn PDFs into Markdown. Guessing headlines from the text alone (short, no full stop)
fails on OCR'd pages: a paragraph cut short by a misread line, or a line the engine
left on its own ("值得一提的是，2024台南"), looks just like one; on rendered and
scanned pages it found fewer than a third of the article boundaries. Where the print
says what is a headline, articles open at headlines only.
"""

from __future__ import annotations

import re

from retrieval.documents import Article
from retrieval.parse.cleanup import (
    LEAD_BYLINE_RE,
    byline,
    byline_names,
    clean_text,
    normalise_line,
)
from retrieval.parse.furniture import CONTINUATION_RE, is_furniture
from retrieval.parse.masthead import masthead_end, page_number

__all__ = ["PAGE_BREAK", "has_headings", "heading", "paragraph", "split_marked", "unmark"]

# Between the texts of two pages side by side in one image or PDF page (a spread): a form
# feed, which ends a page in pdftotext's output too.
PAGE_BREAK = "\f"
# A Markdown ATX heading: one to six "#", then a space ("#话题" is a hashtag, not one).
_HEADING_RE = re.compile(r"^#{1,6}[ \t]+(?=\S)")
# A paragraph that would read as a heading, escaped as Markdown escapes it ("\# 229").
_ESCAPED_RE = re.compile(r"^\\(?=#)")


def heading(text: str) -> str:
    """A headline written as a Markdown heading."""
    return f"# {text}"


def paragraph(text: str) -> str:
    """A paragraph written so that it is not read as a heading: one that starts with "# "
    (a phone extension, "#229", that the engine read with a space after the "#") is
    escaped as Markdown escapes it, "\\# 229"."""
    return f"\\{text}" if _HEADING_RE.match(text) else text


def _is_heading(line: str) -> bool:
    """Whether a line is a Markdown heading."""
    return _HEADING_RE.match(line) is not None


def unmark(line: str) -> str:
    """A line without its heading mark, or without the escape of a paragraph's "#"."""
    if _is_heading(line):
        return _HEADING_RE.sub("", line, count=1)
    return _ESCAPED_RE.sub("", line, count=1)


def has_headings(text: str) -> bool:
    """Whether some line of the text is a Markdown heading."""
    return any(_is_heading(line.lstrip()) for line in text.split("\n"))


def split_marked(text: str) -> list[Article]:
    """Split a page whose headlines are marked as Markdown headings into articles.

    * each run of heading lines opens an article: the last one is its headline, any
      before it its section (a banner over several columns, a column's name), as a
      headline and its kicker and subtitle come as one heading;
    * text before the first heading, below the masthead, is an untitled article: the
      part of an article that runs on from the previous page;
    * page furniture goes (page numbers, "下转第2版" markers, photo credits);
    * the body is cleaned by :func:`~retrieval.parse.cleanup.clean_text`, knowing it
      holds no headline: a paragraph cut mid-sentence is joined with the next however
      short it is;
    * a paragraph ending in a "（name）" byline closes its article and names its author
      (as does a leading "本报讯（记者 XX）"); text after it, before the next heading,
      is an untitled article.

    Args:
        text: One page, one paragraph or heading per line.

    Returns:
        The articles in reading order; ``page`` is set only when the page prints "第N版".
    """
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    unmarked = [unmark(line) for line in lines]
    headings = [_is_heading(line) for line in lines]
    # Headlines are repaired as the body is: OCR's half-width punctuation and spaces in
    # Chinese text are the engine's, not the print's.
    plain = [normalise_line(text) for text in unmarked]
    masthead = masthead_end(plain)
    page = page_number(plain[:masthead])
    articles: list[Article] = []
    bodies: list[list[str]] = []
    closed = True  # at the top of the page, as after a byline, text opens an article
    previous_heading = False
    for marked, text_line in zip(headings[masthead:], plain[masthead:], strict=True):
        if marked:
            if previous_heading:
                article = articles[-1]
                article.section = " ".join(filter(None, (article.section, article.headline)))
                article.headline = text_line
            else:
                articles.append(Article(headline=text_line, body="", page=page))
                bodies.append([])
            previous_heading, closed = True, False
            continue
        previous_heading = False
        text_line = CONTINUATION_RE.sub("", text_line).strip()
        if not text_line or is_furniture(text_line):
            continue
        if closed:
            articles.append(Article(headline="", body="", page=page))
            bodies.append([])
        bodies[-1].append(text_line)
        closed = byline(text_line) is not None
    for article, body in zip(articles, bodies, strict=True):
        paragraphs = clean_text("\n".join(body), headlines=False).split("\n")
        if paragraphs and (signed := byline(paragraphs[-1])):
            paragraphs[-1], article.author = signed
        article.body = "\n".join(p for p in paragraphs if p)
        lead = LEAD_BYLINE_RE.match(article.body)
        if article.author is None and lead:
            article.author = byline_names(lead.group(1))
    return articles
