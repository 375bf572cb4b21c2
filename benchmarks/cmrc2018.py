"""Retrieval on a public Chinese QA set (CMRC 2018 trial) among thousands of distractors.

Usage:
    python benchmarks/cmrc2018.py [--evalset ../shared/evalsets/cmrc2018-trial]
        [--corpus ../shared/corpus] [--distractors 100] [--index DIR_OR_MILVUS]
        [--out benchmarks/results/cmrc2018.json]

The 256 CMRC passages (Wikipedia articles, CC BY-SA) are written as one bulletin issue in
the corpus layout, one article per passage with its title as headline, and ingested with
the first N corpus issues as distractors, into a temporary folder or into ``--index``
(which they are added to: pass a copy of an index that has the distractors already, and
only the CMRC passages are embedded). Each of the 1,000 non-empty questions is then asked in every
retrieval mode; a hit is a passage of the question's gold article (passage-level, like
the issue's reference numbers). Asked once more (hybrid) with their answer strings, they
give quote_right: how often the right passage's quote holds the answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from retrieval.embed import load_embedder
from retrieval.evaluate import EvalItem, evaluate
from retrieval.ingest import ingest
from retrieval.search import MODES, Searcher
from retrieval.store import open_store

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ISSUE_NAME = "2000-01-01_cmrc2018.txt"


def write_issue(passages: list[dict], path: Path) -> None:
    """Write the passages as one issue in the corpus layout (headline, blank line, body)."""
    parts = [
        "CMRC 2018 试验集",
        f"2000年1月1日 星期六　第1期　本期{len(passages)}篇",
        "资料来源：CMRC 2018 trial（CC BY-SA 4.0）",
        "",
    ]
    for passage in passages:
        parts += ["========================", passage["title"], "", passage["text"], ""]
    path.write_text("\n".join(parts), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = ROOT.parent / "shared"
    parser.add_argument("--evalset", type=Path, default=shared / "evalsets" / "cmrc2018-trial")
    parser.add_argument("--corpus", type=Path, default=shared / "corpus")
    parser.add_argument("--distractors", type=int, default=100, help="corpus issues added")
    parser.add_argument(
        "--index",
        help="index folder or Milvus location, e.g. milvus:FILE.db (default: a temporary folder)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "cmrc2018.json")
    args = parser.parse_args()

    passages = [json.loads(line) for line in (args.evalset / "passages.jsonl").open()]
    titles = {p["id"]: p["title"] for p in passages}
    questions = [
        q
        for q in map(json.loads, (args.evalset / "questions.jsonl").open())
        if q["question"].strip()  # two of the trial questions are empty
    ]
    items = [EvalItem(q["question"], article=titles[q["passage_id"]]) for q in questions]
    # The same questions with their answer strings: does the right passage's quote hold it?
    answered = [
        EvalItem(q["question"], answer=q["answer"], article=titles[q["passage_id"]])
        for q in questions
    ]
    distractors = sorted((args.corpus / "issues").glob("*.txt"))[: args.distractors]

    embedder = load_embedder()
    with tempfile.TemporaryDirectory() as tmp:
        issue = Path(tmp) / ISSUE_NAME
        write_issue(passages, issue)
        index = open_store(args.index or Path(tmp) / "index")
        report = ingest([issue, *distractors], index, embedder, progress=sys.stderr.isatty())
        if not report.ok:
            sys.exit(f"ingest failed: {report.failed}")
        columns = ("mode", "hit@1", "hit@3", "hit@5", "mrr@10", "latency_ms_mean")
        rows = []
        for mode, fusion in [(m, "convex") for m in MODES] + [("hybrid", "rrf")]:
            searcher = Searcher(index, embedder, fusion=fusion)
            summary = evaluate(searcher, items, k=10, mode=mode).summary()
            label = f"{mode} ({fusion})" if mode == "hybrid" else mode
            rows.append({**{c: summary[c] for c in columns}, "mode": label})
        chunks = searcher.index.size
        quotes = evaluate(Searcher(index, embedder), answered, k=10, mode="hybrid").summary()
    print(f"{len(items)} questions, {len(passages)} gold passages among {chunks} chunks")
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[c]) for c in columns))
    print(
        f"hybrid (convex), hit = a passage of the gold article holding the answer string: "
        f"hit@5 {quotes['hit@5']}, quote_right {quotes['quote_right']}"
    )
    rows.append({"mode": "hybrid (convex), answer strings", **quotes})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
