"""The index in a folder: a SQLite store of issues, articles and chunks, plus FAISS
generations (the embedded default backend of :mod:`retrieval.store.base`'s interface:
:class:`LocalStore`, :class:`IndexReader`, :class:`IndexWriter`).

Layout of an index folder::

    store.sqlite    issues, articles, chunks, embedding cache (WAL mode)
    CURRENT         the number of the live generation, replaced atomically
    gen-000042/     faiss.index (float16, exact), lexical/ (BM25), manifest.json; never modified
    lock            held by the one writer

Rows carry the generation that added them and the one that removed them, so the rows a
generation's FAISS ids point to stay in place while that generation may still be in use:
readers never see half-written state, and a crash at any moment leaves the previous
generation live and consistent. The next writer discards what a crashed one left behind.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Collection, Hashable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import faiss
import numpy as np
from filelock import FileLock, Timeout

from retrieval.documents import Article, Chunk, Issue
from retrieval.filters import Filters
from retrieval.lexical import DEFAULT_TOKENIZER, LexicalIndex, LexicalScores, Tokenizer
from retrieval.store.base import (
    OLDEST_EMBEDDER,
    ArticleSummary,
    ChunkRecord,
    IndexBusyError,
    IndexNotFoundError,
    IssueSummary,
    LexicalQuery,
    ModelMismatchError,
    SentenceVectors,
    StoredIssue,
    StoreError,
    note_embedder,
)

SCHEMA_VERSION = 2

# One query at a time is searched far faster on one thread than on OpenMP's team (at 10k
# vectors 0.65 ms against 24 ms p50 with the other core busy: benchmarks/index_scale.py);
# a server answers concurrent questions from its own thread pool instead.
faiss.omp_set_num_threads(1)
_GEN_PREFIX = "gen-"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS issues (
    id INTEGER PRIMARY KEY,
    issue_key TEXT NOT NULL,
    title TEXT,
    date TEXT,
    source TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    added_gen INTEGER NOT NULL,
    removed_gen INTEGER
);
CREATE INDEX IF NOT EXISTS issues_key ON issues (issue_key);
CREATE TABLE IF NOT EXISTS articles (
    id INTEGER PRIMARY KEY,
    issue_id INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    headline TEXT NOT NULL,
    section TEXT,
    author TEXT,
    page INTEGER,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_issue ON articles (issue_id);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL,
    embed_hash TEXT NOT NULL,
    tokens TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks (article_id);
CREATE TABLE IF NOT EXISTS sources (
    issue_id INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS sources_issue ON sources (issue_id);
CREATE TABLE IF NOT EXISTS embeddings (
    model_id TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    sentences BLOB,
    PRIMARY KEY (model_id, text_hash)
) WITHOUT ROWID;
"""

# Rows visible in generation :gen (issues aliased as i).
_LIVE = "i.added_gen <= :gen AND (i.removed_gen IS NULL OR i.removed_gen > :gen)"


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    # NORMAL is durable enough in WAL mode: a power cut may lose the last commit but never
    # corrupts the file, and the generation switch is what makes a commit visible anyway.
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _has_sentences(conn: sqlite3.Connection) -> bool:
    return any(row[1] == "sentences" for row in conn.execute("PRAGMA table_info(embeddings)"))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _gen_dir(index_dir: Path, gen: int) -> Path:
    return index_dir / f"{_GEN_PREFIX}{gen:06d}"


def read_current(index_dir: Path) -> int:
    """Return the live generation number of the index in ``index_dir`` (0 = none yet)."""
    try:
        return int((index_dir / "CURRENT").read_text().strip())
    except FileNotFoundError:
        return 0


# Above this many vectors exact search leaves the latency budget (12 ms at 150k, 17 ms at
# 200k): the next generation is built as an IVF index over float16 codes, nlist 4·√N,
# nprobe 64 (recall@10 0.992–0.997 up to 1M real-like vectors, 0.7–2 ms;
# benchmarks/index_scale.py). IVF, unlike HNSW,
# takes ids and removals, so daily updates stay incremental once it is built.
APPROX_THRESHOLD = 150_000
_NPROBE = 64
# A filter this small (a few issues) is scored exactly from the stored vectors: an IVF
# search inside it would probe lists that hold none of its vectors (recall@10 0.10 for
# one issue at 200k vectors, nprobe 32). Larger filters probe more lists instead.
_EXACT_FILTER = 1_000


def _is_ivf(index: faiss.Index) -> bool:
    return isinstance(index, faiss.IndexIVF)


def _build_ivf(dim: int, ids: np.ndarray, vectors: np.ndarray) -> faiss.Index:
    nlist = max(1, int(4 * np.sqrt(len(ids))))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFScalarQuantizer(
        quantizer, dim, nlist, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
    )
    index.own_fields = True
    quantizer.this.disown()  # the IVF index owns and frees its quantizer
    rng = np.random.default_rng(0)
    sample = vectors[rng.choice(len(vectors), min(len(vectors), nlist * 64), replace=False)]
    index.train(sample)
    index.nprobe = _NPROBE
    index.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct and remove by id
    index.add_with_ids(vectors, ids)
    return index


