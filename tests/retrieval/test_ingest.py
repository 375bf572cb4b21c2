"""Ingest beyond the CLI: rebuild from stored sources, watching a folder, split warnings."""

import shutil
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from retrieval import ingest as ingest_module
from retrieval.documents import Article, Issue
from retrieval.ingest import (
    LONG_ARTICLE_CHARS,
    SHORT_ARTICLE_CHARS,
    embed_text,
    ingest,
    rebuild,
    split_warnings,
)
from retrieval.parse import read_issue
from retrieval.store import ChunkRecord
from retrieval.store.local import IndexReader, check_index
from retrieval.text import one_script, to_simplified
from retrieval.watch import watch
from tests.samples import MINI_ISSUE

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "data" / "bulletins" / "000_d59eaba95ec30256.txt"

PAGE = """交城县

{headline}

本报讯 {body}（记者{author}）
"""


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def _issues(index: Path) -> dict[str, int]:
    try:
        return {i.issue: i.articles for i in IndexReader(index).issues()}
    except Exception:  # not created yet
        return {}


@pytest.mark.slow
def test_rebuild_reparses_stored_sources_without_reembedding(tmp_path, embedder):
    folder = tmp_path / "b"
    folder.mkdir()
    shutil.copy(SEED, folder)
    index = tmp_path / "index"
    first = ingest([folder], index, embedder)
    shutil.rmtree(folder)  # the files are not needed any more

    report = rebuild(index, embedder)
    assert report.ok
    assert report.replaced == ["000_d59eaba95ec30256"]
    assert (report.chunks, report.embedded) == (first.chunks, 0)
    assert check_index(index) == []
    assert _issues(index) == {"000_d59eaba95ec30256": 6}


@pytest.mark.slow
def test_sentence_vectors_are_stored_and_rebuild_adds_them_to_an_older_index(tmp_path, embedder):
    index = tmp_path / "index"
    first = ingest([SEED], index, embedder)
    reader = IndexReader(index)
    ids = reader.chunk_ids().tolist()
    stored = reader.sentences(ids)
    assert set(stored) == set(ids)
    record = reader.chunks(ids[:1])[ids[0]]
    spans = stored[ids[0]].spans.tolist()
    assert spans[0][0] == 0 and spans[-1][1] == len(record.text)
    reader.close()

    # An index written before sentence vectors existed.
    with sqlite3.connect(index / "store.sqlite") as conn:
        conn.execute("ALTER TABLE embeddings DROP COLUMN sentences")
    assert IndexReader(index).sentences(ids) == {}
    report = rebuild(index, embedder)
    assert report.ok and report.embedded == first.embedded  # the sentences needed the model
    reader = IndexReader(index)
    assert len(reader.sentences(reader.chunk_ids().tolist())) == first.chunks


@pytest.mark.slow
def test_watch_ingests_new_files_and_late_pages_complete_their_issue(tmp_path, embedder):
    folder = tmp_path / "inbox"
    folder.mkdir()
    index = tmp_path / "index"
    stop = threading.Event()
    thread = threading.Thread(
        target=watch,
        args=(folder, index, embedder),
        kwargs={"quiet": 0.5, "poll": 0.2, "stop": stop},
    )
    thread.start()
    try:
        (folder / "2024-05-01_01.txt").write_text(
            PAGE.format(headline="县图书馆新馆开放", body="新馆藏书十万册。", author="张三"),
            encoding="utf-8",
        )
        _wait_for(lambda: _issues(index).get("2024-05-01") == 1)
        (folder / "2024-05-01_02.txt").write_text(
            PAGE.format(headline="城区新增公交线路", body="新线路全长十二公里。", author="李四"),
            encoding="utf-8",
        )
        _wait_for(lambda: _issues(index).get("2024-05-01") == 2)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert check_index(index) == []


