import datetime as dt

import pytest

from retrieval.answer import Answer, Hit, QuestionError, select_quote, validate_question
from retrieval.config import MAX_QUESTION_CHARS
from retrieval.render import NOT_FOUND, answer_to_json, render_text, source_line
from retrieval.store import ChunkRecord

CHUNK = (
    "在白漳河河道整治工程项目施工现场，挖掘机长长的铁臂伴随着车辆轰鸣声，开挖、运渣各个环节有条不紊。"
    "据了解,白漳河河道城区段全长2886米,一期改造工程治理长度1075米,主要建设内容包括河道清淤疏浚、"
    "堤岸新建、雨污分流改造等。目前工程已完成东街临时桥到红旗路段河道北侧污水管道铺设430米。"
)


def _record(**overrides) -> ChunkRecord:
    fields = dict(
        chunk_id=7,
        text=CHUNK,
        seq=0,
        start=0,
        end=len(CHUNK),
        article_id=3,
        headline="人勤春来早 项目施工忙",
        section="交城县",
        author=None,
        page=None,
        body=CHUNK,
        issue="000_d59eaba95ec30256",
        issue_title=None,
        date=None,
        source="data/bulletins/000_d59eaba95ec30256.txt",
    )
    fields.update(overrides)
    return ChunkRecord(**fields)


def test_quote_is_the_sentence_with_the_asked_facts():
    quote = select_quote("白漳河河道城区段全长多少米？", CHUNK)
    assert quote.startswith("据了解,白漳河河道城区段全长2886米")
    assert quote in CHUNK


def test_numbers_in_the_question_weigh_extra():
    quote = select_quote("哪段管道铺设了430米", CHUNK)
    assert "430米" in quote


def test_quote_without_overlap_falls_back_to_the_opening():
    quote = select_quote("completely unrelated", CHUNK)
    assert CHUNK.startswith(quote)


def test_quote_is_at_most_three_sentences():
    text = "".join(f"白漳河第{i}句。" for i in range(10))
    assert select_quote("白漳河", text).count("。") <= 3


@pytest.mark.parametrize("question", ["", "   ", "\n\t", "\x00\x01"])
def test_empty_questions_are_refused(question):
    with pytest.raises(QuestionError, match="empty"):
        validate_question(question)


def test_overlong_question_is_refused():
    with pytest.raises(QuestionError, match="too long"):
        validate_question("问" * (MAX_QUESTION_CHARS + 1))


def test_question_is_normalised():
    assert validate_question("  白漳河\x07 有多长？\n ") == "白漳河 有多长？"


def test_source_line_names_known_parts_only():
    hit = Hit(
        rank=1,
        score=0.9,
        quote="q",
        chunk=_record(author="司瑞东", page=2, date=dt.date(2023, 2, 24)),
    )
    assert source_line(hit) == (
        "《人勤春来早 项目施工忙》 · 交城县 · 000_d59eaba95ec30256 · 2023年2月24日 · 第2版 · 司瑞东"
    )
    assert source_line(Hit(1, 0.5, "q", _record(headline="", section=None))).startswith(
        "（无标题）"
    )


def test_json_has_exactly_the_documented_fields():
    answer = Answer("问题", [Hit(rank=1, score=0.8, quote="据了解", chunk=_record())])
    data = answer_to_json(answer)
    assert set(data) == {"question", "hits"}
    [hit] = data["hits"]
    assert set(hit) == {
        "rank",
        "score",
        "quote",
        "text",
        "headline",
        "section",
        "author",
        "issue",
        "date",
        "page",
        "source",
        "chunk_id",
    }
    assert (hit["date"], hit["page"], hit["chunk_id"]) == (None, None, 7)


def test_text_rendering_says_plainly_when_nothing_was_found():
    assert render_text(Answer("问题", [])) == NOT_FOUND


def test_quantity_questions_prefer_sentences_with_numbers():
    quote = select_quote("白漳河整治工程有多长？", CHUNK)
    assert "2886米" in quote
