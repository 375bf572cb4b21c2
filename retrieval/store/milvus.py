"""The index in Milvus: a server (``milvus://HOST:PORT/NAME``, also spelt
``milvus+http://…``; ``milvus+https://…`` for TLS; the token in ``MILVUS_TOKEN``) or a
Milvus Lite file (``milvus:PATH.db``, ``milvus:PATH.db#NAME``).

An index named ``NAME`` (``bulletins`` when the location names none) is six collections::

    NAME_meta       model, dimension, tokenizer, embedder, the published generation with
                    its counts, the id counter, the writer's lease, per-term document
                    frequencies of each kept generation (zlib + base64 pieces)
    NAME_issues     one row per stored version of an issue (key, title, date, source,
                    content hash, counts)
    NAME_articles   article bodies, cut into pieces that fit a VARCHAR
    NAME_chunks     chunk text, dense vector, lexical terms with their BM25 sparse
                    vector, article and issue fields, embed hash, tokens
    NAME_sources    the files an issue was read from, base64 pieces
    NAME_cache      the embedding cache: vector and packed sentence vectors by text hash

Consistency works as in the local backend. Issue and chunk rows carry the generation that
added them and the one that removed them (``removed`` is :data:`LIVE` while no generation
has). A reader reads the published generation ``G`` from the meta collection and filters
every search and query with ``added <= G and removed > G``, so it sees exactly one
published state; a writer stages rows with ``added = G + 1``, marks the rows it replaces
with ``removed = G + 1``, and publishes by writing ``G + 1`` (with its counts) to one meta
row. Afterwards it deletes what neither ``G + 1`` nor ``G`` can see, keeping the previous
generation for readers still on it. A writer that dies leaves the published generation as
it was; the next one deletes rows added after it and makes rows marked after it live
again. Every collection is created with Strong consistency, so a reader that has read a
generation also sees every row written before it was published.

One writer at a time: the writer holds a lease row in the meta collection (owner, host,
process, expiry), renewed every :data:`LEASE_RENEW` seconds by a thread and given up on
close. A lease past its expiry, or held by a process of this host that no longer runs,
is taken over. Milvus has no compare-and-swap, so a writer checks the lease it wrote
after a pause (on a server) before going on; hosts' clocks must agree within
:data:`LEASE_TTL` minus :data:`LEASE_RENEW` seconds.

Milvus Lite keeps the index in one folder (named ``….db``) that only one process at a
time can open: a second process fails at once. Serve the folder with ``milvus-lite
server --data-dir PATH.db`` and use ``milvus://localhost:19530/NAME`` for several
processes (an ingest next to a running bot).

Vector index: Milvus Lite searches exactly (FLAT; tens of ms per query at some 10⁴
chunks, for tests and small archives); a server uses HNSW (M 16, efConstruction 200, ef
at least 64). Beyond the memory of the server's query nodes, an IVF index (or a DiskANN
one) would be the next step: not implemented.

Lexical side: Milvus computes BM25 (its BM25 function and sparse index) over the terms
the local backend's bm25s scores, so that both backends rank alike. The ``lexical``
field holds the terms the writer is given (:func:`retrieval.lexical.tokenize` of the
headline and chunk with the index's tokenizer: folded to Simplified and lower case,
stopwords and punctuation dropped) joined by single spaces, readable as they are except
that a character other than a letter or digit inside a term is written as its code
between underscores (``10.5%`` as ``10_2e_5_25_``, ``_`` as ``_5f_``): each term is then
one word for an analyzer that only has to split words, ``whitespace`` on a server,
``standard`` on Milvus Lite, which has no whitespace tokenizer (words of letters, digits
and underscores, lower-cased: the terms already are). A question is cut by the same
tokenizer and searched as its terms that the index has, repeats kept (Milvus counts a
term as often as the query holds it, as bm25s does). Weighted terms (a translated
English question) are searched as each term repeated in proportion to its weight, in
steps of 1/64 of the largest weight and at least once, since Milvus's BM25 search takes
text only; their scores are scaled back. BM25 runs with bm25s's defaults, k1 1.5 and b
0.75 (a server's own k1 is 1.2), and the same idf, ``log(1 + (N - df + 0.5) / (df + 0.5))``;
the factor ``k1 + 1`` of Milvus's term scores, which bm25s's lack, is divided out: scores
are the local backend's.

Milvus's BM25 statistics (rows, their average length, document frequencies) are those of
the stored rows, not of the published generation alone as the local backend's: they
include the rows that the last publish replaced or removed (kept for readers of the
generation before), and on a server a running writer's staged rows and deleted rows until
it compacts them; scores drift slightly with these. Milvus Lite keeps the statistics per
segment (each flush writes one; a segment's deleted rows still count), so a writer on
Milvus Lite rewrites the chunk rows left after collecting garbage into one new segment at
each publish (some 10 s per 7,000 chunks). The old copies stay until Milvus Lite's
compaction drops them (it merges four files of a size), and searches go over them
meanwhile: on the eval index, with two, some 10 ms more per lexical search and 4 ms per
dense one. There, a writer's staged rows do not count, but the rows it marks as replaced
are scored with statistics of their own until the next publish (also when it gives up
and unmarks them); and a rewrite beyond Milvus Lite's memory budget for unflushed rows
(128 MB by default, a few times the eval index's 6,825 chunks) ends up in several
segments again. Document frequencies for :meth:`MilvusReader.idf` and the vocabulary
come from the tokens the writer is given, counted per generation at publish time: exact
for that generation.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from pymilvus import DataType, Function, FunctionType, MilvusClient, MilvusException

from retrieval.config import milvus_token
from retrieval.documents import Article, Chunk, Issue
from retrieval.filters import Filters
from retrieval.lexical import DEFAULT_TOKENIZER, bm25_idf, tokenize
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

try:  # POSIX only: elsewhere a busy Milvus Lite file is reported by pymilvus's error
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

# 2: BM25 over the writer's tokens (1: over the text, cut by Milvus's jieba analyzer).
SCHEMA_VERSION = 2
DEFAULT_COLLECTION = "bulletins"
# The ``removed`` generation of a row that no generation removed.
LIVE = 2**62
# The writer's lease lasts this long unless renewed, and is renewed this often.
LEASE_TTL = 60.0
LEASE_RENEW = 15.0
# Milvus returns at most this many hits per search.
_MAX_K = 16_384
# Rows per query page, ids per ``in [...]`` list, rows per insert.
_BATCH = 1000
_INSERT_BATCH = 256
# Milvus counts a VARCHAR's length in bytes (Milvus Lite in characters); 65,535 at most.
_VARCHAR_MAX = 65_535
# Text is stored in pieces of this many characters: at most 60,000 bytes in UTF-8.
_PIECE_CHARS = 15_000
# Binary data (sources, packed vectors) is stored as base64 pieces of this many bytes.
_PIECE_BYTES = 45_000
# Every Milvus collection needs a vector field: those that need none get this one.
_PAD = [0.0, 0.0]
_SERVER_SCHEMES = ("milvus://", "milvus+http://", "milvus+https://")
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")
# BM25's parameters: bm25s's defaults, with which the local backend scores
# (retrieval.lexical), so that both backends rank alike. A server takes them from the
# sparse index's parameters; Milvus Lite 3.2 reads only a nested "params" entry there,
# which pymilvus flattens away, and scores with its defaults, which are these values.
BM25_K1 = 1.5
BM25_B = 0.75
# A weighted term is repeated in the query in proportion to its weight, in steps of this
# fraction of the largest weight: finer steps (down to 1/1000) changed no hit@k or MRR of
# the eval set's English questions, and only lengthen the query.
_WEIGHT_STEPS = 64
# A term of letters and digits is one word for either analyzer as it is; any other
# character in it is escaped (with "_", itself escaped) so that the term stays one word.
_PLAIN_TERM = re.compile(r"[^\W_]+")
_PLAIN_CHAR = re.compile(r"[^\W_]")
_SERVER_ANALYZER = {"tokenizer": "whitespace"}
# Milvus Lite has no whitespace tokenizer; its standard one cuts words of letters, digits
# and underscores and lower-cases them, which leaves escaped (and folded) terms as they are.
_LITE_ANALYZER = {"tokenizer": "standard"}
# Writers of this process: the lease check and write must not interleave between them.
_lease_lock = threading.Lock()
# Milvus Lite files this process has open, with the number of connections to each: the
# in-process server (and the file's lock) is released with the last one.
_lite_lock = threading.Lock()
_lite_open: dict[str, int] = {}

_CHUNK_FIELDS = (
    "id",
    "dense",
    "text",
    "lexical",
    "seq",
    "char_start",
    "char_end",
    "article_id",
    "article_seq",
    "headline",
    "section",
    "author",
    "page",
    "issue",
    "issue_row",
    "title",
    "date_int",
    "source",
    "added",
    "removed",
    "embed_hash",
    "tokens",
)
# What a chunk record needs.
_RECORD_FIELDS = tuple(
    f for f in _CHUNK_FIELDS if f not in ("dense", "lexical", "tokens", "added", "removed")
)
_ISSUE_FIELDS = (
    "id",
    "pad",
    "issue",
    "title",
    "date_int",
    "source",
    "content_hash",
    "ingested_at",
    "articles",
    "chunks",
    "added",
    "removed",
)


@dataclasses.dataclass(frozen=True)
class _Target:
    """Where a location points: what to connect to and the collections' prefix."""

    uri: str
    name: str
    lite: Path | None
    token: str

    def collection(self, kind: str) -> str:
        return f"{self.name}_{kind}"


