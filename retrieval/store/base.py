"""What the rest of bulletin-qa needs of an index, whatever holds it.

An index stores issues, their articles and chunks, one vector per chunk (with the
chunk's sentence vectors, for quoting) and a BM25 index of the chunks' words. Two
backends hold one: a folder of FAISS generations and SQLite (:mod:`retrieval.store.local`,
the embedded default) and a Milvus collection (:mod:`retrieval.store.milvus`, for
archives that outgrow one machine). :func:`retrieval.store.open_store` picks one from
the ``--index`` location; everything else talks to these protocols only.

Chunk ids are integers the backend assigns; a reader only ever sees the chunks of one
published state (a generation, for the local backend), so it never sees an issue twice
or half-replaced.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from retrieval.documents import Chunk, Issue
from retrieval.filters import Filters

# Indexes already said to be used with another embedder's precision: said once a process.
_noted: set[tuple[str, str, str]] = set()
_noted_lock = threading.Lock()

# The embedder an index that records none was built with: such indexes predate the
# choice, and sentence-transformers built them.
OLDEST_EMBEDDER = "torch"

# A lexical query: a question's text (tokenised by the index), or weighted terms (an
# English question translated, see retrieval.crosslingual).
LexicalQuery = str | Mapping[str, float]


class StoreError(Exception):
    """Base class of the index store's errors; the message is meant for users."""


class IndexNotFoundError(StoreError):
    """The location holds no index yet."""


class ModelMismatchError(StoreError):
    """The index was built with another embedding model than the one in use."""


class IndexBusyError(StoreError):
    """Another process is writing to the index."""


def note_embedder(location: str, built_with: str, in_use: str) -> None:
    """Say once on standard error that an index is used with another precision.

    Vectors from the int8 embedder and from the float32 ones (ONNX or torch) agree to
    a cosine of about 0.99, so the index still works, with slightly different scores.

    Args:
        location: Where the index is.
        built_with: The embedder recorded in the index.
        in_use: The embedder computing vectors now.
    """
    if _precision(built_with) == _precision(in_use):
        return
    key = (location, built_with, in_use)
    with _noted_lock:
        if key in _noted:
            return
        _noted.add(key)
    print(
        f"note: the index in {location} was built with the {built_with} embedder and is "
        f"used with {in_use}: it works, but scores differ slightly; "
        f"BULLETIN_QA_EMBEDDER={built_with} matches it",
        file=sys.stderr,
    )


def _precision(embedder: str) -> str:
    return "int8" if embedder.endswith("int8") else "float32"


@dataclass(frozen=True)
class SentenceVectors:
    """The sentences of a chunk and their vectors in context (see
    :meth:`retrieval.embed.Embedder.embed_passages_and_sentences`).

    Attributes:
        spans: int32 array ``(n, 2)``: start and end of each sentence in the chunk text.
        vectors: float16 array ``(n, dim)``, rows L2-normalised (or zero).
    """

    spans: np.ndarray
    vectors: np.ndarray

    def pack(self) -> bytes:
        """Serialise for a store: count, spans, then vectors."""
        count = np.asarray([len(self.spans)], dtype=np.int32)
        spans = np.asarray(self.spans, dtype=np.int32).reshape(-1, 2)
        return count.tobytes() + spans.tobytes() + np.asarray(self.vectors, np.float16).tobytes()

    @classmethod
    def unpack(cls, blob: bytes, dim: int) -> SentenceVectors:
        """Read what :meth:`pack` wrote."""
        count = int(np.frombuffer(blob, dtype=np.int32, count=1)[0])
        spans = np.frombuffer(blob, dtype=np.int32, count=2 * count, offset=4).reshape(count, 2)
        vectors = np.frombuffer(blob, dtype=np.float16, offset=4 + 8 * count)
        return cls(spans, vectors.reshape(count, dim))


@dataclass(frozen=True)
class ChunkRecord:
    """A stored chunk with everything needed to quote and attribute it."""

    chunk_id: int
    text: str
    seq: int
    start: int
    end: int
    article_id: int
    headline: str
    section: str | None
    author: str | None
    page: int | None
    body: str
    issue: str
    issue_title: str | None
    date: dt.date | None
    source: str


@dataclass(frozen=True)
class IssueSummary:
    """One line of ``bulletin-qa list``."""

    issue: str
    title: str | None
    date: dt.date | None
    source: str
    articles: int
    chunks: int
    ingested_at: str


@dataclass(frozen=True)
class ArticleSummary:
    """One article of an issue as stored: what ``bulletin-qa show`` lists.

    Attributes:
        index: Position in the issue, from 1.
        headline: The headline ("" when the page lost it).
        section: Section or column label, when printed.
        author: Reporter or issuing department, when printed.
        page: Page number, when known.
        chars: Characters of body.
    """

    index: int
    headline: str
    section: str | None
    author: str | None
    page: int | None
    chars: int


@dataclass(frozen=True)
class StoredIssue:
    """An indexed issue with everything needed to index it again elsewhere: what
    ``rebuild`` parses again and ``migrate`` copies without embedding anything.

    Attributes:
        issue: The issue with its articles (``source`` as ingested).
        content_hash: Hash of the files it was read from.
        sources: ``(file name, content)`` of those files (empty when not kept).
        chunks: Its chunks in order (``article_index`` into ``issue.articles``).
        embed_hashes: Hash of the embedded text of each chunk: the key of its vector
            and sentence vectors in the embedding cache.
        tokens: The lexical terms of each chunk.
    """

    issue: Issue
    content_hash: str
    sources: list[tuple[str, bytes]]
    chunks: list[Chunk]
    embed_hashes: list[str]
    tokens: list[list[str]]


