from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.chunk import (
    MAX_CHARS,
    chunk_article,
    chunk_text,
    sentence_spans,
    split_sentences,
)
from retrieval.documents import Article

# Sentences built from CJK text, digits, Latin words and the punctuation that ends or
# does not end Chinese sentences.
_clause = st.text(
    alphabet=st.sampled_from(
        list("交城县白漳河整治工程全长米年月日的了在和ABC xyz0123456789，、：“”（）")
    ),
    min_size=1,
    max_size=120,
)
_ending = st.sampled_from(["。", "！", "？", "；", "……", "。”", "？」", ""])
_sentence = st.builds(lambda c, e: c + e, _clause, _ending)
_body = st.lists(
    st.lists(_sentence, min_size=1, max_size=8).map("".join), min_size=1, max_size=12
).map("\n".join)


def test_sentence_spans_split_on_chinese_punctuation_and_keep_closing_quotes():
    text = "他说：“工程年底完工。”记者了解到，全长2886米！真的吗？是的；\n第二段"
    assert split_sentences(text) == [
        "他说：“工程年底完工。”",
        "记者了解到，全长2886米！",
        "真的吗？",
        "是的；",
        "第二段",
    ]


def test_decimal_points_and_latin_abbreviations_do_not_end_sentences():
    assert split_sentences("投资3.5亿元，建成USB 3.0接口。") == ["投资3.5亿元，建成USB 3.0接口。"]
    # A title or an initial before a name ends no sentence; a word's full stop does.
    handover = "理事长一职由Dr. William Riley交棒给Mr. George Hatfield。"
    assert split_sentences(handover) == [handover]
    assert split_sentences("It was J. K. Rowling. Then we left.") == [
        "It was J. K. Rowling.",
        "Then we left.",
    ]


def test_short_text_is_one_chunk():
    assert chunk_text("一句话。两句话。") == [(0, 8)]


def test_empty_body_has_no_chunks():
    assert chunk_text("") == []
    assert chunk_article(Article(headline="标题", body=""), 0) == []


def test_chunks_overlap_by_one_sentence():
    body = "".join(
        f"第{i}句话讲的是一件相当具体的事情，内容足够长以便观察切分。" for i in range(30)
    )
    spans = chunk_text(body)
    assert len(spans) > 2
    for (_, prev_end), (start, _) in pairwise(spans):
        shared = body[start:prev_end]
        assert len(split_sentences(shared)) == 1


def test_overlong_sentence_is_cut_at_commas():
    sentence = "，".join(["很长的分句内容"] * 100) + "。"
    spans = chunk_text(sentence)
    assert all(end - start <= MAX_CHARS for start, end in spans)
    assert "".join(sentence[s:e] for s, e in spans) == sentence


def test_chunk_article_keeps_offsets():
    article = Article(headline="标题", body="第一句。第二句。")
    [chunk] = chunk_article(article, 3)
    assert (chunk.article_index, chunk.seq, chunk.text) == (3, 0, "第一句。第二句。")
    assert article.body[chunk.start : chunk.end] == chunk.text


@settings(max_examples=300, deadline=None)
@given(_body)
def test_every_sentence_lands_whole_in_some_chunk(body):
    spans = chunk_text(body)
    for s_start, s_end in sentence_spans(body):
        if s_end - s_start > MAX_CHARS:
            continue  # cut on purpose; covered by the coverage property below
        assert any(c_start <= s_start and s_end <= c_end for c_start, c_end in spans)


@settings(max_examples=300, deadline=None)
@given(_body)
def test_chunks_cover_all_text_in_order_within_bounds(body):
    spans = chunk_text(body)
    covered = set()
    for start, end in spans:
        assert end - start <= MAX_CHARS
        covered.update(range(start, end))
    assert all(i in covered for i, ch in enumerate(body) if not ch.isspace())
    assert [s for s, _ in spans] == sorted(s for s, _ in spans)
