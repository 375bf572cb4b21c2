"""Answers as text for people (terminal, Telegram) and as JSON for scripts.

One formatting core serves every front end: an answer becomes styled runs of text
(:class:`Run`), which :func:`render` writes out either as plain text (terminal) or as
Telegram HTML, escaping all text. The source line is built here once, as parts, so that
every front end attributes a passage the same way.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from retrieval.answer import Answer, Hit
from retrieval.store import ChunkRecord

UNTITLED = "（无标题）"
NOT_FOUND = "没有找到相关内容。"
WEAK_MATCHES = "最接近的内容如下，但相关度低，未必回答了问题："
# Weak matches shown after "not found", at most.
MAX_WEAK = 2

# Styles a run of text may carry, outermost first in Run.styles.
QUOTE = "quote"
STRONG = "strong"


@dataclass(frozen=True)
class Run:
    """A piece of text and the styles that apply to it.

    Attributes:
        text: The text as the reader sees it (never escaped).
        styles: Styles, outermost first (e.g. ``(QUOTE, STRONG)``); runs next to each other
            share the styles their tuples start with.
    """

    text: str
    styles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Markup:
    """How runs are written out: the escaping of text and each style's opening and closing."""

    escape: Callable[[str], str]
    tags: Mapping[str, tuple[str, str]]


PLAIN = Markup(escape=str, tags={QUOTE: ("「", "」"), STRONG: ("", "")})
# html.escape also escapes quotes: harmless in text, and Telegram accepts &quot; and &#x27;.
HTML = Markup(
    escape=html.escape,
    tags={QUOTE: ("<blockquote>", "</blockquote>"), STRONG: ("<b>", "</b>")},
)


def render(runs: Iterable[Run], markup: Markup) -> str:
    """Write runs out in ``markup``; styles are opened and closed so that they nest properly.

    Args:
        runs: The runs, in reading order.
        markup: :data:`PLAIN` or :data:`HTML`.

    Returns:
        The text, every run's text escaped for the markup.
    """
    out: list[str] = []
    open_styles: tuple[str, ...] = ()
    for run in runs:
        if not run.text:
            continue
        shared = 0
        while (
            shared < min(len(open_styles), len(run.styles))
            and open_styles[shared] == run.styles[shared]
        ):
            shared += 1
        out.extend(markup.tags[style][1] for style in reversed(open_styles[shared:]))
        out.extend(markup.tags[style][0] for style in run.styles[shared:])
        out.append(markup.escape(run.text))
        open_styles = run.styles
    out.extend(markup.tags[style][1] for style in reversed(open_styles))
    return "".join(out)


def source_parts(hit: Hit) -> list[str]:
    """The attribution of a hit: 《headline》, issue, date, page, reporter (known ones only)."""
    return chunk_source_parts(hit.chunk)


def chunk_source_parts(chunk: ChunkRecord) -> list[str]:
    """The attribution of a stored chunk (see :func:`source_parts`)."""
    parts = [f"《{chunk.headline}》" if chunk.headline else UNTITLED]
    if chunk.section:
        parts.append(chunk.section)
    parts.append(chunk.issue_title or chunk.issue)
    if chunk.date:
        parts.append(f"{chunk.date.year}年{chunk.date.month}月{chunk.date.day}日")
    if chunk.page is not None:
        parts.append(f"第{chunk.page}版")
    if chunk.author:
        parts.append(chunk.author)
    return parts


def source_line(hit: Hit) -> str:
    """The attribution of a hit as one line."""
    return chunk_source_line(hit.chunk)


def chunk_source_line(chunk: ChunkRecord) -> str:
    """The attribution of a stored chunk as one line."""
    return " · ".join(chunk_source_parts(chunk))


def hit_runs(hit: Hit, *, context: bool = False, score: bool = True) -> list[Run]:
    """One numbered passage: the quote, then its source line.

    Args:
        hit: The hit.
        context: Quote the whole retrieved chunk with the answering sentences emphasised,
            instead of those sentences alone.
        score: Show the retrieval score after the source line.

    Returns:
        The runs of the passage.
    """
    text, quote = hit.chunk.text, hit.quote
    start = text.find(quote) if context else -1
    if start < 0:
        body = [Run(quote, (QUOTE,))]
    else:
        body = [
            Run(text[:start], (QUOTE,)),
            Run(quote, (QUOTE, STRONG)),
            Run(text[start + len(quote) :], (QUOTE,)),
        ]
    tail = f"\n   —— {source_line(hit)}" + (f"  [{hit.score:.2f}]" if score else "")
    return [Run(f"{hit.rank}. "), *body, Run(tail)]


def render_text(answer: Answer) -> str:
    """Render an answer for the terminal: numbered quotes, each with its source.

    Lines are not wrapped: terminals wrap CJK text better than a fixed width can.
    """
    if not answer.hits:
        return NOT_FOUND
    if not answer.found:
        weak = "\n\n".join(render(hit_runs(hit), PLAIN) for hit in answer.hits[:MAX_WEAK])
        return f"{NOT_FOUND}\n{WEAK_MATCHES}\n\n{weak}"
    return "\n\n".join(render(hit_runs(hit), PLAIN) for hit in answer.hits)


def answer_to_json(answer: Answer) -> dict[str, Any]:
    """The JSON form of an answer (the schema of ``bulletin-qa ask --json``).

    ``found`` is False when the bulletins do not answer the question: ``hits`` then
    holds only the nearest weak matches.
    """
    return {
        "question": answer.question,
        "found": answer.found,
        "hits": [
            {
                "rank": hit.rank,
                "score": round(hit.score, 6),
                "quote": hit.quote,
                "text": hit.chunk.text,
                "headline": hit.chunk.headline,
                "section": hit.chunk.section,
                "author": hit.chunk.author,
                "issue": hit.chunk.issue,
                "date": hit.chunk.date.isoformat() if hit.chunk.date else None,
                "page": hit.chunk.page,
                "source": hit.chunk.source,
                "chunk_id": hit.chunk.chunk_id,
            }
            for hit in answer.hits
        ],
    }