def _parse_location(location: str) -> _Target:
    if location.startswith(_SERVER_SCHEMES):
        parts = urlsplit(location)
        if not parts.hostname:
            raise StoreError(f"{location}: expected milvus://HOST:PORT/COLLECTION")
        scheme = "https" if parts.scheme == "milvus+https" else "http"
        port = parts.port or (443 if scheme == "https" else 19530)
        name = parts.path.strip("/") or DEFAULT_COLLECTION
        uri = f"{scheme}://{parts.hostname}:{port}"
        target = _Target(uri, name, None, milvus_token())
    elif location.startswith("milvus:"):
        path, _, name = location[len("milvus:") :].partition("#")
        if not path.endswith(".db"):
            raise StoreError(f"{location}: a Milvus Lite location is milvus:PATH.db[#COLLECTION]")
        lite = Path(path).expanduser().absolute()
        target = _Target(str(lite), name or DEFAULT_COLLECTION, lite, "")
    else:
        raise StoreError(f"{location} is not a Milvus location (milvus://… or milvus:PATH.db)")
    if not _NAME.fullmatch(target.name):
        raise StoreError(
            f"{location}: {target.name!r} is not a collection name "
            "(letters, digits and underscores, not starting with a digit)"
        )
    return target


def _lit(value: str | int) -> str:
    """A literal of a Milvus filter expression."""
    if isinstance(value, int):
        return str(value)
    return '"' + value.translate(_ESCAPES) + '"'


def _in(field: str, values: Iterable[str | int]) -> str:
    return f"{field} in [{', '.join(_lit(v) for v in values)}]"


def _live(gen: int) -> str:
    return f"added <= {gen} and removed > {gen}"


def _batches(items: Sequence[Any], size: int = _BATCH) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _date_int(date: dt.date | None) -> int:
    return date.year * 10_000 + date.month * 100 + date.day if date else 0


