"""Benchmark the whole pipeline on N corpus issues: ingest speed, index size, memory, latency.

Usage:
    python benchmarks/pipeline.py [--issues 100] [--corpus ../shared/corpus] [--queries 200]
        [--embedder onnx --embedder torch]

Ingests the first N issues of the corpus into a fresh temporary index, ingests them again
(unchanged: skipped) and then issue N+1 alone (the daily case), then asks
questions made from the ingested articles' headlines (a realistic mix of lengths).
Reports chunks/second with the time split by step, the index's size on disk, peak
resident memory (of the ingest, and of a fresh process serving the index as the bot
does), and query latency p50/p95 (query embedding included), both for the search alone
and for the whole answer (search + quotes); the query embedding alone (p50, uncached);
and the wall time of a one-shot `bulletin-qa ask` (a new process, as a script pays it).
Each embedder (default: onnx, the default one, and torch) runs in a process of its own, so that
memory and start-up are its own; the rows are printed side by side, and as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from retrieval.answer import answer_question
from retrieval.config import EMBEDDERS
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
searcher = Searcher(Path(sys.argv[1]), load_embedder(kind=sys.argv[2]))
for q in sys.argv[3:]:
    answer_question(searcher, q)
print(psutil.Process().memory_info().rss)
"""


# One-shot answers timed per embedder: the median of this many runs.
_ASK_RUNS = 3
# Questions whose embedding is timed alone (uncached).
_EMBED_RUNS = 50


def _serving_rss_mb(index_dir: Path, kind: str, questions: list[str]) -> int:
    """Resident memory of a fresh process serving this index (what the bot holds)."""
    out = subprocess.run(
        [sys.executable, "-c", _SERVE, str(index_dir), kind, *questions],
        capture_output=True,
        text=True,
        check=True,
    )
    return round(int(out.stdout.split()[-1]) / 2**20)


def _ask_wall_s(index_dir: Path, kind: str, question: str) -> float:
    """Median wall time of `bulletin-qa ask` in a new process, as a local script runs it."""
    script = Path(sys.executable).with_name("bulletin-qa")  # installed beside the interpreter
    command = [str(script), "ask", "--index", str(index_dir)]
    env = {**os.environ, "BULLETIN_QA_EMBEDDER": kind}
    times = []
    for _ in range(_ASK_RUNS):
        t0 = time.perf_counter()
        subprocess.run([*command, question], capture_output=True, check=True, env=env)
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 2)


def _query_embed_ms_p50(embedder: object, questions: list[str]) -> float:
    """Median time to embed one question, past the embedder's cache of recent ones."""
    uncached = type(embedder)._embed_query.__wrapped__  # type: ignore[attr-defined]
    times = []
    for q in (questions * _EMBED_RUNS)[:_EMBED_RUNS]:
        t0 = time.perf_counter()
        uncached(embedder, q)
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 1)


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
    parser.add_argument(
        "--embedder",
        action="append",
        choices=EMBEDDERS,
        help="embedder to measure; repeatable (default: onnx and torch)",
    )
    parser.add_argument("--one", choices=EMBEDDERS, help=argparse.SUPPRESS)  # a child run
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_run(args, args.one), ensure_ascii=False))
        return

    rows: dict[str, dict[str, object]] = {}
    for kind in args.embedder or ["onnx", "torch"]:
        # Every option but --embedder, passed on to the child.
        passed = ["--issues", str(args.issues), "--corpus", str(args.corpus)]
        passed += ["--queries", str(args.queries), "--seed", str(args.seed)]
        if args.index:
            passed += ["--index", str(args.index / kind)]
        out = subprocess.run(
            [sys.executable, __file__, *passed, "--one", kind],
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        rows[kind] = json.loads(out.stdout.splitlines()[-1])

    keys = list(dict.fromkeys(k for row in rows.values() for k in row))
    width = max(map(len, keys))
    print(f"{'':<{width}}  " + "  ".join(f"{kind:>12}" for kind in rows))
    for key in keys:
        values = [str(row.get(key, "")) for row in rows.values()]
        if all(len(v) <= 12 for v in values):  # the per-step timings are in the JSON
            print(f"{key:<{width}}  " + "  ".join(f"{v:>12}" for v in values))
    print(json.dumps(rows, ensure_ascii=False))


def _run(args: argparse.Namespace, kind: str) -> dict[str, object]:
    """Measure one embedder; returns the results (progress goes to standard error)."""
    files = sorted((args.corpus / "issues").glob("*.txt"))[: args.issues]
    if not files:
        sys.exit(f"no issues under {args.corpus / 'issues'}")
    results: dict[str, object] = {"issues": len(files)}

    started = time.perf_counter()
    embedder = load_embedder(kind=kind)
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
            query_embed_ms_p50=_query_embed_ms_p50(embedder, questions),
            peak_rss_mb=round(_peak_rss_mb()),
            serving_rss_mb=_serving_rss_mb(index_dir, kind, questions[:20]),
            ask_wall_s=_ask_wall_s(index_dir, kind, questions[0]),
        )
    return results


if __name__ == "__main__":
    main()
