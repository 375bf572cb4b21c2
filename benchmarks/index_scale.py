"""Benchmark FAISS index types for the dense search by corpus size, to choose one by size.

Usage:
    python benchmarks/index_scale.py [--sizes 10000 100000 1000000] [--threads 2]
        [--index DIR | --fallback bundled|synthetic] [--exact-sizes 30000 150000 300000]
        [--candidates NAME ...] [--big NAME ...] [--max-build-minutes 45] [--out DIR]

Measures the index alone (no embedding, no SQLite) for each candidate at each size:
build (and training) time, single-query latency p50/p95 with k=50 (the product's candidate
depth) at ``--threads`` OpenMP threads and at 1, recall@10 and recall@50 against exact
float32 search on real questions, recall@10 under filters keeping 1% and 10% of the ids
(the product's ``allowed`` chunk ids) and the cost of exact search inside them, resident
memory per vector after ``read_index`` in a fresh process, size on disk and load time.
Every candidate is wrapped in ``IndexIDMap2`` as the product needs (chunk ids,
``reconstruct``, ``id_map``); a compatibility matrix checks what each supports (filters,
``remove_ids``, tombstones, ``reconstruct``, serialisation). ``--exact-sizes`` adds sizes
where only the exact candidates run, to place the threshold; HNSW builds above
``--big-size`` run only for the ``--big`` candidates, and a build whose time extrapolated
from the previous size exceeds ``--max-build-minutes`` is skipped (both are reported).

Data. Real passage vectors come from an index folder's embedding cache (``--index DIR``,
read only). Without one, the bundled ``data/bulletins`` are ingested into a temporary
index with the project's embedder (``--fallback bundled``, about a minute, but only ~180
passages: a thin base for the generator), or no real data is used at all
(``--fallback synthetic``: pseudo-real vectors and questions, numbers only indicative).
Questions are those of ``benchmarks/eval/questions.jsonl``, embedded once with the
project's embedder and cached in the output folder. Sizes above the real set are filled
with real-like vectors (see :class:`RealLike`); a calibration table compares their
statistics with the real set's at equal size, checks that growing a real subset with the
generator looks like real growth, and shows uniform random vectors for contrast (far
harder for HNSW/IVF than real embeddings).

Output: markdown tables on stdout and in ``OUT/index_scale-<time>.md``, raw numbers in
``OUT/index_scale-<time>.json`` (rewritten after every measurement). Run it niced on a
shared machine; the load average is recorded next to every row.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import json
import math
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "benchmarks" / "eval" / "questions.jsonl"
BUNDLED = ROOT / "data" / "bulletins"
K = 50  # retrieval.search.CANDIDATES: dense candidates per question
FILTER_SHARES = (0.01, 0.1)  # shares of ids kept by the filter checks (issues, date ranges)
# Real-like generator, calibrated on the eval index (6,145 e5-small passages): see RealLike.
NEIGHBOURS = 10
ANCHOR_WEIGHT = 6.0
NOISE = 0.35

_LOAD_CHILD = """
import gc, json, sys, time
import faiss, psutil
faiss.omp_set_num_threads(1)
proc = psutil.Process()
gc.collect()
before = proc.memory_info().rss
start = time.perf_counter()
index = faiss.read_index(sys.argv[1])
seconds = time.perf_counter() - start
after = proc.memory_info().rss
print(json.dumps({"load_s": seconds, "rss_bytes": after - before, "ntotal": index.ntotal}))
"""


def log(message: str) -> None:
    """Print a progress line with the time and the 1-minute load to stderr."""
    stamp = dt.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp} load {os.getloadavg()[0]:.2f}] {message}", file=sys.stderr, flush=True)


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, as float32."""
    x = np.asarray(x, dtype=np.float32)
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean share of each row's true top ``k`` ids found in its approximate top ``k``."""
    hits = [
        len(set(f[:k].tolist()) & set(t[:k].tolist()) - {-1})
        for f, t in zip(found, truth, strict=True)
    ]
    return float(np.mean(hits)) / k


# --------------------------------------------------------------------------- real data


@dataclass
class RealData:
    """Real passage and question vectors, and where they came from."""

    passages: np.ndarray
    queries: np.ndarray
    source: str
    model_id: str | None


