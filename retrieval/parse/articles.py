"""Split the text of an issue into articles, whichever layout it was printed in."""

from __future__ import annotations

from retrieval.documents import Article
from retrieval.parse.cleanup import clean_text
from retrieval.parse.layout import is_wrapped, split_wrapped
from retrieval.parse.marked import split_marked
from retrieval.parse.pages import split_page
from retrieval.parse.structured import is_structured, split_structured


def split_articles(text: str, *, marked: bool = False) -> list[Article]:
    """Split the text of an issue into articles, recognising its layout.

    Structured issues (articles between ``====`` lines) are split on the separators;
    the ``发稿单位/发稿时间/发稿人/联系电话`` header lines, the contact block at the end,
    any other "发稿…：" line and the closing ``（department）`` line are kept out of the
    body (a first paragraph glued to a header line is put back), and the author is the
    发稿人 or else the department. Pages whose headlines are marked as Markdown headings
    open an article at each headline (:func:`~retrieval.parse.marked.split_marked`).
    Text that keeps the printed column lines (hard-wrapped
    OCR output) has its paragraphs, headlines and bylines recovered by
    :func:`~retrieval.parse.layout.split_wrapped`. Any other text is treated as OCR pages
    with a paragraph a line: it is cleaned with
    :func:`~retrieval.parse.cleanup.clean_text` (harmless if it already was) and its
    articles are recovered from the shape of its lines by
    :func:`~retrieval.parse.pages.split_page`.

    Args:
        text: The decoded text of one issue or page.
        marked: Whether the text marks its headlines as Markdown headings ("# 标题"):
            PDF and scanned pages, whose layout knows the print sizes, and Markdown
            files. Plain text is not read so: a line of a bulletin can start with "# ".

    Returns:
        The articles in reading order; ``page`` is set only when the page prints "第N版".
    """
    if is_structured(text):
        return split_structured(text)
    if marked:
        return split_marked(text)
    if is_wrapped(text):
        return split_wrapped(text)
    return split_page(clean_text(text))