@runtime_checkable
class Reader(Protocol):
    """Read access to the published state of an index. Thread-safe."""

    @property
    def model_id(self) -> str:
        """Identifier of the embedding model that built the index."""

    @property
    def embedder(self) -> str:
        """The embedder that built it (see :data:`retrieval.config.EMBEDDERS`)."""

    @property
    def dim(self) -> int:
        """The vectors' dimension."""

    @property
    def tokenizer(self) -> str:
        """The lexical tokenizer of the index (see :func:`retrieval.lexical.tokenize`)."""

    @property
    def size(self) -> int:
        """Number of chunks."""

    @property
    def generation(self) -> int:
        """The published generation read: the change token, which grows with every
        publish (a cache key for what is built from the index)."""

    def refresh(self) -> bool:
        """Switch to newer published data if there is some; True when it did."""

    def check_model(self, model_id: str) -> None:
        """Raise :class:`ModelMismatchError` unless ``model_id`` built the index."""

    def dense_search(
        self, vector: np.ndarray, k: int, filters: Filters | None = None
    ) -> list[tuple[int, float]]:
        """Up to ``k`` ``(chunk id, cosine)`` pairs for a normalised vector, best first."""

    def lexical_search(
        self, query: LexicalQuery, k: int, filters: Filters | None = None
    ) -> list[tuple[int, float]]:
        """Up to ``k`` ``(chunk id, BM25 score)`` pairs with a positive score, best first."""

    def lexical_scores(self, query: LexicalQuery, chunk_ids: Sequence[int]) -> dict[int, float]:
        """BM25 scores of given chunks (0 for those the query does not match)."""

    def vectors(self, chunk_ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of chunks, one row each, in order."""

    def sentences(self, chunk_ids: Sequence[int]) -> dict[int, SentenceVectors]:
        """Sentence vectors of chunks by chunk id (chunks without them left out)."""

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """Inverse document frequency of lexical terms; a term no chunk has counts as
        rarest."""

    def vocabulary(self) -> Collection[str]:
        """The indexed lexical terms (folded), for translating English questions."""

    def years(self) -> frozenset[int]:
        """The years of the dated issues."""

    def count(self, filters: Filters) -> int:
        """How many chunks ``filters`` let through."""

    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, ChunkRecord]:
        """Chunks with their article and issue, by chunk id (unknown ids left out)."""

    def issue_chunks(self, issue_key: str) -> list[ChunkRecord]:
        """The chunks of one issue in reading order (none when it is not indexed)."""

    def issues(self) -> list[IssueSummary]:
        """The issues, newest first."""

    def issue(self, issue_key: str) -> IssueSummary | None:
        """One issue, or None when it is not indexed."""

    def articles(self, issue_key: str) -> list[ArticleSummary]:
        """The articles of an issue in reading order (none when it is not indexed)."""

    def close(self) -> None:
        """Release connections and files."""


@runtime_checkable
class Writer(Protocol):
    """The one writer of an index: stages changes and publishes them at once.

    Nothing staged is visible to readers before :meth:`publish`; a writer that dies
    before it leaves the published state as it was, and the next writer clears what it
    left behind.
    """

    @property
    def tokenizer(self) -> str:
        """The lexical tokenizer of the index: chunks' tokens are cut by it."""

    @property
    def changed(self) -> bool:
        """Whether anything is staged."""

    def issue_hash(self, issue_key: str) -> str | None:
        """Content hash of the indexed issue, or None when it is not indexed."""

    def stored_issues(self) -> Iterator[StoredIssue]:
        """Every indexed issue with its sources and chunks, in the order ingested."""

    def cached_vectors(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Vectors this index's model computed before, by text hash (with sentence
        vectors cached too)."""

    def cached_sentences(self, hashes: Iterable[str]) -> dict[str, SentenceVectors]:
        """Sentence vectors cached by text hash."""

    def cache_vectors(
        self,
        vectors: Mapping[str, np.ndarray],
        sentences: Mapping[str, SentenceVectors] | None = None,
    ) -> None:
        """Remember vectors and sentence vectors by text hash (kept even if never published)."""

    def remove_issue(self, issue_key: str) -> bool:
        """Stage the removal of an issue; False when it is not indexed."""

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
        """Stage an issue, replacing the indexed one with the same key."""

    def publish(self) -> int:
        """Make everything staged visible at once; the generation now published (the
        same as before when nothing was staged)."""


@runtime_checkable
class Store(Protocol):
    """An index location: opens its reader and its writer."""

    @property
    def location(self) -> str:
        """Where the index is, as the user gave it (for messages)."""

    def exists(self) -> bool:
        """Whether an index has been published there."""

    def reader(self) -> Reader:
        """Open the published index.

        Raises:
            IndexNotFoundError: There is none yet.
        """

    def writer(
        self,
        model_id: str,
        dim: int,
        *,
        tokenizer: str | None = None,
        embedder: str | None = None,
        wait: float = 0,
    ) -> AbstractContextManager[Writer]:
        """Take the index's one writer (creating the index when missing).

        Raises:
            IndexBusyError: Another writer holds it for longer than ``wait`` seconds.
            ModelMismatchError: The index was built with another model.
        """

    def check(self) -> list[str]:
        """Verify the published index; one sentence per problem (none when healthy)."""

    def repair(self) -> int:
        """Rebuild the vector index from cached vectors (no model needed)."""
