"""The Milvus backend against a real server: the core round trip of test_milvus.py.

Skipped unless ``MILVUS_URI`` names a server (``milvus://HOST:19530/test_bulletins``;
``MILVUS_TOKEN`` for its credentials). The tests use collections named after it with a
random suffix and drop them afterwards.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator

import pytest

from retrieval.filters import Filters
from retrieval.store import is_milvus_location
from retrieval.store.base import IndexBusyError
from retrieval.store.milvus import _KINDS, MilvusStore
from tests.retrieval.store.test_milvus import DIM, LANTERN, LIBRARY, MODEL, _issue, _vector, put

URI = os.environ.get("MILVUS_URI", "")

pytestmark = pytest.mark.skipif(
    not URI,
    reason="set MILVUS_URI=milvus://HOST:PORT/COLLECTION to test against a Milvus server",
)


@pytest.fixture
def store() -> Iterator[MilvusStore]:
    assert is_milvus_location(URI), f"MILVUS_URI={URI} is not a milvus:// address"
    base = URI.rstrip("/")
    suffix = uuid.uuid4().hex[:8]
    location = f"{base}_{suffix}" if base.count("/") >= 3 else f"{base}/test_{suffix}"
    store = MilvusStore(location)
    yield store
    conn = store._connect()
    try:
        for kind in _KINDS:
            conn.client.drop_collection(conn.target.collection(kind))
    finally:
        conn.close()


def test_round_trip(store: MilvusStore) -> None:
    assert not store.exists()
    with store.writer(MODEL, DIM, embedder="onnx") as writer:
        vectors = put(writer, LANTERN)
        put(writer, LIBRARY, sources=[("a.pdf", bytes(range(256)) * 600)])
        writer.publish()
        with pytest.raises(IndexBusyError):
            store.writer(MODEL, DIM).__enter__()
    assert store.exists()
    reader = store.reader()
    assert reader.size == 7

    text = "县委书记调研春季农业生产。"
    found = reader.dense_search(vectors[text], 3)
    assert reader.chunks([found[0][0]])[found[0][0]].text == text
    assert found[0][1] == pytest.approx(1.0, abs=1e-4)
    found = reader.lexical_search("燈會", 5)
    assert reader.chunks([found[0][0]])[found[0][0]].text == "元宵节灯会在县城广场举行。"
    found = reader.lexical_search("图书馆", 5, Filters(issue="2024-03-15"))
    assert [reader.chunks([i])[i].text for i, _ in found] == ["縣圖書館舉辦讀書會。"]
    assert reader.count(Filters(since=dt.date(2024, 3, 1))) == 3
    assert reader.idf(["农业", "图书馆"])["农业"] < reader.idf(["图书馆"])["图书馆"]

    revised = _issue("2024-02-24", dt.date(2024, 2, 24), ("灯会", "灯会延期至正月十六举行。"))
    with store.writer(MODEL, DIM) as writer:
        put(writer, revised, content_hash="h2")
        assert writer.remove_issue("2024-03-15")
        writer.publish()
    assert reader.lexical_search("正月十六", 5) == []  # still on the old generation
    assert reader.refresh()
    assert [s.issue for s in reader.issues()] == ["2024-02-24"]
    assert [c.text for c in reader.issue_chunks("2024-02-24")] == ["灯会延期至正月十六举行。"]
    assert reader.dense_search(_vector(5), 10) != []
    reader.close()

    with store.writer(MODEL, DIM) as writer:
        stored = list(writer.stored_issues())
    assert [s.issue for s in stored] == [revised]
    assert store.check() == []
    assert isinstance(store.repair(), int)
