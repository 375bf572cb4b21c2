"""Issue files → the index: parse, chunk, embed what is new, publish a generation."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from retrieval.chunk import chunk_article
from retrieval.documents import Chunk, Issue
from retrieval.embed import Embedder
from retrieval.lexical import DEFAULT_TOKENIZER, Tokenizer, tokenize
from retrieval.parse import BadFileError, group_issue_files, read_issue_files
from retrieval.store import open_writer

log = logging.getLogger(__name__)

# Part of every content hash: a file parsed by an older pipeline counts as changed.
PIPELINE_VERSION = "1"
SUFFIXES = frozenset({".txt", ".text", ".pdf"})
# Embedding work is split into slabs so that a crash or Ctrl-C keeps what was embedded.
_SLAB = 256


@dataclass
class IngestReport:
    """What an ingest did, file by file."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0
    cached: int = 0
    generation: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no file failed."""
        return not self.failed


@dataclass
class _Prepared:
    issue: Issue
    sources: list[tuple[str, bytes]]
    content_hash: str
    chunks: list[Chunk]
    embed_texts: list[str]
    embed_hashes: list[str]


def find_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into the bulletin files they hold (.txt, .text, .pdf; recursively).

    Files named explicitly are kept whatever their type, so that an unsupported one gets
    a clear message instead of being skipped in silence. Hidden files and ``.meta.json``
    sidecars found in folders are not bulletins.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and p.suffix.lower() in SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def _content_hash(sources: list[tuple[str, bytes]]) -> str:
    # Names count: a page file's number comes from its name.
    digest = hashlib.sha256(PIPELINE_VERSION.encode())
    for name, data in sources:
        digest.update(f"\0{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def text_hash(text: str) -> str:
    """Stable short hash of a text (the embedding cache key)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def embed_text(headline: str, chunk_text: str) -> str:
    """The text embedded for a chunk: its article's headline, then the chunk."""
    return f"{headline}\n{chunk_text}" if headline else chunk_text


def _prepare(issue: Issue, sources: list[tuple[str, bytes]], content_hash: str) -> _Prepared:
    chunks = [
        chunk
        for index, article in enumerate(issue.articles)
        for chunk in chunk_article(article, index)
    ]
    texts = [embed_text(issue.articles[c.article_index].headline, c.text) for c in chunks]
    return _Prepared(issue, sources, content_hash, chunks, texts, [text_hash(t) for t in texts])


def _embed_missing(
    embedder: Embedder,
    texts: dict[str, str],
    store: Callable[[dict[str, np.ndarray]], None],
    progress: bool,
    batch_size: int | None,
) -> dict[str, np.ndarray]:
    """Embed ``texts`` (hash → text) slab by slab, longest first, storing each slab."""
    order = sorted(texts, key=lambda h: len(texts[h]), reverse=True)
    vectors: dict[str, np.ndarray] = {}
    with tqdm(total=len(order), desc="embedding", unit="chunk", disable=not progress) as bar:
        for i in range(0, len(order), _SLAB):
            slab = order[i : i + _SLAB]
            done = dict(
                zip(
                    slab,
                    embedder.embed_passages([texts[h] for h in slab], batch_size=batch_size),
                    strict=True,
                )
            )
            store(done)
            vectors.update(done)
            bar.update(len(slab))
    return vectors


def ingest(
    paths: Sequence[Path],
    index_dir: Path,
    embedder: Embedder,
    *,
    progress: bool = False,
    batch_size: int | None = None,
    wait: float = 0,
    tokenizer: Tokenizer = DEFAULT_TOKENIZER,
) -> IngestReport:
    """Index the bulletin files under ``paths`` into ``index_dir``.

    Unchanged files (same content hash) are skipped; a changed file replaces its issue.
    Files that cannot be read or parsed are reported and the others still ingested.
    Nothing becomes visible until the new generation is published at the end.

    Args:
        paths: Files and folders.
        index_dir: The index folder (created when missing).
        embedder: The embedding model (must be the one that built the index).
        progress: Show a progress bar while embedding.
        batch_size: Embedding batch size (the embedder's default when None).
        wait: Seconds to wait for another running ingest.
        tokenizer: Lexical tokenizer of a new index (an existing index keeps its own).

    Returns:
        What was added, replaced, skipped and what failed.

    Raises:
        retrieval.store.IndexBusyError: Another ingest holds the index.
        retrieval.store.ModelMismatchError: The index was built with another model.
    """
    started = time.perf_counter()
    report = IngestReport()
    clock = started

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.timings[step] = now - clock
        clock = now

    with open_writer(
        index_dir, embedder.model_id, embedder.dim, tokenizer=tokenizer, wait=wait
    ) as writer:
        prepared: list[_Prepared] = []
        seen: dict[str, Path] = {}
        for group in group_issue_files(find_files(paths)):
            try:
                sources = [(path.name, path.read_bytes()) for path in group]
                issue, skipped = read_issue_files(group)
            except BadFileError as exc:
                report.failed.append((str(exc.path), exc.reason))
                continue
            except OSError as exc:
                name = exc.filename or group[0]
                report.failed.append((str(name), f"cannot read: {exc.strerror or exc}"))
                continue
            report.failed.extend((str(e.path), e.reason) for e in skipped)
            if issue.issue_id in seen:
                report.failed.append(
                    (str(group[0]), f"same issue id {issue.issue_id!r} as {seen[issue.issue_id]}")
                )
                continue
            seen[issue.issue_id] = group[0]
            content_hash = _content_hash(sources)
            old_hash = writer.issue_hash(issue.issue_id)
            if old_hash == content_hash:
                report.unchanged.append(issue.issue_id)
                continue
            (report.replaced if old_hash else report.added).append(issue.issue_id)
            prepared.append(_prepare(issue, sources, content_hash))

        lap("parse")
        wanted = {
            h: t for p in prepared for h, t in zip(p.embed_hashes, p.embed_texts, strict=True)
        }
        cached = writer.cached_vectors(wanted)
        missing = {h: t for h, t in wanted.items() if h not in cached}
        report.cached = len(wanted) - len(missing)
        report.embedded = len(missing)
        vectors = cached | _embed_missing(
            embedder, missing, writer.cache_vectors, progress, batch_size
        )
        lap("embed")
        for p in prepared:
            matrix = (
                np.stack([vectors[h] for h in p.embed_hashes])
                if p.chunks
                else np.empty((0, embedder.dim), dtype=np.float32)
            )
            tokens = [tokenize(t, writer.tokenizer) for t in p.embed_texts]
            writer.put_issue(
                p.issue, p.content_hash, p.chunks, p.embed_hashes, matrix, tokens, p.sources
            )
            report.chunks += len(p.chunks)
        report.generation = writer.publish()
        lap("store")
    report.seconds = time.perf_counter() - started
    log.info(
        "ingest: %d added, %d replaced, %d unchanged, %d failed; %d chunks (%d embedded, "
        "%d cached) in %.1f s",
        len(report.added),
        len(report.replaced),
        len(report.unchanged),
        len(report.failed),
        report.chunks,
        report.embedded,
        report.cached,
        report.seconds,
    )
    return report
