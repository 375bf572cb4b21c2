"""Benchmark the whole pipeline on N corpus issues: ingest speed, index size, memory, latency.

Usage:
    python benchmarks/pipeline.py [--issues 100] [--corpus ../shared/corpus] [--queries 200]

Ingests the first N issues of the corpus into a fresh temporary index, ingests them again
(unchanged: skipped) and then issue N+1 alone (the daily case), then asks
questions made from the ingested articles' headlines (a realistic mix of lengths).
Reports chunks/second with the time split by step, the index's size on disk, peak
resident memory (of the ingest, and of a fresh process serving the index as the bot
does), and query latency p50/p95 (query embedding included), both for the search alone
and for the whole answer (search + quotes). Prints JSON as well, for records.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from retrieval.answer import answer_question
from retrieval.embed import load_embedder
from retrieval.ingest import ingest
from retrieval.search import Searcher

ROOT = Path(__file__).resolve().parent.parent


def _folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_SERVE = """
import sys, psutil
from pathlib import Path
from retrieval.answer import answer_question
from retrieval.embed import load_embedder
from retrieval.search import Searcher
searcher = Searcher(Path(sys.argv[1]), load_embedder())
for q in sys.argv[2:]:
    answer_question(searcher, q)
print(psutil.Process().memory_info().rss)
"""


def _serving_rss_mb(index_dir: Path, questions: list[str]) -> int:
    """Resident memory of a fresh process serving this index (what the bot holds)."""
    out = subprocess.run(
        [sys.executable, "-c", _SERVE, str(index_dir), *questions],
        capture_output=True,
        text=True,
        check=True,
    )
    return round(int(out.stdout.split()[-1]) / 2**20)


def _questions(corpus: Path, issues: list[Path], n: int, seed: int) -> list[str]:
    names = {p.stem for p in issues}
    titles = [
        row["title"]
        for row in map(json.loads, (corpus / "manifest.jsonl").open(encoding="utf-8"))
        if row["issue"] in names
    ]
    rng = random.Random(seed)
    # Headlines cut to a question-like length: readers type a phrase, not the title.
    return [t[: rng.randint(6, 20)] for t in rng.sample(titles, min(n, len(titles)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=100)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--index", type=Path, help="index folder (default: a temporary one)")
    args = parser.parse_args()

    files = sorted((args.corpus / "issues").glob("*.txt"))[: args.issues]
    if not files:
        sys.exit(f"no issues under {args.corpus / 'issues'}")
    results: dict[str, object] = {"issues": len(files)}

    started = time.perf_counter()
    embedder = load_embedder()
    results["model_load_s"] = round(time.perf_counter() - started, 2)

    with tempfile.TemporaryDirectory() as tmp:
        index_dir = args.index or Path(tmp) / "index"
        report = ingest(files, index_dir, embedder, progress=True)
        results.update(
            ingest_s=round(report.seconds, 1),
            chunks=report.chunks,
            embedded=report.embedded,
            chunks_per_s=round(report.chunks / report.seconds, 1),
            embed_chunks_per_s=round(report.embedded / report.timings["embed"], 1)
            if report.embedded
            else None,
            timings_s={k: round(v, 2) for k, v in report.timings.items()},
            index_mb=round(_folder_size(index_dir) / 2**20, 1),
            failed=len(report.failed),
        )

        # Re-ingest: unchanged files must cost next to nothing.
        again = ingest(files, index_dir, embedder)
        results["reingest_unchanged_s"] = round(again.seconds, 2)

        # One new issue on top of the others costs its own chunks only.
        extra = sorted((args.corpus / "issues").glob("*.txt"))[args.issues : args.issues + 1]
        if extra:
            one = ingest(extra, index_dir, embedder)
            results.update(
                add_one_issue_s=round(one.seconds, 1),
                add_one_issue_chunks=one.chunks,
                add_one_issue_timings_s={k: round(v, 2) for k, v in one.timings.items()},
            )

        searcher = Searcher(index_dir, embedder)
        questions = _questions(args.corpus, files, args.queries, args.seed)
        for q in questions[:5]:  # warm-up: first calls allocate
            answer_question(searcher, q)
        # Query vectors are cached, so a question is timed once: half of them for the
        # search alone, the other half for the whole answer.
        search_ms, answer_ms = [], []
        for i, q in enumerate(questions[5:]):
            t0 = time.perf_counter()
            if i % 2:
                answer_question(searcher, q, 5)
                answer_ms.append((time.perf_counter() - t0) * 1000)
            else:
                searcher.search(q, 5)
                search_ms.append((time.perf_counter() - t0) * 1000)
        results.update(
            queries=len(questions) - 5,
            search_ms_p50=round(statistics.median(search_ms), 1),
            search_ms_p95=round(_percentile(search_ms, 0.95), 1),
            answer_ms_p50=round(statistics.median(answer_ms), 1),
            answer_ms_p95=round(_percentile(answer_ms, 0.95), 1),
            peak_rss_mb=round(_peak_rss_mb()),
            serving_rss_mb=_serving_rss_mb(index_dir, questions[:20]),
        )

    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
