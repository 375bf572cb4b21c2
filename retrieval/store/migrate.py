"""Moving an index from one store to another, without embedding anything again.

Each issue is copied with its articles, chunks, lexical terms, sources, vectors and
sentence vectors, all read from the source (its embedding cache holds the vectors of
every live chunk: ``check`` says so). The destination is written in batches, each
published at once; an issue already there with the same content hash is skipped, so a
migration that was stopped is finished by running it again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from retrieval.store.base import Store, StoredIssue, StoreError, Writer

log = logging.getLogger(__name__)

# Issues published together: a batch is what a stopped migration may have to copy again.
BATCH = 100


@dataclass
class MigrateReport:
    """What a migration did.

    Attributes:
        copied: Keys of the issues copied.
        skipped: Keys of the issues the destination already had, unchanged.
        chunks: Chunks copied.
        seconds: Time taken.
    """

    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0


def migrate(
    source: Store,
    destination: Store,
    *,
    wait: float = 0,
    progress: Callable[[MigrateReport], None] | None = None,
) -> MigrateReport:
    """Copy every issue of ``source`` into ``destination`` (created when missing).

    Both stores are held by their writers meanwhile, so neither changes under the copy.

    Args:
        source: The index to copy.
        destination: Where to copy it: it must be new, or built with the same model and
            lexical tokenizer.
        wait: Seconds to wait for another writer of either store.
        progress: Called after each published batch with the report so far.

    Raises:
        IndexNotFoundError: ``source`` holds no index.
        ModelMismatchError: ``destination`` was built with another model.
        StoreError: The stores are the same, their tokenizers differ, or a chunk of
            ``source`` has no cached vector (``bulletin-qa check`` names the issue).
    """
    if source.location == destination.location:
        raise StoreError(f"{source.location} is both the source and the destination")
    started = time.perf_counter()
    reader = source.reader()
    model_id, dim, embedder = reader.model_id, reader.dim, reader.embedder
    tokenizer = reader.tokenizer
    reader.close()
    report = MigrateReport()
    with (
        source.writer(model_id, dim, wait=wait) as src,
        destination.writer(
            model_id, dim, tokenizer=tokenizer, embedder=embedder, wait=wait
        ) as dest,
    ):
        if dest.tokenizer != tokenizer:
            raise StoreError(
                f"{destination.location} cuts its lexical terms with {dest.tokenizer!r}, "
                f"{source.location} with {tokenizer!r}: migrate into a new index"
            )
        pending = 0
        for stored in src.stored_issues():
            key = stored.issue.issue_id
            if dest.issue_hash(key) == stored.content_hash:
                report.skipped.append(key)
                continue
            _copy(stored, src, dest)
            report.copied.append(key)
            report.chunks += len(stored.chunks)
            pending += 1
            if pending == BATCH:
                dest.publish()
                pending = 0
                if progress:
                    progress(report)
        dest.publish()
    report.seconds = time.perf_counter() - started
    log.info(
        "migrate %s → %s: %d issues copied (%d chunks), %d already there, in %.1f s",
        source.location,
        destination.location,
        len(report.copied),
        report.chunks,
        len(report.skipped),
        report.seconds,
    )
    return report


def _copy(stored: StoredIssue, src: Writer, dest: Writer) -> None:
    hashes = stored.embed_hashes
    vectors = src.cached_vectors(hashes)
    sentences = src.cached_sentences(hashes)
    if missing := [h for h in hashes if h not in vectors or h not in sentences]:
        raise StoreError(
            f"issue {stored.issue.issue_id}: {len(missing)} chunks have no cached vector "
            "(see `bulletin-qa check`): ingest it again, then migrate"
        )
    unique = dict.fromkeys(hashes)
    dest.cache_vectors({h: vectors[h] for h in unique}, {h: sentences[h] for h in unique})
    matrix = np.stack([vectors[h] for h in hashes]) if hashes else np.empty((0, 0), np.float32)
    dest.put_issue(
        stored.issue,
        stored.content_hash,
        stored.chunks,
        hashes,
        matrix,
        stored.tokens,
        stored.sources,
    )