def store_vectors(index_dir: Path) -> tuple[str, np.ndarray]:
    """The cached passage vectors of an index folder's store, opened read-only.

    Returns:
        The model id with most vectors, and its vectors as float32 rows.
    """
    path = index_dir / "store.sqlite"
    if not path.is_file():
        raise SystemExit(f"no store.sqlite in {index_dir}")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        model_id = conn.execute(
            "SELECT model_id FROM embeddings GROUP BY model_id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]
        rows = conn.execute(
            "SELECT vector FROM embeddings WHERE model_id = ? ORDER BY text_hash", (model_id,)
        ).fetchall()
    finally:
        conn.close()
    vectors = np.frombuffer(b"".join(r[0] for r in rows), dtype=np.float32)
    return model_id, normalise(vectors.reshape(len(rows), -1))


def embed_bundled() -> tuple[str, np.ndarray]:
    """Ingest the bundled bulletins into a temporary index and return their vectors."""
    from retrieval.embed import load_embedder
    from retrieval.ingest import ingest

    embedder = load_embedder()
    with tempfile.TemporaryDirectory() as tmp:
        log(f"embedding the bundled bulletins of {BUNDLED} (slow)")
        report = ingest([BUNDLED], Path(tmp) / "index", embedder, progress=True)
        if not report.ok:
            log(f"ingest failures: {report.failed}")
        model_id, vectors = store_vectors(Path(tmp) / "index")
    return model_id, vectors


def embed_questions(out: Path, model_id: str | None) -> np.ndarray | None:
    """The eval questions embedded with the project's embedder, cached as ``.npy`` in ``out``.

    Returns None when the embedder cannot be loaded (no model) and nothing is cached.
    """
    text = QUESTIONS.read_text(encoding="utf-8")
    questions = [json.loads(line)["question"] for line in text.splitlines() if line.strip()]
    digest = hashlib.sha256(f"{model_id}\n{text}".encode()).hexdigest()[:12]
    cache = out / f"queries-{digest}.npy"
    if model_id and cache.is_file():
        return np.load(cache)
    try:
        from retrieval.embed import load_embedder

        embedder = load_embedder()
    except Exception as exc:  # no model: the caller falls back to synthetic questions
        log(f"cannot load the embedder ({exc}): synthetic questions")
        return None
    if model_id and embedder.model_id != model_id:
        raise SystemExit(f"the index holds {model_id!r} vectors, the embedder is {embedder}")
    log(f"embedding {len(questions)} questions with {embedder.model_id}")
    queries = normalise(np.vstack([embedder.embed_query(q) for q in questions]))
    digest = hashlib.sha256(f"{embedder.model_id}\n{text}".encode()).hexdigest()[:12]
    np.save(out / f"queries-{digest}.npy", queries)
    return queries


def pseudo_real(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Stand-in for real passages when there are none: topics in a narrow cone.

    Mimics e5's geometry measured on the eval index: a dominant mean direction (norm of
    the mean vector ~0.94, mean pairwise cosine ~0.88), a slowly decaying spectrum, and
    passages grouped by topic. Only a fallback: the numbers it gives are indicative.
    """
    basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    scale = np.arange(1, dim + 1, dtype=np.float32) ** -0.45
    centre = basis[:, 0] * 3.0
    topics = rng.standard_normal((max(1, n // 30), dim)).astype(np.float32) * scale
    members = topics[rng.integers(0, len(topics), n)]
    members += 0.6 * rng.standard_normal((n, dim)).astype(np.float32) * scale
    return normalise(centre + members @ basis.T * 0.35)


def load_real(args: argparse.Namespace) -> RealData:
    """Real passages and questions according to ``--index`` and ``--fallback``."""
    if args.index:
        model_id, passages = store_vectors(args.index)
        source = f"real: {len(passages)} passage vectors from {args.index}/store.sqlite"
    elif args.fallback == "bundled":
        model_id, passages = embed_bundled()
        source = f"real: {len(passages)} passage vectors embedded from {BUNDLED}"
    else:
        model_id, passages = None, pseudo_real(6000, 384, np.random.default_rng(args.seed))
        source = "synthetic only: 6000 pseudo-real vectors (no real data), indicative"
    queries = embed_questions(args.out, model_id) if model_id else None
    if queries is None:
        rng = np.random.default_rng(args.seed + 1)
        # A passage plus isotropic noise of norm ~0.5: cosine ~0.89 to it, as real
        # questions have to their best passage (0.888 on the eval set).
        picks = passages[rng.choice(len(passages), 274, replace=False)]
        noise = rng.standard_normal(picks.shape).astype(np.float32) / np.sqrt(picks.shape[1])
        queries = normalise(picks + 0.5 * noise)
        source += "; questions: 274 synthetic (noisy passages)"
    else:
        source += f"; questions: {len(queries)} real, embedded from {QUESTIONS.name}"
    return RealData(passages, queries, source, model_id)


# ---------------------------------------------------------------------- real-like data


class RealLike:
    """Generates vectors shaped like a real set, to fill corpora larger than it.

    Each vector mixes a random real vector (the anchor) with two of its ``NEIGHBOURS``
    nearest real neighbours, with Dirichlet weights (ANCHOR_WEIGHT, 1, 1), adds Gaussian
    noise with the real set's covariance scaled by ``NOISE``, and is renormalised. Mixing
    with neighbours rather than random vectors keeps the local structure (a passage's
    near neighbours are other passages on the same story); noise with the real covariance
    keeps the spectrum. The constants were chosen so that a synthetic set of the real
    set's size matches its nearest-neighbour cosines, the questions' top-1/10/50 cosines
    and the recall of small IVF/HNSW indexes (see the calibration table).
    """

    def __init__(self, real: np.ndarray, threads: int) -> None:
        """Fit the generator: the real set's neighbours and principal axes."""
        faiss.omp_set_num_threads(threads)
        self.real = real
        flat = faiss.IndexFlatIP(real.shape[1])
        flat.add(real)
        _, neighbours = flat.search(real, NEIGHBOURS + 1)
        self.neighbours = neighbours[:, 1:]
        centred = real - real.mean(axis=0)
        values, vectors = np.linalg.eigh(np.cov(centred.T))
        # noise = g @ axes: g standard normal, axes rows scaled by the axes' std. deviations
        self.axes = (vectors * np.sqrt(np.clip(values, 0, None))).T.astype(np.float32)

    def sample(self, n: int, rng: np.random.Generator, block: int = 65536) -> np.ndarray:
        """``n`` new unit vectors."""
        out = np.empty((n, self.real.shape[1]), dtype=np.float32)
        for start in range(0, n, block):
            m = min(block, n - start)
            anchors = rng.integers(0, len(self.real), m)
            partners = self.neighbours[anchors[:, None], rng.integers(0, NEIGHBOURS, (m, 2))]
            w = rng.dirichlet([ANCHOR_WEIGHT, 1.0, 1.0], m).astype(np.float32)
            x = w[:, :1] * self.real[anchors] + np.einsum(
                "ij,ijd->id", w[:, 1:], self.real[partners]
            )
            x += NOISE * (rng.standard_normal((m, len(self.axes)), dtype=np.float32) @ self.axes)
            out[start : start + m] = normalise(x)
        return out


def corpus(real: np.ndarray, size: int, gen: RealLike, seed: int) -> np.ndarray:
    """``size`` vectors: the real ones (all, or a sample) topped up with real-like ones.

    Rows are shuffled so that a range of ids (the filter check) mixes both kinds.
    """
    rng = np.random.default_rng(seed + size)
    if size <= len(real):
        return np.ascontiguousarray(real[rng.choice(len(real), size, replace=False)])
    data = np.concatenate([real, gen.sample(size - len(real), rng)])
    return np.ascontiguousarray(data[rng.permutation(size)])


def set_stats(base: np.ndarray, queries: np.ndarray, threads: int, seed: int) -> dict[str, float]:
    """Statistics that make a vector set easy or hard to search approximately.

    Nearest-neighbour cosines of 2,000 sampled members, the questions' top-1/10/50
    cosines, the spectrum (share of variance in the top 8 and 64 axes), the norm of the
    mean vector, and the recall@10 of small IVF (64 lists) and HNSW (M 8) indexes.
    """
    faiss.omp_set_num_threads(threads)
    n, dim = base.shape
    rng = np.random.default_rng(seed)
    flat = faiss.IndexFlatIP(dim)
    flat.add(base)
    sample = base[rng.choice(n, min(n, 2000), replace=False)]
    member, _ = flat.search(sample, 11)
    top, truth = flat.search(queries, min(50, n))
    spectrum = np.sort(np.linalg.eigvalsh(np.cov((sample - sample.mean(axis=0)).T)))[::-1]
    stats = {
        "n": float(n),
        "nn1": float(member[:, 1].mean()),
        "nn1_p5": float(np.percentile(member[:, 1], 5)),
        "nn10": float(member[:, 10].mean()),
        "q_top1": float(top[:, 0].mean()),
        "q_top10": float(top[:, 9].mean()),
        "q_top50": float(top[:, 49].mean()) if n >= 50 else math.nan,
        "var_top8": float(spectrum[:8].sum() / spectrum.sum()),
        "var_top64": float(spectrum[:64].sum() / spectrum.sum()),
        "mean_norm": float(np.linalg.norm(base.mean(axis=0))),
    }
    if 1000 <= n <= 50_000:  # (a bundled-only real set is too small for these)
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, 64, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.seed = seed
        ivf.train(base)
        ivf.add(base)
        for nprobe in (1, 4):
            ivf.nprobe = nprobe
            stats[f"ivf64_nprobe{nprobe}"] = recall(ivf.search(queries, 10)[1], truth, 10)
        hnsw = faiss.IndexHNSWFlat(dim, 8, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 16
        hnsw.add(base)
        for ef in (10, 20):
            hnsw.hnsw.efSearch = ef
            stats[f"hnsw8_ef{ef}"] = recall(hnsw.search(queries, 10)[1], truth, 10)
    return stats


def calibration(
    real: np.ndarray,
    queries: np.ndarray,
    gen: RealLike,
    threads: int,
    seed: int,
    label: str = "real",
) -> list[dict[str, Any]]:
    """Real vs real-like vs uniform random sets of the real set's size and of 1/2 and 1/4
    of it, and real subsets grown to the full size by the generator."""
    rng = np.random.default_rng(seed)
    n, dim = real.shape
    rows: list[dict[str, Any]] = []
    for share in (0.25, 0.5, 1.0):
        m = int(n * share)
        pick = real[rng.choice(n, m, replace=False)]
        rows.append({"set": f"{label} ({share:g})", **set_stats(pick, queries, threads, seed)})
        rows.append(
            {
                "set": f"real-like ({share:g})",
                **set_stats(gen.sample(m, rng), queries, threads, seed),
            }
        )
    for share in (0.5, 0.25):
        # Growth check: a real subset topped up to n by a generator fitted on it alone,
        # against the whole real set: is synthetic growth like real growth?
        part = real[rng.choice(n, int(n * share), replace=False)]
        grown = np.concatenate([part, RealLike(part, threads).sample(n - len(part), rng)])
        rows.append(
            {"set": f"{label} ({share:g}) grown to 1", **set_stats(grown, queries, threads, seed)}
        )
    uniform = normalise(rng.standard_normal((n, dim)))
    rows.append({"set": "uniform random (1)", **set_stats(uniform, queries, threads, seed)})
    return rows


# ---------------------------------------------------------------------------- candidates


def nlist_for(n: int) -> int:
    """IVF lists: about 4·sqrt(N)."""
    return max(16, round(4 * math.sqrt(n)))


@dataclass(frozen=True)
class Candidate:
    """An index type with its build parameters and the search parameter it sweeps.

    Attributes:
        name: Short name used in tables and on the command line.
        family: ``exact`` (flat, possibly quantised), ``hnsw`` or ``ivf``.
        make: Builds the empty inner index for (dim, N).
        sweep: efSearch (HNSW) or nprobe (IVF) values; empty for exact search.
    """

    name: str
    family: str
    make: Callable[[int, int], faiss.Index]
    sweep: tuple[int, ...] = ()


def _hnsw(m: int, ef_construction: int, sq: bool) -> Callable[[int, int], faiss.Index]:
    def make(dim: int, n: int) -> faiss.Index:
        if sq:
            qtype = faiss.ScalarQuantizer.QT_fp16
            index = faiss.IndexHNSWSQ(dim, qtype, m, faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        return index

    return make


def _ivf(sq: bool) -> Callable[[int, int], faiss.Index]:
    def make(dim: int, n: int) -> faiss.Index:
        quantizer = faiss.IndexFlatIP(dim)
        if sq:
            qtype = faiss.ScalarQuantizer.QT_fp16
            index = faiss.IndexIVFScalarQuantizer(
                quantizer, dim, nlist_for(n), qtype, faiss.METRIC_INNER_PRODUCT
            )
        else:
            index = faiss.IndexIVFFlat(quantizer, dim, nlist_for(n), faiss.METRIC_INNER_PRODUCT)
        index.own_fields = True
        quantizer.this.disown()
        # k-means on at most 64 points per list: 1M vectors train in minutes, not an hour
        index.cp.max_points_per_centroid = 64
        index.cp.seed = 1234
        return index

    return make


def _sq(qtype: int) -> Callable[[int, int], faiss.Index]:
    def make(dim: int, n: int) -> faiss.Index:
        return faiss.IndexScalarQuantizer(dim, qtype, faiss.METRIC_INNER_PRODUCT)

    return make


EF_SEARCH = (32, 64, 128, 256, 512, 1024)
NPROBE = (8, 16, 32, 64, 128, 256)

CANDIDATES: dict[str, Candidate] = {
    c.name: c
    for c in [
        Candidate("flat", "exact", lambda dim, n: faiss.IndexFlatIP(dim)),
        Candidate("sq_fp16", "exact", _sq(faiss.ScalarQuantizer.QT_fp16)),
        Candidate("sq8", "exact", _sq(faiss.ScalarQuantizer.QT_8bit)),
        Candidate("hnsw32_efc40", "hnsw", _hnsw(32, 40, sq=False), EF_SEARCH),
        Candidate("hnsw32_efc100", "hnsw", _hnsw(32, 100, sq=False), EF_SEARCH),
        Candidate("hnsw32_efc200", "hnsw", _hnsw(32, 200, sq=False), EF_SEARCH),
        Candidate("hnsw32_fp16_efc200", "hnsw", _hnsw(32, 200, sq=True), EF_SEARCH),
        Candidate("hnsw48_fp16_efc200", "hnsw", _hnsw(48, 200, sq=True), EF_SEARCH),
        Candidate("ivf_flat", "ivf", _ivf(sq=False), NPROBE),
        Candidate("ivf_fp16", "ivf", _ivf(sq=True), NPROBE),
    ]
}


def set_search_param(index: faiss.Index, family: str, value: int) -> None:
    """Set efSearch or nprobe on an index, or on the index inside an ``IndexIDMap2``."""
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    if family == "hnsw":
        inner.hnsw.efSearch = value
    elif family == "ivf":
        inner.nprobe = value


def search_params(family: str, value: int | None, sel: faiss.IDSelector) -> Any:
    """Search parameters with a selector, as the product passes its ``allowed`` ids."""
    if family == "hnsw":
        params = faiss.SearchParametersHNSW()
        params.efSearch = value
    elif family == "ivf":
        params = faiss.SearchParametersIVF()
        params.nprobe = value
    else:
        params = faiss.SearchParameters()
    params.sel = sel
    return params


# --------------------------------------------------------------------------- measuring


@dataclass
class Row:
    """One measured (size, candidate, search parameter)."""

    size: int
    candidate: str
    param: str
    build_s: float
    train_s: float
    p50_ms: float
    p95_ms: float
    p50_1t_ms: float
    p95_1t_ms: float
    recall10: float
    recall50: float
    filtered_recall10: dict[float, float]
    exact_filtered: dict[float, tuple[float, float]]
    rss_bytes_per_vector: float
    disk_bytes_per_vector: float
    disk_mb: float
    load_s: float
    load1: float
    note: str = ""


@dataclass
class Results:
    """Everything measured, saved as JSON after every step."""

    started: str
    machine: dict[str, Any]
    source: str = ""
    command: str = ""
    calibration: list[dict[str, Any]] = field(default_factory=list)
    size_stats: list[dict[str, Any]] = field(default_factory=list)
    compat: list[dict[str, str]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def save(self, path: Path) -> None:
        """Write the results as JSON."""
        path.write_text(json.dumps(asdict(self), indent=1, ensure_ascii=False))


def machine() -> dict[str, Any]:
    """The machine and library versions."""
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "faiss": faiss.__version__,
        "faiss_opts": faiss.get_compile_options(),
        "numpy": np.__version__,
        "load_at_start": os.getloadavg(),
    }


def latencies(index: faiss.Index, queries: np.ndarray, threads: int) -> tuple[float, float]:
    """p50 and p95 in ms of single-query searches (k=K) with ``threads`` OpenMP threads."""
    faiss.omp_set_num_threads(threads)
    for q in queries[:5]:
        index.search(q[None, :], K)
    times = []
    for q in queries:
        start = time.perf_counter()
        index.search(q[None, :], K)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def rows_of(ids: np.ndarray) -> np.ndarray:
    """Row numbers of the ids 1..N given to the index; -1 (no result) stays -1."""
    return np.where(ids < 0, -1, ids - 1)


def load_in_child(path: Path) -> dict[str, float]:
    """Load time and resident-memory growth of ``read_index`` in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_CHILD, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def build(candidate: Candidate, data: np.ndarray, threads: int) -> tuple[faiss.Index, float, float]:
    """Build the candidate in an ``IndexIDMap2`` over ids 1..N.

    Returns:
        The index, total build seconds and training seconds (included in the total).
    """
    faiss.omp_set_num_threads(threads)
    n, dim = data.shape
    start = time.perf_counter()
    index = faiss.IndexIDMap2(candidate.make(dim, n))
    train_s = 0.0
    if not index.is_trained:
        index.train(data)
        train_s = time.perf_counter() - start
    index.add_with_ids(data, np.arange(1, n + 1, dtype=np.int64))
    return index, time.perf_counter() - start, train_s


@contextmanager
def scratch_file(folder: Path) -> Iterator[Path]:
    """A temporary index file, removed afterwards."""
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        yield Path(tmp) / "faiss.index"


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """numpy's BLAS limited to one thread (threadpoolctl, when installed), like faiss."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@dataclass
class Filter:
    """A window of ids, like the chunks of an issue or a date range, and its exact top 10."""

    share: float
    ids: np.ndarray
    selector: faiss.IDSelector
    truth: np.ndarray


def make_filter(data: np.ndarray, queries: np.ndarray, share: float, seed: int) -> Filter:
    """The filter on a random window of ``share`` of the ids 1..N."""
    n = len(data)
    width = max(10, int(n * share))
    start = int(np.random.default_rng(seed).integers(0, n - width + 1))
    scores = queries @ data[start : start + width].T
    truth = np.argsort(-scores, axis=1)[:, :10] + start
    ids = np.arange(start + 1, start + width + 1, dtype=np.int64)
    return Filter(share, ids, faiss.IDSelectorBatch(ids), truth)


def exact_in_filter(
    index: faiss.Index, queries: np.ndarray, filt: Filter, count: int = 50
) -> tuple[float, float]:
    """Exact search among the filter's ids only: their vectors by ``reconstruct_batch``, then
    dot products. Returns the p50 ms (1 thread) and recall@10 on ``count`` questions, or NaNs
    when the index cannot reconstruct (IVF without a direct map)."""
    faiss.omp_set_num_threads(1)
    try:
        index.reconstruct_batch(filt.ids[:1])
    except RuntimeError:
        return math.nan, math.nan
    times, found = [], []
    with one_blas_thread():
        for q in queries[:count]:
            start = time.perf_counter()
            scores = index.reconstruct_batch(filt.ids) @ q
            top = np.argpartition(-scores, 10)[:10]
            top = top[np.argsort(-scores[top])]
            times.append((time.perf_counter() - start) * 1000)
            found.append(filt.ids[top] - 1)
    return float(np.percentile(times, 50)), recall(np.array(found), filt.truth[:count], 10)


def measure(
    candidate: Candidate,
    data: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    filters: Sequence[Filter],
    args: argparse.Namespace,
) -> list[Row]:
    """Build, store, load and search one candidate at one size; one row per sweep value."""
    n = len(data)
    log(f"{n}: building {candidate.name}")
    index, build_s, train_s = build(candidate, data, args.threads)
    log(f"{n}: {candidate.name} built in {build_s:.1f} s")
    with scratch_file(args.out) as path:
        faiss.write_index(index, str(path))
        disk = path.stat().st_size
        loaded = load_in_child(path)
    exact = {f.share: exact_in_filter(index, queries, f) for f in filters}
    rows = []
    for value in candidate.sweep or (None,):
        if value is not None:
            set_search_param(index, candidate.family, value)
        faiss.omp_set_num_threads(args.threads)
        found = rows_of(index.search(queries, K)[1])
        filtered = {}
        for f in filters:
            params = search_params(candidate.family, value, f.selector)
            filtered[f.share] = recall(
                rows_of(index.search(queries, 10, params=params)[1]), f.truth, 10
            )
        p50, p95 = latencies(index, queries, args.threads)
        p50_1, p95_1 = latencies(index, queries, 1)
        param = {"hnsw": f"efSearch {value}", "ivf": f"nprobe {value}"}.get(candidate.family, "-")
        rows.append(
            Row(
                size=n,
                candidate=candidate.name,
                param=param,
                build_s=build_s,
                train_s=train_s,
                p50_ms=p50,
                p95_ms=p95,
                p50_1t_ms=p50_1,
                p95_1t_ms=p95_1,
                recall10=recall(found, truth, 10),
                recall50=recall(found, truth, 50),
                filtered_recall10=filtered,
                exact_filtered=exact,
                rss_bytes_per_vector=loaded["rss_bytes"] / n,
                disk_bytes_per_vector=disk / n,
                disk_mb=disk / 2**20,
                load_s=loaded["load_s"],
                load1=os.getloadavg()[0],
            )
        )
        log(f"{n}: {candidate.name} {param}: r@10 {rows[-1].recall10:.3f} p50 {p50_1:.2f} ms")
    del index
    gc.collect()
    return rows


# ------------------------------------------------------------------------ compatibility


Wrap = Callable[[faiss.Index], tuple[faiss.Index, Callable[[], None]]]


def _compat_variants() -> list[tuple[str, Candidate, Wrap]]:
    """(label, candidate, wrap) for each variant checked: IDMap2 around each candidate, and
    the two ways IVF can reconstruct vectors (a direct map, needed by ``reconstruct``).
    ``wrap`` returns the index to use and what to call once the vectors are added."""

    def idmap(inner: faiss.Index) -> tuple[faiss.Index, Callable[[], None]]:
        return faiss.IndexIDMap2(inner), lambda: None

    def array_map(inner: faiss.Index) -> tuple[faiss.Index, Callable[[], None]]:
        return faiss.IndexIDMap2(inner), lambda: inner.make_direct_map()

    def own_ids(inner: faiss.Index) -> tuple[faiss.Index, Callable[[], None]]:
        return inner, lambda: inner.set_direct_map_type(faiss.DirectMap.Hashtable)

    variants: list[tuple[str, Candidate, Wrap]] = [
        (f"{name} in IDMap2", c, idmap)
        for name, c in CANDIDATES.items()
        if c.family != "hnsw" or name in ("hnsw32_efc200", "hnsw32_fp16_efc200")
    ]
    ivf = CANDIDATES["ivf_flat"]
    variants.append(("ivf_flat in IDMap2 + array direct map", ivf, array_map))
    variants.append(("ivf_flat, own ids + hashtable direct map", ivf, own_ids))
    return variants


def _compat_row(
    candidate: Candidate, wrap: Wrap, base: np.ndarray, queries: np.ndarray
) -> dict[str, str]:
    """The checks of :func:`compat_matrix` for one variant."""
    n = len(base)
    ids = np.arange(n, dtype=np.int64) * 7 + 1000
    removed = ids[:300]
    allowed = ids[1000:1500]
    index, finish = wrap(candidate.make(base.shape[1], n))
    index.train(base)
    index.add_with_ids(base, ids)
    finish()
    value = candidate.sweep[-1] if candidate.sweep else None
    if value is not None:
        set_search_param(index, candidate.family, value)

    def search(sel: faiss.IDSelector | None = None) -> np.ndarray:
        if sel is None:
            return index.search(queries, 10)[1]
        return index.search(queries, 10, params=search_params(candidate.family, value, sel))[1]

    def remove() -> bool:
        count = index.remove_ids(removed)
        return count == len(removed) and not np.isin(search(), removed).any()

    def add_after() -> bool:
        before = index.ntotal
        index.add_with_ids(base[:10], ids[:10] + 1)
        return index.ntotal == before + 10

    def round_trip() -> bool:
        copy = faiss.deserialize_index(faiss.serialize_index(index))
        return bool(np.array_equal(copy.search(queries, 10)[1], search()))

    tombstones = faiss.IDSelectorNot(faiss.IDSelectorBatch(removed))
    checks: dict[str, Callable[[], bool]] = {
        "search": lambda: bool(np.isin(search(), ids).all()),
        "filter": lambda: bool(np.isin(search(faiss.IDSelectorBatch(allowed)), allowed).all()),
        "reconstruct": lambda: bool(np.allclose(index.reconstruct(int(ids[5])), base[5], 0, 1e-2)),
        "id_map": lambda: hasattr(index, "id_map"),
        "tombstones": lambda: not np.isin(search(tombstones), removed).any(),
        "remove_ids": remove,
        "add after": add_after,
        "serialize": round_trip,
    }
    row = {}
    for name, action in checks.items():
        try:
            row[name] = "yes" if action() else ("no" if name == "id_map" else "WRONG")
        except RuntimeError as exc:
            row[name] = "no: " + str(exc).strip().rsplit(": ", 1)[-1][:50]
    return row


def compat_matrix(data: np.ndarray, queries: np.ndarray) -> list[dict[str, str]]:
    """What each index type supports, as the product uses the index.

    On 3,000 real vectors with sparse ids: search, search restricted by ``IDSelectorBatch``
    (the ``allowed`` filter), ``reconstruct`` by id, the ``id_map`` attribute (``check``
    reads it), tombstones (search excluding removed ids with ``IDSelectorNot``),
    ``remove_ids``, ``add`` afterwards, and a serialisation round trip.
    """
    return [
        {"variant": label, **_compat_row(candidate, wrap, data[:3000], queries)}
        for label, candidate, wrap in _compat_variants()
    ]


# ------------------------------------------------------------------------------ report


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def report(results: Results, threads: int) -> str:
    """The results as markdown."""
    m = results.machine
    parts = [
        f"## FAISS index by size ({results.started})",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; Python {m['python']}, "
        f"faiss {m['faiss']} ({m['faiss_opts']}), numpy {m['numpy']}. "
        f"Load at start {m['load_at_start'][0]:.2f}.",
        f"Command: `{results.command}`",
        f"Data: {results.source}.",
    ]
    if results.calibration:
        keys = list(dict.fromkeys(k for r in results.calibration for k in r))[2:]
        parts += [
            "### Real-like vectors vs real ones (same size)",
            _table(
                ["set", "n", *keys],
                [
                    [r["set"], int(r["n"]), *(f"{r[k]:.3f}" if k in r else "" for k in keys)]
                    for r in results.calibration
                ],
            ),
        ]
    if results.size_stats:
        parts += [
            "### Benchmark sets: real questions against them",
            _table(
                ["size", "real vectors", "q top-1", "q top-10", "q top-50", "nn1", "nn10"],
                [
                    [
                        s["size"],
                        s["real"],
                        f"{s['q_top1']:.3f}",
                        f"{s['q_top10']:.3f}",
                        f"{s['q_top50']:.3f}",
                        f"{s['nn1']:.3f}",
                        f"{s['nn10']:.3f}",
                    ]
                    for s in results.size_stats
                ],
            ),
        ]
    shares = [f"{share:.0%}" for share in FILTER_SHARES]
    headers = [
        "size",
        "index (IDMap2)",
        "param",
        "build s",
        f"p50 ms {threads} thr",
        f"p95 ms {threads} thr",
        "p50 ms 1 thr",
        "p95 ms 1 thr",
        "R@10",
        "R@50",
        *(f"R@10 {s} filter" for s in shares),
        "RSS B/vec",
        "disk B/vec",
        "disk MB",
        "load s",
        "load1",
    ]
    for size in sorted({r.size for r in results.rows}):
        rows = [r for r in results.rows if r.size == size]
        parts += [
            f"### {size:,} vectors",
            _table(
                headers,
                [
                    [
                        f"{r.size:,}",
                        r.candidate,
                        r.param,
                        f"{r.build_s:.1f}" + (f" ({r.train_s:.1f} train)" if r.train_s else ""),
                        f"{r.p50_ms:.2f}",
                        f"{r.p95_ms:.2f}",
                        f"{r.p50_1t_ms:.2f}",
                        f"{r.p95_1t_ms:.2f}",
                        f"{r.recall10:.3f}",
                        f"{r.recall50:.3f}",
                        *(f"{r.filtered_recall10[share]:.3f}" for share in FILTER_SHARES),
                        f"{r.rss_bytes_per_vector:.0f}",
                        f"{r.disk_bytes_per_vector:.0f}",
                        f"{r.disk_mb:.1f}",
                        f"{r.load_s:.2f}",
                        f"{r.load1:.2f}",
                    ]
                    for r in rows
                ],
            ),
        ]
        seen = {r.candidate: r for r in rows if not math.isnan(r.exact_filtered[0.01][0])}
        if seen:
            parts += [
                f"Exact search inside the filter ({size:,}): `reconstruct_batch` of the allowed "
                "ids, then dot products; p50 ms at 1 thread, recall@10 (50 questions).",
                _table(
                    ["index", *(f"{s} filter: p50 ms / R@10" for s in shares)],
                    [
                        [
                            name,
                            *(
                                "{:.2f} / {:.3f}".format(*r.exact_filtered[share])
                                for share in FILTER_SHARES
                            ),
                        ]
                        for name, r in seen.items()
                    ],
                ),
            ]
    if results.compat:
        keys = list(results.compat[0])
        parts += [
            "### What works inside IndexIDMap2 (3,000 vectors, sparse ids)",
            _table(keys, [[r.get(k, "") for k in keys] for r in results.compat]),
        ]
    if results.skipped:
        parts += [
            "### Skipped",
            "\n".join(f"- {s['size']:,} {s['candidate']}: {s['reason']}" for s in results.skipped),
        ]
    return "\n\n".join(parts) + "\n"


# -------------------------------------------------------------------------------- main


def estimate_build(family: str, done: dict[int, float], size: int) -> float | None:
    """Build seconds expected at ``size`` from the largest smaller size measured."""
    smaller = [s for s in done if s < size]
    if not smaller:
        return None
    prev = max(smaller)
    factor = size / prev
    if family == "hnsw":  # N log N
        factor *= math.log(size) / math.log(prev)
    return done[prev] * factor


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--exact-sizes",
        type=int,
        nargs="*",
        default=[30_000, 150_000, 300_000],
        help="extra sizes where only exact (flat) candidates run, to place the threshold",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--index", type=Path, help="index folder whose vectors are the real set")
    parser.add_argument(
        "--fallback",
        choices=["bundled", "synthetic"],
        default="bundled",
        help="without --index: embed data/bulletins (slow), or use synthetic vectors only",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument(
        "--candidates", nargs="+", choices=list(CANDIDATES), default=list(CANDIDATES)
    )
    parser.add_argument(
        "--big",
        nargs="*",
        default=["hnsw32_efc200", "hnsw32_fp16_efc200", "hnsw48_fp16_efc200"],
        help="HNSW candidates still built above --big-size (HNSW builds are slow)",
    )
    parser.add_argument("--big-size", type=int, default=300_000)
    parser.add_argument(
        "--max-build-minutes",
        type=float,
        default=45,
        help="skip a build whose time, extrapolated from the smaller size, exceeds this",
    )
    parser.add_argument("--no-compat", action="store_true", help="skip the compatibility check")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    started = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    results = Results(started=started, machine=machine(), command=" ".join(sys.argv))
    json_path = args.out / f"index_scale-{started}.json"
    md_path = args.out / f"index_scale-{started}.md"

    real = load_real(args)
    results.source = real.source
    log(results.source)
    gen = RealLike(real.passages, args.threads)
    label = "real" if real.model_id else "pseudo-real"
    results.calibration = calibration(
        real.passages, real.queries, gen, args.threads, args.seed, label
    )
    results.save(json_path)
    if not args.no_compat:
        results.compat = compat_matrix(real.passages, real.queries)
        results.save(json_path)

    build_times: dict[str, dict[int, float]] = {}
    sizes = sorted(set(args.sizes) | set(args.exact_sizes))
    for size in sizes:
        data = corpus(real.passages, size, gen, args.seed)
        faiss.omp_set_num_threads(args.threads)
        flat = faiss.IndexFlatIP(data.shape[1])
        flat.add(data)
        truth = flat.search(real.queries, K)[1]
        del flat
        stats = set_stats(data, real.queries, args.threads, args.seed)
        results.size_stats.append({"size": size, "real": min(size, len(real.passages)), **stats})
        filters = [make_filter(data, real.queries, share, args.seed) for share in FILTER_SHARES]
        for name in args.candidates:
            candidate = CANDIDATES[name]
            reason = None
            if size not in args.sizes and candidate.family != "exact":
                continue
            if candidate.family == "hnsw" and size > args.big_size and name not in args.big:
                reason = f"HNSW above {args.big_size:,} only for --big {args.big}"
            estimate = estimate_build(candidate.family, build_times.get(name, {}), size)
            if reason is None and estimate and estimate > args.max_build_minutes * 60:
                reason = f"estimated build {estimate / 60:.0f} min > {args.max_build_minutes:g}"
            if reason:
                results.skipped.append({"size": size, "candidate": name, "reason": reason})
                log(f"{size}: skip {name}: {reason}")
                continue
            rows = measure(candidate, data, real.queries, truth, filters, args)
            build_times.setdefault(name, {})[size] = rows[0].build_s
            results.rows += rows
            results.save(json_path)
            md_path.write_text(report(results, args.threads))
        del data
        gc.collect()

    results.machine["load_at_end"] = os.getloadavg()
    results.save(json_path)
    text = report(results, args.threads)
    md_path.write_text(text)
    print(text)
    log(f"wrote {md_path} and {json_path}")


if __name__ == "__main__":
    main()
