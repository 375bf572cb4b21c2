"""Issue files → the index: parse, chunk, embed what is new, publish a generation."""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from retrieval.chunk import chunk_article, sentence_spans
from retrieval.documents import Chunk, Issue
from retrieval.embed import Embedder
from retrieval.lexical import DEFAULT_TOKENIZER, Tokenizer, tokenize
from retrieval.parse import BadFileError, group_issue_files, read_issue_files
from retrieval.parse.files import ISSUE_SUFFIXES
from retrieval.store import SentenceVectors, Store, Writer, open_store
from retrieval.text import one_script

log = logging.getLogger(__name__)

# Part of every content hash: a file parsed by an older pipeline counts as changed.
# 2: Traditional text is embedded in Simplified script (retrieval.text.one_script), so
# ingesting an issue indexed before embeds its Traditional chunks again (its Simplified
# ones come from the embedding cache).
# 3: hard-wrapped OCR text recovers more headlines (a line broken inside a word runs on,
# a line set in opens a paragraph) and side-by-side columns are read one after another:
# issues indexed before are parsed again (text that did not change comes from the
# embedding cache).
# 4: in side-by-side columns, blank rows that pdftotext leaves where two columns' text runs
# on are no gap: such files are parsed again.
# 5: on scanned and PDF pages, untitled text opening a page goes on from the page
# before's last article even after a full stop (unless "上接第N版" says it jumps in), and
# "接上版" / "转下版" are continuation markers, and an OCR'd line without a Han character
# is never a headline: such issues are parsed again.
# 6: headlines of hard-wrapped text keep a subtitle that fills the column, HTML character
# references in text files are read ("&bull;" → "•"), and "Mr." or "J." ends no
# sentence: every issue is parsed and chunked again.
PIPELINE_VERSION = "6"
# Embedding work is split into slabs so that a crash or Ctrl-C keeps what was embedded.
_SLAB = 256

# When the layout of a page is not recognised, its lines or paragraphs become "articles"
# of their own, or nothing is split and one article holds the whole file. Real issues are
# far from both: of the 7,438 articles of the corpus's 366 issues none has under 100
# characters of body (1% under 192, median 731) and the longest has 5,241; the seed
# page's six have 383 to 1,817.
# An issue is suspect when more than half of its articles, and at least this many, are
# shorter than SHORT_ARTICLE_CHARS: a few short notices happen, a majority of fragments
# in a page of several articles does not.
MIN_ARTICLES_CHECKED = 4
SHORT_ARTICLE_CHARS = 60
# An article longer than this is most likely a whole issue left unsplit: nearly four
# times the longest corpus article, and above the long texts a paper does print whole
# (a full work report can run past 10,000 characters). A whole corpus issue holds 16,089
# characters of body in the median and 32,355 at most, so an unsplit issue of average
# length is not caught: the short-article rule is the main check.
LONG_ARTICLE_CHARS = 20_000


@dataclass
class IssueReport:
    """One issue an ingest added or replaced, and how its text was split.

    Attributes:
        issue: The issue id.
        source: The file (or page files) it was read from.
        articles: Number of articles found.
        chunks: Number of chunks indexed.
        warnings: Why the split into articles looks wrong (see :func:`split_warnings`).
    """

    issue: str
    source: str
    articles: int
    chunks: int
    warnings: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    """What an ingest did, file by file; ``issues`` details the added and replaced ones."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    issues: list[IssueReport] = field(default_factory=list)
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
    """An issue ready to index.

    Attributes:
        texts: Each chunk with its headline, as printed (what BM25 indexes).
        embed_texts: What the model reads for each chunk: ``texts`` in one script
            (:func:`retrieval.text.one_script`), as long as ``texts``.
        embed_hashes: The embedding cache keys (hashes of ``embed_texts``).
    """

    issue: Issue
    sources: list[tuple[str, bytes]]
    content_hash: str
    chunks: list[Chunk]
    texts: list[str]
    embed_texts: list[str]
    embed_hashes: list[str]

    def sentence_spans(self, i: int) -> tuple[int, list[tuple[int, int]]]:
        """Where chunk ``i``'s text starts in its embedded text, and its sentences."""
        return len(self.embed_texts[i]) - len(self.chunks[i].text), sentence_spans(
            self.chunks[i].text
        )


