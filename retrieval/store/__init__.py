"""The index: issues, articles, chunks, their vectors and BM25, behind one interface.

:mod:`retrieval.store.base` says what the rest of the code needs of an index (the
:class:`Store`, :class:`Reader` and :class:`Writer` protocols); :func:`open_store` opens
the backend a location names: a folder (:mod:`retrieval.store.local`, FAISS generations
and SQLite, the default) or a Milvus address (:mod:`retrieval.store.milvus`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from retrieval.store.base import (
    ArticleSummary,
    ChunkRecord,
    IndexBusyError,
    IndexNotFoundError,
    IssueSummary,
    LexicalQuery,
    ModelMismatchError,
    Reader,
    SentenceVectors,
    Store,
    StoredIssue,
    StoreError,
    Writer,
    note_embedder,
)
from retrieval.store.local import LocalStore

__all__ = [
    "ArticleSummary",
    "ChunkRecord",
    "IndexBusyError",
    "IndexNotFoundError",
    "IssueSummary",
    "LexicalQuery",
    "LocalStore",
    "ModelMismatchError",
    "Reader",
    "SentenceVectors",
    "Store",
    "StoreError",
    "StoredIssue",
    "Writer",
    "is_milvus_location",
    "note_embedder",
    "open_store",
    "remove_issues",
]

# Locations naming a Milvus collection rather than a folder.
MILVUS_SCHEMES = ("milvus://", "milvus+https://", "milvus+http://", "milvus:")


def is_milvus_location(text: str) -> bool:
    """Whether an ``--index`` location names a Milvus index rather than a folder."""
    return text.startswith(MILVUS_SCHEMES)


def open_store(location: str | Path | Store) -> Store:
    """The index at ``location``: a folder, or a Milvus address.

    Args:
        location: A folder path (the embedded FAISS + SQLite index);
            ``milvus://HOST:PORT/COLLECTION`` or ``milvus+https://…`` (a Milvus server,
            ``MILVUS_TOKEN`` for its credentials); ``milvus:PATH.db`` or
            ``milvus:PATH.db#COLLECTION`` (Milvus Lite, one file); or a store already
            opened, returned as it is.

    Raises:
        StoreError: A Milvus location that is malformed, or pymilvus is not installed.
    """
    if not isinstance(location, str | Path):
        return location
    text = str(location)
    if is_milvus_location(text):
        # Imported here: pymilvus takes a while to load, and folders never need it.
        try:
            from retrieval.store.milvus import MilvusStore
        except ImportError as err:
            raise StoreError(
                f"{text}: Milvus needs pymilvus and milvus-lite "
                f"(pip install 'bulletin-qa[milvus]'): {err}"
            ) from None
        return MilvusStore(text)
    return LocalStore(Path(location))


def remove_issues(store: Store, issues: Sequence[str], *, wait: float = 0) -> list[str]:
    """Remove ``issues`` and their vectors from the index, published at once.

    Args:
        store: The index.
        issues: Issue keys, as ``bulletin-qa list`` shows them.
        wait: Seconds to wait for another writer to finish.

    Returns:
        The keys that were not in the index.

    Raises:
        IndexNotFoundError: There is no index.
        IndexBusyError: Another process holds the index.
    """
    reader = store.reader()
    model_id, dim = reader.model_id, reader.dim
    reader.close()
    with store.writer(model_id, dim, wait=wait) as writer:
        unknown = [issue for issue in issues if not writer.remove_issue(issue)]
        writer.publish()
    return unknown
