"""Measuring answers: hit@k, MRR, latency and "not found" accuracy on a question set.

A question set is JSON lines. An answerable question names what a right passage holds:
``{"question": ..., "answer": ...}`` (a hit is a returned chunk containing the answer,
whitespace ignored), ``{"question": ..., "article": ...}`` (a hit is a chunk of the
article whose headline contains it, whitespace ignored), or both (both must hold: many
answers are dates or amounts that other articles mention too). An unanswerable one is
``{"question": ..., "unanswerable": true}``: the right response is "not found".
Other fields (``id``, ``lang``, ``style``, ...) are kept for reporting.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.answer import Answer, Confidence, Relevance, answer_question
from retrieval.search import Mode, Searcher
from retrieval.store import ChunkRecord

_SPACE = re.compile(r"\s+")


class EvalSetError(ValueError):
    """A question set line is malformed; the message names the file and line."""


@dataclass(frozen=True)
class EvalItem:
    """One question of a question set."""

    question: str
    answer: str | None = None
    article: str | None = None
    unanswerable: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def matches(self, chunk: ChunkRecord) -> bool:
        """Whether ``chunk`` is a right passage for this question."""
        if self.unanswerable:
            return False
        if self.answer is not None and not self.holds_answer(chunk):
            return False
        return self.article is None or _squash(self.article) in _squash(chunk.headline)

    def holds_answer(self, chunk: ChunkRecord) -> bool:
        """Whether ``chunk`` contains the answer string, whatever article it is from."""
        return self.answer is not None and _squash(self.answer) in _squash(chunk.text)


@dataclass
class Outcome:
    """What one question got."""

    item: EvalItem
    rank: int | None  # 1-based rank of the first right passage, None when none
    # Rank of the first passage holding the answer string in any article (a reprint, a
    # follow-up), None when none or when the question gives no answer string.
    answer_rank: int | None
    # Whether that passage's quote holds the answer (None: no right passage, or no
    # answer string to look for).
    quoted: bool | None
    found: bool  # the answer claimed to have found something
    confidence: Confidence
    relevance: Relevance
    seconds: float
    returned: list[str]  # headlines and quotes of what came back


@dataclass
class Report:
    """Aggregates over a question set for one retrieval mode."""

    mode: str
    outcomes: list[Outcome]

    @property
    def answerable(self) -> list[Outcome]:
        """Outcomes of the answerable questions."""
        return [o for o in self.outcomes if not o.item.unanswerable]

    @property
    def unanswerable(self) -> list[Outcome]:
        """Outcomes of the unanswerable questions."""
        return [o for o in self.outcomes if o.item.unanswerable]

    def hit_at(self, k: int) -> float:
        """Share of answerable questions with a right passage in the top ``k``."""
        rows = self.answerable
        return sum(o.rank is not None and o.rank <= k for o in rows) / len(rows) if rows else 0.0

    def answer_hit_at(self, k: int) -> float:
        """Like :meth:`hit_at`, but any passage holding the answer string counts.

        Over the answerable questions that give an answer string.
        """
        rows = [o for o in self.answerable if o.item.answer is not None]
        hits = sum(o.answer_rank is not None and o.answer_rank <= k for o in rows)
        return hits / len(rows) if rows else 0.0

    def mrr(self) -> float:
        """Mean reciprocal rank of the first right passage (0 when none came back)."""
        rows = self.answerable
        return sum(1 / o.rank for o in rows if o.rank) / len(rows) if rows else 0.0

    def quote_right(self) -> float | None:
        """Share of right passages (of questions with an answer string) quoting the answer."""
        rows = [o.quoted for o in self.answerable if o.quoted is not None]
        return sum(rows) / len(rows) if rows else None

    def not_found_right(self) -> float | None:
        """Share of unanswerable questions answered "not found"."""
        return _share(self.unanswerable, "not_found")

    def wrongly_refused(self) -> float | None:
        """Share of answerable questions answered "not found" ("uncertain", which shows
        the passages, is not a refusal)."""
        return _share(self.answerable, "not_found")

    def uncertain(self) -> float | None:
        """Share of answerable questions answered "uncertain"."""
        return _share(self.answerable, "uncertain")

    def falsely_found(self) -> float | None:
        """Share of unanswerable questions answered as found."""
        return _share(self.unanswerable, "found")

    def latency_ms(self) -> tuple[float, float]:
        """Mean and 95th percentile of the time per question, in milliseconds."""
        times = sorted(o.seconds * 1000 for o in self.outcomes)
        if not times:
            return 0.0, 0.0
        return statistics.fmean(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]

    def by(self, key: str) -> dict[str, Report]:
        """Split the outcomes by an extra field of the questions (e.g. ``lang``)."""
        groups: dict[str, list[Outcome]] = {}
        for outcome in self.outcomes:
            groups.setdefault(str(outcome.item.extra.get(key, "-")), []).append(outcome)
        return {value: Report(self.mode, rows) for value, rows in sorted(groups.items())}

    def summary(self) -> dict[str, Any]:
        """The headline numbers, as a dict (for tables and JSON)."""
        mean, p95 = self.latency_ms()
        return {
            "mode": self.mode,
            "questions": len(self.outcomes),
            "answerable": len(self.answerable),
            "hit@1": round(self.hit_at(1), 3),
            "hit@3": round(self.hit_at(3), 3),
            "hit@5": round(self.hit_at(5), 3),
            "mrr@10": round(self.mrr(), 3),
            "answer@5": round(self.answer_hit_at(5), 3),
            "quote_right": _round(self.quote_right()),
            "not_found_right": _round(self.not_found_right()),
            "wrongly_refused": _round(self.wrongly_refused()),
            "uncertain": _round(self.uncertain()),
            "falsely_found": _round(self.falsely_found()),
            "latency_ms_mean": round(mean, 1),
            "latency_ms_p95": round(p95, 1),
        }

    def misses(self) -> list[dict[str, Any]]:
        """Answerable questions with no right passage in the results, and what came back."""
        return [
            {
                "question": o.item.question,
                "answer": o.item.answer,
                "article": o.item.article,
                **o.item.extra,
                "got": o.returned[:3],
            }
            for o in self.answerable
            if o.rank is None
        ]


def _share(rows: list[Outcome], confidence: Confidence) -> float | None:
    return sum(o.confidence == confidence for o in rows) / len(rows) if rows else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _squash(text: str) -> str:
    return _SPACE.sub("", text)


def load_eval_set(path: Path) -> list[EvalItem]:
    """Read a question set (see the module docstring).

    Raises:
        EvalSetError: A line is not JSON, has no question, or says nothing to check.
    """
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalSetError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not str(row.get("question", "")).strip():
            raise EvalSetError(f"{path}:{number}: no question")
        unanswerable = bool(row.pop("unanswerable", False))
        answer, article = row.pop("answer", None), row.pop("article", None) or None
        if not unanswerable and answer is None and article is None:
            raise EvalSetError(f"{path}:{number}: needs an answer, an article or unanswerable")
        question = row.pop("question")
        items.append(EvalItem(question, answer, article, unanswerable, row))
    return items


def evaluate(
    searcher: Searcher, items: Sequence[EvalItem], k: int = 10, mode: Mode | None = None
) -> Report:
    """Ask every question and score what comes back.

    Args:
        searcher: The searcher (index and model) to measure.
        items: The questions.
        k: How many passages to ask for (MRR is computed at this depth).
        mode: Retrieval mode (default: the searcher's).
    """
    if items:  # the first question pays for lazy loading (jieba, caches): not timed
        answer_question(searcher, items[0].question, k, mode=mode)
    outcomes = []
    for item in items:
        started = time.perf_counter()
        answer: Answer = answer_question(searcher, item.question, k, mode=mode)
        seconds = time.perf_counter() - started
        right = next((h for h in answer.hits if item.matches(h.chunk)), None)
        quoted = None
        if right is not None and item.answer is not None:
            quoted = _squash(item.answer) in _squash(right.quote)
        outcomes.append(
            Outcome(
                item=item,
                rank=right.rank if right else None,
                answer_rank=next((h.rank for h in answer.hits if item.holds_answer(h.chunk)), None),
                quoted=quoted,
                found=answer.found,
                confidence=answer.confidence,
                relevance=answer.relevance,
                seconds=seconds,
                returned=[f"《{h.chunk.headline}》{h.quote[:60]}" for h in answer.hits],
            )
        )
    return Report(mode=mode or searcher.mode, outcomes=outcomes)