def find_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into the bulletin files they hold (recursively): text files, PDFs and
    page images, as :data:`retrieval.parse.files.ISSUE_SUFFIXES` lists them.

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
                and p.suffix.lower() in ISSUE_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def split_warnings(issue: Issue) -> list[str]:
    """Say why an issue's split into articles looks wrong, if it does.

    Catches the two ways a page whose layout was not recognised goes wrong: mostly tiny
    "articles" (lines or paragraphs taken for articles), or one article holding what
    should have been many (see :data:`SHORT_ARTICLE_CHARS` and :data:`LONG_ARTICLE_CHARS`).

    Args:
        issue: A parsed issue.

    Returns:
        One sentence per problem found, for an editor; empty when the split looks right.
    """
    warnings = []
    lengths = [len(article.body) for article in issue.articles]
    short = sum(n < SHORT_ARTICLE_CHARS for n in lengths)
    if len(lengths) >= MIN_ARTICLES_CHECKED and short * 2 > len(lengths):
        warnings.append(
            f"{short} of {len(lengths)} articles are under {SHORT_ARTICLE_CHARS} characters: "
            "the layout may not have been recognised"
        )
    warnings.extend(
        f"article {number} has {n} characters: the issue may not have been split into articles"
        for number, n in enumerate(lengths, 1)
        if n > LONG_ARTICLE_CHARS
    )
    return warnings


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
    # The model reads Traditional chunks in Simplified, as questions are (retrieval.search):
    # read as printed, Traditional passages ranked below their Simplified twins for the
    # same Simplified questions (OCR benchmark, 20 corpus issues in Traditional, 105
    # questions: hit@5 0.943 → 0.952, as the Simplified issues; hit@1 0.752 → 0.771).
    # Laid out as OCR text the gain is within a question either way (width 18: hit@5
    # 0.924 → 0.943; width 24 without blank lines 0.924 → 0.914). Simplified chunks are
    # read as before, and keep their vectors.
    model_texts = [one_script(t) for t in texts]
    return _Prepared(
        issue,
        sources,
        content_hash,
        chunks,
        texts,
        model_texts,
        [text_hash(t) for t in model_texts],
    )


def _embed_missing(
    embedder: Embedder,
    texts: dict[str, str],
    spans: dict[str, tuple[int, list[tuple[int, int]]]],
    store: Callable[[dict[str, np.ndarray], dict[str, SentenceVectors]], None],
    progress: bool,
    batch_size: int | None,
) -> dict[str, np.ndarray]:
    """Embed ``texts`` (hash → text) and their sentences slab by slab, longest first.

    ``spans`` gives, per hash, where the chunk starts in the text and its sentences in
    the chunk; each slab's vectors are stored as soon as they are computed.
    """
    order = sorted(texts, key=lambda h: len(texts[h]), reverse=True)
    vectors: dict[str, np.ndarray] = {}
    with tqdm(total=len(order), desc="embedding", unit="chunk", disable=not progress) as bar:
        for i in range(0, len(order), _SLAB):
            slab = order[i : i + _SLAB]
            shifted = [[(s + spans[h][0], e + spans[h][0]) for s, e in spans[h][1]] for h in slab]
            matrix, sentences = embedder.embed_passages_and_sentences(
                [texts[h] for h in slab], shifted, batch_size=batch_size
            )
            done = dict(zip(slab, matrix, strict=True))
            store(
                done,
                {
                    h: SentenceVectors(np.asarray(spans[h][1], dtype=np.int32).reshape(-1, 2), v)
                    for h, v in zip(slab, sentences, strict=True)
                },
            )
            vectors.update(done)
            bar.update(len(slab))
    return vectors


