import numpy as np
import pytest

from retrieval.ingest import ingest
from retrieval.search import Searcher
from tests.samples import MINI_ISSUE


@pytest.mark.slow
def test_a_question_in_either_script_is_embedded_in_simplified(tmp_path, embedder):
    path = tmp_path / "2024-01-09.txt"
    path.write_text(MINI_ISSUE, encoding="utf-8")
    ingest([path], tmp_path / "index", embedder)
    searcher = Searcher(tmp_path / "index", embedder)

    simplified = searcher.search("环保局公布的资源回收率是多少？")
    traditional = searcher.search("環保局公布的資源回收率是多少？")
    np.testing.assert_array_equal(traditional.query, simplified.query)
    assert [(h.chunk.chunk_id, h.dense) for h in traditional.hits] == [
        (h.chunk.chunk_id, h.dense) for h in simplified.hits
    ]
    assert "資源回收率" in traditional.hits[0].chunk.text  # passages come back as printed
    # A Simplified question is embedded as typed.
    np.testing.assert_array_equal(
        simplified.query, embedder.embed_query("环保局公布的资源回收率是多少？")
    )
