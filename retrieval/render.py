"""Answers as text for people (terminal) and as JSON for scripts.

The source line is built here once, as parts, so that every front end (terminal, JSON,
Telegram HTML) attributes a passage the same way.
"""

from __future__ import annotations

from typing import Any

from retrieval.answer import Answer, Hit

UNTITLED = "（无标题）"
NOT_FOUND = "没有找到相关内容。"


def source_parts(hit: Hit) -> list[str]:
    """The attribution of a hit: 《headline》, issue, date, page, reporter (known ones only)."""
    chunk = hit.chunk
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
    return " · ".join(source_parts(hit))


def render_text(answer: Answer) -> str:
    """Render an answer for the terminal: numbered quotes, each with its source.

    Lines are not wrapped: terminals wrap CJK text better than a fixed width can.
    """
    if not answer.hits:
        return NOT_FOUND
    return "\n\n".join(
        f"{hit.rank}. 「{hit.quote}」\n   —— {source_line(hit)}  [{hit.score:.2f}]"
        for hit in answer.hits
    )


def answer_to_json(answer: Answer) -> dict[str, Any]:
    """The JSON form of an answer (the schema of ``bulletin-qa ask --json``)."""
    return {
        "question": answer.question,
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
