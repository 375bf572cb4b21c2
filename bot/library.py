"""The bulletins as the bot sees them: retrieval, listings and re-indexing, all blocking.

The bot calls these from worker threads (never on the event loop): they embed questions,
read the index, or ingest files.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from retrieval.answer import Answer, answer_question, with_written_answer
from retrieval.config import LLMSettings
from retrieval.embed import Embedder
from retrieval.ingest import IngestReport, find_files, ingest
from retrieval.parse import group_issue_files
from retrieval.search import Searcher
from retrieval.store import (
    ArticleSummary,
    ChunkRecord,
    IssueSummary,
    Reader,
    Store,
    remove_issues,
)


@dataclass(frozen=True)
class IndexStats:
    """What ``/stats`` reports about the index."""

    issues: int
    chunks: int
    generation: int


@dataclass(frozen=True)
class Headline:
    """An article of a new issue, for its notice: headline and first chunk (for "原文")."""

    headline: str
    chunk_id: int


class Library:
    """One index, searched with one model, opened once for the whole process.

    The index may not exist yet when the bot starts (a new deployment): it is opened on
    first use, so the bot serves it as soon as ``/reindex`` or ``bulletin-qa ingest`` has
    built it. Once open, the searcher follows new index generations by itself.
    """

    def __init__(
        self,
        store: Store,
        bulletins_dir: Path,
        embedder: Embedder,
        batch_size: int | None = None,
        llm: LLMSettings | None = None,
    ) -> None:
        """Remember where things are; nothing is opened yet (see :meth:`open`).

        Args:
            store: The index.
            bulletins_dir: The folder ``/reindex`` ingests.
            embedder: The loaded embedding model.
            batch_size: Embedding batch size for re-indexing (the embedder's default if None).
            llm: The optional LLM that writes a short answer above the passages.
        """
        self.store = store
        self.bulletins_dir = bulletins_dir
        self.embedder = embedder
        self.batch_size = batch_size
        self.llm = llm
        self._searcher: Searcher | None = None
        self._lock = threading.Lock()

    def open(self) -> Searcher:
        """The searcher, opening the index on first call.

        Raises:
            retrieval.store.IndexNotFoundError: There is no index yet.
            retrieval.store.ModelMismatchError: The index was built with another model.
        """
        with self._lock:
            if self._searcher is None:
                self._searcher = Searcher(self.store, self.embedder)
            return self._searcher

    def _fresh_reader(self) -> Reader:
        return self.open().index

    def answer(self, question: str, k: int) -> Answer:
        """Answer ``question`` with its ``k`` best passages.

        Raises:
            retrieval.answer.QuestionError: The question is empty or too long.
            retrieval.store.IndexNotFoundError: There is no index yet.
        """
        return with_written_answer(answer_question(self.open(), question, k), self.llm)

    def passages(self, question: str, k: int) -> Answer:
        """The ``k`` best passages for ``question``, without the LLM's written answer.

        For inline queries, which arrive as the reader types: no time for the LLM.

        Raises:
            retrieval.answer.QuestionError: The question is empty or too long.
            retrieval.store.IndexNotFoundError: There is no index yet.
        """
        return answer_question(self.open(), question, k)

    def issues(self) -> list[IssueSummary]:
        """The indexed issues, newest first."""
        return self._fresh_reader().issues()

    def stats(self) -> IndexStats:
        """Counts for ``/stats``."""
        reader = self._fresh_reader()
        return IndexStats(len(reader.issues()), reader.size, reader.generation)

    def chunk(self, chunk_id: int) -> ChunkRecord | None:
        """A chunk with its whole article, or None when the index no longer has it."""
        return self._fresh_reader().chunks([chunk_id]).get(chunk_id)

    def reindex(self) -> IngestReport:
        """Ingest new and changed files of the bulletins folder.

        Raises:
            retrieval.store.IndexBusyError: Another process is writing to the index.
        """
        return ingest([self.bulletins_dir], self.store, self.embedder, batch_size=self.batch_size)

    def ingest_uploads(self, paths: Sequence[Path]) -> IngestReport:
        """Ingest files just saved into the bulletins folder, with their issues' other pages.

        A page file makes an issue with the pages of the same issue already in the folder
        (sent earlier, or in another album): ingesting it alone would replace the issue
        with that one page.

        Raises:
            retrieval.store.IndexBusyError: Another process is writing to the index.
        """
        wanted = {path.resolve() for path in paths}
        groups = [
            group
            for group in group_issue_files(find_files([self.bulletins_dir]))
            if any(path.resolve() in wanted for path in group)
        ]
        files = [path for group in groups for path in group] or list(paths)
        return ingest(files, self.store, self.embedder, batch_size=self.batch_size)

    def issue(self, issue_key: str) -> IssueSummary | None:
        """The indexed issue ``issue_key``, or None."""
        return self._fresh_reader().issue(issue_key)

    def articles(self, issue_key: str) -> list[ArticleSummary]:
        """The articles of ``issue_key`` as ``bulletin-qa show`` lists them."""
        return self._fresh_reader().articles(issue_key)

    def headlines(self, issue_key: str) -> list[Headline]:
        """The articles of ``issue_key`` in reading order, each with its first chunk."""
        first: dict[int, ChunkRecord] = {}
        for chunk in self._fresh_reader().issue_chunks(issue_key):
            first.setdefault(chunk.article_id, chunk)
        return [Headline(c.headline, c.chunk_id) for c in first.values()]

    def remove(self, issue_key: str) -> bool:
        """Remove an issue from the index, as ``bulletin-qa remove`` does.

        Returns:
            False when the issue was not indexed.

        Raises:
            retrieval.store.IndexBusyError: Another process is writing to the index.
        """
        return not remove_issues(self.store, [issue_key])
