import datetime as dt
import sqlite3

import faiss
import numpy as np
import pytest

from retrieval.chunk import chunk_article
from retrieval.documents import Article, Issue
from retrieval.filters import Filters
from retrieval.lexical import tokenize
from retrieval.store import (
    ArticleSummary,
    IndexBusyError,
    IndexNotFoundError,
    ModelMismatchError,
    Reader,
    SentenceVectors,
    StoreError,
    open_store,
    remove_issues,
)
from retrieval.store.local import (
    IndexReader,
    LocalStore,
    check_index,
    open_writer,
    read_current,
)

DIM = 8
MODEL = "test-model"


def _issue(key: str, *bodies: str) -> Issue:
    articles = [
        Article(headline=f"{key} 第{i}篇", body=b, author="记者") for i, b in enumerate(bodies)
    ]
    return Issue(
        issue_id=key, source=f"/bulletins/{key}.txt", date=dt.date(2024, 3, 1), articles=articles
    )


def _vectors(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _put(writer, issue: Issue, seed: int = 0, content_hash: str = "h1") -> np.ndarray:
    chunks = [c for i, a in enumerate(issue.articles) for c in chunk_article(a, i)]
    vectors = _vectors(len(chunks), seed)
    writer.put_issue(
        issue,
        content_hash,
        chunks,
        [f"{seed}-{i}" for i in range(len(chunks))],
        vectors,
        [tokenize(c.text) for c in chunks],
    )
    return vectors


def test_missing_index_is_reported(tmp_path):
    with pytest.raises(IndexNotFoundError):
        IndexReader(tmp_path)


def test_put_publish_search_and_lookup(tmp_path):
    with open_writer(tmp_path, MODEL, DIM) as w:
        vectors = _put(w, _issue("2024-03-01", "白漳河全长2886米。", "第二篇正文。"))
        assert w.publish() == 1
    reader = IndexReader(tmp_path)
    assert reader.size == 2
    [(chunk_id, score)] = reader.dense_search(vectors[0], 1)
    assert score == pytest.approx(1.0, abs=1e-3)  # float16 codes
    record = reader.chunks([chunk_id])[chunk_id]
    assert record.text == "白漳河全长2886米。"
    assert (record.headline, record.issue, record.date) == (
        "2024-03-01 第0篇",
        "2024-03-01",
        dt.date(2024, 3, 1),
    )
    [summary] = reader.issues()
    assert (summary.issue, summary.articles, summary.chunks) == ("2024-03-01", 2, 2)


def test_reader_lists_the_articles_of_one_live_issue(tmp_path):
    with open_writer(tmp_path, MODEL, DIM) as w:
        _put(w, _issue("a", "旧的正文。"))
        issue = _issue("b", "白漳河全长2886米。", "第二篇。")
        issue.articles[1] = Article(headline="", body="第二篇。", section="交城县", page=2)
        _put(w, issue, seed=1)
        w.publish()
    reader = IndexReader(tmp_path)
    with open_writer(tmp_path, MODEL, DIM) as w:
        _put(w, _issue("a", "新的正文，长一些。", "又一篇。"), seed=2, content_hash="h2")
        w.publish()

    summary = reader.issue("b")
    assert summary is not None
    assert (summary.issue, summary.source, summary.articles) == ("b", "/bulletins/b.txt", 2)
    assert reader.articles("b") == [
        ArticleSummary(1, "b 第0篇", None, "记者", None, 11),
        ArticleSummary(2, "", "交城县", None, 2, 4),
    ]
    # The reader's generation, not the one a writer published since.
    assert [a.chars for a in reader.articles("a")] == [5]
    assert reader.refresh()
    assert [a.chars for a in reader.articles("a")] == [9, 4]
    assert reader.issue("nope") is None
    assert reader.articles("nope") == []


def test_replacing_and_removing_an_issue_updates_vectors_and_rows(tmp_path):
    with open_writer(tmp_path, MODEL, DIM) as w:
        _put(w, _issue("a", "旧正文。"), seed=1)
        _put(w, _issue("b", "另一期。"), seed=2)
        w.publish()
    with open_writer(tmp_path, MODEL, DIM) as w:
        assert w.issue_hash("a") == "h1"
        new = _put(w, _issue("a", "新正文一。", "新正文二。"), seed=3, content_hash="h2")
        w.publish()
    reader = IndexReader(tmp_path)
    assert reader.size == 3
    hits = reader.dense_search(new[1], 3)
    texts = {r.text for r in reader.chunks([i for i, _ in hits]).values()}
    assert texts == {"新正文一。", "新正文二。", "另一期。"}
    with open_writer(tmp_path, MODEL, DIM) as w:
        assert w.remove_issue("b")
        assert not w.remove_issue("nope")
        w.publish()
    assert reader.refresh()
    assert reader.size == 2
    assert [i.issue for i in reader.issues()] == ["a"]


def test_unpublished_changes_are_invisible_and_discarded(tmp_path):
    with open_writer(tmp_path, MODEL, DIM) as w:
        _put(w, _issue("a", "正文。"))
        w.publish()
    with open_writer(tmp_path, MODEL, DIM) as w:
        _put(w, _issue("b", "未发布。"), seed=5)
        w.remove_issue("a")
        # Leaves without publishing, as a crash or Ctrl-C would.
    reader = IndexReader(tmp_path)
    assert [i.issue for i in reader.issues()] == ["a"]
    assert reader.size == 1
    with open_writer(tmp_path, MODEL, DIM) as w:
        assert w.issue_hash("a") == "h1"
        assert w.issue_hash("b") is None
    assert read_current(tmp_path) == 1


def test_reader_keeps_serving_its_generation_while_a_writer_publishes(tmp_path):
    with open_writer(tmp_path, MODEL, DIM) as w:
        old = _put(w, _issue("a", "第一版。"), seed=1)
        w.publish()
    reader = IndexReader(tmp_path)
    with open_writer(tmp_path, MODEL, DIM) as w:
        _put(w, _issue("a", "第二版。"), seed=2, content_hash="h2")
        w.publish()
    # Not refreshed yet: the old generation's ids still resolve to their rows.
    [(chunk_id, _)] = reader.dense_search(old[0], 1)
    assert reader.chunks([chunk_id])[chunk_id].text == "第一版。"
    assert reader.refresh()
    [(chunk_id, _)] = reader.dense_search(old[0], 1)
    assert reader.chunks([chunk_id])[chunk_id].text == "第二版。"


def test_old_generations_are_collected(tmp_path):
    for n in range(4):
        with open_writer(tmp_path, MODEL, DIM) as w:
            _put(w, _issue("a", f"第{n}版。"), seed=n, content_hash=f"h{n}")
            w.publish()
    gens = sorted(p.name for p in tmp_path.glob("gen-*"))
    assert gens == ["gen-000003", "gen-000004"]


def test_model_mismatch_is_refused(tmp_path):
    with open_writer(tmp_path, MODEL, DIM) as w:
        _put(w, _issue("a", "正文。"))
        w.publish()
    with pytest.raises(ModelMismatchError), open_writer(tmp_path, "other-model", DIM):
        pass
    with pytest.raises(ModelMismatchError):
        IndexReader(tmp_path).check_model("other-model")


def test_second_writer_is_refused(tmp_path):
    with (
        open_writer(tmp_path, MODEL, DIM),
        pytest.raises(IndexBusyError, match="another ingest"),
        open_writer(tmp_path, MODEL, DIM),
    ):
        pass


def test_embedding_cache_roundtrip(tmp_path):
    spans = np.asarray([[0, 4], [4, 9]], dtype=np.int32)
    with open_writer(tmp_path, MODEL, DIM) as w:
        v = _vectors(2, 7)
        sentences = SentenceVectors(spans, _vectors(2, 8))
        w.cache_vectors({"x": v[0], "y": v[1]}, {"x": sentences, "y": sentences})
        w.cache_vectors({"old": v[0]})  # cached before sentences had vectors
        found = w.cached_vectors(["x", "y", "z", "old"])
    assert set(found) == {"x", "y"}  # "old" is embedded again, with its sentences
    np.testing.assert_array_equal(found["y"], v[1])


def test_sentence_vectors_pack_and_unpack():
    packed = SentenceVectors(np.asarray([[0, 3], [3, 10]]), _vectors(2, 3)).pack()
    back = SentenceVectors.unpack(packed, DIM)
    np.testing.assert_array_equal(back.spans, [[0, 3], [3, 10]])
    np.testing.assert_allclose(back.vectors, _vectors(2, 3), atol=1e-3)
    empty = SentenceVectors(np.empty((0, 2)), np.empty((0, DIM))).pack()
    assert SentenceVectors.unpack(empty, DIM).vectors.shape == (0, DIM)


def test_reader_gives_sentence_vectors_and_reads_stores_written_before_them(tmp_path):
    with open_writer(tmp_path, MODEL, DIM) as w:
        vectors = _put(w, _issue("a", "第一句。第二句。", "正文二。"))
        w.cache_vectors(
            {"0-0": vectors[0], "0-1": vectors[1]},
            {"0-0": SentenceVectors(np.asarray([[0, 4], [4, 8]]), _vectors(2, 5))},
        )
        w.publish()
    reader = IndexReader(tmp_path)
    ids = [i for i, _ in reader.dense_search(vectors[0], 2)]
    found = reader.sentences(ids)
    [(chunk_id, sentences)] = found.items()
    assert reader.chunks([chunk_id])[chunk_id].text == "第一句。第二句。"
    np.testing.assert_array_equal(sentences.spans, [[0, 4], [4, 8]])
    reader.close()

    # An index written before sentence vectors: no column for them.
    conn = sqlite3.connect(tmp_path / "store.sqlite")
    conn.execute("ALTER TABLE embeddings DROP COLUMN sentences")
    conn.close()
    old = IndexReader(tmp_path)
    assert old.sentences(ids) == {}
    with open_writer(tmp_path, MODEL, DIM) as w:  # adds the column back, empty
        _put(w, _issue("b", "新的一期。"), seed=3, content_hash="h3")
        w.publish()
    old.refresh()
    assert old.sentences(ids) == {}
    assert old.chunks(ids)  # the old issue still answers


def test_check_passes_on_a_healthy_index(tmp_path):
    with open_writer(tmp_path, MODEL, DIM) as w:
        vectors = _put(w, _issue("a", "正文一。", "正文二。"))
        w.cache_vectors({f"0-{i}": v for i, v in enumerate(vectors)})
        w.publish()
    assert check_index(tmp_path) == []


def test_check_finds_and_repair_fixes_vectors_that_disagree_with_rows(tmp_path):
    with open_writer(tmp_path, MODEL, DIM) as w:
        vectors = _put(w, _issue("a", "正文一。", "正文二。"))
        w.cache_vectors({f"0-{i}": v for i, v in enumerate(vectors)})
        w.publish()
    # Damage the live generation: drop one vector behind the store's back.
    folder = tmp_path / "gen-000001"
    index = faiss.read_index(str(folder / "faiss.index"))
    index.remove_ids(np.asarray([faiss.vector_to_array(index.id_map)[0]], dtype=np.int64))
    faiss.write_index(index, str(folder / "faiss.index"))
    problems = check_index(tmp_path)
    assert any("no entry in the FAISS index" in p for p in problems)
    assert any("manifest says 2 vectors" in p for p in problems)

    with open_writer(tmp_path, MODEL, DIM) as w:
        w.rebuild_vectors()
        assert w.publish() == 2
    assert check_index(tmp_path) == []
    reader = IndexReader(tmp_path)
    [(chunk_id, _)] = reader.dense_search(vectors[1], 1)
    assert reader.chunks([chunk_id])[chunk_id].text == "正文二。"


def test_repair_refuses_when_vectors_are_not_cached(tmp_path):
    with open_writer(tmp_path, MODEL, DIM) as w:
        _put(w, _issue("a", "正文。"))
        w.publish()
    assert any("no cached vector" in p for p in check_index(tmp_path))
    with open_writer(tmp_path, MODEL, DIM) as w, pytest.raises(StoreError, match="cached"):
        w.rebuild_vectors()


def test_check_reports_a_missing_index(tmp_path):
    assert check_index(tmp_path) == [f"no index in {tmp_path}"]


def test_filters_by_date_and_issue(tmp_path):
    with open_writer(tmp_path, MODEL, DIM) as w:
        _put(w, _issue("a", "一。"), seed=1)
        later = _issue("b", "二。")
        later.date = dt.date(2024, 4, 2)
        _put(w, later, seed=2)
        undated = _issue("c", "三。")
        undated.date = None
        _put(w, undated, seed=3)
        w.publish()
    reader = IndexReader(tmp_path)
    assert reader.years() == {2024}
    assert len(reader.chunk_ids()) == 3
    march = Filters(since=dt.date(2024, 3, 1), until=dt.date(2024, 3, 31))
    assert reader.count(march) == 1
    [(chunk_id, _)] = reader.dense_search(_vectors(1, 2)[0], 5, march)
    assert reader.chunks([chunk_id])[chunk_id].issue == "a"
    assert reader.dense_search(_vectors(1, 2)[0], 5, Filters(until=dt.date(2024, 1, 1))) == []
    assert reader.count(Filters(issue="c")) == 1


def _put_cached(writer, issue: Issue, seed: int) -> np.ndarray:
    vectors = _put(writer, issue, seed=seed, content_hash=f"h{seed}")
    writer.cache_vectors({f"{seed}-{i}": v for i, v in enumerate(vectors)})
    return vectors


def test_large_indexes_switch_to_ivf_and_stay_incremental(tmp_path):
    bodies = [f"第{i}句，内容各不相同。" for i in range(120)]
    with open_writer(tmp_path, MODEL, DIM, approx_threshold=200) as w:
        _put_cached(w, _issue("a", *bodies), seed=1)
        w.publish()
    assert not isinstance(IndexReader(tmp_path)._index, faiss.IndexIVF)
    with open_writer(tmp_path, MODEL, DIM, approx_threshold=200) as w:
        second = _put_cached(w, _issue("b", *bodies), seed=2)
        w.publish()
    reader = IndexReader(tmp_path)
    assert isinstance(reader._index, faiss.IndexIVF)
    assert reader.size == 240
    assert check_index(tmp_path) == []
    [(chunk_id, score)] = reader.dense_search(second[7], 1)
    assert reader.chunks([chunk_id])[chunk_id].issue == "b"
    assert score == pytest.approx(1.0, abs=1e-3)
    # Removing and adding keep working on the approximate index.
    with open_writer(tmp_path, MODEL, DIM, approx_threshold=200) as w:
        w.remove_issue("a")
        _put_cached(w, _issue("c", "新的一期。"), seed=3)
        w.publish()
    assert reader.refresh()
    assert reader.size == 121
    assert check_index(tmp_path) == []
    assert {i.issue for i in reader.issues()} == {"b", "c"}


def test_filtered_search_on_ivf_finds_the_allowed_chunks(tmp_path):
    bodies = [f"第{i}句，内容各不相同。" for i in range(150)]
    with open_writer(tmp_path, MODEL, DIM, approx_threshold=200) as w:
        _put_cached(w, _issue("a", *bodies), seed=1)
        small = _put_cached(w, _issue("b", "一。", "二。", "三。"), seed=2)
        _put_cached(w, _issue("c", *bodies), seed=3)
        w.publish()
    reader = IndexReader(tmp_path)
    assert isinstance(reader._index, faiss.IndexIVF)
    hits = reader.dense_search(small[1], 5, Filters(issue="b"))
    assert len(hits) == 3
    assert reader.chunks([hits[0][0]])[hits[0][0]].text == "二。"
    assert hits[0][1] == pytest.approx(1.0, abs=1e-3)


def test_index_records_the_embedder_that_built_it(tmp_path, capsys):
    with open_writer(tmp_path, MODEL, DIM, embedder="onnx-int8") as writer:
        _put(writer, _issue("2024-03-01", "县里召开春耕备耕工作会议。" * 5))
        writer.publish()
    assert IndexReader(tmp_path).embedder == "onnx-int8"
    for _ in range(2):  # vectors of another precision are added, and said so once
        with open_writer(tmp_path, MODEL, DIM, embedder="torch") as writer:
            _put(writer, _issue("2024-03-02", "县体育中心游泳馆闭馆维修。" * 5), seed=1)
            writer.publish()
    with open_writer(tmp_path, MODEL, DIM, embedder="onnx") as writer:  # float32 as well
        writer.remove_issue("2024-03-02")
        writer.publish()
    assert IndexReader(tmp_path).embedder == "onnx-int8"
    err = capsys.readouterr().err
    assert err.count("built with the onnx-int8 embedder and is used with torch") == 1
    assert "used with onnx:" in err


def test_lexical_search_scores_and_idf_through_the_interface(tmp_path):
    store = LocalStore(tmp_path)
    assert not store.exists()
    with store.writer(MODEL, DIM) as w:
        _put(w, _issue("a", "白漳河整治工程全长2886米。", "县医院新大楼投入使用。"), seed=1)
        _put(w, _issue("b", "白漳河两岸种植柳树。"), seed=2, content_hash="h2")
        w.publish()
    assert store.exists()
    reader = store.reader()
    assert isinstance(reader, Reader)
    found = reader.lexical_search("白漳河整治工程有多长", 5)
    texts = [reader.chunks([i])[i].text for i, _ in found]
    assert texts[0] == "白漳河整治工程全长2886米。" and "县医院新大楼投入使用。" not in texts
    # Traditional folds to Simplified; filters restrict; weighted terms (a translation).
    [(hospital, _)] = reader.lexical_search("縣醫院", 5)
    assert reader.chunks([hospital])[hospital].text == "县医院新大楼投入使用。"
    only_b = reader.lexical_search("白漳河", 5, Filters(issue="b"))
    assert [reader.chunks([i])[i].issue for i, _ in only_b] == ["b"]
    assert reader.lexical_search({"柳树": 1.0}, 5)[0][0] == only_b[0][0]
    scores = reader.lexical_scores("白漳河整治工程有多长", [i for i, _ in found] + [10_000])
    assert scores[found[0][0]] == pytest.approx(found[0][1]) and scores[10_000] == 0.0
    idf = reader.idf(["漳河", "医院", "火星"])
    assert idf["火星"] > idf["医院"] > idf["漳河"]
    assert "漳河" in set(reader.vocabulary())
    assert reader.dim == DIM and reader.tokenizer == "jieba"
    assert [c.text for c in reader.issue_chunks("a")] == [
        "白漳河整治工程全长2886米。",
        "县医院新大楼投入使用。",
    ]
    assert reader.issue_chunks("nope") == []


def test_stored_issues_give_back_what_was_put(tmp_path):
    store = LocalStore(tmp_path)
    issue = _issue("a", "第一段。", "第二段。")
    source = bytes(range(256)) * 500
    with store.writer(MODEL, DIM) as w:
        chunks = [c for i, a in enumerate(issue.articles) for c in chunk_article(a, i)]
        vectors = _vectors(len(chunks), 1)
        sentences = {
            f"e{i}": SentenceVectors(np.array([[0, 2]], np.int32), vectors[i : i + 1])
            for i in range(len(chunks))
        }
        w.cache_vectors({f"e{i}": v for i, v in enumerate(vectors)}, sentences)
        tokens = [tokenize(c.text) for c in chunks]
        hashes = [f"e{i}" for i in range(len(chunks))]
        w.put_issue(issue, "h1", chunks, hashes, vectors, tokens, [("a.pdf", source)])
        w.publish()
    with store.writer(MODEL, DIM) as w:
        [stored] = list(w.stored_issues())
        assert stored.issue == issue and stored.content_hash == "h1"
        assert stored.sources == [("a.pdf", source)]
        assert stored.chunks == chunks and stored.embed_hashes == hashes
        assert stored.tokens == tokens
        cached = w.cached_sentences(hashes)
        assert np.array_equal(cached["e1"].spans, [[0, 2]])
        assert np.allclose(cached["e1"].vectors, vectors[1:2], atol=1e-3)


def test_open_store_and_remove_issues_work_on_any_store(tmp_path):
    store = open_store(tmp_path / "index")
    assert isinstance(store, LocalStore) and store.location == str(tmp_path / "index")
    assert open_store(store) is store
    with store.writer(MODEL, DIM) as w:
        _put_cached(w, _issue("a", "一。"), seed=1)
        _put_cached(w, _issue("b", "二。"), seed=2)
        w.publish()
    assert remove_issues(store, ["a", "zz"]) == ["zz"]
    assert [i.issue for i in store.reader().issues()] == ["b"]
    assert store.check() == []


def test_repair_rebuilds_the_vectors_from_the_cache(tmp_path):
    store = LocalStore(tmp_path)
    with store.writer(MODEL, DIM) as w:
        _put_cached(w, _issue("a", "一。", "二。"), seed=1)
        w.publish()
    (tmp_path / "gen-000001" / "faiss.index").write_bytes(b"broken")
    assert store.check()
    assert store.repair() == 2
    assert store.check() == []
