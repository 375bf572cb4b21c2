"""The two index backends side by side on the same content: quality, speed, migration.

Usage:
    python benchmarks/store_backends.py --index DIR --milvus milvus:FILE.db
        [--questions benchmarks/eval/questions.jsonl] [--ingest 2024-05-01,2024-05-02]
        [--corpus ../shared/corpus] [--json out.json] [--skip-local]

The folder index ``--index`` (the eval index, say) is copied into the Milvus location
``--milvus`` with :func:`retrieval.store.migrate.migrate` (timed: the store's write rate
without any embedding). Then, on each backend in turn:

* the eval questions are asked in every mode: hit@1, hit@5 and MRR@10 (the same numbers
  as ``bulletin-qa eval``), which should agree within 0.01;
* each question is searched again, timed: p50 and p95 per mode, embedding the question
  included (the same work on both backends, some 7 ms; lexical mode embeds nothing);
* a few corpus issues (``--ingest``) are ingested into a new, empty index of that backend
  (embedding included, so both embed the same text): chunks per second.

Run it on an idle machine: the two backends are measured one after the other.
``--skip-local`` measures the Milvus backend alone (the folder index is still copied
from), to try a change to it in half the time; the folder backend's numbers are then
reported as not measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python benchmarks/store_backends.py`
    sys.path.insert(0, str(ROOT))

from retrieval.embed import load_embedder  # noqa: E402
from retrieval.evaluate import evaluate, load_eval_set  # noqa: E402
from retrieval.ingest import ingest  # noqa: E402
from retrieval.search import MODES, Searcher  # noqa: E402
from retrieval.store import Store, open_store  # noqa: E402
from retrieval.store.migrate import migrate  # noqa: E402

# What the folder backend's numbers are with --skip-local.
NOT_MEASURED = "not measured"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(store: Store, embedder, questions: Path) -> dict:
    """Eval numbers and search latency of one backend."""
    searcher = Searcher(store, embedder)
    items = load_eval_set(questions)
    out: dict = {"chunks": searcher.index.size}
    for mode in MODES:
        summary = evaluate(searcher, items, k=10, mode=mode).summary()
        latencies = []
        for item in items:
            started = time.perf_counter()
            searcher.search(item.question, 10, mode=mode)
            latencies.append((time.perf_counter() - started) * 1000)
        out[mode] = {
            "hit@1": summary["hit@1"],
            "hit@5": summary["hit@5"],
            "mrr@10": summary["mrr@10"],
            "search_ms_p50": round(statistics.median(latencies), 1),
            "search_ms_p95": round(_percentile(latencies, 0.95), 1),
        }
    return out


def ingest_rate(location: str, embedder, files: list[Path]) -> dict:
    """Ingest ``files`` into a new index at ``location``: chunks per second."""
    report = ingest(files, open_store(location), embedder)
    if not report.ok:
        sys.exit(f"ingest into {location} failed: {report.failed}")
    return {
        "chunks": report.chunks,
        "seconds": round(report.seconds, 1),
        "chunks_per_s": round(report.chunks / report.seconds, 1),
        "timings_s": {step: round(s, 1) for step, s in report.timings.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True, help="the folder index to start from")
    parser.add_argument("--milvus", required=True, help="a new Milvus location to copy it to")
    parser.add_argument("--questions", type=Path, default=ROOT / "benchmarks/eval/questions.jsonl")
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument(
        "--ingest",
        default="2024-05-01,2024-05-02,2024-05-03,2024-05-04,2024-05-05",
        help="corpus issues ingested into new indexes of both backends",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--skip-local",
        action="store_true",
        help="measure the Milvus backend only (the folder backend's numbers: not measured)",
    )
    args = parser.parse_args()

    embedder = load_embedder()
    local, milvus = open_store(args.index), open_store(args.milvus)
    moved = migrate(local, milvus)
    results: dict = {
        "migrate": {
            "issues": len(moved.copied),
            "chunks": moved.chunks,
            "seconds": round(moved.seconds, 1),
            "chunks_per_s": round(moved.chunks / moved.seconds, 1) if moved.seconds else None,
        }
    }
    print(f"migrate: {results['migrate']}", file=sys.stderr)
    for name, store in (("local", local), ("milvus", milvus)):
        if name == "local" and args.skip_local:
            results[name] = NOT_MEASURED
        else:
            results[name] = measure(store, embedder, args.questions)
        print(f"{name}: {results[name]}", file=sys.stderr)
    files = [args.corpus / "issues" / f"{issue}.txt" for issue in args.ingest.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        results["ingest"] = {
            "local": (
                NOT_MEASURED
                if args.skip_local
                else ingest_rate(str(Path(tmp) / "index"), embedder, files)
            ),
            "milvus": ingest_rate(f"milvus:{Path(tmp) / 'ingest.db'}", embedder, files),
        }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