def ingest(
    paths: Sequence[Path],
    index: Store | str | Path,
    embedder: Embedder,
    *,
    progress: bool = False,
    batch_size: int | None = None,
    wait: float = 0,
    tokenizer: Tokenizer = DEFAULT_TOKENIZER,
) -> IngestReport:
    """Index the bulletin files under ``paths`` into ``index``.

    Unchanged files (same content hash) are skipped; a changed file replaces its issue.
    Files that cannot be read or parsed are reported and the others still ingested.
    Nothing becomes visible until the new generation is published at the end.

    Args:
        paths: Files and folders.
        index: The index, or its location (created when missing; see
            :func:`retrieval.store.open_store`).
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
    report = _Run()
    with open_store(index).writer(
        embedder.model_id,
        embedder.dim,
        tokenizer=tokenizer,
        wait=wait,
        embedder=embedder.name,
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
        report.lap("parse")
        _index(writer, prepared, embedder, report, progress, batch_size)
    return report.done("ingest")


def rebuild(
    index: Store | str | Path,
    embedder: Embedder,
    *,
    progress: bool = False,
    batch_size: int | None = None,
    wait: float = 0,
) -> IngestReport:
    """Parse, chunk and index every issue again from the sources stored in the index.

    For a new parser, chunker or lexical tokenizer: text embedded before is taken from the
    embedding cache, so only text that changed is embedded. The files need not exist any
    more. Issues stored without their sources are reported as failed and left as they are.

    Args:
        index: The index, or its location.
        embedder: The embedding model that built the index.
        progress: Show a progress bar (with the time left) while embedding.
        batch_size: Embedding batch size (the embedder's default when None).
        wait: Seconds to wait for another running ingest.

    Returns:
        What was rebuilt (as ``replaced``) and what failed.
    """
    report = _Run()
    with open_store(index).writer(
        embedder.model_id, embedder.dim, wait=wait, embedder=embedder.name
    ) as writer:
        prepared: list[_Prepared] = []
        for stored in writer.stored_issues():
            issue_key, source, files = stored.issue.issue_id, stored.issue.source, stored.sources
            if not files:
                report.failed.append((source, "no stored source: ingest the file again"))
                continue
            with tempfile.TemporaryDirectory() as tmp:
                group = []
                for name, data in files:
                    (Path(tmp) / name).write_bytes(data)
                    group.append(Path(tmp) / name)
                try:
                    issue, skipped = read_issue_files(group)
                except BadFileError as exc:
                    report.failed.append((source, exc.reason))
                    continue
            report.failed.extend((source, e.reason) for e in skipped)
            issue.source = source
            report.replaced.append(issue_key)
            prepared.append(_prepare(issue, files, _content_hash(files)))
        report.lap("parse")
        _index(writer, prepared, embedder, report, progress, batch_size)
    return report.done("rebuild")


class _Run(IngestReport):
    """An :class:`IngestReport` being filled in, with its clock."""

    def __init__(self) -> None:
        super().__init__()
        self._started = self._clock = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.timings[step] = now - self._clock
        self._clock = now

    def done(self, what: str) -> IngestReport:
        self.seconds = time.perf_counter() - self._started
        log.info(
            "%s: %d added, %d replaced, %d unchanged, %d failed; %d chunks (%d embedded, "
            "%d cached) in %.1f s",
            what,
            len(self.added),
            len(self.replaced),
            len(self.unchanged),
            len(self.failed),
            self.chunks,
            self.embedded,
            self.cached,
            self.seconds,
        )
        return self


def _index(
    writer: Writer,
    prepared: list[_Prepared],
    embedder: Embedder,
    report: _Run,
    progress: bool,
    batch_size: int | None,
) -> None:
    """Embed what is new, stage the prepared issues and publish a generation."""
    wanted = {h: t for p in prepared for h, t in zip(p.embed_hashes, p.embed_texts, strict=True)}
    cached = writer.cached_vectors(wanted)
    missing = {h: t for h, t in wanted.items() if h not in cached}
    spans = {
        h: p.sentence_spans(i)
        for p in prepared
        for i, h in enumerate(p.embed_hashes)
        if h in missing
    }
    report.cached = len(wanted) - len(missing)
    report.embedded = len(missing)
    vectors = cached | _embed_missing(
        embedder, missing, spans, writer.cache_vectors, progress, batch_size
    )
    report.lap("embed")
    for p in prepared:
        matrix = (
            np.stack([vectors[h] for h in p.embed_hashes])
            if p.chunks
            else np.empty((0, embedder.dim), dtype=np.float32)
        )
        tokens = [tokenize(t, writer.tokenizer) for t in p.texts]
        writer.put_issue(
            p.issue, p.content_hash, p.chunks, p.embed_hashes, matrix, tokens, p.sources
        )
        report.chunks += len(p.chunks)
        report.issues.append(
            IssueReport(
                p.issue.issue_id,
                p.issue.source,
                len(p.issue.articles),
                len(p.chunks),
                split_warnings(p.issue),
            )
        )
    report.generation = writer.publish()
    report.lap("store")