def _stored(index: Path) -> dict[str, list[tuple[ChunkRecord, np.ndarray]]]:
    """Each issue's chunks in order, with their stored vectors."""
    reader = IndexReader(index)
    ids = reader.chunk_ids().tolist()
    records, vectors = reader.chunks(ids), reader.vectors(ids)
    reader.close()
    issues: dict[str, list[tuple[ChunkRecord, np.ndarray]]] = {}
    for chunk_id, vector in sorted(
        zip(ids, vectors, strict=True), key=lambda row: (records[row[0]].article_id, row[0])
    ):
        issues.setdefault(records[chunk_id].issue, []).append((records[chunk_id], vector))
    return issues


@pytest.mark.slow
def test_traditional_text_is_embedded_in_simplified_and_kept_as_printed(tmp_path, embedder):
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "2024-01-09.txt").write_text(MINI_ISSUE, encoding="utf-8")
    (folder / "2024-01-10.txt").write_text(to_simplified(MINI_ISSUE), encoding="utf-8")
    shutil.copy(SEED, folder)
    report = ingest([folder], tmp_path / "index", embedder)
    stored = _stored(tmp_path / "index")
    traditional, twin = stored["2024-01-09"], stored["2024-01-10"]

    # The model read each Traditional chunk as its Simplified twin: the same vector,
    # embedded once.
    np.testing.assert_array_equal([v for _, v in traditional], [v for _, v in twin])
    assert report.embedded == report.chunks - len(traditional)
    # What is stored, searched and quoted is the text as printed.
    assert [c.text for c, _ in traditional] != [c.text for c, _ in twin]
    assert [to_simplified(c.text) for c, _ in traditional] == [c.text for c, _ in twin]
    # Simplified text is read as it is.
    seed = stored[SEED.stem]
    expected = embedder.embed_passages([embed_text(c.headline, c.text) for c, _ in seed])
    np.testing.assert_allclose([v for _, v in seed], expected, atol=2e-3)


@pytest.mark.slow
def test_an_issue_embedded_as_printed_in_traditional_is_embedded_again(
    tmp_path, embedder, monkeypatch
):
    path = tmp_path / "2024-01-09.txt"
    path.write_text(MINI_ISSUE, encoding="utf-8")
    index = tmp_path / "index"
    with monkeypatch.context() as before:  # the pipeline that embedded Traditional as printed
        before.setattr(ingest_module, "PIPELINE_VERSION", "1")
        before.setattr(ingest_module, "one_script", lambda text: text)
        first = ingest([path], index, embedder)

    again = ingest([path], index, embedder)
    assert again.replaced == ["2024-01-09"]
    assert again.embedded == first.chunks
    stored = _stored(index)["2024-01-09"]
    expected = embedder.embed_passages(
        [one_script(embed_text(c.headline, c.text)) for c, _ in stored]
    )
    np.testing.assert_allclose([v for _, v in stored], expected, atol=2e-3)


def _issue_of(*lengths: int) -> Issue:
    articles = [Article(headline=f"第{i}篇", body="字" * n) for i, n in enumerate(lengths)]
    return Issue(issue_id="2024-03-01", source="data/2024-03-01.txt", articles=articles)


def test_a_clean_split_gets_no_warning():
    assert split_warnings(read_issue(SEED)) == []
    short, fine = SHORT_ARTICLE_CHARS - 1, SHORT_ARTICLE_CHARS
    assert split_warnings(_issue_of(short, short, short)) == []  # too few to judge
    assert split_warnings(_issue_of(short, short, fine, fine)) == []  # half, not most
    assert split_warnings(_issue_of(LONG_ARTICLE_CHARS, 800)) == []


def test_mostly_tiny_articles_are_a_suspect_split():
    [warning] = split_warnings(_issue_of(*[12] * 41, *[300] * 15))
    assert warning.startswith("41 of 56 articles are under 60 characters")


def test_one_article_holding_a_whole_issue_is_a_suspect_split():
    [warning] = split_warnings(_issue_of(LONG_ARTICLE_CHARS + 1))
    assert warning.startswith(f"article 1 has {LONG_ARTICLE_CHARS + 1} characters")
