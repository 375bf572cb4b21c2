"""Split article bodies into sentences, and sentences into overlapping chunks.

A chunk is a run of whole sentences of one article, about ``MIN_CHARS``–``MAX_CHARS``
characters (closed once it reaches ``TARGET_CHARS``), sharing one sentence with the chunk
before it so that an answer straddling a boundary is still found whole. Only a sentence
that is too long on its own is cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from retrieval.documents import Article, Chunk

MIN_CHARS = 150
MAX_CHARS = 350
TARGET_CHARS = 250

# A sentence ends at Chinese or Western final punctuation (a run of it, as in "……" or
# "？！"), plus any closing quotes or brackets that belong to it, or at a line break. A
# title or an initial before a name ends none ("由Dr. William Riley交棒给Mr. George").
_ABBREVIATIONS = ("Mr", "Mrs", "Ms", "Dr", "Prof", "St", "Jr", "Sr", "vs", "[^A-Za-z][A-Z]")
_NOT_ABBREVIATED = "".join(f"(?<!{a})" for a in _ABBREVIATIONS)
_SENTENCE_END = re.compile(
    rf"(?:[。！？；!?;]+|…+|(?<=[A-Za-z]){_NOT_ABBREVIATED}\.(?=\s))[”’」』）)》\"']*|\n+"
)
# Where to cut a sentence that is too long on its own, best first.
_SOFT_BREAKS = ("，", "、", ",", "：", ":", " ")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Return ``(start, end)`` offsets of the sentences of ``text``.

    Spans cover every non-blank character; surrounding whitespace is left out.

    Args:
        text: A paragraph or a whole article body.

    Returns:
        Sentence spans in order, never empty ones.
    """
    spans = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end() if match.group().strip() else match.start()
        spans.extend(_stripped(text, start, end))
        start = match.end()
    spans.extend(_stripped(text, start, len(text)))
    return spans


def split_sentences(text: str) -> list[str]:
    """Return the sentences of ``text`` (see :func:`sentence_spans`)."""
    return [text[start:end] for start, end in sentence_spans(text)]


def _stripped(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        yield start, end


def _cut_long(text: str, start: int, end: int, limit: int) -> Iterator[tuple[int, int]]:
    """Cut one over-long sentence into pieces of at most ``limit`` characters."""
    while end - start > limit:
        window = text[start : start + limit]
        cut = -1
        for mark in _SOFT_BREAKS:
            cut = window.rfind(mark, limit // 2)
            if cut != -1:
                break
        stop = start + (cut + 1 if cut != -1 else limit)
        yield from _stripped(text, start, stop)
        start = stop
    yield from _stripped(text, start, end)


def chunk_text(
    text: str,
    min_chars: int = MIN_CHARS,
    max_chars: int = MAX_CHARS,
    target_chars: int = TARGET_CHARS,
) -> list[tuple[int, int]]:
    """Group the sentences of ``text`` into overlapping chunk spans.

    Sentences are added to a chunk until it reaches ``target_chars`` or the next one
    would take it past ``max_chars``. Each chunk after the first starts with the last
    sentence of the one before, unless that would leave no room for new text.

    Args:
        text: An article body.
        min_chars: A tail chunk shorter than this is folded into the chunk before it
            when the result stays within ``max_chars``.
        max_chars: Upper bound on a chunk's length; a single sentence longer than this
            is cut at a comma (or, failing that, anywhere).
        target_chars: Length at which a chunk is closed.

    Returns:
        ``(start, end)`` offsets into ``text``, in order.
    """
    pieces = [
        piece
        for start, end in sentence_spans(text)
        for piece in _cut_long(text, start, end, max_chars)
    ]
    chunks: list[tuple[int, int]] = []
    first = 0
    while first < len(pieces):
        last = first
        while (
            last + 1 < len(pieces)
            and pieces[last][1] - pieces[first][0] < target_chars
            and pieces[last + 1][1] - pieces[first][0] <= max_chars
        ):
            last += 1
        chunks.append((pieces[first][0], pieces[last][1]))
        if last + 1 == len(pieces):
            break
        overlap_fits = pieces[last + 1][1] - pieces[last][0] <= max_chars
        first = last if last > first and overlap_fits else last + 1
    if len(chunks) >= 2:
        prev_start, _ = chunks[-2]
        tail_start, tail_end = chunks[-1]
        if tail_end - tail_start < min_chars and tail_end - prev_start <= max_chars:
            chunks[-2:] = [(prev_start, tail_end)]
    return chunks


def chunk_article(
    article: Article, article_index: int, min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS
) -> list[Chunk]:
    """Chunk one article's body.

    Args:
        article: The article.
        article_index: Its position in the issue, recorded on each chunk.
        min_chars: See :func:`chunk_text`.
        max_chars: See :func:`chunk_text`.

    Returns:
        The article's chunks; an article with an empty body has none.
    """
    return [
        Chunk(article_index, seq, article.body[start:end], start, end)
        for seq, (start, end) in enumerate(chunk_text(article.body, min_chars, max_chars))
    ]