def index_ids(index: faiss.Index) -> np.ndarray:
    """The ids of all vectors in a FAISS index built by this module."""
    if not _is_ivf(index):
        return faiss.vector_to_array(index.id_map)
    lists = index.invlists
    parts = [
        faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
        for i in range(index.nlist)
        if lists.list_size(i)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _new_faiss(dim: int) -> faiss.Index:
    # Exact search over float16 codes: half the memory and disk of float32 and faster,
    # at recall@10 0.999 against float32 on real queries (benchmarks/index_scale.py).
    # Exact search stays under ~15 ms per query up to about 200k chunks (years of daily
    # issues); an approximate index is not needed below that.
    return faiss.IndexIDMap2(
        faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    )


def _parse_date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


class IndexReader:
    """Read access to the live generation: vector search and chunk lookups.

    Thread-safe. :meth:`refresh` switches to a newer generation when a writer has
    published one, without ever dropping the one in use before the new one is loaded.
    """

    def __init__(self, index_dir: Path) -> None:
        """Open the index in ``index_dir``.

        Raises:
            IndexNotFoundError: When the folder holds no index.
        """
        self.index_dir = Path(index_dir)
        db = self.index_dir / "store.sqlite"
        if read_current(self.index_dir) == 0 or not db.exists():
            raise IndexNotFoundError(
                f"no index in {self.index_dir}: run `bulletin-qa ingest` first"
            )
        self._conn = _connect(db)
        self._lock = threading.Lock()
        self._sentences_stored = False
        self._current_stamp: tuple[int, int] | None = None
        # Asked for by every question (date phrases): cached per generation.
        self._years: tuple[int, frozenset[int]] | None = None
        self._last_lexical: tuple[Hashable, LexicalScores] | None = None
        self.generation = 0
        self.refresh()

    def _stamp(self) -> tuple[int, int]:
        stat = (self.index_dir / "CURRENT").stat()
        return stat.st_mtime_ns, stat.st_ino

    def refresh(self) -> bool:
        """Load the live generation if it changed since the last call.

        Returns:
            True when a new generation was loaded.
        """
        stamp = self._stamp()
        if stamp == self._current_stamp:
            return False
        gen = read_current(self.index_dir)
        if gen == self.generation:
            self._current_stamp = stamp
            return False
        folder = _gen_dir(self.index_dir, gen)
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            index = faiss.read_index(str(folder / "faiss.index"))
            lexical = LexicalIndex.load(folder / "lexical")
        except (OSError, RuntimeError, ValueError):
            # A writer published twice in a row and already dropped this generation:
            # keep serving the one in memory and pick up the newest on the next call.
            if self.generation:
                return False
            raise
        with self._lock:
            self._index = index
            # A store written before sentence vectors has no column for them until a
            # writer adds it, which it does before publishing.
            self._sentences_stored = _has_sentences(self._conn)
            self.lexical = lexical
            self.manifest = manifest
            self.generation = gen
            self._current_stamp = stamp
        return True

    @property
    def model_id(self) -> str:
        """Identifier of the embedding model that built this index."""
        return self.manifest["model_id"]

    @property
    def embedder(self) -> str:
        """The embedder that built this index (see :data:`retrieval.config.EMBEDDERS`)."""
        return self.manifest.get("embedder", OLDEST_EMBEDDER)

    @property
    def dim(self) -> int:
        """The vectors' dimension."""
        return int(self.manifest["dim"])

    @property
    def tokenizer(self) -> str:
        """The lexical tokenizer the chunks' terms were cut by."""
        return self.lexical.tokenizer

    @property
    def size(self) -> int:
        """Number of vectors in the live generation."""
        return self._index.ntotal

    def check_model(self, model_id: str) -> None:
        """Raise :class:`ModelMismatchError` unless ``model_id`` built this index."""
        if model_id != self.model_id:
            raise ModelMismatchError(
                f"the index was built with model {self.model_id!r}, not {model_id!r}: "
                "use the same model, or ingest into another index folder"
            )

    def dense_search(
        self, vector: np.ndarray, k: int, filters: Filters | None = None
    ) -> list[tuple[int, float]]:
        """Return up to ``k`` ``(chunk_id, cosine)`` pairs, best first.

        Args:
            vector: The normalised query vector.
            k: How many results at most.
            filters: Restrict to issues by date or key.
        """
        return self._search(vector, k, self._allowed(filters))

    def lexical_search(
        self, query: LexicalQuery, k: int, filters: Filters | None = None
    ) -> list[tuple[int, float]]:
        """Up to ``k`` ``(chunk id, BM25 score)`` pairs with a positive score, best first."""
        return self._lexical(query, filters).top(k)

    def lexical_scores(self, query: LexicalQuery, chunk_ids: Sequence[int]) -> dict[int, float]:
        """BM25 scores of given chunks (0 for those the query does not match)."""
        scores = self._lexical(query, None)
        return {chunk_id: scores.get(chunk_id) for chunk_id in chunk_ids}

    def _lexical(self, query: LexicalQuery, filters: Filters | None) -> LexicalScores:
        """BM25 scores of every chunk, the last query's kept: hybrid search asks for the
        scores of the dense side's candidates right after the lexical search."""
        key = (self.generation, query if isinstance(query, str) else tuple(query.items()), filters)
        last = self._last_lexical
        if last is not None and last[0] == key:
            return last[1]
        allowed = self._allowed(filters)
        lexical = self.lexical
        if isinstance(query, str):
            scores = lexical.scores(query, allowed)
        else:
            scores = lexical.weighted_scores(query, allowed)
        self._last_lexical = (key, scores)
        return scores

    def _allowed(self, filters: Filters | None) -> np.ndarray | None:
        if not filters:
            return None
        return self.chunk_ids(filters.since, filters.until, filters.issue)

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """Inverse document frequency of lexical terms; a term no chunk has counts as
        rarest."""
        lexical = self.lexical
        return {term: lexical.idf(term) for term in terms}

    def vocabulary(self) -> Collection[str]:
        """The indexed lexical terms (folded)."""
        return self.lexical.vocabulary

    def count(self, filters: Filters) -> int:
        """How many live chunks ``filters`` let through."""
        allowed = self._allowed(filters)
        return self.size if allowed is None else len(allowed)

    def _search(
        self, vector: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        index = self._index
        if index.ntotal == 0 or (allowed is not None and not len(allowed)):
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(allowed)
            if not _is_ivf(index):
                params = faiss.SearchParameters(sel=selector)
            elif len(allowed) <= _EXACT_FILTER:
                return self._exact(index, query[0], allowed, k)
            else:
                share = len(allowed) / max(index.ntotal, 1)
                nprobe = min(index.nlist, int(np.ceil(index.nprobe * max(1.0, 0.2 / share))))
                params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
        scores, ids = index.search(query, k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    @staticmethod
    def _exact(
        index: faiss.Index, query: np.ndarray, allowed: np.ndarray, k: int
    ) -> list[tuple[int, float]]:
        present, vectors = [], []
        for chunk_id in allowed.tolist():
            try:
                vectors.append(index.reconstruct(int(chunk_id)))
            except RuntimeError:  # not in this generation (a writer raced the lookup)
                continue
            present.append(int(chunk_id))
        if not present:
            return []
        scores = np.vstack(vectors) @ query
        top = np.argsort(-scores)[:k]
        return [(present[i], float(scores[i])) for i in top]

    def vectors(self, chunk_ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of chunks of the live generation, one row each."""
        index = self._index
        return np.vstack([index.reconstruct(int(i)) for i in chunk_ids])

    def years(self) -> frozenset[int]:
        """The years of the live generation's dated issues (read once per generation)."""
        generation = self.generation
        cached = self._years
        if cached is not None and cached[0] == generation:
            return cached[1]
        with self._lock:
            rows = self._conn.execute(
                f"""SELECT DISTINCT substr(i.date, 1, 4) FROM issues i
                    WHERE i.date IS NOT NULL AND {_LIVE}""",
                {"gen": generation},
            ).fetchall()
        years = frozenset(int(r[0]) for r in rows)
        self._years = (generation, years)
        return years

    def chunk_ids(
        self,
        since: dt.date | None = None,
        until: dt.date | None = None,
        issue: str | None = None,
    ) -> np.ndarray:
        """Ids of the live chunks of issues dated within ``[since, until]`` and/or ``issue``.

        An issue without a date matches no date range.
        """
        where, args = [_LIVE], {"gen": self.generation}
        if since:
            where.append("i.date >= :since")
            args["since"] = since.isoformat()
        if until:
            where.append("i.date <= :until")
            args["until"] = until.isoformat()
        if issue:
            where.append("i.issue_key = :issue")
            args["issue"] = issue
        with self._lock:
            rows = self._conn.execute(
                f"""SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id
                    JOIN issues i ON i.id = a.issue_id WHERE {" AND ".join(where)}""",
                args,
            ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, ChunkRecord]:
        """Look up chunks with their article and issue, keyed by chunk id."""
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        with self._lock:
            rows = self._conn.execute(
                f"""SELECT c.id, c.text, c.seq, c.start, c."end", a.id AS article_id,
                           a.headline, a.section, a.author, a.page, a.body,
                           i.issue_key, i.title, i.date, i.source
                    FROM chunks c JOIN articles a ON a.id = c.article_id
                                  JOIN issues i ON i.id = a.issue_id
                    WHERE c.id IN ({marks})""",
                list(chunk_ids),
            ).fetchall()
        return {
            row["id"]: ChunkRecord(
                chunk_id=row["id"],
                text=row["text"],
                seq=row["seq"],
                start=row["start"],
                end=row["end"],
                article_id=row["article_id"],
                headline=row["headline"],
                section=row["section"],
                author=row["author"],
                page=row["page"],
                body=row["body"],
                issue=row["issue_key"],
                issue_title=row["title"],
                date=_parse_date(row["date"]),
                source=row["source"],
            )
            for row in rows
        }

    def issue_chunks(self, issue_key: str) -> list[ChunkRecord]:
        """The live chunks of one issue in reading order (none when it is not indexed)."""
        found = self.chunks(self.chunk_ids(issue=issue_key).tolist())
        return sorted(found.values(), key=lambda c: (c.article_id, c.seq))

    def sentences(self, chunk_ids: Sequence[int]) -> dict[int, SentenceVectors]:
        """Sentence vectors of chunks, keyed by chunk id (chunks without them are left out)."""
        if not chunk_ids or not self._sentences_stored:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        with self._lock:
            rows = self._conn.execute(
                f"""SELECT c.id, e.sentences FROM chunks c
                    JOIN embeddings e ON e.model_id = ? AND e.text_hash = c.embed_hash
                    WHERE c.id IN ({marks}) AND e.sentences IS NOT NULL""",
                [self.model_id, *chunk_ids],
            ).fetchall()
        return {row[0]: SentenceVectors.unpack(row[1], self._index.d) for row in rows}

    def issues(self) -> list[IssueSummary]:
        """List the issues of the live generation, newest first."""
        return self._issue_summaries()

    def issue(self, issue_key: str) -> IssueSummary | None:
        """The issue ``issue_key`` of the live generation, or None when it is not indexed."""
        found = self._issue_summaries(issue_key)
        return found[0] if found else None

    def _issue_summaries(self, issue_key: str | None = None) -> list[IssueSummary]:
        where = _LIVE
        args: dict[str, object] = {"gen": self.generation}
        if issue_key is not None:
            where += " AND i.issue_key = :key"
            args["key"] = issue_key
        with self._lock:
            rows = self._conn.execute(
                f"""SELECT i.issue_key, i.title, i.date, i.source, i.ingested_at,
                           (SELECT count(*) FROM articles a WHERE a.issue_id = i.id) AS n_art,
                           (SELECT count(*) FROM chunks c JOIN articles a ON a.id = c.article_id
                             WHERE a.issue_id = i.id) AS n_chunks
                    FROM issues i WHERE {where}
                    ORDER BY i.date IS NULL, i.date DESC, i.issue_key""",
                args,
            ).fetchall()
        return [
            IssueSummary(
                issue=r["issue_key"],
                title=r["title"],
                date=_parse_date(r["date"]),
                source=r["source"],
                articles=r["n_art"],
                chunks=r["n_chunks"],
                ingested_at=r["ingested_at"],
            )
            for r in rows
        ]

    def articles(self, issue_key: str) -> list[ArticleSummary]:
        """The articles of the live issue ``issue_key`` in reading order (none if unknown)."""
        with self._lock:
            rows = self._conn.execute(
                f"""SELECT a.seq, a.headline, a.section, a.author, a.page,
                           length(a.body) AS chars
                    FROM articles a JOIN issues i ON i.id = a.issue_id
                    WHERE i.issue_key = :key AND {_LIVE} ORDER BY a.seq""",
                {"key": issue_key, "gen": self.generation},
            ).fetchall()
        return [
            ArticleSummary(
                index=r["seq"] + 1,
                headline=r["headline"],
                section=r["section"],
                author=r["author"],
                page=r["page"],
                chars=r["chars"],
            )
            for r in rows
        ]

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()


class IndexWriter:
    """The one writer of an index folder; use through :func:`open_writer`.

    Changes are staged as rows of the next generation; :meth:`publish` writes that
    generation's FAISS index and switches ``CURRENT`` to it.
    """

    def __init__(
        self,
        index_dir: Path,
        model_id: str,
        dim: int,
        tokenizer: Tokenizer = DEFAULT_TOKENIZER,
        approx_threshold: int = APPROX_THRESHOLD,
        embedder: str | None = None,
    ) -> None:
        self.index_dir = index_dir
        self.approx_threshold = approx_threshold
        self.model_id = model_id
        self.dim = dim
        self.tokenizer = tokenizer
        # The embedder that adds vectors now: None for writers that only remove or rebuild.
        self._adding_with = embedder
        # The embedder that built the index: this one for a new index, else from its meta.
        self.embedder = embedder or OLDEST_EMBEDDER
        self._conn = _connect(index_dir / "store.sqlite")
        self._conn.executescript(_SCHEMA)
        if not _has_sentences(self._conn):  # a store written before sentence vectors
            self._conn.execute("ALTER TABLE embeddings ADD COLUMN sentences BLOB")
        self.base_gen = read_current(index_dir)
        self.gen = self.base_gen + 1
        self._staged: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._removed: list[int] = []
        self._full: tuple[np.ndarray, np.ndarray] | None = None
        self._check_meta()
        self._recover()

    def _check_meta(self) -> None:
        meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        if not meta:
            with self._transaction():
                self._conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("model_id", self.model_id),
                        ("dim", str(self.dim)),
                        ("tokenizer", self.tokenizer),
                        ("schema_version", str(SCHEMA_VERSION)),
                        ("embedder", self.embedder),
                    ],
                )
            return
        if meta.get("schema_version") != str(SCHEMA_VERSION):
            raise StoreError(
                f"the index in {self.index_dir} has format {meta.get('schema_version')}, this "
                f"version of bulletin-qa writes format {SCHEMA_VERSION}: ingest into a new folder"
            )
        # Stored tokens were cut by the index's tokenizer: keep using it.
        self.tokenizer = meta["tokenizer"]
        if meta["model_id"] != self.model_id:
            raise ModelMismatchError(
                f"the index in {self.index_dir} was built with model {meta['model_id']!r}, "
                f"not {self.model_id!r}: use the same model, or another index folder"
            )
        built_with = meta.get("embedder", OLDEST_EMBEDDER)
        if self._adding_with:
            note_embedder(str(self.index_dir), built_with, self._adding_with)
        self.embedder = built_with

    def _recover(self) -> None:
        """Undo what a writer that died before publishing left behind."""
        with self._transaction():
            self._conn.execute("DELETE FROM issues WHERE added_gen > ?", (self.base_gen,))
            self._conn.execute(
                "UPDATE issues SET removed_gen = NULL WHERE removed_gen > ?", (self.base_gen,)
            )
        for folder in self.index_dir.glob(_GEN_PREFIX + "*"):
            number = folder.name[len(_GEN_PREFIX) :].removesuffix(".tmp")
            if number.isdigit() and int(number) > self.base_gen:
                shutil.rmtree(folder, ignore_errors=True)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @property
    def changed(self) -> bool:
        """Whether anything is staged for the next generation."""
        return bool(self._staged or self._removed or self._full is not None)

    def issue_hash(self, issue_key: str) -> str | None:
        """Content hash of the live issue ``issue_key``, or None when it is not indexed."""
        row = self._conn.execute(
            f"SELECT content_hash FROM issues i WHERE issue_key = :key AND {_LIVE}",
            {"key": issue_key, "gen": self.base_gen},
        ).fetchone()
        return row["content_hash"] if row else None

    def stored_issues(self) -> Iterator[StoredIssue]:
        """Every live issue with its sources and chunks, in the order ingested."""
        issues = self._conn.execute(
            f"""SELECT id, issue_key, title, date, source, content_hash FROM issues i
                WHERE {_LIVE} ORDER BY id""",
            {"gen": self.base_gen},
        ).fetchall()
        for row in issues:
            articles = self._conn.execute(
                """SELECT id, headline, section, author, page, body FROM articles
                   WHERE issue_id = ? ORDER BY seq""",
                (row["id"],),
            ).fetchall()
            position = {a["id"]: n for n, a in enumerate(articles)}
            chunks = self._conn.execute(
                f"""SELECT c.article_id, c.seq, c.start, c."end", c.text, c.embed_hash, c.tokens
                    FROM chunks c WHERE c.article_id IN ({",".join("?" * len(articles))})
                    ORDER BY c.id""",
                list(position),
            ).fetchall()
            sources = self._conn.execute(
                "SELECT name, data FROM sources WHERE issue_id = ? ORDER BY rowid", (row["id"],)
            ).fetchall()
            yield StoredIssue(
                issue=Issue(
                    issue_id=row["issue_key"],
                    source=row["source"],
                    title=row["title"],
                    date=_parse_date(row["date"]),
                    articles=[
                        Article(a["headline"], a["body"], a["section"], a["author"], a["page"])
                        for a in articles
                    ],
                ),
                content_hash=row["content_hash"],
                sources=[(name, bytes(data)) for name, data in sources],
                chunks=[
                    Chunk(position[c["article_id"]], c["seq"], c["text"], c["start"], c["end"])
                    for c in chunks
                ],
                embed_hashes=[c["embed_hash"] for c in chunks],
                tokens=[c["tokens"].split() for c in chunks],
            )

    def cached_vectors(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Vectors already computed by this index's model for the given text hashes.

        Only texts whose sentence vectors are cached too count: a cache written before
        sentences had vectors is embedded again.
        """
        blobs = self._cached("vector", hashes)
        return {h: np.frombuffer(blob, dtype=np.float32) for h, blob in blobs.items()}

    def cached_sentences(self, hashes: Iterable[str]) -> dict[str, SentenceVectors]:
        """Sentence vectors cached by text hash."""
        blobs = self._cached("sentences", hashes)
        return {h: SentenceVectors.unpack(blob, self.dim) for h, blob in blobs.items()}

    def _cached(self, column: str, hashes: Iterable[str]) -> dict[str, bytes]:
        """One column of the embedding cache by text hash, for texts with sentence vectors."""
        wanted = list(dict.fromkeys(hashes))
        found: dict[str, bytes] = {}
        for i in range(0, len(wanted), 500):
            batch = wanted[i : i + 500]
            rows = self._conn.execute(
                f"""SELECT text_hash, {column} FROM embeddings
                    WHERE model_id = ? AND sentences IS NOT NULL
                      AND text_hash IN ({",".join("?" * len(batch))})""",
                [self.model_id, *batch],
            )
            found.update((text_hash, blob) for text_hash, blob in rows)
        return found

    def cache_vectors(
        self,
        vectors: dict[str, np.ndarray],
        sentences: dict[str, SentenceVectors] | None = None,
    ) -> None:
        """Remember vectors and their sentence vectors by text hash (committed at once)."""
        sentences = sentences or {}
        with self._transaction():
            self._conn.executemany(
                """INSERT OR REPLACE INTO embeddings (model_id, text_hash, vector, sentences)
                   VALUES (?, ?, ?, ?)""",
                [
                    (
                        self.model_id,
                        h,
                        np.asarray(v, dtype=np.float32).tobytes(),
                        sentences[h].pack() if h in sentences else None,
                    )
                    for h, v in vectors.items()
                ],
            )

    def _live_chunk_ids(self, issue_key: str) -> list[int]:
        rows = self._conn.execute(
            f"""SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id
                JOIN issues i ON i.id = a.issue_id WHERE i.issue_key = :key AND {_LIVE}""",
            {"key": issue_key, "gen": self.base_gen},
        )
        return [r[0] for r in rows]

    def remove_issue(self, issue_key: str) -> bool:
        """Stage the removal of an issue. Returns False when it is not indexed."""
        ids = self._live_chunk_ids(issue_key)
        staged = self._staged.pop(issue_key, None) is not None
        with self._transaction():
            self._conn.execute(
                "DELETE FROM issues WHERE issue_key = ? AND added_gen = ?", (issue_key, self.gen)
            )
            cur = self._conn.execute(
                f"""UPDATE issues SET removed_gen = :new
                    WHERE id IN (SELECT i.id FROM issues i WHERE issue_key = :key AND {_LIVE})""",
                {"key": issue_key, "gen": self.base_gen, "new": self.gen},
            )
        self._removed.extend(ids)
        return staged or cur.rowcount > 0

    def put_issue(
        self,
        issue: Issue,
        content_hash: str,
        chunks: Sequence[Chunk],
        embed_hashes: Sequence[str],
        vectors: np.ndarray,
        tokens: Sequence[Sequence[str]],
        sources: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Stage an issue (replacing the indexed one with the same key) and its vectors.

        Args:
            issue: The parsed issue.
            content_hash: Hash of the file it came from.
            chunks: Its chunks, in order.
            embed_hashes: Hash of the embedded text of each chunk.
            vectors: One normalised vector per chunk, shape ``(len(chunks), dim)``.
            tokens: The lexical terms of each chunk (see :func:`retrieval.lexical.tokenize`,
                with this index's :attr:`tokenizer`).
            sources: ``(file name, content)`` of the files the issue was read from, kept
                so that the index can be rebuilt by a newer parser or chunker.
        """
        self.remove_issue(issue.issue_id)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self._transaction():
            issue_row = self._conn.execute(
                """INSERT INTO issues (issue_key, title, date, source, content_hash,
                                       ingested_at, added_gen)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (
                    issue.issue_id,
                    issue.title,
                    issue.date.isoformat() if issue.date else None,
                    issue.source,
                    content_hash,
                    now,
                    self.gen,
                ),
            ).lastrowid
            self._conn.executemany(
                "INSERT INTO sources (issue_id, name, data) VALUES (?, ?, ?)",
                [(issue_row, name, data) for name, data in sources],
            )
            article_ids = [
                self._conn.execute(
                    """INSERT INTO articles (issue_id, seq, headline, section, author, page, body)
                       VALUES (?, ?, ?, ?, ?, ?, ?)""",
                    (issue_row, seq, a.headline, a.section, a.author, a.page, a.body),
                ).lastrowid
                for seq, a in enumerate(issue.articles)
            ]
            chunk_ids = [
                self._conn.execute(
                    """INSERT INTO chunks (article_id, seq, start, "end", text, embed_hash, tokens)
                       VALUES (?, ?, ?, ?, ?, ?, ?)""",
                    (article_ids[c.article_index], c.seq, c.start, c.end, c.text, h, " ".join(t)),
                ).lastrowid
                for c, h, t in zip(chunks, embed_hashes, tokens, strict=True)
            ]
        self._staged[issue.issue_id] = (
            np.asarray(chunk_ids, dtype=np.int64),
            np.asarray(vectors, dtype=np.float32).reshape(len(chunk_ids), self.dim),
        )

    def rebuild_vectors(self) -> None:
        """Stage a generation whose FAISS index is rebuilt from the cached vectors.

        Repairs an index whose vectors disagree with its rows, without the model.

        Raises:
            StoreError: Some live chunks have no cached vector (ingest them again).
        """
        rows = self._conn.execute(
            f"""SELECT c.id, e.vector FROM chunks c JOIN articles a ON a.id = c.article_id
                JOIN issues i ON i.id = a.issue_id
                LEFT JOIN embeddings e ON e.model_id = :model AND e.text_hash = c.embed_hash
                WHERE {_LIVE} ORDER BY c.id""",
            {"gen": self.base_gen, "model": self.model_id},
        ).fetchall()
        if missing := sum(r[1] is None for r in rows):
            raise StoreError(
                f"{missing} chunks have no cached vector: remove and ingest their issues again"
            )
        ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        self._full = (ids, vectors.reshape(len(ids), self.dim))

    def _next_faiss(self) -> faiss.Index:
        if self._full is not None:
            ids, vectors = self._full
            if len(ids) >= self.approx_threshold:
                return _build_ivf(self.dim, ids, vectors)
            index = _new_faiss(self.dim)
            if len(ids):
                index.add_with_ids(vectors, ids)
            return index
        if self.base_gen:
            index = faiss.read_index(str(_gen_dir(self.index_dir, self.base_gen) / "faiss.index"))
        else:
            index = _new_faiss(self.dim)
        if self._removed:
            index.remove_ids(np.asarray(self._removed, dtype=np.int64))
        for ids, vectors in self._staged.values():
            if len(ids):
                index.add_with_ids(vectors, ids)
        if not _is_ivf(index) and index.ntotal >= self.approx_threshold:
            ids = faiss.vector_to_array(index.id_map)
            return _build_ivf(self.dim, ids, index.index.reconstruct_n(0, index.ntotal))
        return index

    def _next_lexical(self) -> LexicalIndex:
        # BM25's idf depends on every document, so the index is rebuilt from the stored
        # tokens (cheap: no tokenising) whenever a generation is published.
        rows = self._conn.execute(
            f"""SELECT c.id, c.tokens FROM chunks c JOIN articles a ON a.id = c.article_id
                JOIN issues i ON i.id = a.issue_id WHERE {_LIVE} ORDER BY c.id""",
            {"gen": self.gen},
        ).fetchall()
        return LexicalIndex.build(
            [r[0] for r in rows], [r[1].split() for r in rows], self.tokenizer
        )

    def publish(self) -> int:
        """Write the staged generation and make it the live one.

        Returns:
            The new live generation number (the old one when nothing changed).
        """
        if not self.changed:
            return self.base_gen
        index = self._next_faiss()
        final = _gen_dir(self.index_dir, self.gen)
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        faiss.write_index(index, str(tmp / "faiss.index"))
        self._next_lexical().save(tmp / "lexical")
        manifest = {
            "generation": self.gen,
            "model_id": self.model_id,
            "dim": self.dim,
            "tokenizer": self.tokenizer,
            "embedder": self.embedder,
            "chunks": int(index.ntotal),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
        for path in tmp.rglob("*"):
            if path.is_file():
                with open(path, "rb") as f:
                    os.fsync(f.fileno())
        _fsync_dir(tmp / "lexical")
        _fsync_dir(tmp)
        os.rename(tmp, final)
        _write_atomic(self.index_dir / "CURRENT", f"{self.gen}\n".encode())
        self._collect_garbage()
        published = self.gen
        self.base_gen, self.gen = self.gen, self.gen + 1
        self._staged, self._removed, self._full = {}, [], None
        return published

    def _collect_garbage(self) -> None:
        """Drop rows and folders that neither the live nor the previous generation uses."""
        keep_from = self.gen - 1
        with self._transaction():
            self._conn.execute(
                "DELETE FROM issues WHERE removed_gen IS NOT NULL AND removed_gen <= ?",
                (keep_from,),
            )
        for folder in self.index_dir.glob(_GEN_PREFIX + "*"):
            number = folder.name[len(_GEN_PREFIX) :]
            if number.isdigit() and int(number) < keep_from:
                shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()


@contextmanager
def open_writer(
    index_dir: Path,
    model_id: str,
    dim: int,
    *,
    tokenizer: Tokenizer = DEFAULT_TOKENIZER,
    wait: float = 0,
    approx_threshold: int = APPROX_THRESHOLD,
    embedder: str | None = None,
) -> Iterator[IndexWriter]:
    """Take the index's writer lock and yield its :class:`IndexWriter`.

    Nothing staged is visible until :meth:`IndexWriter.publish`; leaving the block
    without publishing discards it (at the latest, when the next writer starts).

    Args:
        index_dir: The index folder (created if missing).
        model_id: Identifier of the embedding model in use.
        dim: Its vector dimension.
        tokenizer: Lexical tokenizer for a new index (an existing one keeps its own).
        wait: Seconds to wait for another writer to finish.
        approx_threshold: Vector count from which the FAISS index is approximate (IVF).
        embedder: The embedder that computes the vectors to add (recorded in a new
            index; a note on standard error when it differs in precision from the one
            that built the index); None when no vectors are computed.

    Raises:
        IndexBusyError: When another process holds the lock.
        ModelMismatchError: When the index was built with another model.
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(index_dir / "lock")
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        raise IndexBusyError(
            f"another ingest is running on {index_dir}; try again when it has finished"
        ) from None
    try:
        writer = IndexWriter(index_dir, model_id, dim, tokenizer, approx_threshold, embedder)
        try:
            yield writer
        finally:
            writer.close()
    finally:
        lock.release()


def check_index(index_dir: Path) -> list[str]:
    """Verify the live generation against the store; return the problems found.

    Checks that the generation loads, that it was built by the model the store records,
    that its FAISS ids and BM25 documents are exactly the live chunks, and that every
    live chunk's vector is cached (so that the index can be repaired without the model).

    Args:
        index_dir: The index folder.

    Returns:
        One sentence per problem; empty when the index is healthy.
    """
    index_dir = Path(index_dir)
    gen = read_current(index_dir)
    if gen == 0 or not (index_dir / "store.sqlite").exists():
        return [f"no index in {index_dir}"]
    folder = _gen_dir(index_dir, gen)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        index = faiss.read_index(str(folder / "faiss.index"))
        lexical = LexicalIndex.load(folder / "lexical")
    except (OSError, RuntimeError, ValueError) as exc:
        return [f"generation {gen} cannot be loaded: {exc}"]
    conn = _connect(index_dir / "store.sqlite")
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        rows = conn.execute(
            f"""SELECT c.id, c.embed_hash, e.text_hash IS NOT NULL
                FROM chunks c JOIN articles a ON a.id = c.article_id
                JOIN issues i ON i.id = a.issue_id
                LEFT JOIN embeddings e ON e.model_id = :model AND e.text_hash = c.embed_hash
                WHERE {_LIVE}""",
            {"gen": gen, "model": meta.get("model_id")},
        ).fetchall()
    finally:
        conn.close()
    problems = []
    if manifest.get("model_id") != meta.get("model_id"):
        problems.append(
            f"generation {gen} was built with {manifest.get('model_id')!r}, "
            f"the store records {meta.get('model_id')!r}"
        )
    if manifest.get("chunks") != index.ntotal:
        problems.append(
            f"manifest says {manifest.get('chunks')} vectors, the FAISS index has {index.ntotal}"
        )
    live = {r[0] for r in rows}
    vector_ids = set(index_ids(index).tolist())
    for what, ids in (("FAISS index", vector_ids), ("BM25 index", set(lexical.ids.tolist()))):
        if missing := live - ids:
            problems.append(f"{len(missing)} live chunks have no entry in the {what}")
        if extra := ids - live:
            problems.append(f"the {what} has {len(extra)} ids with no live chunk row")
    if uncached := sum(not r[2] for r in rows):
        problems.append(f"{uncached} live chunks have no cached vector")
    return problems


class LocalStore:
    """An index in a folder: SQLite rows and FAISS + BM25 generations (module docstring).

    The embedded default: nothing to run beside bulletin-qa, one writer process and any
    number of readers, exact search up to :data:`APPROX_THRESHOLD` chunks.
    """

    def __init__(self, index_dir: Path, *, approx_threshold: int = APPROX_THRESHOLD) -> None:
        """Args:
        index_dir: The index folder (created by the first writer).
        approx_threshold: Vector count from which the FAISS index is approximate (IVF).
        """
        self.index_dir = Path(index_dir)
        self.approx_threshold = approx_threshold

    @property
    def location(self) -> str:
        """The folder, as given."""
        return str(self.index_dir)

    def exists(self) -> bool:
        """Whether a generation has been published in the folder."""
        return read_current(self.index_dir) > 0 and (self.index_dir / "store.sqlite").exists()

    def reader(self) -> IndexReader:
        """Open the live generation (see :class:`IndexReader`)."""
        return IndexReader(self.index_dir)

    def writer(
        self,
        model_id: str,
        dim: int,
        *,
        tokenizer: Tokenizer | None = None,
        embedder: str | None = None,
        wait: float = 0,
    ) -> AbstractContextManager[IndexWriter]:
        """Take the folder's writer lock (see :func:`open_writer`)."""
        return open_writer(
            self.index_dir,
            model_id,
            dim,
            tokenizer=tokenizer or DEFAULT_TOKENIZER,
            wait=wait,
            approx_threshold=self.approx_threshold,
            embedder=embedder,
        )

    def check(self) -> list[str]:
        """Verify the live generation against the rows (see :func:`check_index`)."""
        return check_index(self.index_dir)

    def repair(self) -> int:
        """Publish a generation whose FAISS index is rebuilt from the cached vectors.

        Raises:
            StoreError: Some live chunks have no cached vector (ingest them again).
        """
        # From the rows, not from a reader: the generation to repair may not load.
        conn = _connect(self.index_dir / "store.sqlite")
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        finally:
            conn.close()
        if not meta:
            raise IndexNotFoundError(f"no index in {self.index_dir}")
        with self.writer(meta["model_id"], int(meta["dim"])) as writer:
            writer.rebuild_vectors()
            return writer.publish()
