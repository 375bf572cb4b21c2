"""Calibrate which passages the bot shows first, and measure what a phone shows of an answer.

Usage:
    python benchmarks/answer_layout.py benchmarks/eval/questions.jsonl --index DIR [--json OUT]

Asks every question once, as the bot does (its number of passages, the default retrieval),
then for each score margin chooses the first page as the bot does (``bot.format.first_page``:
passages within the margin of the best, while the reply stays within ``GLANCE`` visible
characters; ``--no-glance``: the margin alone) and reports, over the questions the bot
answers (the bot's margin is ``ANSWER_MARGIN`` in retrieval/config.py):

- how many passages the first page shows (of ``--page``, the bot's 3);
- how many passages of that page wait behind "更多" and how many of those are right (as
  ``bulletin-qa eval`` counts it: the answer string in the article asked about); how
  often the question's first right passage was on the page but hidden, or shown; how
  often the first passage holding the answer string (any article) was hidden;
- over all questions, the visible length of the first message (text outside expandable
  blockquotes, in UTF-16 units as Telegram counts): median, 90th percentile, and the share
  within ``GLANCE`` (600) characters.

The chosen margin is then written into retrieval/config.py by hand.
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from bot import format as fmt
from bot.handlers import MAX_RESULTS
from retrieval.answer import Answer, answer_question
from retrieval.config import ANSWER_MARGIN
from retrieval.embed import load_embedder
from retrieval.evaluate import EvalItem, load_eval_set
from retrieval.search import Searcher

MARGINS = [round(0.025 * i, 3) for i in range(21)] + [1.0]


@dataclass
class Asked:
    """One question and what the bot would get for it."""

    item: EvalItem
    answer: Answer
    # 1-based rank of the first right passage and of the first holding the answer string.
    right: int | None
    holding: int | None


def shown(answer: Answer, margin: float, page: int, glance: bool) -> int:
    """How many passages the first page of the bot's reply shows."""
    if not answer.found:
        return 0
    hits = answer.hits[:page]
    if glance:
        return len(fmt.first_page(answer.question, hits, margin))
    return len(fmt.close_to_best(hits, margin))


def measure(asked: list[Asked], margin: float, page: int, glance: bool) -> dict[str, float]:
    """The first page's numbers at one margin (see the module docstring)."""
    shown_counts: list[int] = []
    on_page = hidden = shown_right = holding_on_page = holding_hidden = 0
    passages_hidden = right_passages_hidden = 0
    lengths = []
    for a in asked:
        count = shown(a.answer, margin, page, glance)
        first = fmt.answer_runs(a.answer.question, a.answer.hits[:count])[0]
        lengths.append(fmt.visible_length(first))
        if not a.answer.found:
            continue
        shown_counts.append(count)
        left_out = a.answer.hits[count:page]
        passages_hidden += len(left_out)
        right_passages_hidden += sum(a.item.matches(hit.chunk) for hit in left_out)
        if a.right is not None and a.right <= page:
            on_page += 1
            hidden += a.right > count
            shown_right += a.right <= count
        if a.holding is not None and a.holding <= page:
            holding_on_page += 1
            holding_hidden += a.holding > count
    lengths.sort()
    found = len(shown_counts)
    return {
        "margin": margin,
        "answered": found,
        "shown_mean": round(statistics.fmean(shown_counts), 3) if found else 0.0,
        **{f"shown_{n}": sum(c == n for c in shown_counts) for n in range(1, page + 1)},
        "hidden": passages_hidden,
        "hidden_right": right_passages_hidden,
        "right_on_page": on_page,
        "right_hidden": hidden,
        "right_shown": shown_right,
        "holding_on_page": holding_on_page,
        "holding_hidden": holding_hidden,
        "visible_p50": lengths[len(lengths) // 2],
        "visible_p90": lengths[min(len(lengths) - 1, round(0.9 * (len(lengths) - 1)))],
        "within_glance": round(sum(n <= fmt.GLANCE for n in lengths) / len(lengths), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--page", type=int, default=3, help="passages per page (the bot's 3)")
    parser.add_argument(
        "--no-glance", action="store_true", help="the margin alone, without the GLANCE limit"
    )
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args()

    searcher = Searcher(args.index, load_embedder())
    asked = []
    for item in load_eval_set(args.questions):
        answer = answer_question(searcher, item.question, MAX_RESULTS)
        asked.append(
            Asked(
                item,
                answer,
                next((h.rank for h in answer.hits if item.matches(h.chunk)), None),
                next((h.rank for h in answer.hits if item.holds_answer(h.chunk)), None),
            )
        )
    rows = [measure(asked, margin, args.page, not args.no_glance) for margin in MARGINS]
    columns = list(rows[0])
    print(" | ".join(columns))
    for row in rows:
        mark = "  <- ANSWER_MARGIN" if row["margin"] == ANSWER_MARGIN else ""
        print(" | ".join(str(row[c]) for c in columns) + mark)
    answered = [a.right for a in asked if not a.item.unanswerable and a.answer.found]
    later = sum(r is not None and 1 < r <= args.page for r in answered)
    print(
        f"\n{len(asked)} questions, {len(answered)} answerable ones answered; first right "
        f"passage at rank 1: {answered.count(1)}, at 2-{args.page}: {later}"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
