"""The Milvus backend on Milvus Lite: one file under tmp_path, hand-made vectors, no model.

BM25 scores match the local backend's (``test_bm25_agrees_with_the_local_backend``) as long
as no stored row is outside the published generation; the other lexical tests assert which
chunks are found and in what order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import bm25s
import numpy as np
import pytest

pytest.importorskip("milvus_lite")

from retrieval.documents import Article, Chunk, Issue
from retrieval.filters import Filters
from retrieval.lexical import tokenize
from retrieval.store import is_milvus_location
from retrieval.store.base import (
    IndexBusyError,
    IndexNotFoundError,
    ModelMismatchError,
    Reader,
    SentenceVectors,
    Store,
    StoreError,
    Writer,
)
from retrieval.store.local import LocalStore
from retrieval.store.milvus import (
    BM25_B,
    BM25_K1,
    SCHEMA_VERSION,
    MilvusReader,
    MilvusStore,
    _lexical_text,
)

DIM = 8
MODEL = "test-model"
ROOT = Path(__file__).resolve().parents[3]


def _vector(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def _issue(key: str, date: dt.date | None, *articles: tuple[str, str]) -> Issue:
    return Issue(
        issue_id=key,
        source=f"{key}.txt",
        title="交城报",
        date=date,
        articles=[
            Article(headline=h, body=b, section="要闻", author="记者", page=i + 1)
            for i, (h, b) in enumerate(articles)
        ],
    )


def _chunks(issue: Issue) -> list[Chunk]:
    """One chunk per sentence (ending in 。), with its offsets in the body."""
    chunks = []
    for index, article in enumerate(issue.articles):
        start = 0
        for seq, sentence in enumerate(s for s in article.body.split("。") if s):
            start = article.body.index(sentence, start)
            end = min(start + len(sentence) + 1, len(article.body))
            chunks.append(Chunk(index, seq, article.body[start:end], start, end))
            start = end
    return chunks


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _sentences(text: str, vector: np.ndarray) -> SentenceVectors:
    return SentenceVectors(np.array([[0, len(text)]], np.int32), vector[None, :].astype(np.float16))


def put(
    writer: Writer,
    issue: Issue,
    content_hash: str = "h1",
    sources: list[tuple[str, bytes]] | None = None,
) -> dict[str, np.ndarray]:
    """Stage ``issue`` with one vector per chunk (seeded by the chunk text), cached.

    Returns:
        The vector of each chunk text.
    """
    chunks = _chunks(issue)
    texts = [c.text for c in chunks]
    vectors = {t: _vector(int(_hash(t)[:8], 16)) for t in texts}
    # Cached as ingest caches them: with one sentence vector per chunk.
    writer.cache_vectors(
        {_hash(t): vectors[t] for t in texts},
        {_hash(t): _sentences(t, vectors[t]) for t in texts},
    )
    matrix = np.stack([vectors[t] for t in texts]) if texts else np.zeros((0, DIM), np.float32)
    writer.put_issue(
        issue,
        content_hash,
        chunks,
        [_hash(t) for t in texts],
        matrix,
        [tokenize(t) for t in texts],
        sources or [],
    )
    return vectors


LANTERN = _issue(
    "2024-02-24",
    dt.date(2024, 2, 24),
    ("元宵灯会", "元宵节灯会在县城广场举行。市民踊跃观灯猜谜。"),
    ("农业生产", "县委书记调研春季农业生产。强调抓好粮食播种。"),
)
LIBRARY = _issue(
    "2024-03-15",
    dt.date(2024, 3, 15),
    ("圖書館", "縣圖書館舉辦讀書會。"),  # Traditional, searched in Simplified
    ("春耕", "各乡镇春耕备耕工作全面展开。农业技术人员下乡指导。"),
)
UNDATED = _issue("special", None, ("专刊", "庆祝建县七十周年专刊。"))
ISSUES = (LANTERN, LIBRARY, UNDATED)


def _location(tmp: Path) -> str:
    return f"milvus:{tmp / 'index.db'}"


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[MilvusStore, dict]:
    """An index of the three issues, published once and only read by the tests using it."""
    store = MilvusStore(_location(tmp_path_factory.mktemp("milvus")))
    vectors: dict[str, np.ndarray] = {}
    with store.writer(MODEL, DIM, embedder="onnx") as writer:
        for issue in ISSUES:
            vectors |= put(writer, issue)
        writer.publish()
    return store, vectors


@pytest.fixture
def reader(published: tuple[MilvusStore, dict]) -> MilvusReader:
    r = published[0].reader()
    yield r
    r.close()


def _texts(reader: MilvusReader, pairs: list[tuple[int, float]]) -> list[str]:
    records = reader.chunks([i for i, _ in pairs])
    return [records[i].text for i, _ in pairs]


def test_protocols(published: tuple[MilvusStore, dict], reader: MilvusReader) -> None:
    store = published[0]
    assert isinstance(store, Store)
    assert isinstance(reader, Reader)
    with store.writer(MODEL, DIM) as writer:
        assert isinstance(writer, Writer)
        assert not writer.changed


def test_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert is_milvus_location("milvus://localhost:19530/bulletins")
    assert is_milvus_location("milvus+https://db.example:443/b")
    assert is_milvus_location("milvus:index.db")
    assert is_milvus_location("milvus:/data/index.db#news")
    assert not is_milvus_location("index")
    assert not is_milvus_location("/data/milvus.db")

    monkeypatch.setenv("MILVUS_TOKEN", "root:secret")
    server = MilvusStore("milvus+https://db.example:8443/news")
    assert server.location == "milvus+https://db.example:8443/news"
    assert server._target.uri == "https://db.example:8443"
    assert server._target.token == "root:secret"
    assert server._target.name == "news"
    assert MilvusStore("milvus://db.example")._target.uri == "http://db.example:19530"
    assert MilvusStore("milvus://db.example")._target.name == "bulletins"
    lite = MilvusStore(f"milvus:{tmp_path}/a.db#news")
    assert lite._target.lite == tmp_path / "a.db"
    assert lite._target.name == "news"
    assert MilvusStore(f"milvus:{tmp_path}/a.db")._target.name == "bulletins"
    for bad in ("milvus:index", "milvus://db.example/1news", "milvus:a.db#x-y"):
        with pytest.raises(StoreError):
            MilvusStore(bad)


def test_dense_search(published: tuple[MilvusStore, dict], reader: MilvusReader) -> None:
    vectors = published[1]
    text = "县委书记调研春季农业生产。"
    found = reader.dense_search(vectors[text], 3)
    assert _texts(reader, found)[0] == text
    assert found[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    assert reader.vectors([found[0][0]]) == pytest.approx(vectors[text][None, :], abs=1e-6)


def test_lexical_search_folds_either_script(reader: MilvusReader) -> None:
    # A Traditional question finds Simplified text…
    found = reader.lexical_search("燈會在哪裡舉行", 5)
    assert _texts(reader, found)[0] == "元宵节灯会在县城广场举行。"
    assert all(score > 0 for _, score in found)
    # …and a Simplified one the Traditional text.
    found = reader.lexical_search("图书馆读书会", 5)
    assert _texts(reader, found) == ["縣圖書館舉辦讀書會。"]
    assert reader.lexical_search("火星探测器", 5) == []
    # Weighted terms (a translated question) are searched as words.
    found = reader.lexical_search({"农业": 1.0, "生产": 0.5}, 5)
    assert "县委书记调研春季农业生产。" in _texts(reader, found)


def test_lexical_terms_stay_one_word() -> None:
    # Readable as they are; any character but a letter or digit written as its code, so
    # that Milvus's analyzer (whitespace, or Milvus Lite's standard) keeps each term whole.
    assert _lexical_text(["图书馆", "covid", "10.5%", "a_b", "3-2"]) == (
        "图书馆 covid 10_2e_5_25_ a_5f_b 3_2d_2"
    )


BUDGET = _issue(
    "2024-04-01",
    dt.date(2024, 4, 1),
    ("预算", "全年预算增长10.5%。教育支出增长10.5%以上，农业支出与上年持平。"),
    ("农技", "农业技术推广站为农户讲解农业技术。"),
)


def test_bm25_agrees_with_the_local_backend(tmp_path: Path) -> None:
    """The same content in both backends: the same BM25 ranking and scores."""
    # Milvus is given bm25s's parameters (Milvus Lite uses its defaults, the same values).
    local_bm25 = bm25s.BM25()
    assert (local_bm25.k1, local_bm25.b, local_bm25.method) == (BM25_K1, BM25_B, "lucene")
    stores: list[Store] = [LocalStore(tmp_path / "local"), MilvusStore(_location(tmp_path))]
    for store in stores:
        # Two publishes: Milvus Lite would keep a segment each, and statistics per segment.
        with store.writer(MODEL, DIM) as writer:
            for issue in ISSUES:
                put(writer, issue)
            writer.publish()
        with store.writer(MODEL, DIM) as writer:
            put(writer, BUDGET)
            writer.publish()
    readers = [store.reader() for store in stores]
    queries = [
        "农业生产",
        "燈會在哪裡舉行？市民猜謎嗎",  # Traditional, the text Simplified
        "預算增長10.5%",  # a term with punctuation
        "农业技术农业",  # a repeated term counts twice
        {"农业": 1.0, "生产": 0.5, "灯会": 0.25},  # weights in Milvus's steps: exact
    ]
    for query in queries:
        local, milvus = (_scored(reader, query) for reader in readers)
        assert [t for t, _ in milvus] == [t for t, _ in local], query
        assert [s for _, s in milvus] == pytest.approx([s for _, s in local], rel=1e-4)
        assert len(local) >= 2
    assert _scored(readers[1], "燈會在哪裡舉行")[0][0] == "元宵节灯会在县城广场举行。"
    for reader in readers:
        reader.close()


def _scored(reader: Reader, query: str | dict[str, float]) -> list[tuple[str, float]]:
    found = reader.lexical_search(query, 20)
    records = reader.chunks([i for i, _ in found])
    return [(records[i].text, score) for i, score in found]


def test_old_format_is_refused(tmp_path: Path) -> None:
    store = MilvusStore(_location(tmp_path))
    with store.writer(MODEL, DIM) as writer:
        put(writer, LANTERN)
        writer.publish()
    conn = store._connect()
    conn.set_meta({"schema_version": str(SCHEMA_VERSION - 1)})
    conn.close()
    with pytest.raises(StoreError, match="new collection"):
        store.reader()
    with pytest.raises(StoreError, match="new collection"), store.writer(MODEL, DIM):
        pass


def test_lexical_scores(reader: MilvusReader) -> None:
    found = reader.lexical_search("农业", 10)
    ids = [i for i, _ in found]
    other = reader.dense_search(_vector(1), 20)
    missing = [i for i, _ in other if i not in ids][:2]
    scores = reader.lexical_scores("农业", [*ids, *missing])
    assert [scores[i] for i in ids] == pytest.approx([s for _, s in found], rel=1e-5)
    assert all(scores[i] == 0 for i in missing)


def test_filters(published: tuple[MilvusStore, dict], reader: MilvusReader) -> None:
    vectors = published[1]
    march = Filters(since=dt.date(2024, 3, 1), until=dt.date(2024, 3, 31))
    found = reader.dense_search(vectors["元宵节灯会在县城广场举行。"], 10, march)
    assert {reader.chunks([i])[i].issue for i, _ in found} == {"2024-03-15"}
    found = reader.lexical_search("农业", 10, Filters(issue="2024-02-24"))
    assert {reader.chunks([i])[i].issue for i, _ in found} == {"2024-02-24"}
    assert reader.lexical_search("农业", 10, Filters(until=dt.date(2024, 1, 1))) == []
    # An undated issue matches no date range, not even an open one.
    assert reader.count(Filters(until=dt.date(2030, 1, 1))) == reader.size - 1
    assert reader.count(march) == 3
    assert reader.count(Filters(issue="special")) == 1
    assert reader.count(Filters()) == reader.size == 8


def test_listing(reader: MilvusReader) -> None:
    assert [s.issue for s in reader.issues()] == ["2024-03-15", "2024-02-24", "special"]
    summary = reader.issue("2024-02-24")
    assert summary is not None
    assert (summary.title, summary.date, summary.source) == (
        "交城报",
        dt.date(2024, 2, 24),
        "2024-02-24.txt",
    )
    assert (summary.articles, summary.chunks) == (2, 4)
    assert reader.issue("nope") is None
    articles = reader.articles("2024-03-15")
    assert [(a.index, a.headline, a.page) for a in articles] == [(1, "圖書館", 1), (2, "春耕", 2)]
    assert articles[1].chars == len(LIBRARY.articles[1].body)
    assert reader.articles("nope") == []
    chunks = reader.issue_chunks("2024-02-24")
    assert [c.text for c in chunks] == [c.text for c in _chunks(LANTERN)]
    first = chunks[0]
    assert first.body == LANTERN.articles[0].body
    assert first.body[first.start : first.end] == first.text
    assert (first.section, first.author, first.issue_title) == ("要闻", "记者", "交城报")
    assert reader.issue_chunks("nope") == []
    assert reader.years() == frozenset({2024})
    assert (reader.model_id, reader.dim, reader.embedder, reader.tokenizer) == (
        MODEL,
        DIM,
        "onnx",
        "jieba",
    )


def test_idf(reader: MilvusReader) -> None:
    idf = reader.idf(["农业", "图书馆", "火星"])
    # 农业 is in three chunks, 图书馆 in one, 火星 in none.
    assert idf["农业"] < idf["图书馆"] < idf["火星"]
    vocabulary = set(reader.vocabulary())
    assert {"农业", "灯会", "图书馆"} <= vocabulary
    assert "火星" not in vocabulary


def test_check_healthy(published: tuple[MilvusStore, dict]) -> None:
    assert published[0].check() == []


def test_nothing_visible_before_publish(tmp_path: Path) -> None:
    store = MilvusStore(_location(tmp_path))
    assert not store.exists()
    with pytest.raises(IndexNotFoundError):
        store.reader()
    with store.writer(MODEL, DIM) as writer:
        put(writer, LANTERN)
        assert writer.changed
        assert not store.exists()
        with pytest.raises(IndexNotFoundError):
            store.reader()
        writer.publish()
        reader = store.reader()
        put(writer, LIBRARY)
        # Staged, not published: the reader sees the first issue only.
        reader.refresh()
        assert [s.issue for s in reader.issues()] == ["2024-02-24"]
        assert reader.lexical_search("图书馆", 5) == []
        assert reader.size == 4
    # Left without publishing: discarded.
    assert not reader.refresh()
    assert [s.issue for s in reader.issues()] == ["2024-02-24"]
    reader.close()
    assert store.check() == []


def test_replace_and_remove(tmp_path: Path) -> None:
    store = MilvusStore(_location(tmp_path))
    with store.writer(MODEL, DIM) as writer:
        put(writer, LANTERN)
        first = writer.publish()
    reader = store.reader()
    assert reader.generation == first
    old_ids = [c.chunk_id for c in reader.issue_chunks("2024-02-24")]

    revised = _issue("2024-02-24", dt.date(2024, 2, 25), ("元宵灯会", "灯会延期至正月十六举行。"))
    with store.writer(MODEL, DIM) as writer:
        assert writer.issue_hash("2024-02-24") == "h1"
        put(writer, revised, content_hash="h2")
        # Staged again in the same writer: the first staging is dropped, not doubled.
        put(writer, revised, content_hash="h2")
        assert writer.publish() == first + 1
        assert writer.issue_hash("2024-02-24") == "h2"

    # Not refreshed: still the old generation, whole.
    assert reader.generation == first
    assert [c.chunk_id for c in reader.issue_chunks("2024-02-24")] == old_ids
    assert _texts(reader, reader.lexical_search("正月十六", 5)) == []
    assert reader.lexical_search("猜谜", 5)
    assert reader.refresh()
    assert reader.generation == first + 1
    assert [c.text for c in reader.issue_chunks("2024-02-24")] == ["灯会延期至正月十六举行。"]
    assert _texts(reader, reader.lexical_search("灯会", 5)) == ["灯会延期至正月十六举行。"]
    assert [(s.issue, s.date, s.chunks) for s in reader.issues()] == [
        ("2024-02-24", dt.date(2024, 2, 25), 1)
    ]
    assert reader.size == 1
    assert not reader.refresh()

    with store.writer(MODEL, DIM) as writer:
        assert writer.remove_issue("2024-02-24")
        assert not writer.remove_issue("2024-02-24")
        assert not writer.remove_issue("nope")
        writer.publish()
    assert reader.refresh()
    assert reader.issues() == []
    assert reader.size == 0
    assert reader.dense_search(_vector(0), 5) == []
    assert reader.lexical_search("灯会", 5) == []
    assert reader.idf(["灯会"]) == {"灯会": 0.0}
    reader.close()
    assert store.check() == []


def test_stored_issues_round_trip(tmp_path: Path) -> None:
    store = MilvusStore(_location(tmp_path))
    rng = np.random.default_rng(7)
    scan = rng.integers(0, 256, size=150_000, dtype=np.uint8).tobytes()
    sources = [("2024-03-15.pdf", scan), ("2024-03-15.meta.json", b"{}"), ("empty.txt", b"")]
    long_body = "县城新闻" * 4_000 + "。"  # one chunk; a body in two pieces
    issues = [
        LANTERN,
        _issue("2024-03-15", dt.date(2024, 3, 15), ("长文", long_body), ("", "无题短讯。")),
    ]
    issues[1].articles[1].section = None
    issues[1].articles[1].author = None
    issues[1].articles[1].page = None
    with store.writer(MODEL, DIM) as writer:
        put(writer, issues[0])
        put(writer, issues[1], content_hash="h2", sources=sources)
        writer.publish()
    with store.writer(MODEL, DIM) as writer:
        stored = list(writer.stored_issues())
    assert [s.issue.issue_id for s in stored] == ["2024-02-24", "2024-03-15"]
    for original, got in zip(issues, stored, strict=True):
        assert got.issue == original
        assert got.chunks == _chunks(original)
        assert got.embed_hashes == [_hash(c.text) for c in got.chunks]
        assert got.tokens == [tokenize(c.text) for c in got.chunks]
    assert stored[0].sources == []
    assert stored[1].sources == sources
    assert stored[1].content_hash == "h2"
    reader = store.reader()
    record = reader.issue_chunks("2024-03-15")[0]
    assert record.body == long_body
    reader.close()
    # A chunk longer than a Milvus field holds is refused, not cut.
    too_long = _issue("long", None, ("长", "长" * 30_000 + "。"))
    with store.writer(MODEL, DIM) as writer, pytest.raises(StoreError, match="longer than"):
        put(writer, too_long)
    assert store.check() == []


def test_embedding_cache(tmp_path: Path) -> None:
    store = MilvusStore(_location(tmp_path))
    # 1,500 sentences of 8 float16s: 36 kB packed, 48 kB in base64: two pieces.
    rng = np.random.default_rng(3)
    many = SentenceVectors(
        np.arange(3_000, dtype=np.int32).reshape(-1, 2),
        rng.normal(size=(1_500, DIM)).astype(np.float16),
    )
    one = SentenceVectors(
        np.array([[0, 5]], dtype=np.int32), _vector(2)[None, :].astype(np.float16)
    )
    with store.writer(MODEL, DIM) as writer:
        writer.cache_vectors(
            {"a": _vector(1), "b": _vector(2), "c": _vector(3)}, {"a": many, "b": one}
        )
        # Without sentence vectors a text counts as not cached (embedded again).
        vectors = writer.cached_vectors(["a", "b", "c", "d"])
        assert set(vectors) == {"a", "b"}
        assert vectors["b"] == pytest.approx(_vector(2), abs=1e-6)
        sentences = writer.cached_sentences(["a", "b", "c"])
        assert set(sentences) == {"a", "b"}
        for want, got in ((many, sentences["a"]), (one, sentences["b"])):
            assert np.array_equal(got.spans, want.spans)
            assert np.array_equal(got.vectors, want.vectors)
        # Kept although nothing is ever published.
        assert not writer.changed
    with store.writer(MODEL, DIM) as writer:
        assert set(writer.cached_vectors(["a", "b"])) == {"a", "b"}
        # Sentences reach the reader through a chunk's embed hash.
        issue = _issue("x", None, ("题", "一句话。"))
        writer.cache_vectors({"a": _vector(1)}, {"a": one})
        writer.put_issue(issue, "h", _chunks(issue), ["a"], _vector(1)[None, :], [["一句话"]])
        writer.publish()
    reader = store.reader()
    chunk_id = reader.issue_chunks("x")[0].chunk_id
    got = reader.sentences([chunk_id, 999_999])
    assert list(got) == [chunk_id]
    assert np.array_equal(got[chunk_id].vectors, one.vectors)
    reader.close()


def test_writer_lease_and_model(tmp_path: Path) -> None:
    store = MilvusStore(_location(tmp_path))
    with store.writer(MODEL, DIM) as writer:
        put(writer, LANTERN)
        writer.publish()
        with pytest.raises(IndexBusyError, match="another ingest"), store.writer(MODEL, DIM):
            pass
    with pytest.raises(ModelMismatchError), store.writer("another-model", DIM):
        pass
    with store.writer(MODEL, DIM, tokenizer="bigram") as writer:
        assert writer.tokenizer == "jieba"  # an existing index keeps its own


def test_repair(tmp_path: Path) -> None:
    store = MilvusStore(_location(tmp_path))
    with store.writer(MODEL, DIM) as writer:
        vectors = put(writer, LANTERN)
        writer.publish()
    reader = store.reader()
    chunk = reader.issue_chunks("2024-02-24")[0]
    # Damage one stored vector behind the store's back.
    conn = store._connect()
    row = conn.query("chunks", f"id == {chunk.chunk_id}", ["*"])[0]
    row.pop("sparse")
    conn.upsert("chunks", [{**row, "dense": (-vectors[chunk.text]).tolist()}])
    conn.close()
    assert reader.vectors([chunk.chunk_id])[0] == pytest.approx(-vectors[chunk.text], abs=1e-6)
    token = store.repair()
    assert reader.refresh()
    assert reader.generation == token
    assert reader.vectors([chunk.chunk_id])[0] == pytest.approx(vectors[chunk.text], abs=1e-6)
    assert store.check() == []
    reader.close()


def _child(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )


def test_killed_writer_is_undone(tmp_path: Path) -> None:
    location = _location(tmp_path)
    store = MilvusStore(location)
    with store.writer(MODEL, DIM) as writer:
        put(writer, LANTERN)
        writer.publish()
    # Another process stages a replacement and a new issue, then dies without cleaning up
    # (lease held, rows staged, nothing published).
    script = """
        import os, sys
        from tests.retrieval.store.test_milvus import DIM, LANTERN, LIBRARY, MODEL, put
        from retrieval.store.milvus import MilvusStore
        store = MilvusStore(sys.argv[1])
        context = store.writer(MODEL, DIM)  # kept: collecting it would close the writer
        writer = context.__enter__()
        put(writer, LIBRARY)
        writer.remove_issue(LANTERN.issue_id)
        sys.stdout.flush()
        os._exit(3)
    """
    child = _child(script, location)
    assert child.returncode == 3, child.stderr
    # The next writer takes over the dead process's lease and clears what it left.
    with store.writer(MODEL, DIM) as writer:
        assert not writer.changed
        assert [s.issue.issue_id for s in writer.stored_issues()] == ["2024-02-24"]
    assert store.check() == []
    reader = store.reader()
    assert [s.issue for s in reader.issues()] == ["2024-02-24"]
    assert reader.lexical_search("图书馆", 5) == []
    assert len(reader.issue_chunks("2024-02-24")) == 4
    conn = store._connect()
    assert conn.count("chunks", "id >= 0") == 4
    assert conn.count("issues", "id >= 0") == 1
    conn.close()
    reader.close()


def test_second_process_is_told_what_to_do(published: tuple[MilvusStore, dict]) -> None:
    store = published[0]
    reader = store.reader()  # holds the Milvus Lite file open
    script = """
        import sys
        from retrieval.store.milvus import MilvusStore
        try:
            MilvusStore(sys.argv[1]).reader()
        except Exception as exc:
            print(type(exc).__name__, exc)
    """
    child = _child(script, store.location)
    reader.close()
    assert child.stdout.startswith("IndexBusyError"), child.stdout + child.stderr
    assert "another process" in child.stdout
    assert "milvus-lite server" in child.stdout
