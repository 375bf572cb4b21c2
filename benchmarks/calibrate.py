"""Calibrate the "not found" rule on a question set with unanswerable questions.

Usage:
    python benchmarks/calibrate.py benchmarks/eval/questions.jsonl --index DIR [--mode hybrid]

Asks every question once, then sweeps the rule's constants (see retrieval/answer.py:
a passage answers when it has the form of answer asked for, its cosine reaches MIN_DENSE
and, for a question in Chinese, its coverage of the question's words reaches
MIN_COVERAGE) and prints, for
the best settings, the share of unanswerable questions answered "not found" against the
share of answerable ones wrongly refused. The chosen constants are then written into
retrieval/answer.py by hand.
"""

from __future__ import annotations

import argparse
from itertools import product
from pathlib import Path

import numpy as np

from retrieval.embed import load_embedder
from retrieval.evaluate import evaluate, load_eval_set
from retrieval.search import MODES, Searcher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--mode", choices=MODES, default="hybrid")
    parser.add_argument("--max-refused", type=float, default=0.05)
    args = parser.parse_args()

    report = evaluate(
        Searcher(args.index, load_embedder()), load_eval_set(args.questions), mode=args.mode
    )
    answerable = report.answerable
    unanswerable = report.unanswerable
    # Coverage is None for a question without Chinese (see retrieval.answer.Relevance).
    cjk_a = np.array([o.relevance.coverage is not None for o in answerable])
    cjk_u = np.array([o.relevance.coverage is not None for o in unanswerable])
    form_a = np.array([o.relevance.has_answer_form for o in answerable])
    form_u = np.array([o.relevance.has_answer_form for o in unanswerable])
    dense_a = np.array([o.relevance.dense or 0.0 for o in answerable])
    cover_a = np.array([o.relevance.coverage or 0.0 for o in answerable])
    dense_u = np.array([o.relevance.dense or 0.0 for o in unanswerable])
    cover_u = np.array([o.relevance.coverage or 0.0 for o in unanswerable])

    results = []
    for min_dense, min_coverage in product(
        np.arange(0.70, 0.96, 0.005), np.arange(0.0, 0.81, 0.05)
    ):
        found_a = form_a & (dense_a >= min_dense) & ((cover_a >= min_coverage) | ~cjk_a)
        found_u = form_u & (dense_u >= min_dense) & ((cover_u >= min_coverage) | ~cjk_u)
        refused = float(np.mean(~found_a))
        right = float(np.mean(~found_u))
        if refused <= args.max_refused:
            results.append((right, -refused, min_dense, min_coverage))
    results.sort(reverse=True)
    print("not_found_right  wrongly_refused  MIN_DENSE  MIN_COVERAGE")
    for right, neg_refused, min_dense, min_coverage in results[:10]:
        print(f"{right:15.3f}  {-neg_refused:15.3f}  {min_dense:9.3f}  {min_coverage:12.2f}")
    print(
        f"\nanswer form missing: {np.mean(~form_u):.3f} of unanswerable, "
        f"{np.mean(~form_a):.3f} of answerable"
    )
    print(
        f"current rule: not found right {report.not_found_right():.3f}, "
        f"wrongly refused {report.wrongly_refused():.3f}"
    )


if __name__ == "__main__":
    main()
