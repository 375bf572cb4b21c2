import json
from pathlib import Path

import numpy as np
import pytest

from retrieval import lexical
from retrieval.lexical import LexicalIndex, fold, terms_in, tokenize
from tests.samples import BULLETINS

EVAL_SET = Path(__file__).parents[2] / "benchmarks" / "eval" / "questions.jsonl"

DOCS = {
    10: "据了解，白漳河河道城区段全长2886米，一期改造工程治理长度1075米。",
    20: "台湾灯会自驾车累计运行近400班次，超过1,000人次试乘。",
    30: "臺南市政府舉辦電子商務培訓會。",
}


def test_fold_unifies_script_width_case_and_number_style():
    assert fold("臺南 ＡＢＣ 1,000人次 12,34") == "台南 abc 1000人次 12,34"


@pytest.mark.parametrize("tokenizer", ["jieba", "bigram"])
def test_tokens_drop_punctuation_and_question_words(tokenizer):
    tokens = tokenize("白漳河有多少米？", tokenizer)
    assert "？" not in tokens
    assert "多少" not in tokens
    assert any("漳" in t for t in tokens)


def test_jieba_rs_cuts_the_words_jieba_cuts(monkeypatch):
    # Indexes hold the terms jieba cut; jieba-rs, which loads faster, must give the same
    # ones, or questions would miss them. Measured over the whole corpus too (72,753
    # paragraphs, none different); here over what ships with the project, and text that
    # jieba-rs cuts otherwise, which goes through jieba itself (URLs, decimals, 𥕢).
    texts = [json.loads(line)["question"] for line in EVAL_SET.read_text().splitlines()]
    for path in sorted(BULLETINS.glob("*.txt")):  # the seed page among them
        texts += [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    texts += ["官网https://htp.tainan.gov.tw/", "清出10.5吨垃圾，近99%", "石𥕢里民活动中心"]
    fast = [tokenize(text) for text in texts]
    monkeypatch.setattr(lexical, "jieba_rs", lexical._jieba)  # jieba for everything
    assert [tokenize(text) for text in texts] == fast


def test_terms_in_finds_the_han_terms_tokenize_gives_without_jieba(monkeypatch):
    # A passage's Han words are jieba-rs's even where its numbers need jieba: a Chinese
    # question's coverage never waits for jieba's dictionary.
    questions = [json.loads(line)["question"] for line in EVAL_SET.read_text().splitlines()]
    wanted = {t for q in questions[:40] for t in tokenize(q) if not any(c.isascii() for c in t)}
    texts = ["清出10.5吨垃圾，近99%，电话06-2991111", "官网https://htp.tainan.gov.tw/公告"]
    for path in sorted(BULLETINS.glob("*.txt")):
        texts += [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    expected = [wanted & set(tokenize(text)) for text in texts]

    def no_jieba():
        raise AssertionError("jieba's dictionary loaded")

    monkeypatch.setattr(lexical, "_jieba", no_jieba)
    assert [terms_in(text, wanted) for text in texts] == expected


@pytest.fixture(params=["jieba", "bigram"])
def index(request, tmp_path):
    built = LexicalIndex.build(
        list(DOCS), [tokenize(t, request.param) for t in DOCS.values()], request.param
    )
    built.save(tmp_path / "lexical")
    return LexicalIndex.load(tmp_path / "lexical")


def test_search_ranks_the_matching_chunk_first(index):
    assert index.scores("白漳河全长多少米", None).top(3)[0][0] == 10


def test_traditional_question_matches_simplified_text_and_back(index):
    assert index.scores("自駕車試乘人次", None).top(1)[0][0] == 20
    assert index.scores("台南市政府举办电子商务", None).top(1)[0][0] == 30


def test_numbers_match_with_or_without_thousands_separators(index):
    assert index.scores("1000人次", None).top(1)[0][0] == 20


def test_allowed_ids_restrict_results(index):
    scores = index.scores("白漳河 自驾车", np.array([20]))
    assert [i for i, _ in scores.top(3)] == [20]
    assert scores.get(10) == 0.0


def test_unknown_words_and_empty_index_give_nothing(index, tmp_path):
    assert index.scores("完全无关的问题", None).top(3) == []
    empty = LexicalIndex.build([], [])
    empty.save(tmp_path / "empty")
    assert LexicalIndex.load(tmp_path / "empty").scores("白漳河", None).top(3) == []
