"""Question → ranked chunks, by dense retrieval over the live index generation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.store import ChunkRecord, IndexReader

if TYPE_CHECKING:
    from retrieval.embed import Embedder

# FAISS may return ids whose rows a writer has just collected; ask for a few more than
# needed so that a query racing a publish still fills its k results.
_SPARE = 5


@dataclass(frozen=True)
class ScoredChunk:
    """A retrieved chunk and its similarity to the question (cosine, -1…1)."""

    chunk: ChunkRecord
    score: float


class Searcher:
    """Dense retrieval over one index folder with one embedding model.

    Follows the index: each query first checks (with one ``stat``) whether a writer has
    published a new generation and switches to it.
    """

    def __init__(self, index_dir: Path, embedder: Embedder) -> None:
        """Open the index and check that ``embedder`` is the model that built it.

        Raises:
            retrieval.store.IndexNotFoundError: No index in ``index_dir``.
            retrieval.store.ModelMismatchError: The index was built with another model.
        """
        self.embedder = embedder
        self.reader = IndexReader(index_dir)
        self.reader.check_model(embedder.model_id)

    def search(self, question: str, k: int = 5) -> list[ScoredChunk]:
        """Return the ``k`` chunks most similar to ``question``, best first."""
        if self.reader.refresh():
            self.reader.check_model(self.embedder.model_id)
        vector = self.embedder.embed_query(question)
        pairs = self.reader.search(vector, k + _SPARE)
        records = self.reader.chunks([chunk_id for chunk_id, _ in pairs])
        found = [ScoredChunk(records[i], score) for i, score in pairs if i in records]
        return found[:k]
