import json
from pathlib import Path

from retrieval.text import breaks_word, is_traditional, one_script, to_simplified
from tests.samples import MINI_ISSUE

EVAL_SET = Path(__file__).parents[2] / "benchmarks" / "eval" / "questions.jsonl"


def test_traditional_text_is_read_in_simplified_as_long_as_printed():
    lines = [line for line in MINI_ISSUE.splitlines() if to_simplified(line) != line]
    assert len(lines) >= 10
    for line in lines:
        assert is_traditional(line), line
        assert one_script(line) == to_simplified(line)
        assert len(one_script(line)) == len(line)
    assert one_script("黃偉哲表示，市府將繼續努力。") == "黄伟哲表示，市府将继续努力。"


def test_simplified_text_is_left_exactly_as_it_is():
    # OpenCC takes "於" and "祕" for Traditional even in Simplified text; converted, its
    # vectors would change.
    text = "市府于1月9日公布统计，去年资源回收率达六成，位於安平的祕书处创历年新高。"
    assert to_simplified(text) != text
    assert not is_traditional(text)
    assert one_script(text) is text


def test_text_of_neither_script_is_left_as_it_is():
    for text in ("", "2024-01-09 06-2686751#1600", "When is the lantern festival?", "台南"):
        assert not is_traditional(text)
        assert one_script(text) == text


def test_every_eval_question_is_told_its_script():
    rows = [json.loads(line) for line in EVAL_SET.read_text("utf-8").splitlines()]
    told = {r["question"]: is_traditional(r["question"]) for r in rows}
    wrong = [r["question"] for r in rows if told[r["question"]] != (r["lang"] == "zh-Hant")]
    assert wrong == []
    assert sum(r["lang"] == "zh-Hant" for r in rows) >= 15


def test_a_line_break_inside_a_word_is_told_from_one_between_words():
    assert breaks_word("北区九六新村都更招商说明会于台北、台", "南二地举行")  # 台南
    assert breaks_word("台南市长黄伟哲今(7)日分别于民治市政", "中心及永华市政中心")
    assert breaks_word("臺北市政府今日舉行記者", "會，說明")  # Traditional: 記者會
    assert not breaks_word("黄伟哲：展现自我特色也观摩别人长处", "全球三大食品展之一")
    assert not breaks_word("猪瘟防疫工作", "中国非洲猪瘟")  # not 工作中
    # Only Chinese meets Chinese inside a word.
    assert not breaks_word("FOODEX", "JAPAN 2024")
    assert not breaks_word("报名资格：", "年满18周岁")
    assert not breaks_word("", "台南")
    # A number cut from its unit ran on; a paragraph ending in a number starts no unit.
    assert breaks_word("为因应民众清明扫墓停车需求，113", "年4月4日当天南市")
    assert breaks_word("今年报名人数达2", "万3,611人")
    assert not breaks_word("迎接台南400", "台南市政府今")
    assert not breaks_word("共庆台南400", "日本团体也来共襄盛举")  # 日本, 日前: 日 left out
