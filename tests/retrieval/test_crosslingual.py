import pytest

from retrieval.crosslingual import Transliterations, translate
from retrieval.lexical import LexicalIndex, tokenize

VOCABULARY = {"交城", "培训", "电子商务", "电商", "2024", "cnn", "新营", "灯", "节", "几", "若干"}


def test_phrases_and_names_become_the_chinese_words_the_index_has():
    terms = translate("Jiaocheng's e-commerce training in 2024", VOCABULARY)
    assert terms["交城"] == 1.0  # by its pinyin
    assert terms["电子商务"] == terms["电商"] == 0.5  # two renderings share one weight
    assert terms["培训"] == 1.0
    assert terms["2024"] == 1.0


def test_latin_words_the_bulletins_contain_are_kept_as_they_are():
    assert translate("CNN's list", VOCABULARY) == {"cnn": 1.0}


def test_inflected_words_and_pinyin_place_names():
    terms = translate("festivals in Xinying", VOCABULARY)
    assert "新营" in terms and "节" in terms
    assert translate("who performed", {"演出"}) == {"演出": 1.0}
    assert translate("sound-camera units", {"相机"}) == {"相机": 1.0}  # by its parts


@pytest.mark.parametrize("question", ["How many?", "What is it?", "", "¿Qué?"])
def test_question_words_translate_to_nothing(question):
    assert translate(question, VOCABULARY) == {}


def test_weighted_scores_rank_the_translated_document_first(tmp_path):
    docs = {1: "交城县举办电子商务进农村培训会。", 2: "台南新营波光节登场。"}
    index = LexicalIndex.build(list(docs), [tokenize(t) for t in docs.values()])
    terms = translate("Where was the e-commerce training in Jiaocheng?", index.vocabulary)
    scores = index.weighted_scores(terms)
    assert scores.top(2)[0][0] == 1
    assert scores.get(2) == 0.0


def test_names_the_dictionary_lacks_are_found_by_the_pinyin_of_indexed_words():
    names = Transliterations(["漳河", "河道", "交城", "新营", "新颖", "2886"])
    assert names.find("baizhang", "river") == ["漳河"]  # 白漳河 is cut 白 / 漳河
    assert sorted(names.find("xinying")) == ["新营", "新颖"]
    assert names.find("ab") == []
    terms = translate("How long is the Baizhang River?", {"漳河", "河", "河道"}, names)
    assert terms["漳河"] == 1.0