def _date(value: int) -> dt.date | None:
    return dt.date(value // 10_000, value // 100 % 100, value % 100) if value else None


def _lexical_term(term: str) -> str:
    """A term as the ``lexical`` field holds it: one word for Milvus's analyzer."""
    if _PLAIN_TERM.fullmatch(term):
        return term
    return "".join(c if _PLAIN_CHAR.fullmatch(c) else f"_{ord(c):x}_" for c in term)


def _lexical_text(terms: Iterable[str]) -> str:
    """Lexical terms as Milvus's BM25 function is fed them, in a chunk or a query."""
    return " ".join(_lexical_term(t) for t in terms)


def _weighted_terms(weights: Mapping[str, float]) -> tuple[list[str], float]:
    """A query for weighted terms: each repeated in proportion to its weight (Milvus's BM25
    counts a term as often as the query holds it), and the factor that brings its scores
    back to the weights' scale (that of the local backend's weighted scores)."""
    top = max(weights.values(), default=0.0)
    if top <= 0:
        return [], 1.0
    unit = top / _WEIGHT_STEPS
    repeated = [
        term for term, w in weights.items() if w > 0 for _ in range(max(1, round(w / unit)))
    ]
    return repeated, unit


def _text_pieces(text: str) -> list[str]:
    return [text[i : i + _PIECE_CHARS] for i in range(0, len(text), _PIECE_CHARS)] or [""]


def _byte_pieces(data: bytes) -> list[str]:
    return [
        base64.b64encode(data[i : i + _PIECE_BYTES]).decode("ascii")
        for i in range(0, len(data), _PIECE_BYTES)
    ] or [""]


def _fits(what: str, value: str | None) -> str | None:
    if value is not None and len(value.encode("utf-8")) > _VARCHAR_MAX:
        raise StoreError(f"{what} is longer than Milvus stores in a field ({_VARCHAR_MAX} bytes)")
    return value


def _lite_busy(path: Path) -> bool:
    """Whether another process holds the Milvus Lite file ``path`` open."""
    lock = path / "LOCK"
    if fcntl is None or not lock.exists():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _lite_busy_message(location: str, target: _Target) -> str:
    return (
        f"the Milvus Lite file {target.lite} ({location}) is open in another process, and "
        "Milvus Lite lets one process at a time open a file: stop that process, or serve "
        f"the file with `milvus-lite server --data-dir {target.lite}` and use "
        f"milvus://localhost:19530/{target.name} in every process"
    )


class _Connection:
    """A client of the location's Milvus; for Milvus Lite, counted per file so that the
    last one to close releases the file for other processes."""

    def __init__(self, location: str, target: _Target) -> None:
        self.target = target
        self.lite = target.lite is not None
        self._lite_engine: bool | None = None
        self._closed = False
        if target.lite is None:
            try:
                self.client = MilvusClient(uri=target.uri, token=target.token)
            except MilvusException as exc:
                raise StoreError(f"cannot reach Milvus at {location}: {exc.message}") from exc
            return
        key = str(target.lite)
        # Milvus Lite cuts words with jieba in this process: keep its loading chatter off
        # the terminal.
        import jieba

        jieba.setLogLevel(60)
        with _lite_lock:
            if key not in _lite_open and _lite_busy(target.lite):
                raise IndexBusyError(_lite_busy_message(location, target))
            try:
                # A dedicated channel really closes on close(), a shared one would not.
                self.client = MilvusClient(uri=key, dedicated=True)
            except MilvusException as exc:
                if str(exc.message) == "Open local milvus failed":  # the file's lock
                    raise IndexBusyError(_lite_busy_message(location, target)) from exc
                raise StoreError(f"cannot open {location}: {exc.message}") from exc
            _lite_open[key] = _lite_open.get(key, 0) + 1

    @property
    def lite_engine(self) -> bool:
        """Whether Milvus Lite answers, in this process or served by ``milvus-lite server``
        (its analyzers and BM25 statistics differ from a server's)."""
        if self._lite_engine is None:
            version = str(self.client.get_server_version())
            self._lite_engine = self.lite or version.startswith("milvus_lite")
        return self._lite_engine

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.client.close()
        if self.target.lite is None:
            return
        key = str(self.target.lite)
        with _lite_lock:
            _lite_open[key] -= 1
            if _lite_open[key]:
                return
            del _lite_open[key]
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(key)

    def query(self, kind: str, expr: str, fields: Sequence[str], **kwargs: Any) -> list[dict]:
        return list(
            self.client.query(
                self.target.collection(kind), filter=expr, output_fields=list(fields), **kwargs
            )
        )

    def query_in(
        self,
        kind: str,
        field: str,
        values: Iterable[str | int],
        fields: Sequence[str],
        expr: str = "",
    ) -> list[dict]:
        """Rows whose ``field`` is one of ``values`` (and that match ``expr``)."""
        rows: list[dict] = []
        for batch in _batches(list(dict.fromkeys(values))):
            where = _in(field, batch) + (f" and {expr}" if expr else "")
            rows.extend(self.query(kind, where, fields))
        return rows

    def scan(self, kind: str, expr: str, fields: Sequence[str], pk: str = "id") -> Iterator[dict]:
        """Every row matching ``expr``, page by page in primary key order."""
        last: str | int | None = None
        fields = list(dict.fromkeys([pk, *fields]))
        while True:
            where = expr if last is None else f"({expr}) and {pk} > {_lit(last)}"
            # "iterator" asks for pages in primary key order, as pymilvus's iterators do.
            rows = self.query(kind, where, fields, limit=_BATCH, iterator="True")
            rows.sort(key=lambda r: r[pk])
            yield from rows
            if len(rows) < _BATCH:
                return
            last = rows[-1][pk]

    def count(self, kind: str, expr: str) -> int:
        rows = self.query(kind, expr, ["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def insert(self, kind: str, rows: Sequence[dict]) -> None:
        for batch in _batches(rows, _INSERT_BATCH):
            self.client.insert(self.target.collection(kind), list(batch))

    def upsert(self, kind: str, rows: Sequence[dict]) -> None:
        for batch in _batches(rows, _INSERT_BATCH):
            self.client.upsert(self.target.collection(kind), list(batch))

    def delete(self, kind: str, expr: str) -> None:
        self.client.delete(self.target.collection(kind), filter=expr)

    def has(self, kind: str) -> bool:
        return bool(self.client.has_collection(self.target.collection(kind)))

    def meta(self, keys: Iterable[str]) -> dict[str, str]:
        rows = self.query_in("meta", "key", keys, ["key", "value"])
        return {r["key"]: r["value"] for r in rows}

    def set_meta(self, values: Mapping[str, str], gen: int = 0) -> None:
        self.upsert(
            "meta",
            [{"key": k, "pad": _PAD, "gen": gen, "value": _fits(k, v)} for k, v in values.items()],
        )


# ---------------------------------------------------------------------------------------
# Collections


_KINDS = ("meta", "issues", "articles", "chunks", "sources", "cache")


def _schema(kind: str, dim: int, lite: bool) -> tuple[Any, list[tuple[str, dict]]]:
    """The schema of one collection and its indexes ``(field, params)``; ``lite`` for
    Milvus Lite."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    text = {"datatype": DataType.VARCHAR, "max_length": _VARCHAR_MAX}
    maybe_text = {**text, "nullable": True}
    key = {"datatype": DataType.VARCHAR, "max_length": 1024}
    number = {"datatype": DataType.INT64}
    indexes: list[tuple[str, dict]] = []
    if kind == "cache":
        schema.add_field("key", DataType.VARCHAR, max_length=512, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        # One row per piece of a text's packed sentence vectors (``parts`` of them, 0
        # when none were cached), each with the vector: the cache is never searched.
        fields: dict[str, dict] = {
            "text_hash": key,
            "part": number,
            "parts": number,
            "sentences": text,
        }
        indexes = [
            ("vector", {"index_type": "FLAT", "metric_type": "IP"}),
            ("text_hash", {"index_type": "INVERTED"}),
        ]
    elif kind == "meta":
        schema.add_field("key", DataType.VARCHAR, max_length=512, is_primary=True)
        fields = {"gen": number, "value": text}
    else:
        schema.add_field("id", DataType.INT64, is_primary=True)
        fields = {}
    if kind != "cache" and kind != "chunks":
        schema.add_field("pad", DataType.FLOAT_VECTOR, dim=len(_PAD))
        indexes.append(("pad", {"index_type": "FLAT", "metric_type": "IP"}))
    if kind == "issues":
        fields = {
            "issue": key,
            "title": maybe_text,
            "date_int": number,
            "source": text,
            "content_hash": key,
            "ingested_at": key,
            "articles": number,
            "chunks": number,
            "added": number,
            "removed": number,
        }
        indexes += [(f, {"index_type": "INVERTED"}) for f in ("issue", "added", "removed")]
    elif kind == "articles":
        fields = {
            "article_id": number,
            "piece": number,
            "issue_row": number,
            "seq": number,
            "headline": text,
            "section": maybe_text,
            "author": maybe_text,
            "page": {**number, "nullable": True},
            "chars": number,
            "body": text,
            "added": number,
        }
        indexes += [(f, {"index_type": "INVERTED"}) for f in ("article_id", "issue_row", "added")]
    elif kind == "sources":
        fields = {
            "issue_row": number,
            "file": number,
            "name": text,
            "piece": number,
            "data": text,
            "added": number,
        }
        indexes += [(f, {"index_type": "INVERTED"}) for f in ("issue_row", "added")]
    elif kind == "chunks":
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("text", DataType.VARCHAR, max_length=_VARCHAR_MAX)
        schema.add_field(
            "lexical",
            DataType.VARCHAR,
            max_length=_VARCHAR_MAX,
            enable_analyzer=True,
            analyzer_params=_LITE_ANALYZER if lite else _SERVER_ANALYZER,
        )
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["lexical"],
                output_field_names=["sparse"],
            )
        )
        fields = {
            "seq": number,
            "char_start": number,
            "char_end": number,
            "article_id": number,
            "article_seq": number,
            "headline": text,
            "section": maybe_text,
            "author": maybe_text,
            "page": {**number, "nullable": True},
            "issue": key,
            "issue_row": number,
            "title": maybe_text,
            "date_int": number,
            "source": text,
            "added": number,
            "removed": number,
            "embed_hash": key,
            "tokens": text,
        }
        bm25 = {"bm25_k1": BM25_K1, "bm25_b": BM25_B}
        indexes.append(
            (
                "sparse",
                {"index_type": "SPARSE_INVERTED_INDEX", "metric_type": "BM25", "params": bm25},
            )
        )
        indexes += [
            (f, {"index_type": "INVERTED"})
            for f in ("issue", "issue_row", "date_int", "added", "removed")
        ]
    for name, params in fields.items():
        schema.add_field(name, **params)
    return schema, indexes


def _create_collections(conn: _Connection, dim: int) -> None:
    """Create the collections that are missing (meta last: it marks an index as there)."""
    for kind in (*_KINDS[1:], "meta"):
        if conn.has(kind):
            continue
        schema, indexes = _schema(kind, dim, conn.lite_engine)
        params = MilvusClient.prepare_index_params()
        if kind == "chunks":
            if conn.lite:
                params.add_index("dense", index_type="FLAT", metric_type="COSINE")
            else:
                params.add_index(
                    "dense",
                    index_type="HNSW",
                    metric_type="COSINE",
                    params={"M": 16, "efConstruction": 200},
                )
        for field, index in indexes:
            params.add_index(field, **index)
        name = conn.target.collection(kind)
        try:
            conn.client.create_collection(name, schema=schema, consistency_level="Strong")
        except MilvusException:
            if not conn.has(kind):  # else another writer created it at the same moment
                raise
            continue
        # Not waiting for each index (pymilvus polls every 0.5 s): the collection is empty,
        # and loading it waits for its indexes.
        conn.client.create_index(name, params, sync=False)
        conn.client.load_collection(name)


def _load_collections(conn: _Connection) -> None:
    # Milvus Lite releases every collection when its file is closed; a server keeps
    # them loaded, and loading again is a no-op there.
    for kind in _KINDS:
        conn.client.load_collection(conn.target.collection(kind))


@dataclasses.dataclass(frozen=True)
class _Published:
    """A published generation as its meta row records it."""

    generation: int = 0
    chunks: int = 0
    issues: int = 0
    terms: int = 0  # pieces of its document frequencies

    @classmethod
    def read(cls, conn: _Connection) -> _Published:
        value = conn.meta(["generation"]).get("generation")
        if value is None:
            return cls()
        record = json.loads(value)
        return cls(record["generation"], record["chunks"], record["issues"], record["terms"])


def _read_frequencies(conn: _Connection, published: _Published) -> dict[str, int] | None:
    """Document frequency of each term in a generation (None when already collected)."""
    if not published.generation or not published.terms:
        return {}
    keys = [_terms_key(published.generation, i) for i in range(published.terms)]
    pieces = conn.meta(keys)
    if len(pieces) != len(keys):
        return None
    blob = base64.b64decode("".join(pieces[k] for k in keys))
    return json.loads(zlib.decompress(blob))


def _terms_key(gen: int, piece: int) -> str:
    return f"terms:{gen}:{piece:06d}"


def _check_schema(location: str, version: str | None) -> None:
    if version != str(SCHEMA_VERSION):
        raise StoreError(
            f"the index {location} has format {version}, this version of bulletin-qa reads "
            f"and writes format {SCHEMA_VERSION} (another lexical index): build the index "
            "in a new collection (`bulletin-qa migrate` from a folder index, or ingest the "
            "issues again) and use that one"
        )


# ---------------------------------------------------------------------------------------
# Store


class MilvusStore:
    """An index in Milvus or Milvus Lite (see the module's docstring)."""

    def __init__(self, location: str) -> None:
        """Parse ``location``; nothing is opened yet.

        Raises:
            StoreError: The location is not a Milvus location.
        """
        self._location = location
        self._target = _parse_location(location)

    @property
    def location(self) -> str:
        """Where the index is, as the user gave it."""
        return self._location

    def _connect(self) -> _Connection:
        return _Connection(self._location, self._target)

    def exists(self) -> bool:
        """Whether an index has been published there (a Lite file is not created).

        Raises:
            IndexBusyError: A Milvus Lite file is open in another process.
        """
        if self._target.lite is not None and not self._target.lite.exists():
            return False
        conn = self._connect()
        try:
            if not conn.has("meta"):
                return False
            conn.client.load_collection(self._target.collection("meta"))
            return _Published.read(conn).generation > 0
        finally:
            conn.close()

    def reader(self) -> MilvusReader:
        """Open the published index.

        Raises:
            IndexNotFoundError: There is none yet.
            IndexBusyError: A Milvus Lite file is open in another process.
        """
        if self._target.lite is not None and not self._target.lite.exists():
            raise IndexNotFoundError(f"no index at {self._location}: run `bulletin-qa ingest`")
        return MilvusReader(self._location, self._connect())

    @contextmanager
    def writer(
        self,
        model_id: str,
        dim: int,
        *,
        tokenizer: str | None = None,
        embedder: str | None = None,
        wait: float = 0,
    ) -> Iterator[MilvusWriter]:
        """Take the index's one writer (creating the collections when missing).

        Leaving the block without publishing discards what was staged.

        Args:
            model_id: Identifier of the embedding model in use.
            dim: Its vector dimension.
            tokenizer: Lexical tokenizer of a new index (an existing one keeps its own).
            embedder: The embedder computing the vectors to add (recorded in a new index;
                a note on standard error when it differs in precision from the one that
                built the index); None when no vectors are computed.
            wait: Seconds to wait for another writer to finish.

        Raises:
            IndexBusyError: Another writer holds the lease for longer than ``wait``, or
                (Milvus Lite) another process has the file open.
            ModelMismatchError: The index was built with another model.
        """
        if self._target.lite is not None:
            self._target.lite.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        try:
            writer = MilvusWriter(self._location, conn, model_id, dim, tokenizer, embedder, wait)
        except BaseException:
            conn.close()
            raise
        try:
            yield writer
        finally:
            writer.close()

    def check(self) -> list[str]:
        """Verify the published generation: counts, live issues, cached vectors and the
        per-term document frequencies against the live chunks (reads every live chunk).

        Returns:
            One sentence per problem; empty when the index is healthy.
        """
        if self._target.lite is not None and not self._target.lite.exists():
            return [f"no index at {self._location}"]
        conn = self._connect()
        try:
            if not all(conn.has(kind) for kind in _KINDS):
                return [f"no index at {self._location}"]
            _load_collections(conn)
            published = _Published.read(conn)
            if not published.generation:
                return [f"no index at {self._location}"]
            return _check(conn, published)
        finally:
            conn.close()

    def repair(self) -> int:
        """Put the cached vectors back into the live chunks and recount the generation's
        chunks, issues and term frequencies; publish that as a new generation.

        Returns:
            The new generation.

        Raises:
            IndexNotFoundError: There is no index.
            StoreError: Some live chunks have no cached vector (ingest them again).
        """
        reader = self.reader()
        model_id, dim = reader.model_id, reader.dim
        reader.close()
        with self.writer(model_id, dim) as writer:
            writer.rebuild_vectors()
            return writer.publish()


def _check(conn: _Connection, published: _Published) -> list[str]:
    gen = published.generation
    problems = []
    issues = list(conn.scan("issues", _live(gen), ["issue", "chunks", "articles"]))
    keys = Counter(r["issue"] for r in issues)
    if doubled := [k for k, n in keys.items() if n > 1]:
        problems.append(f"{len(doubled)} issues are live twice, e.g. {doubled[0]!r}")
    if len(issues) != published.issues:
        problems.append(
            f"generation {gen} records {published.issues} issues, {len(issues)} are live"
        )
    per_issue: Counter[int] = Counter()
    frequencies: Counter[str] = Counter()
    hashes = []
    for row in conn.scan("chunks", _live(gen), ["issue_row", "embed_hash", "tokens"]):
        per_issue[row["issue_row"]] += 1
        frequencies.update(set(row["tokens"].split()))
        hashes.append(row["embed_hash"])
    if len(hashes) != published.chunks:
        problems.append(
            f"generation {gen} records {published.chunks} chunks, {len(hashes)} are live"
        )
    live_rows = {r["id"] for r in issues}
    if orphans := sum(n for row, n in per_issue.items() if row not in live_rows):
        problems.append(f"{orphans} live chunks belong to no live issue")
    if wrong := [r["issue"] for r in issues if r["chunks"] != per_issue.get(r["id"], 0)]:
        problems.append(f"{len(wrong)} issues have another number of live chunks than recorded")
    articles = Counter(
        r["issue_row"]
        for r in conn.query_in("articles", "issue_row", live_rows, ["issue_row"], "piece == 0")
    )
    if wrong := [r["issue"] for r in issues if r["articles"] != articles.get(r["id"], 0)]:
        problems.append(f"{len(wrong)} issues have another number of articles than recorded")
    cached = {
        r["text_hash"]
        for r in conn.query_in("cache", "text_hash", hashes, ["text_hash"], "part == 0")
    }
    if uncached := sum(h not in cached for h in hashes):
        problems.append(f"{uncached} live chunks have no cached vector")
    stored = _read_frequencies(conn, published)
    if stored is None:
        problems.append(f"the term frequencies of generation {gen} are missing")
    elif stored != dict(frequencies):
        differ = {t for t in stored.keys() | frequencies.keys() if stored.get(t) != frequencies[t]}
        problems.append(f"{len(differ)} terms have other document frequencies than recorded")
    return problems


# ---------------------------------------------------------------------------------------
# Reader


class MilvusReader:
    """Read access to the published generation of a Milvus index. Thread-safe.

    Every query is filtered to the generation read by the last :meth:`refresh`, so a
    reader sees one published state however writers go on.
    """

    def __init__(self, location: str, conn: _Connection) -> None:
        """Open the index (``conn`` is closed on failure).

        Raises:
            IndexNotFoundError: No index has been published there.
        """
        self.location = location
        self._conn = conn
        try:
            if not all(conn.has(kind) for kind in _KINDS):
                raise IndexNotFoundError(f"no index at {location}: run `bulletin-qa ingest`")
            _load_collections(conn)
            keys = ["schema_version", "model_id", "dim", "tokenizer", "embedder", "vector_index"]
            meta = conn.meta(keys)
            published = _Published.read(conn)
            if not published.generation:
                raise IndexNotFoundError(f"no index at {location}: run `bulletin-qa ingest`")
            _check_schema(location, meta.get("schema_version"))
        except BaseException:
            conn.close()
            raise
        self._model_id = meta["model_id"]
        self._dim = int(meta["dim"])
        self._tokenizer = meta["tokenizer"]
        self._embedder = meta.get("embedder", OLDEST_EMBEDDER)
        self._hnsw = meta.get("vector_index") == "HNSW"
        self._lock = threading.Lock()
        self._published = published
        # Read at the first call that needs them, once per generation.
        self._frequencies: tuple[int, dict[str, int]] | None = None
        self._years: tuple[int, frozenset[int]] | None = None

    @property
    def model_id(self) -> str:
        """Identifier of the embedding model that built the index."""
        return self._model_id

    @property
    def embedder(self) -> str:
        """The embedder that built it (see :data:`retrieval.config.EMBEDDERS`)."""
        return self._embedder

    @property
    def dim(self) -> int:
        """The vectors' dimension."""
        return self._dim

    @property
    def tokenizer(self) -> str:
        """The tokenizer of the chunks' stored tokens, and so of :meth:`idf`'s terms."""
        return self._tokenizer

    @property
    def size(self) -> int:
        """Number of chunks of the generation read."""
        return self._published.chunks

    @property
    def generation(self) -> int:
        """The published generation read: the change token, which grows with every
        publish."""
        return self._published.generation

    def refresh(self) -> bool:
        """Switch to the published generation if a writer published one (one query)."""
        published = _Published.read(self._conn)
        with self._lock:
            if published.generation <= self._published.generation:
                return False
            self._published = published
        return True

    def check_model(self, model_id: str) -> None:
        """Raise :class:`ModelMismatchError` unless ``model_id`` built the index."""
        if model_id != self._model_id:
            raise ModelMismatchError(
                f"the index {self.location} was built with model {self._model_id!r}, not "
                f"{model_id!r}: use the same model, or ingest into another index"
            )

    def _where(self, gen: int, filters: Filters | None) -> str:
        # Milvus rejects chained comparisons (a <= x <= b): one comparison per term.
        terms = [_live(gen)]
        if filters and (filters.since or filters.until):
            terms.append("date_int > 0")  # an undated issue matches no date range
            if filters.since:
                terms.append(f"date_int >= {_date_int(filters.since)}")
            if filters.until:
                terms.append(f"date_int <= {_date_int(filters.until)}")
        if filters and filters.issue:
            terms.append(f"issue == {_lit(filters.issue)}")
        return " and ".join(terms)

    def dense_search(
        self, vector: np.ndarray, k: int, filters: Filters | None = None
    ) -> list[tuple[int, float]]:
        """Up to ``k`` ``(chunk id, cosine)`` pairs for a normalised vector, best first."""
        published = self._published
        if k <= 0 or not published.chunks:
            return []
        params: dict[str, Any] = {"metric_type": "COSINE"}
        if self._hnsw:
            params["params"] = {"ef": max(64, k)}
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        hits = self._conn.client.search(
            self._conn.target.collection("chunks"),
            data=[query.tolist()],
            anns_field="dense",
            filter=self._where(published.generation, filters),
            limit=min(k, _MAX_K),
            output_fields=["id"],
            search_params=params,
        )[0]
        return [(int(hit["id"]), float(hit["distance"])) for hit in hits]

    def _bm25(self, query: LexicalQuery, k: int, where: str) -> list[tuple[int, float]]:
        # Terms the index lacks match nothing: dropped, as the local backend drops them.
        vocabulary = self._term_frequencies()[1]
        if isinstance(query, str):
            terms = [t for t in tokenize(query, self._tokenizer) if t in vocabulary]
            scale = 1.0
        else:
            terms, scale = _weighted_terms({t: w for t, w in query.items() if t in vocabulary})
        if not terms or k <= 0:
            return []
        hits = self._conn.client.search(
            self._conn.target.collection("chunks"),
            data=[_lexical_text(terms)],
            anns_field="sparse",
            filter=where,
            limit=min(k, _MAX_K),
            output_fields=["id"],
            search_params={"metric_type": "BM25"},
        )[0]
        # Milvus Lite returns BM25 as a distance (the negated score), a server as the score;
        # either carries the factor k1 + 1 that bm25s's scores do not.
        scale /= 1 + BM25_K1
        found = [(int(hit["id"]), abs(float(hit["distance"])) * scale) for hit in hits]
        # Ties by id, so that the same search ranks the same way whatever Milvus returns.
        return sorted((pair for pair in found if pair[1] > 0), key=lambda p: (-p[1], p[0]))

    def lexical_search(
        self, query: LexicalQuery, k: int, filters: Filters | None = None
    ) -> list[tuple[int, float]]:
        """Up to ``k`` ``(chunk id, BM25 score)`` pairs with a positive score, best first.

        Args:
            query: A question (cut into terms by the index's tokenizer: either script
                matches), or weighted terms (each term's score counts times its weight,
                the weight rounded to 1/64 of the largest).
            k: How many results at most.
            filters: Dates and issue to restrict the search to.
        """
        published = self._published
        if not published.chunks:
            return []
        return self._bm25(query, k, self._where(published.generation, filters))

    def lexical_scores(self, query: LexicalQuery, chunk_ids: Sequence[int]) -> dict[int, float]:
        """BM25 scores of given chunks (0 for those the query does not match): a search
        restricted to their ids."""
        scores = dict.fromkeys((int(i) for i in chunk_ids), 0.0)
        for batch in _batches(list(scores)):
            scores.update(self._bm25(query, len(batch), _in("id", batch)))
        return scores

    def vectors(self, chunk_ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of chunks, one row each, in order.

        Raises:
            StoreError: A chunk is not in the index.
        """
        rows = self._conn.query_in("chunks", "id", [int(i) for i in chunk_ids], ["id", "dense"])
        found = {r["id"]: r["dense"] for r in rows}
        if missing := [i for i in chunk_ids if int(i) not in found]:
            raise StoreError(f"chunk {missing[0]} is not in the index {self.location}")
        if not len(chunk_ids):
            return np.zeros((0, self._dim), dtype=np.float32)
        return np.asarray([found[int(i)] for i in chunk_ids], dtype=np.float32)

    def sentences(self, chunk_ids: Sequence[int]) -> dict[int, SentenceVectors]:
        """Sentence vectors of chunks by chunk id (chunks without them left out)."""
        rows = self._conn.query_in("chunks", "id", [int(i) for i in chunk_ids], ["embed_hash"])
        by_hash: dict[str, list[int]] = {}
        for row in rows:
            by_hash.setdefault(row["embed_hash"], []).append(row["id"])
        found = _cached_sentences(self._conn, by_hash, self._dim)
        return {i: found[h] for h, ids in by_hash.items() if h in found for i in ids}

    def _term_frequencies(self) -> tuple[int, dict[str, int]]:
        published = self._published
        cached = self._frequencies
        if cached is not None and cached[0] == published.generation:
            return published.chunks, cached[1]
        frequencies = _read_frequencies(self._conn, published)
        if frequencies is None:
            # A writer published twice since this reader's refresh and collected them:
            # the newest generation's stand in.
            self.refresh()
            published = self._published
            frequencies = _read_frequencies(self._conn, published) or {}
        self._frequencies = (published.generation, frequencies)
        return published.chunks, frequencies

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """Inverse document frequency of lexical terms (a term no chunk has counts as
        rarest), from document frequencies kept per generation at publish time."""
        n, frequencies = self._term_frequencies()
        if not n:
            return dict.fromkeys(terms, 0.0)
        return {t: bm25_idf(n, frequencies.get(t, 0)) for t in terms}

    def vocabulary(self) -> Collection[str]:
        """The indexed lexical terms (folded): those of the stored tokens."""
        return self._term_frequencies()[1].keys()

    def years(self) -> frozenset[int]:
        """The years of the dated issues (read once per generation)."""
        gen = self._published.generation
        cached = self._years
        if cached is not None and cached[0] == gen:
            return cached[1]
        rows = self._conn.scan("issues", f"{_live(gen)} and date_int > 0", ["date_int"])
        years = frozenset(r["date_int"] // 10_000 for r in rows)
        self._years = (gen, years)
        return years

    def count(self, filters: Filters) -> int:
        """How many chunks ``filters`` let through."""
        published = self._published
        if not filters:
            return published.chunks
        return self._conn.count("chunks", self._where(published.generation, filters))

    def _records(self, rows: Iterable[dict]) -> dict[int, ChunkRecord]:
        rows = list(rows)
        bodies = _bodies(self._conn, [r["article_id"] for r in rows])
        return {
            r["id"]: ChunkRecord(
                chunk_id=r["id"],
                text=r["text"],
                seq=r["seq"],
                start=r["char_start"],
                end=r["char_end"],
                article_id=r["article_id"],
                headline=r["headline"],
                section=r["section"],
                author=r["author"],
                page=r["page"],
                body=bodies.get(r["article_id"], ""),
                issue=r["issue"],
                issue_title=r["title"],
                date=_date(r["date_int"]),
                source=r["source"],
            )
            for r in rows
        }

    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, ChunkRecord]:
        """Chunks with their article and issue, by chunk id (unknown ids left out).

        Rows stay until the generation after the next is published, so ids found by a
        search are looked up whatever generation a writer published in between.
        """
        ids = [int(i) for i in chunk_ids]
        return self._records(self._conn.query_in("chunks", "id", ids, _RECORD_FIELDS))

    def issue_chunks(self, issue_key: str) -> list[ChunkRecord]:
        """The chunks of one issue in reading order (none when it is not indexed)."""
        where = self._where(self._published.generation, Filters(issue=issue_key))
        records = self._records(self._conn.scan("chunks", where, _RECORD_FIELDS))
        return sorted(records.values(), key=lambda r: (r.article_id, r.seq))

    def _issues(self, issue_key: str | None = None) -> list[dict]:
        where = _live(self._published.generation)
        if issue_key is not None:
            where += f" and issue == {_lit(issue_key)}"
        return list(self._conn.scan("issues", where, _ISSUE_FIELDS[2:]))

    def issues(self) -> list[IssueSummary]:
        """The issues, newest first (undated last, then by key)."""
        found = [_summary(r) for r in self._issues()]
        found.sort(key=lambda s: s.issue)
        found.sort(key=lambda s: s.date or dt.date.min, reverse=True)
        found.sort(key=lambda s: s.date is None)
        return found

    def issue(self, issue_key: str) -> IssueSummary | None:
        """One issue, or None when it is not indexed."""
        rows = self._issues(issue_key)
        return _summary(rows[0]) if rows else None

    def articles(self, issue_key: str) -> list[ArticleSummary]:
        """The articles of an issue in reading order (none when it is not indexed)."""
        rows = self._issues(issue_key)
        if not rows:
            return []
        fields = ["seq", "headline", "section", "author", "page", "chars"]
        found = self._conn.scan("articles", f"issue_row == {rows[0]['id']} and piece == 0", fields)
        return [
            ArticleSummary(
                index=a["seq"] + 1,
                headline=a["headline"],
                section=a["section"],
                author=a["author"],
                page=a["page"],
                chars=a["chars"],
            )
            for a in sorted(found, key=lambda a: a["seq"])
        ]

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


def _summary(row: dict) -> IssueSummary:
    return IssueSummary(
        issue=row["issue"],
        title=row["title"],
        date=_date(row["date_int"]),
        source=row["source"],
        articles=row["articles"],
        chunks=row["chunks"],
        ingested_at=row["ingested_at"],
    )


def _bodies(conn: _Connection, article_ids: Iterable[int]) -> dict[int, str]:
    pieces: dict[int, list[tuple[int, str]]] = {}
    for row in conn.query_in(
        "articles", "article_id", article_ids, ["article_id", "piece", "body"]
    ):
        pieces.setdefault(row["article_id"], []).append((row["piece"], row["body"]))
    return {a: "".join(body for _, body in sorted(p)) for a, p in pieces.items()}


def _cached_sentences(
    conn: _Connection, hashes: Iterable[str], dim: int
) -> dict[str, SentenceVectors]:
    parts: dict[str, dict[int, str]] = {}
    expected: dict[str, int] = {}
    fields = ["text_hash", "part", "parts", "sentences"]
    for row in conn.query_in("cache", "text_hash", hashes, fields, "parts > 0"):
        parts.setdefault(row["text_hash"], {})[row["part"]] = row["sentences"]
        expected[row["text_hash"]] = row["parts"]
    return {
        h: SentenceVectors.unpack(base64.b64decode("".join(p[i] for i in range(expected[h]))), dim)
        for h, p in parts.items()
        if all(i in p for i in range(expected[h]))
    }


# ---------------------------------------------------------------------------------------
# Writer


class _Lease:
    """The writer's lease row in the meta collection, renewed by a thread."""

    def __init__(self, conn: _Connection, location: str, wait: float) -> None:
        self._conn = conn
        self._location = location
        self.owner = {
            "id": uuid.uuid4().hex,
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        self.lost = False
        self._stop = threading.Event()
        deadline = time.monotonic() + wait
        while not self._take():
            if time.monotonic() >= deadline:
                holder = self._holder() or {}
                raise IndexBusyError(
                    f"another ingest is writing to {location} (process {holder.get('pid')} "
                    f"on {holder.get('host')}); try again when it has finished"
                )
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        self._thread = threading.Thread(target=self._renew, name="milvus-lease", daemon=True)
        self._thread.start()

    def _holder(self) -> dict | None:
        value = self._conn.meta(["lease"]).get("lease")
        return json.loads(value) if value else None

    def _stale(self, holder: dict | None) -> bool:
        if not holder or holder["id"] == self.owner["id"] or holder["expires"] < time.time():
            return True
        if holder["pid"] == self.owner["pid"] or holder["host"] != self.owner["host"]:
            return False
        # Another process of this host: Milvus Lite lets only one process open the file
        # (this one has it open), and a server's writer that no longer runs left it.
        return self._conn.lite or not _running(holder["pid"])

    def _write(self) -> None:
        lease = {**self.owner, "expires": time.time() + LEASE_TTL}
        self._conn.set_meta({"lease": json.dumps(lease)})

    def _take(self) -> bool:
        with _lease_lock:
            if not self._stale(self._holder()):
                return False
            self._write()
        if not self._conn.lite:
            # Two hosts may both have found the lease free: the last write wins, and the
            # other sees it once both writes have landed.
            time.sleep(1.0)
        holder = self._holder()
        return bool(holder) and holder["id"] == self.owner["id"]

    def _renew(self) -> None:
        while not self._stop.wait(LEASE_RENEW):
            try:
                with _lease_lock:
                    holder = self._holder()
                    if not holder or holder["id"] != self.owner["id"]:
                        self.lost = True
                        return
                    self._write()
            except MilvusException:
                continue  # try again at the next beat; the lease outlives a few misses

    def check(self) -> None:
        if self.lost:
            raise IndexBusyError(
                f"this writer lost its lease on {self._location} (another writer took it "
                "over after it was not renewed in time); nothing was published"
            )

    def release(self) -> None:
        self._stop.set()
        self._thread.join()
        with _lease_lock:
            holder = self._holder()
            if holder and holder["id"] == self.owner["id"]:
                self._conn.delete("meta", 'key == "lease"')


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclasses.dataclass
class _Staged:
    """What this writer staged for one issue key."""

    row: int
    chunks: int
    terms: Counter[str]


class MilvusWriter:
    """The one writer of a Milvus index; use through :meth:`MilvusStore.writer`.

    Changes are staged as rows of the next generation; :meth:`publish` makes them the
    published generation at once.
    """

    def __init__(
        self,
        location: str,
        conn: _Connection,
        model_id: str,
        dim: int,
        tokenizer: str | None,
        embedder: str | None,
        wait: float,
    ) -> None:
        self.location = location
        self._conn = conn
        self.model_id = model_id
        self.dim = dim
        self._adding_with = embedder
        _create_collections(conn, dim)
        _load_collections(conn)
        self._lease = _Lease(conn, location, wait)
        try:
            self._check_meta(tokenizer or DEFAULT_TOKENIZER, embedder or OLDEST_EMBEDDER)
            self._published = _Published.read(conn)
            self._next_id = int(conn.meta(["next_id"]).get("next_id", "1"))
            self._recover()
        except BaseException:
            self._lease.release()
            raise
        self._reset()

    @property
    def base_gen(self) -> int:
        """The published generation this writer builds on."""
        return self._published.generation

    @property
    def gen(self) -> int:
        """The generation being staged."""
        return self._published.generation + 1

    def _reset(self) -> None:
        self._staged: dict[str, _Staged] = {}
        self._removed_chunks = 0
        self._removed_issues = 0
        self._removed_terms: Counter[str] = Counter()
        self._recounted: tuple[int, int, Counter[str]] | None = None
        # Whether rows may have been written since the last publish (even by a call
        # that failed half-way, which stages nothing).
        self._touched = False

    def _check_meta(self, tokenizer: str, embedder: str) -> None:
        keys = ["schema_version", "model_id", "dim", "tokenizer", "embedder", "vector_index"]
        meta = self._conn.meta(keys)
        if "model_id" not in meta:
            self._conn.set_meta(
                {
                    "schema_version": str(SCHEMA_VERSION),
                    "model_id": self.model_id,
                    "dim": str(self.dim),
                    "tokenizer": tokenizer,
                    "embedder": embedder,
                    "vector_index": "FLAT" if self._conn.lite else "HNSW",
                }
            )
            self.tokenizer, self.embedder = tokenizer, embedder
            return
        _check_schema(self.location, meta.get("schema_version"))
        if meta["model_id"] != self.model_id or int(meta["dim"]) != self.dim:
            raise ModelMismatchError(
                f"the index {self.location} was built with model {meta['model_id']!r}, "
                f"not {self.model_id!r}: use the same model, or another collection"
            )
        # Stored tokens were cut by the index's tokenizer: keep using it.
        self.tokenizer = meta["tokenizer"]
        self.embedder = meta.get("embedder", OLDEST_EMBEDDER)
        if self._adding_with:
            note_embedder(self.location, self.embedder, self._adding_with)

    def _recover(self) -> None:
        """Undo what a writer that died before publishing left behind; finish what one
        that died while collecting garbage left."""
        base = self.base_gen
        for kind in ("chunks", "issues", "articles", "sources"):
            self._conn.delete(kind, f"added > {base}")
        self._conn.delete("meta", f"gen > {base}")
        for kind, fields in (("chunks", _CHUNK_FIELDS), ("issues", _ISSUE_FIELDS)):
            marked = list(self._conn.scan(kind, f"removed > {base} and removed < {LIVE}", fields))
            self._conn.upsert(kind, [{**r, "removed": LIVE} for r in marked])
        self._collect_garbage(base)

    def _collect_garbage(self, published: int) -> None:
        """Delete what neither ``published`` nor the generation before can see."""
        keep_from = published - 1
        gone = [r["id"] for r in self._conn.scan("issues", f"removed <= {keep_from}", [])]
        for batch in _batches(gone):
            for kind in ("articles", "sources"):
                self._conn.delete(kind, _in("issue_row", batch))
        self._conn.delete("chunks", f"removed <= {keep_from}")
        self._conn.delete("issues", f"removed <= {keep_from}")
        self._conn.delete("meta", f"gen > 0 and gen < {keep_from}")

    @property
    def changed(self) -> bool:
        """Whether anything is staged."""
        return bool(
            self._staged
            or self._removed_chunks
            or self._removed_issues
            or self._recounted is not None
        )

    def _ids(self, n: int) -> list[int]:
        start = self._next_id
        self._next_id += n
        return list(range(start, start + n))

    def issue_hash(self, issue_key: str) -> str | None:
        """Content hash of the published issue, or None when it is not indexed."""
        rows = self._conn.query(
            "issues", f"issue == {_lit(issue_key)} and {_live(self.base_gen)}", ["content_hash"]
        )
        return rows[0]["content_hash"] if rows else None

    def stored_issues(self) -> Iterator[StoredIssue]:
        """Every published issue with its sources and chunks, in the order ingested."""
        rows = list(self._conn.scan("issues", _live(self.base_gen), _ISSUE_FIELDS[2:]))
        for row in rows:
            yield self._stored(row)

    def _stored(self, row: dict) -> StoredIssue:
        conn, where = self._conn, f"issue_row == {row['id']}"
        fields = ["article_id", "piece", "seq", "headline", "section", "author", "page", "body"]
        articles: dict[int, dict] = {}
        bodies: dict[int, list[tuple[int, str]]] = {}
        for a in conn.scan("articles", where, fields):
            articles.setdefault(a["seq"], a)
            bodies.setdefault(a["seq"], []).append((a["piece"], a["body"]))
        issue = Issue(
            issue_id=row["issue"],
            source=row["source"],
            title=row["title"],
            date=_date(row["date_int"]),
            articles=[
                Article(
                    headline=a["headline"],
                    body="".join(body for _, body in sorted(bodies[seq])),
                    section=a["section"],
                    author=a["author"],
                    page=a["page"],
                )
                for seq, a in sorted(articles.items())
            ],
        )
        fields = ["article_seq", "seq", "text", "char_start", "char_end", "embed_hash", "tokens"]
        chunks = sorted(
            conn.scan("chunks", where, fields), key=lambda c: (c["article_seq"], c["seq"])
        )
        files: dict[int, tuple[str, list[tuple[int, str]]]] = {}
        for s in conn.scan("sources", where, ["file", "name", "piece", "data"]):
            files.setdefault(s["file"], (s["name"], []))[1].append((s["piece"], s["data"]))
        return StoredIssue(
            issue=issue,
            content_hash=row["content_hash"],
            sources=[
                (name, b"".join(base64.b64decode(data) for _, data in sorted(pieces)))
                for _, (name, pieces) in sorted(files.items())
            ],
            chunks=[
                Chunk(c["article_seq"], c["seq"], c["text"], c["char_start"], c["char_end"])
                for c in chunks
            ],
            embed_hashes=[c["embed_hash"] for c in chunks],
            tokens=[c["tokens"].split() for c in chunks],
        )

    def cached_vectors(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Vectors this index's model computed before, by text hash; only texts whose
        sentence vectors are cached too count."""
        return self._cached(hashes, "part == 0 and parts > 0")

    def _cached(self, hashes: Iterable[str], where: str = "part == 0") -> dict[str, np.ndarray]:
        rows = self._conn.query_in("cache", "text_hash", hashes, ["text_hash", "vector"], where)
        return {r["text_hash"]: np.asarray(r["vector"], dtype=np.float32) for r in rows}

    def cached_sentences(self, hashes: Iterable[str]) -> dict[str, SentenceVectors]:
        """Sentence vectors cached by text hash."""
        return _cached_sentences(self._conn, hashes, self.dim)

    def cache_vectors(
        self,
        vectors: Mapping[str, np.ndarray],
        sentences: Mapping[str, SentenceVectors] | None = None,
    ) -> None:
        """Remember vectors and sentence vectors by text hash (kept even if never
        published: the cache is not part of any generation)."""
        sentences = sentences or {}
        rows = []
        for text_hash, vector in vectors.items():
            values = np.asarray(vector, dtype=np.float32).reshape(-1).tolist()
            pieces = _byte_pieces(sentences[text_hash].pack()) if text_hash in sentences else [""]
            parts = len(pieces) if text_hash in sentences else 0
            rows.extend(
                {
                    "key": f"{text_hash}:{part}",
                    "vector": values,
                    "text_hash": text_hash,
                    "part": part,
                    "parts": parts,
                    "sentences": piece,
                }
                for part, piece in enumerate(pieces)
            )
        self._conn.upsert("cache", rows)

    def remove_issue(self, issue_key: str) -> bool:
        """Stage the removal of an issue; False when it is not indexed."""
        self._lease.check()
        self._touched = True
        where = f"issue == {_lit(issue_key)} and removed == {LIVE}"
        rows = self._conn.query("issues", where, _ISSUE_FIELDS)
        for row in rows:
            if row["added"] == self.gen:  # staged by this writer: drop it outright
                staged = self._staged.pop(issue_key)
                for kind in ("chunks", "articles", "sources", "issues"):
                    key = "id" if kind == "issues" else "issue_row"
                    self._conn.delete(kind, f"{key} == {staged.row}")
                continue
            chunks = list(self._conn.scan("chunks", f"issue_row == {row['id']}", _CHUNK_FIELDS))
            self._conn.upsert("chunks", [{**c, "removed": self.gen} for c in chunks])
            self._conn.upsert("issues", [{**row, "removed": self.gen}])
            self._removed_chunks += len(chunks)
            self._removed_issues += 1
            for c in chunks:
                self._removed_terms.update(set(c["tokens"].split()))
        return bool(rows)

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
        """Stage an issue, replacing the indexed one with the same key.

        Args:
            issue: The parsed issue.
            content_hash: Hash of the files it came from.
            chunks: Its chunks, in order.
            embed_hashes: Hash of the embedded text of each chunk.
            vectors: One normalised vector per chunk, shape ``(len(chunks), dim)``.
            tokens: The lexical terms of each chunk (see :func:`retrieval.lexical.tokenize`
                with :attr:`tokenizer`): what Milvus's BM25 indexes (see the module's
                docstring), also kept as they are for :meth:`MilvusReader.idf` and
                rebuilds.
            sources: ``(file name, content)`` of the files the issue was read from.

        Raises:
            StoreError: A text is longer than a Milvus field holds.
        """
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(chunks), self.dim)
        if not len(chunks) == len(embed_hashes) == len(tokens):
            raise ValueError("chunks, embed_hashes and tokens differ in length")
        self.remove_issue(issue.issue_id)
        key, gen = issue.issue_id, self.gen
        where = f"issue {key!r}"
        issue_row = self._ids(1)[0]
        article_ids = self._ids(len(issue.articles))
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        date_int = _date_int(issue.date)
        source = _fits(f"the source of {where}", issue.source)
        title = _fits(f"the title of {where}", issue.title)

        source_rows = [
            {"issue_row": issue_row, "file": file, "name": name, "piece": piece, "data": data}
            for file, (name, content) in enumerate(sources)
            for piece, data in enumerate(_byte_pieces(content))
        ]
        for row, row_id in zip(source_rows, self._ids(len(source_rows)), strict=True):
            row.update(id=row_id, pad=_PAD, added=gen)
        self._conn.insert("sources", source_rows)

        article_rows = []
        for seq, (article, article_id) in enumerate(zip(issue.articles, article_ids, strict=True)):
            fields = {
                "article_id": article_id,
                "issue_row": issue_row,
                "seq": seq,
                "headline": _fits(f"a headline of {where}", article.headline),
                "section": _fits(f"a section of {where}", article.section),
                "author": _fits(f"an author of {where}", article.author),
                "page": article.page,
                "chars": len(article.body),
                "added": gen,
                "pad": _PAD,
            }
            pieces = _text_pieces(article.body)
            ids = self._ids(len(pieces))
            article_rows.extend(
                {**fields, "id": i, "piece": p, "body": body}
                for p, (i, body) in enumerate(zip(ids, pieces, strict=True))
            )
        self._conn.insert("articles", article_rows)

        chunk_rows = []
        terms: Counter[str] = Counter()
        ids = self._ids(len(chunks))
        for chunk_id, chunk, text_hash, vector, words in zip(
            ids, chunks, embed_hashes, vectors, tokens, strict=True
        ):
            article = issue.articles[chunk.article_index]
            terms.update(set(words))
            chunk_rows.append(
                {
                    "id": chunk_id,
                    "dense": vector.tolist(),
                    "text": _fits(f"a chunk of {where}", chunk.text),
                    "lexical": _fits(f"the terms of a chunk of {where}", _lexical_text(words)),
                    "seq": chunk.seq,
                    "char_start": chunk.start,
                    "char_end": chunk.end,
                    "article_id": article_ids[chunk.article_index],
                    "article_seq": chunk.article_index,
                    "headline": article.headline,
                    "section": article.section,
                    "author": article.author,
                    "page": article.page,
                    "issue": key,
                    "issue_row": issue_row,
                    "title": title,
                    "date_int": date_int,
                    "source": source,
                    "added": gen,
                    "removed": LIVE,
                    "embed_hash": text_hash,
                    "tokens": _fits(f"the tokens of a chunk of {where}", " ".join(words)),
                }
            )
        self._conn.insert("chunks", chunk_rows)

        self._conn.insert(
            "issues",
            [
                {
                    "id": issue_row,
                    "pad": _PAD,
                    "issue": key,
                    "title": title,
                    "date_int": date_int,
                    "source": source,
                    "content_hash": content_hash,
                    "ingested_at": now,
                    "articles": len(issue.articles),
                    "chunks": len(chunks),
                    "added": gen,
                    "removed": LIVE,
                }
            ],
        )
        self._staged[key] = _Staged(issue_row, len(chunks), terms)

    def rebuild_vectors(self) -> None:
        """Put the cached vectors back into the published chunks and recount them.

        Raises:
            StoreError: Some live chunks have no cached vector (ingest them again).
        """
        self._lease.check()
        live = _live(self.base_gen)
        # A first pass over the light fields: nothing is changed unless every vector is
        # there (any cached vector will do, with or without sentence vectors).
        chunks, missing = 0, 0
        terms: Counter[str] = Counter()
        hashes: list[str] = []
        for row in self._conn.scan("chunks", live, ["embed_hash", "tokens"]):
            chunks += 1
            terms.update(set(row["tokens"].split()))
            hashes.append(row["embed_hash"])
            if len(hashes) == _BATCH:
                missing += len(set(hashes) - self._cached(hashes).keys())
                hashes = []
        missing += len(set(hashes) - self._cached(hashes).keys())
        if missing:
            raise StoreError(
                f"{missing} chunk texts have no cached vector: remove and ingest their issues again"
            )
        # Then page by page, so that the vectors of a large index need not fit in memory.
        page: list[dict] = []
        for row in self._conn.scan("chunks", live, _CHUNK_FIELDS):
            page.append(row)
            if len(page) == _INSERT_BATCH:
                self._restore(page)
                page = []
        self._restore(page)
        issues = self._conn.count("issues", live)
        self._recounted = (chunks, issues, terms)

    def _restore(self, rows: list[dict]) -> None:
        cached = self._cached({r["embed_hash"] for r in rows})
        self._conn.upsert(
            "chunks", [{**r, "dense": cached[r["embed_hash"]].tolist()} for r in rows]
        )

    def publish(self) -> int:
        """Make everything staged visible at once.

        Returns:
            The new published generation (the old one when nothing changed).
        """
        self._lease.check()
        if not self.changed:
            return self.base_gen
        base, gen = self._published, self.gen
        if self._recounted is not None:
            chunks, issues, terms = self._recounted
        else:
            previous = _read_frequencies(self._conn, base)
            if previous is None:
                raise StoreError(f"the term frequencies of generation {base.generation} are gone")
            terms = Counter(previous)
            terms.subtract(self._removed_terms)
            for staged in self._staged.values():
                terms.update(staged.terms)
            chunks = base.chunks - self._removed_chunks
            chunks += sum(s.chunks for s in self._staged.values())
            issues = base.issues - self._removed_issues + len(self._staged)
        frequencies = {t: n for t, n in terms.items() if n > 0}
        blob = zlib.compress(json.dumps(frequencies, ensure_ascii=False).encode("utf-8"))
        pieces = _byte_pieces(blob) if frequencies else []
        self._conn.set_meta({_terms_key(gen, i): piece for i, piece in enumerate(pieces)}, gen=gen)
        self._conn.set_meta({"next_id": str(self._next_id)})
        # Seal what was written into indexed segments. Milvus Lite (embedded or served by
        # `milvus-lite server`) searches unsealed rows by brute force, some 40 times slower
        # at 4,000 chunks; a server seals them itself in time, and may refuse flushes
        # that come too often, which only delays that.
        for kind in _KINDS:
            try:
                self._conn.client.flush(self._conn.target.collection(kind))
            except MilvusException as exc:
                log.info("%s: flush of %s refused: %s", self.location, kind, exc.message)
        published = _Published(gen, chunks, issues, len(pieces))
        record = {**dataclasses.asdict(published), "published": time.time()}
        self._conn.set_meta({"generation": json.dumps(record)})
        self._published = published
        self._reset()
        try:
            self._collect_garbage(gen)
        except MilvusException as exc:
            # Published all the same: the next writer collects what is left.
            log.warning("%s: garbage of generation %d left behind: %s", self.location, gen, exc)
        if self._conn.lite_engine:
            try:
                self._reseal(gen)
            except MilvusException as exc:
                # Published all the same: scores drift a little until the next publish.
                log.warning(
                    "%s: BM25 statistics left per segment until the next publish: %s",
                    self.location,
                    exc,
                )
        return gen

    def _reseal(self, gen: int) -> None:
        """Milvus Lite: rewrite the chunk rows that generation ``gen`` or the one before can
        see into one new segment, so that BM25's statistics are those of these rows.

        Milvus Lite keeps them per segment and counts every row a segment holds; the
        rewritten rows leave their old segments with no row to find, which its compaction
        drops once it merges them.
        """
        started = time.perf_counter()
        page: list[dict] = []
        for row in self._conn.scan("chunks", f"removed >= {gen}", _CHUNK_FIELDS):
            page.append(row)
            if len(page) == _BATCH:
                self._conn.upsert("chunks", page)
                page = []
        self._conn.upsert("chunks", page)
        self._conn.client.flush(self._conn.target.collection("chunks"))
        log.info("%s: chunks rewritten in %.1f s", self.location, time.perf_counter() - started)

    def close(self) -> None:
        """Discard what was staged and not published, give up the lease, disconnect."""
        try:
            if self._touched and not self._lease.lost:
                self._recover()
        finally:
            try:
                self._lease.release()
            finally:
                self._conn.close()
