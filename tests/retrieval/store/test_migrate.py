"""Tests for retrieval.store.migrate: an index copied between stores, nothing embedded."""

import numpy as np
import pytest

from retrieval.chunk import chunk_article
from retrieval.documents import Article, Issue
from retrieval.lexical import tokenize
from retrieval.store import SentenceVectors, StoreError, open_store
from retrieval.store.migrate import migrate

DIM = 8
MODEL = "test-model"


def _put(writer, key: str, bodies: list[str], seed: int) -> None:
    issue = Issue(
        key, f"/bulletins/{key}.txt", articles=[Article(f"{key} 标题", b) for b in bodies]
    )
    chunks = [c for i, a in enumerate(issue.articles) for c in chunk_article(a, i)]
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(len(chunks), DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    hashes = [f"{key}-{i}" for i in range(len(chunks))]
    spans = np.array([[0, 1]], np.int32)
    writer.cache_vectors(
        dict(zip(hashes, vectors, strict=True)),
        {h: SentenceVectors(spans, v[None, :]) for h, v in zip(hashes, vectors, strict=True)},
    )
    writer.put_issue(
        issue,
        f"hash-{key}-{seed}",
        chunks,
        hashes,
        vectors,
        [tokenize(c.text) for c in chunks],
        [(f"{key}.txt", "\n".join(bodies).encode())],
    )


def test_migrate_copies_everything_and_resumes(tmp_path):
    source = open_store(tmp_path / "a")
    with source.writer(MODEL, DIM) as w:
        _put(w, "2024-03-01", ["白漳河整治工程全长2886米。", "县医院新大楼投入使用。"], 1)
        _put(w, "2024-03-02", ["全县春耕备耕有序推进。"], 2)
        w.publish()
    destination = open_store(tmp_path / "b")
    report = migrate(source, destination)
    assert sorted(report.copied) == ["2024-03-01", "2024-03-02"] and report.chunks == 3
    assert destination.check() == []
    a, b = source.reader(), destination.reader()
    assert [i.issue for i in b.issues()] == [i.issue for i in a.issues()]
    assert b.model_id == MODEL and b.embedder == a.embedder and b.tokenizer == a.tokenizer
    for key in ("2024-03-01", "2024-03-02"):
        old, new = a.issue_chunks(key), b.issue_chunks(key)
        assert [c.text for c in new] == [c.text for c in old]
        assert np.allclose(
            b.vectors([c.chunk_id for c in new]), a.vectors([c.chunk_id for c in old]), atol=1e-3
        )
        sentences = b.sentences([c.chunk_id for c in new])
        assert len(sentences) == len(new)
    assert b.lexical_search("白漳河", 1)[0][1] == pytest.approx(a.lexical_search("白漳河", 1)[0][1])
    # Again: nothing to copy; a changed issue is copied again.
    assert migrate(source, destination).skipped == ["2024-03-01", "2024-03-02"]
    with source.writer(MODEL, DIM) as w:
        _put(w, "2024-03-02", ["全县春耕备耕有序推进，已落实春播面积十二万亩。"], 3)
        w.publish()
    report = migrate(source, destination)
    assert report.copied == ["2024-03-02"] and report.skipped == ["2024-03-01"]
    assert "十二万亩" in destination.reader().issue_chunks("2024-03-02")[0].text


def test_migrate_refuses_the_same_store_and_another_model(tmp_path):
    source = open_store(tmp_path / "a")
    with source.writer(MODEL, DIM) as w:
        _put(w, "x", ["一。"], 1)
        w.publish()
    with pytest.raises(StoreError, match="both the source and the destination"):
        migrate(source, open_store(tmp_path / "a"))
    other = open_store(tmp_path / "b")
    with other.writer("another-model", DIM) as w:
        _put(w, "y", ["二。"], 2)
        w.publish()
    with pytest.raises(StoreError, match="another-model"):
        migrate(source, other)


def test_migrate_to_milvus_lite_and_back(tmp_path):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    source = open_store(tmp_path / "a")
    with source.writer(MODEL, DIM) as w:
        _put(w, "2024-03-01", ["白漳河整治工程全长2886米。", "县医院新大楼投入使用。"], 1)
        _put(w, "2024-03-02", ["全县春耕备耕有序推进。"], 2)
        w.publish()
    milvus = open_store(f"milvus:{tmp_path / 'm.db'}")
    assert migrate(source, milvus).chunks == 3
    assert milvus.check() == []
    back = open_store(tmp_path / "b")
    report = migrate(milvus, back)
    assert sorted(report.copied) == ["2024-03-01", "2024-03-02"]
    assert back.check() == []
    a, b = source.reader(), back.reader()
    for key in ("2024-03-01", "2024-03-02"):
        old, new = a.issue_chunks(key), b.issue_chunks(key)
        assert [c.text for c in new] == [c.text for c in old]
        assert [c.headline for c in new] == [c.headline for c in old]
        assert np.allclose(
            b.vectors([c.chunk_id for c in new]), a.vectors([c.chunk_id for c in old]), atol=1e-3
        )
    with back.writer(MODEL, DIM) as w:
        assert {s.issue.issue_id: s.sources for s in w.stored_issues()} == {
            "2024-03-01": [
                ("2024-03-01.txt", "白漳河整治工程全长2886米。\n县医院新大楼投入使用。".encode())
            ],
            "2024-03-02": [("2024-03-02.txt", "全县春耕备耕有序推进。".encode())],
        }
