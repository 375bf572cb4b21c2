"""Answers as text for people (terminal, Telegram) and as JSON for scripts.

One formatting core serves every front end: an answer becomes styled runs of text
(:class:`Run`), which :func:`render` writes out either as plain text (terminal) or as
Telegram HTML, escaping all text. The source line is built here once, as parts, so that
every front end attributes a passage the same way.

A passage is shown answer first: its quote (the sentences that answer) and source line
(:func:`hit_runs`); the whole passage, the quote marked in it, is there for the reader who
wants the context (:func:`passage_runs`), folded away where the front end can fold it.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from retrieval.answer import Answer, Hit
from retrieval.store import ArticleSummary, ChunkRecord

UNTITLED = "（无标题）"
NOT_FOUND = "没有找到相关内容。"
UNCERTAIN = "可能相关（不确定是否回答了问题）："
# Before an answer written from the passages by the optional LLM; [n] cites passage n.
WRITTEN = "答："
# An uncertain answer shows its best passages, at most this many.
MAX_UNCERTAIN = 3

# Styles a run of text may carry, outermost first in Run.styles.
QUOTE = "quote"  # the sentences quoted as the answer
STRONG = "strong"
FOLD = "fold"  # context the reader unfolds on demand (a passage around its quote)

# Under its number, a passage's source line and (``ask --full``) its whole text.
_INDENT = "   "


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


PLAIN = Markup(escape=str, tags={QUOTE: ("「", "」"), STRONG: ("", ""), FOLD: ("", "")})
# html.escape also escapes quotes: harmless in text, and Telegram accepts &quot; and &#x27;.
# A fold is an expandable blockquote (Bot API 7.3), its first lines shown until tapped.
# The quote is bold rather than a blockquote: blockquotes cannot nest, and a fold holds
# its quote.
HTML = Markup(
    escape=html.escape,
    tags={
        QUOTE: ("<b>", "</b>"),
        STRONG: ("<b>", "</b>"),
        FOLD: ("<blockquote expandable>", "</blockquote>"),
    },
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
    """The attribution of a hit: 《headline》, section, issue, date, page, reporter (known ones)."""
    return chunk_source_parts(hit.chunk)


def chunk_source_parts(chunk: ChunkRecord) -> list[str]:
    """The attribution of a stored chunk (see :func:`source_parts`).

    The issue is named by its title (paper and number) when printed, else by its date,
    else by its id.
    """
    parts = [f"《{chunk.headline}》" if chunk.headline else UNTITLED]
    if chunk.section:
        parts.append(chunk.section)
    if chunk.issue_title:
        parts.append(chunk.issue_title)
    elif not chunk.date:
        # Without a date the id is all that names the issue; a date says more to a reader.
        parts.append(chunk.issue)
    if chunk.date:
        parts.append(f"{chunk.date.year}年{chunk.date.month}月{chunk.date.day}日")
    if chunk.page is not None:
        parts.append(f"第{chunk.page}版")
    if chunk.author:
        parts.append(chunk.author)
    return parts


def article_parts(article: ArticleSummary) -> list[str]:
    """An article in an issue's listing (``show``): 《headline》, section, page, reporter."""
    parts = [f"《{article.headline}》" if article.headline else UNTITLED]
    if article.section:
        parts.append(article.section)
    if article.page is not None:
        parts.append(f"第{article.page}版")
    if article.author:
        parts.append(article.author)
    return parts


def source_line(hit: Hit) -> str:
    """The attribution of a hit as one line."""
    return chunk_source_line(hit.chunk)


def chunk_source_line(chunk: ChunkRecord) -> str:
    """The attribution of a stored chunk as one line."""
    return " · ".join(chunk_source_parts(chunk))


def hit_runs(hit: Hit, *, score: bool = True) -> list[Run]:
    """One numbered passage as the answer: its quote, then its source line.

    Args:
        hit: The hit.
        score: Show the retrieval score after the source line.

    Returns:
        The runs of the passage.
    """
    tail = f"\n{_INDENT}—— {source_line(hit)}" + (f"  [{hit.score:.2f}]" if score else "")
    return [Run(f"{hit.rank}. "), Run(hit.quote, (QUOTE,)), Run(tail)]


def passage_runs(hit: Hit) -> list[Run]:
    """The whole retrieved passage, folded, with its quote marked where it stands.

    Returns:
        The runs, all styled :data:`FOLD`; none when the quote is the whole passage (there
        is nothing more to read).
    """
    text, quote = hit.chunk.text.strip(), hit.quote
    if text == quote.strip():
        return []
    start = text.find(quote)
    if start < 0:
        return [Run(text, (FOLD,))]
    return [
        Run(text[:start], (FOLD,)),
        Run(quote, (FOLD, QUOTE)),
        Run(text[start + len(quote) :], (FOLD,)),
    ]


def passages_text(hits: Sequence[Hit], *, full: bool = False) -> str:
    """Passages for the terminal: each quote with its source line and score.

    Args:
        hits: The passages.
        full: Also print each whole passage, indented under its source line.
    """
    texts = []
    for hit in hits:
        text = render(hit_runs(hit), PLAIN)
        if full and (passage := passage_runs(hit)):
            text += "\n" + textwrap.indent(render(passage, PLAIN), _INDENT)
        texts.append(text)
    return "\n\n".join(texts)


def nearest_hint(hits: Sequence[Hit]) -> str | None:
    """What a "not found" answer offers instead: the nearest passage's headline."""
    if not hits:
        return None
    headline = hits[0].chunk.headline
    return f"最接近：《{headline}》" if headline else f"最接近：{source_line(hits[0])}"


def render_text(answer: Answer, *, full: bool = False) -> str:
    """Render an answer for the terminal: numbered quotes, each with its source.

    Found: the passages. Uncertain: the best :data:`MAX_UNCERTAIN` passages under the
    :data:`UNCERTAIN` label. Not found: says so, and names the nearest headline.
    Lines are not wrapped: terminals wrap CJK text better than a fixed width can.

    Args:
        answer: The answer.
        full: Print each whole passage under its quote (see :func:`passages_text`).
    """
    if answer.confidence == "not_found":
        hint = nearest_hint(answer.hits)
        return f"{NOT_FOUND}\n{hint}" if hint else NOT_FOUND
    written = f"{WRITTEN}{answer.written.text}\n\n" if answer.written else ""
    if answer.confidence == "uncertain":
        passages = passages_text(answer.hits[:MAX_UNCERTAIN], full=full)
        return f"{UNCERTAIN}\n\n{written}{passages}"
    return written + passages_text(answer.hits, full=full)


def answer_to_json(answer: Answer) -> dict[str, Any]:
    """The JSON form of an answer (the schema of ``bulletin-qa ask --json``).

    ``confidence`` is "found", "uncertain" (the passages are on the topic, but may not
    answer) or "not_found"; ``found`` is true for "found" only, and then ``hits`` holds
    the answer, else the nearest matches. ``written`` is the checked answer the optional
    LLM wrote from the passages (``{"text", "citations"}``, citations 1-based ranks), or
    null.
    """
    written = answer.written
    return {
        "question": answer.question,
        "found": answer.found,
        "confidence": answer.confidence,
        "written": {"text": written.text, "citations": list(written.citations)}
        if written
        else None,
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
