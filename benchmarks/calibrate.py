"""Calibrate the "not found" rule on a question set with unanswerable questions.

Usage:
    python benchmarks/calibrate.py benchmarks/eval/questions.jsonl --index DIR [--mode hybrid]

Asks every question once, then sweeps the rule's constants (see retrieval/answer.py:
DENSE_FLOOR, COVERAGE_WEIGHT, FOUND_THRESHOLD) and prints, for the best settings, the
share of unanswerable questions answered "not found" against the share of answerable ones
wrongly refused. The chosen constants are then written into retrieval/answer.py by hand.
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
    dense_a = np.array([o.relevance.dense or 0.0 for o in answerable])
    cover_a = np.array([o.relevance.coverage for o in answerable])
    dense_u = np.array([o.relevance.dense or 0.0 for o in unanswerable])
    cover_u = np.array([o.relevance.coverage for o in unanswerable])

    results = []
    for floor, weight in product(np.arange(0.70, 0.90, 0.01), np.arange(0.0, 1.01, 0.05)):
        conf_a = (1 - weight) * (dense_a - floor) / (1 - floor) + weight * cover_a
        conf_u = (1 - weight) * (dense_u - floor) / (1 - floor) + weight * cover_u
        for threshold in np.unique(np.concatenate([conf_a, conf_u])):
            refused = float(np.mean(conf_a < threshold))
            right = float(np.mean(conf_u < threshold))
            if refused <= args.max_refused:
                results.append((right, -refused, floor, weight, threshold))
    results.sort(reverse=True)
    print("not_found_right  wrongly_refused  DENSE_FLOOR  COVERAGE_WEIGHT  FOUND_THRESHOLD")
    for right, neg_refused, floor, weight, threshold in results[:15]:
        print(
            f"{right:15.3f}  {-neg_refused:15.3f}  {floor:11.2f}  {weight:15.2f}  {threshold:15.4f}"
        )
    print(
        f"\ncurrent rule: not found right {report.not_found_right():.3f}, "
        f"wrongly refused {report.wrongly_refused():.3f}"
    )


if __name__ == "__main__":
    main()
