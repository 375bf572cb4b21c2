"""Retrieved chunks → an Answer: for each hit, the sentences that answer the question.

Quotes are always verbatim sentences of the chunk: nothing here writes text of its own.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from retrieval.chunk import sentence_spans
from retrieval.config import MAX_QUESTION_CHARS
from retrieval.store import ChunkRecord

if TYPE_CHECKING:
    from retrieval.search import Searcher

MAX_QUOTE_SENTENCES = 3
MAX_QUOTE_CHARS = 220
# Extra results fetched so that dropping reprinted duplicates still leaves k hits.
_DUPLICATE_SPARE = 5

_WORDS = re.compile(r"[A-Za-z]+|\d+(?:[.,]\d+)*")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
# Interrogatives and fillers say how a question is asked, not what it is about.
_QUESTION_WORDS = re.compile(
    r"多少|多长|多大|多高|多远|多久|多重|几[个年月号天次人位家名条座]?|哪里|哪儿|哪个|哪些|哪家|什么|"
    r"怎么|怎样|如何|为什么|是否|有没有|请问|吗|呢|吧|啊"
)
# A question asking for a quantity or a date is answered by a sentence with a number in it.
_ASKS_NUMBER = re.compile(
    r"多少|多长|多大|多高|多远|多久|多重|几|how (?:many|much|long|far|big|tall|old)|when|what year",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
_NUMBER_BONUS = 3.0


class QuestionError(ValueError):
    """The question cannot be asked as it is; the message says why, for the user."""


@dataclass(frozen=True)
class Hit:
    """One retrieved passage with the sentences quoted from it.

    Attributes:
        rank: 1-based position in the answer.
        score: Retrieval score (cosine similarity for dense retrieval).
        quote: The one to three sentences of the chunk that best answer the question.
        chunk: The whole chunk with its article and issue.
    """

    rank: int
    score: float
    quote: str
    chunk: ChunkRecord


@dataclass(frozen=True)
class Answer:
    """The passages found for a question, best first (possibly none)."""

    question: str
    hits: list[Hit]


def validate_question(text: str) -> str:
    """Return the question stripped and normalised, or raise :class:`QuestionError`.

    Control characters are dropped; empty, blank and overlong questions are refused.
    """
    cleaned = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch)[0] != "C"
    )
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise QuestionError("the question is empty: type what you want to know")
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is too long ({len(cleaned)} characters; "
            f"at most {MAX_QUESTION_CHARS}): ask it in a sentence or two"
        )
    return cleaned


def _terms(text: str) -> dict[str, float]:
    """Weighted terms of a question: Han bigrams, Latin words and numbers (weighted up)."""
    text = _QUESTION_WORDS.sub(" ", text)
    terms: dict[str, float] = {}
    for word in _WORDS.findall(text):
        terms[word.lower()] = 3.0 if word[0].isdigit() else 1.5
    for run in _HAN.findall(text):
        if len(run) == 1:
            terms.setdefault(run, 0.5)
        for i in range(len(run) - 1):
            terms.setdefault(run[i : i + 2], 1.0)
    return terms


def _overlap(terms: dict[str, float], sentence: str) -> float:
    lowered = sentence.lower()
    return sum(weight for term, weight in terms.items() if term in lowered)


def select_quote(question: str, text: str) -> str:
    """Pick the one to three consecutive sentences of ``text`` that best answer ``question``.

    Sentences are scored by the question's words they contain (numbers and names count
    extra); the best sentence is extended by a neighbour while that adds evidence and
    the quote stays short. With no overlap at all, the chunk's opening is quoted.

    Args:
        question: The user's question.
        text: A retrieved chunk.

    Returns:
        A verbatim extract of ``text``.
    """
    spans = sentence_spans(text)
    if not spans:
        return text
    terms = _terms(question)
    bonus = _NUMBER_BONUS if _ASKS_NUMBER.search(question) else 0.0
    scores = [
        _overlap(terms, text[s:e]) + (bonus if _DIGIT.search(text[s:e]) else 0.0) for s, e in spans
    ]
    best = max(range(len(spans)), key=lambda i: (scores[i], -i))
    first = last = best
    if scores[best] == 0:
        first = last = 0

    def length(a: int, b: int) -> int:
        return spans[b][1] - spans[a][0]

    while last - first + 1 < MAX_QUOTE_SENTENCES:
        covered = text[spans[first][0] : spans[last][1]]
        gains = []
        if last + 1 < len(spans) and length(first, last + 1) <= MAX_QUOTE_CHARS:
            gains.append((_overlap(terms, covered + text[slice(*spans[last + 1])]), 1))
        if first > 0 and length(first - 1, last) <= MAX_QUOTE_CHARS:
            gains.append((_overlap(terms, text[slice(*spans[first - 1])] + covered), -1))
        base = _overlap(terms, covered)
        useful = [g for g in gains if g[0] > base]
        # A very short quote reads better with the sentence after it, evidence or not.
        if not useful and length(first, last) < 40 and gains:
            useful = [max(gains, key=lambda g: g[1])]
        if not useful:
            break
        _, direction = max(useful)
        if direction > 0:
            last += 1
        else:
            first -= 1
    return text[spans[first][0] : spans[last][1]]


def answer_question(searcher: Searcher, question: str, k: int = 5) -> Answer:
    """Retrieve the top ``k`` passages for ``question`` and quote each.

    Raises:
        QuestionError: The question is empty or too long.
    """
    question = validate_question(question)
    # Bulletins reprint the same release under several bylines: quote each text once.
    unique = {}
    for item in searcher.search(question, k + _DUPLICATE_SPARE):
        unique.setdefault(item.chunk.text, item)
    hits = [
        Hit(
            rank=rank,
            score=item.score,
            quote=select_quote(question, item.chunk.text),
            chunk=item.chunk,
        )
        for rank, item in enumerate(list(unique.values())[:k], start=1)
    ]
    return Answer(question=question, hits=hits)
