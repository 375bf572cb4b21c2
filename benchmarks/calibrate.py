"""Calibrate the rules of the three outcomes on a question set with unanswerable questions.

Usage:
    python benchmarks/calibrate.py benchmarks/eval/questions.jsonl --index DIR [--mode hybrid]
        [--max-refused 0.01]

Asks every question once, then sweeps the constants of retrieval/answer.py:

* "found": the best passage's quote has the form of answer asked for, its cosine
  reaches MIN_DENSE and, for a question in Chinese, its coverage of the question's words
  reaches MIN_COVERAGE;
* "not found": the best passage is not even on the topic: its cosine is under
  MIN_TOPIC_DENSE or (Chinese) its coverage is at most MIN_TOPIC_COVERAGE; optionally
  also when the asked form of answer is missing from the top passages;
* "uncertain": the rest.

For "not found" it prints the settings that turn away the most unanswerable questions
while refusing at most ``--max-refused`` of the answerable ones (uncertain is not a
refusal), and for "found" the usual trade-off. The chosen constants are then written
into retrieval/answer.py by hand.
"""

from __future__ import annotations

import argparse
from itertools import product
from pathlib import Path

import numpy as np

from retrieval.embed import load_embedder
from retrieval.evaluate import Outcome, evaluate, load_eval_set
from retrieval.search import MODES, Searcher


def _features(rows: list[Outcome]) -> dict[str, np.ndarray]:
    # Coverage is None for a question without Chinese (see retrieval.answer.Relevance).
    return {
        "cjk": np.array([o.relevance.coverage is not None for o in rows]),
        "form": np.array([o.relevance.has_answer_form for o in rows]),
        "dense": np.array([o.relevance.dense or 0.0 for o in rows]),
        "cover": np.array([o.relevance.coverage or 0.0 for o in rows]),
    }


def _not_found(f: dict[str, np.ndarray], dense: float, cover: float, form: bool) -> np.ndarray:
    off_topic = (f["dense"] < dense) | (f["cjk"] & (f["cover"] <= cover))
    return off_topic | (~f["form"]) if form else off_topic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--mode", choices=MODES, default="hybrid")
    parser.add_argument("--max-refused", type=float, default=0.01)
    args = parser.parse_args()

    report = evaluate(
        Searcher(args.index, load_embedder()), load_eval_set(args.questions), mode=args.mode
    )
    a, u = _features(report.answerable), _features(report.unanswerable)

    results = []
    for dense, cover, form in product(
        np.arange(0.60, 0.85, 0.005), np.arange(0.0, 0.61, 0.025), (False, True)
    ):
        refused = float(np.mean(_not_found(a, dense, cover, form)))
        right = float(np.mean(_not_found(u, dense, cover, form)))
        if refused <= args.max_refused:
            results.append((right, -refused, dense, cover, form))
    results.sort(reverse=True)
    print("not found: right  wrongly_refused  MIN_TOPIC_DENSE  MIN_TOPIC_COVERAGE  +form")
    for right, neg_refused, dense, cover, form in results[:10]:
        print(f"{right:16.3f}  {-neg_refused:15.3f}  {dense:15.3f}  {cover:18.3f}  {form}")

    print("\nfound: share of answerable found  unanswerable found  MIN_DENSE  MIN_COVERAGE")
    for dense, cover in product(np.arange(0.70, 0.80, 0.01), (0.1, 0.15, 0.2, 0.3)):
        found_a = a["form"] & (a["dense"] >= dense) & ((a["cover"] >= cover) | ~a["cjk"])
        found_u = u["form"] & (u["dense"] >= dense) & ((u["cover"] >= cover) | ~u["cjk"])
        print(f"{np.mean(found_a):33.3f}  {np.mean(found_u):18.3f}  {dense:9.3f}  {cover:12.2f}")
    summary = report.summary()
    print(
        f"\ncurrent rules: not found right {summary['not_found_right']}, wrongly refused "
        f"{summary['wrongly_refused']}, answerable uncertain {summary['uncertain']}, "
        f"unanswerable found {summary['falsely_found']}"
    )


if __name__ == "__main__":
    main()
