"""Tests for retrieval.parse.layout: hard-wrapped OCR text, one phenomenon at a time.

Each test prints a small issue the way OCR engines keep the column lines and checks
that :func:`retrieval.parse.split_articles` recovers the articles as printed.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.ocr_styles import STYLES, layout, random_style
from retrieval.documents import Article, Issue
from retrieval.parse import read_issue, split_articles
from retrieval.parse.columns import read_columns
from retrieval.parse.layout import is_wrapped
from retrieval.text import text_width
from tests.samples import BULLETINS, SEED

FIRST = (
    "本报讯 3月5日，县城关镇老旧小区改造工程正式开工，计划年内完成12个小区的管网更新和"
    "外墙保温改造，惠及居民2100余户。",
    "改造过程中，镇里坚持居民点单、政府买单，先后召开居民议事会30余场，收集意见建议86条。",
)
SECOND = (
    "本报讯 日前，西营镇千亩大棚蔬菜进入采摘旺季，黄瓜、西红柿、辣椒等陆续上市，日均销售量达15吨。",
    "种植户张大爷说，今年的菜价不错，一个大棚能收入3万多元，比去年多了一成。",
)


def _wrap(paragraph: str, width: int) -> list[str]:
    """Hard-wrap like a column of ``width`` characters (Latin runs kept whole)."""
    lines, line = [], ""
    for token in re.findall(r"[A-Za-z0-9][A-Za-z0-9.,:/%-]*|.", paragraph):
        if line and text_width(line + token) > width and token not in "，。、；：？！）」』”":
            lines.append(line)
            line = ""
        line += token
    return [*lines, line] if line else lines


def _page(*blocks: str | tuple[str, ...], width: int = 18, blank: bool = True) -> str:
    """Lay out headlines (str) and articles' paragraphs (tuples) as wrapped OCR text."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, str):
            out += ["", block, ""] if blank else [block]
            continue
        for paragraph in block:
            out += [*_wrap(paragraph, width), *([""] if blank else [])]
    return "\n".join(out)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _shape(articles: list[Article]) -> list[tuple[str, str]]:
    return [(a.headline, _squash(a.body)) for a in articles]


# --- recognising the layout ---------------------------------------------------------------


def test_wrapped_text_is_recognised_and_paragraph_text_is_not() -> None:
    assert is_wrapped(_page("城关镇老旧小区改造开工", FIRST, width=18))
    assert not is_wrapped(SEED.read_text(encoding="utf-8"))
    assert not is_wrapped("\n".join(FIRST + SECOND))


def test_the_seed_page_parses_as_before() -> None:
    headlines = [a.headline for a in read_issue(SEED).articles]
    assert len(headlines) == 6
    assert headlines[3] == "人勤春来早 项目施工忙"


# --- joining wrapped lines -----------------------------------------------------------------


@pytest.mark.parametrize("width", [12, 18, 26])
@pytest.mark.parametrize("blank", [True, False])
def test_wrapped_lines_join_into_paragraphs(width: int, blank: bool) -> None:
    text = _page(
        "城关镇老旧小区改造开工", FIRST, "西营镇大棚蔬菜喜获丰收", SECOND, width=width, blank=blank
    )
    articles = split_articles(text)
    assert [a.headline for a in articles] == ["城关镇老旧小区改造开工", "西营镇大棚蔬菜喜获丰收"]
    assert articles[0].body.replace("\n", "") == "".join(FIRST)
    assert articles[1].body.replace("\n", "") == "".join(SECOND)
    if blank:  # blank lines between paragraphs keep them apart
        assert articles[0].body.split("\n") == list(FIRST)


def test_latin_words_get_one_space_and_hyphenated_words_are_joined() -> None:
    paragraph = (
        "会上，来自荷兰的专家介绍了smart city and sustainable infra-structure planning的经验，"
        "并推荐了NET ZERO TAINAN计划。"
    )
    lines = [
        "智慧城市论坛在县城举行",
        "",
        "会上，来自荷兰的专家介绍了smart",
        "city and sustainable infra-",
        "structure planning的经验，并推荐",
        "了NET ZERO TAINAN计划。",
        "",
        *_wrap(FIRST[1], 16),
    ]
    article = split_articles("\n".join(lines))[0]
    assert article.body.split("\n")[0] == paragraph.replace("infra-structure", "infrastructure")


def test_stray_spaces_inside_chinese_are_removed() -> None:
    lines = _wrap(FIRST[0], 18)
    lines[1] = lines[1][:5] + " " + lines[1][5:]
    lines[2] = lines[2][:3] + " " + lines[2][3:]
    article = split_articles("\n".join(["老旧小区改造开工", "", *lines, "", *_wrap(FIRST[1], 18)]))[
        0
    ]
    assert article.body.split("\n")[0] == FIRST[0]


def test_a_printed_space_next_to_a_bracket_fills_the_line() -> None:
    # "今 (113) 年" prints its spaces: the line is as wide as the column, not a short
    # line (a headline) that a paragraph of its own starts with.
    paragraph = [
        "经发局林荣川局长指出，今 (113) 年规",
        "划选定流行时尚和纺织、食品制造和生物",
        "科技产业。",
    ]
    lines = ["老旧小区改造开工", "", *_wrap(FIRST[0], 18), "", *paragraph, "", *_wrap(FIRST[1], 18)]
    [article] = split_articles("\n".join(lines))
    assert article.headline == "老旧小区改造开工"
    assert _squash(article.body) == _squash(FIRST[0] + "".join(paragraph) + FIRST[1])


def test_ragged_line_widths() -> None:
    # Some engines do not keep the column's measure: 16 to 20 characters a line.
    lines = ["城关镇老旧小区改造开工", ""]
    widths = [16, 20, 18, 17, 20, 16, 19]
    for paragraph in (*FIRST, SECOND[1]):
        rest = paragraph
        while rest:
            width = widths[len(lines) % len(widths)]
            lines.append(rest[:width])
            rest = rest[width:]
    article = split_articles("\n".join(lines))[0]
    assert _squash(article.body) == _squash("".join((*FIRST, SECOND[1])))


# --- headlines -----------------------------------------------------------------------------


def test_short_headlines_between_blank_lines_open_articles() -> None:
    # An encyclopedia digest: bare titles, no bylines.
    text = _page("新北市", FIRST, "浙江省_(中華民國)", SECOND, width=20)
    assert [a.headline for a in split_articles(text)] == ["新北市", "浙江省_(中華民國)"]


def test_a_headline_broken_over_two_lines_is_joined() -> None:
    headline = "县城关镇全力推进老旧小区改造工程 惠及居民两千余户"
    lines = [headline[:18], headline[18:], *_wrap(FIRST[0], 18), *_wrap(FIRST[1], 18)]
    lines += ["（王建国）", "西营镇千亩大棚蔬菜喜获丰收", *_wrap(SECOND[0], 18), "（赵磊）"]
    articles = split_articles("\n".join(lines))
    assert [_squash(a.headline) for a in articles] == [
        _squash(headline),
        "西营镇千亩大棚蔬菜喜获丰收",
    ]
    assert [a.author for a in articles] == ["王建国", "赵磊"]


# Bodies without a dateline ("本报讯"), which would end the lines before it anyway, in
# one paragraph of two sentences each.
PLAIN_FIRST = ("".join(p.removeprefix("本报讯 ") for p in FIRST),)
PLAIN_SECOND = ("".join(p.removeprefix("本报讯 ") for p in SECOND),)


def _closed_issue(*articles: tuple[list[str], tuple[str, ...], str], width: int) -> str:
    """Articles as papers that close them print them: headline lines, the body wrapped
    to ``width``, a closing "（author）" line; no blank lines anywhere."""
    lines: list[str] = []
    for headline_lines, paragraphs, author in articles:
        lines += headline_lines
        for paragraph in paragraphs:
            lines += _wrap(paragraph, width)
        lines.append(f"（{author}）")
    return "\n".join(lines)


def test_a_headline_spanning_columns_in_a_narrow_column_is_not_body_text() -> None:
    # Two headline lines far wider than a 12-character column, in every article: common
    # enough that they once passed for the column's widest body lines.
    head = ["县城关镇全力推进老旧小区改造工程", "惠及居民两千余户 年内完成十二个小区"]
    other = ["西营镇千亩大棚蔬菜进入采摘旺季", "种植户一个大棚能收入三万多元"]
    text = _closed_issue(
        (head, PLAIN_FIRST, "王建国"),
        (other, PLAIN_SECOND, "赵磊"),
        (head, PLAIN_FIRST, "张三"),
        width=12,
    )
    articles = split_articles(text)
    assert [_squash(a.headline) for a in articles] == [
        _squash("".join(h)) for h in (head, other, head)
    ]
    assert [_squash(a.body) for a in articles] == [
        _squash("".join(paragraphs)) for paragraphs in (PLAIN_FIRST, PLAIN_SECOND, PLAIN_FIRST)
    ]


def test_a_headline_line_after_a_closing_that_fills_the_column() -> None:
    # "西营镇千亩大棚蔬菜喜获丰收" fills the 13-character column: after a closing it is
    # the next article's headline, not the first line of a paragraph.
    text = _closed_issue(
        (["老旧小区改造开工"], PLAIN_FIRST, "王建国"),
        (["西营镇千亩大棚蔬菜喜获丰收"], PLAIN_SECOND, "赵磊"),
        width=13,
    )
    articles = split_articles(text)
    assert [a.headline for a in articles] == ["老旧小区改造开工", "西营镇千亩大棚蔬菜喜获丰收"]
    assert _squash(articles[1].body) == _squash("".join(PLAIN_SECOND))


def test_a_headline_broken_in_the_middle_keeps_its_second_half() -> None:
    # The second half, as long as the first and short of the column, ends the headline
    # even though the next word would not have fit after it.
    first = ["老旧小区改造开工"], PLAIN_FIRST, "王建国"
    second = ["西营镇千亩大棚蔬菜喜", "获丰收，大家快来买吧！"], PLAIN_SECOND, "赵磊"
    articles = split_articles(_closed_issue(first, second, width=12))
    assert [_squash(a.headline) for a in articles] == [
        "老旧小区改造开工",
        "西营镇千亩大棚蔬菜喜获丰收，大家快来买吧！",
    ]
    assert _squash(articles[1].body) == _squash("".join(PLAIN_SECOND))


def test_a_headline_broken_inside_a_word_runs_on_to_its_second_line() -> None:
    # Both headline lines fill the 14-character column, as the body's lines do; the
    # first ends inside a word (采摘旺 / 季), so the headline goes on; the second ends
    # between words, so the body starts after it.
    head = ["西营镇千亩大棚蔬菜进入采摘旺", "季种植户笑开颜一棚收入三万元"]
    first = ["老旧小区改造开工"], PLAIN_FIRST, "王建国"
    articles = split_articles(_closed_issue(first, (head, PLAIN_SECOND, "赵磊"), width=14))
    assert [_squash(a.headline) for a in articles] == ["老旧小区改造开工", "".join(head)]
    assert _squash(articles[1].body) == _squash("".join(PLAIN_SECOND))


def test_a_subtitle_that_fills_the_column_ends_the_headline() -> None:
    # Under a short main title, a subtitle as wide as the body's lines: no punctuation,
    # ending between words, it is the headline's, not the body's first line.
    first = ["老旧小区改造开工"], PLAIN_FIRST, "王建国"
    head = ["西营镇大棚蔬菜喜获丰收", "种植户张大爷一个大棚能收入了三万多元"]
    articles = split_articles(_closed_issue(first, (head, PLAIN_SECOND, "赵磊"), width=18))
    assert [_squash(a.headline) for a in articles] == ["老旧小区改造开工", "".join(head)]
    assert _squash(articles[1].body) == _squash("".join(PLAIN_SECOND))


def _issue_of(*articles: tuple[str, str]) -> list[Article]:
    """Articles under the given headlines and first paragraphs, after three others: an
    issue long enough for its column's measure to show."""
    body = "\n".join(p.removeprefix("本报讯 ") for p in (*FIRST, *SECOND))
    others = [Article(f"第{n}篇文章的标题", body, author="王建国") for n in "一二三"]
    return others + [Article(h, f"{lead}\n{body}".strip(), author="赵磊") for h, lead in articles]


@pytest.mark.parametrize(
    ("style", "headline", "lead"),
    [
        # A subtitle quoting someone, commas and all, in lines of any width.
        pytest.param(
            "ragged",
            "西营镇大棚蔬菜喜获丰收  镇长：一个大棚收入三万多元，种植户笑开颜",
            "",
            id="speaker",
        ),
        # Where lines are ragged, a subtitle stopping short of the narrowest body lines.
        pytest.param(
            "ragged",
            "县里启动春安联检  县长携手中央守护劳工的健康、平安",
            "正值岁末年终之际，为确保春安期间职场安全健康，县政府及劳动部门召开联合记者会，"
            "由县长与劳动部门负责人共同启动春安联检，检查全县工地的安全设施。",
            id="ragged-subtitle",
        ),
        # ... and one as wide as they are, with "、" in it: width tells nothing there.
        pytest.param(
            "ragged",
            "县里启动春安联检  县长携手中央部门守护全县劳工的健康、平安",
            "正值岁末年终之际，为确保春安期间职场安全健康，县政府及劳动部门召开联合记者会，"
            "由县长与劳动部门负责人共同启动春安联检，检查全县工地的安全设施。",
            id="ragged-subtitle-enumerating",
        ),
        # Punctuation inside a title in 《》 is the title's, not the sentence's.
        pytest.param(
            "ragged",
            "夏至艺术节首档亲子版移动剧场  《列车毛古拉斯，要开了》创下2场秒杀完售纪录",
            "",
            id="quoted-title",
        ),
        # A sentence over two lines ending with a full stop is the body's first paragraph.
        pytest.param(
            "w26-noblank",
            "西营镇推独木舟体验，一年四季都好玩",
            "县政府力推水域游憩体验，即日起上网预约，就可到西营镇体验独木舟，适合亲子、情侣同游。",
            id="full-stop",
        ),
    ],
)
def test_a_headline_without_blank_lines_ends_where_it_should(
    style: str, headline: str, lead: str
) -> None:
    articles = _issue_of((headline, lead), ("老旧小区改造开工", ""))
    for seed in range(5):
        parsed = split_articles(layout(articles, None, STYLES[style], seed))
        assert [_squash(a.headline) for a in parsed] == [_squash(a.headline) for a in articles]
        assert _squash(parsed[3].body).startswith(_squash(lead))


def test_a_label_under_a_bracketed_subhead_is_no_subtitle() -> None:
    # "数量：…" under "【…信息】" opens a list of labels in the body, not a subtitle
    # quoting someone under a headline: no article of its own.
    info = (
        "更多消息请上官网查找。\n【独木舟体验信息】\n数量：10艘(双人6艘、单人4艘、单一梯次"
        "可容纳15人)。\n价格：300元/人，学生八折优惠(以上费用皆含保险)。"
    )
    articles = _issue_of(("西营镇推独木舟体验", info), ("老旧小区改造开工", ""))
    for seed in range(5):
        parsed = split_articles(layout(articles, None, STYLES["w12-noblank"], seed))
        assert [a.headline for a in parsed] == [a.headline for a in articles]


@pytest.mark.parametrize(
    ("head", "width"),
    [
        # The column broke the headline inside 「…」, between two words and before a
        # comma: the quote it leaves open carries it on into the next line.
        pytest.param(
            ["【公告】台南市政府113年「公务客语", "认证班」报名开始啰！欢迎踊跃报名参加"],
            18,
            id="open-quote",
        ),
        # The engine broke the headline at the space before "！": no line starts with one.
        pytest.param(
            ["灯会本周末参观人次可望破1000万", "！安平灯区祭出三大好康！！！"], 12, id="exclamation"
        ),
        # The column cut "开跑", a word jieba does not know: a line opening with one
        # character and "！" holds the end of the sentence the line before cut.
        pytest.param(
            ["台南市马拉松接力班际对抗赛鸣枪开", "跑！小选手齐心戮力跑出团队向心力"],
            16,
            id="sentence-tail",
        ),
    ],
)
def test_a_headline_line_the_column_cut_goes_on(head: list[str], width: int) -> None:
    first = ["老旧小区改造开工"], PLAIN_FIRST, "王建国"
    articles = split_articles(_closed_issue(first, (head, PLAIN_SECOND, "赵磊"), width=width))
    assert [_squash(a.headline) for a in articles] == ["老旧小区改造开工", "".join(head)]


def test_a_headline_at_the_top_of_the_text_may_fill_the_column() -> None:
    # The first headline of the issue, with a comma and a date the column broke: its
    # first line is full, its second reads as a headline's last line.
    head = ["台南市113年出租车运价春节加成期间，自2月", "5日起至2月14日止一律按原运价再加收50元"]
    second = ["西营镇大棚蔬菜喜获丰收"], PLAIN_SECOND, "赵磊"
    articles = split_articles(_closed_issue((head, PLAIN_FIRST, "王建国"), second, width=18))
    assert [_squash(a.headline) for a in articles] == ["".join(head), "西营镇大棚蔬菜喜获丰收"]


def test_lines_set_apart_under_a_headline_are_the_start_of_its_article() -> None:
    # A headline wider than the column ends at a line starting with a bullet; under it,
    # between blank lines, a subtitle and a lead line: the article's first lines, not an
    # article of their own under a headline left without a body.
    lines = ["", "县委书记率团赴西营镇调研设施农业：【千亩大棚", "•喜获丰收】〜种植户笑开颜", ""]
    lines += ["种植户笑开颜‧大棚喜获丰", "收", ""]
    lines += ["日均销量达十五吨，一个大", "棚能收入三万多元", ""]
    lines += _wrap("".join(PLAIN_SECOND), 12)
    first = _page("老旧小区改造开工", PLAIN_FIRST, width=12)
    articles = split_articles(f"{first}\n（县城关镇人民政府）\n" + "\n".join(lines))
    assert [_squash(a.headline) for a in articles] == [
        "老旧小区改造开工",
        _squash("".join(lines[1:3])),
    ]
    assert _squash(articles[1].body) == _squash("".join([*lines[4:9], *PLAIN_SECOND]))


def test_a_gap_inside_a_line_marks_a_main_title_and_its_subtitle() -> None:
    # At the top of the page, no closing before it and no blank line after it: the
    # headline fills the column, but body lines are never printed with a gap inside.
    head = "西营镇大棚蔬菜喜获丰收  种植户笑开颜"
    lines = [head, *_wrap("".join(PLAIN_SECOND), 18), "（赵磊）"]
    lines += ["老旧小区改造开工", *_wrap("".join(PLAIN_FIRST), 18), "（王建国）"]
    articles = split_articles("\n".join(lines))
    assert [_squash(a.headline) for a in articles] == [_squash(head), "老旧小区改造开工"]
    assert _squash(articles[0].body) == _squash("".join(PLAIN_SECOND))


def test_a_headline_line_that_fills_the_column_goes_on_to_its_subtitle() -> None:
    # After a closing, a first line filling the column (ending between words) and a line
    # without punctuation under it: a headline of two lines.
    first = ["老旧小区改造开工"], PLAIN_FIRST, "王建国"
    head = ["县委书记代表全县干部群众率团赴西营镇", "慰问受灾群众送去米面油等生活物资"]
    articles = split_articles(_closed_issue(first, (head, PLAIN_SECOND, "赵磊"), width=18))
    assert [_squash(a.headline) for a in articles] == ["老旧小区改造开工", "".join(head)]
    assert _squash(articles[1].body) == _squash("".join(PLAIN_SECOND))


@pytest.mark.parametrize(
    "opening",
    [
        # The body's first line ends inside a word (正 / 式开工): it runs on. (Its
        # paragraph, one sentence of three lines, is no headline line either.)
        "县城关镇老旧小区改造工程于昨天上午正式开工，计划年内完成十二个小区的管网更新。",
        # It leaves a quote open (「…」): the quote goes on in the next line.
        "县城关镇把「老旧小区改造和管网更新工程」列为今年的民生实事，计划年内完成。",
    ],
)
def test_a_body_line_without_punctuation_under_a_headline_stays_body(opening: str) -> None:
    body = (opening, *PLAIN_FIRST)
    first = ["大棚蔬菜喜获丰收"], PLAIN_SECOND, "王建国"
    issue = _closed_issue(first, (["老旧小区改造开工"], body, "赵磊"), first, width=18)
    articles = split_articles(issue)
    assert [a.headline for a in articles][:2] == ["大棚蔬菜喜获丰收", "老旧小区改造开工"]
    assert _squash(articles[1].body) == _squash("".join(body))


def test_a_headline_ending_with_an_exclamation_mark_after_a_closing() -> None:
    first = ["老旧小区改造开工"], PLAIN_FIRST, "王建国"
    headline = "大棚蔬菜喜获丰收，大家快来买吧！"  # fills the 16-character column
    articles = split_articles(_closed_issue(first, ([headline], PLAIN_SECOND, "赵磊"), width=16))
    assert [a.headline for a in articles] == ["老旧小区改造开工", headline]
    assert _squash(articles[1].body) == _squash("".join(PLAIN_SECOND))


def test_a_numbered_item_under_a_headline_is_body_text() -> None:
    # After a closing, lines that may end with "！" are taken as headline lines; the
    # first item of a list ("一、报名条件") is not one of them.
    notice = ("一、报名条件", "年满18周岁，身体健康，能胜任岗位工作。")
    first = ["老旧小区改造开工"], PLAIN_FIRST, "王建国"
    second = ["县人社局招聘公益岗位人员！"], notice, "县人社局"
    articles = split_articles(_closed_issue(first, second, width=16))
    assert [a.headline for a in articles] == ["老旧小区改造开工", "县人社局招聘公益岗位人员！"]
    assert articles[1].body.splitlines()[0] == "一、报名条件"


def test_a_line_between_two_items_of_a_list_is_the_first_items_text() -> None:
    # The second line of item 一 set apart like a paragraph: between 一 and 二 it is no
    # headline, however short and bare.
    items = (
        "一、面试流程：9：00报到、填写求职登记表",
        "十点公司职缺说明及面试会",
        "二、面试地点：县人社局三楼会议室",
    )
    text = _page("公益岗位招聘面试开始报名", items, PLAIN_FIRST, "老旧小区改造开工", PLAIN_SECOND)
    articles = split_articles(text)
    assert [a.headline for a in articles] == ["公益岗位招聘面试开始报名", "老旧小区改造开工"]
    assert _squash(articles[0].body) == _squash("".join([*items, *PLAIN_FIRST]))


def test_paragraphs_set_in_tell_a_headline_from_the_body() -> None:
    # No blank line anywhere, and the headline's second line fills the 16-character
    # column as a body line does; the body's paragraphs are set in by two full-width
    # spaces, as Chinese text is printed, which tells where the headline ends.
    def article(head: list[str], paragraphs: tuple[str, ...], author: str) -> list[str]:
        body = [line for p in paragraphs for line in _wrap("\u3000\u3000" + p, 16)]
        return [*head, *body, f"（{author}）"]

    heads = [["老旧小区改造开工", "城关镇年内完成十二个小区改造工程"], ["大棚蔬菜喜获丰收"]]
    text = "\n".join(article(heads[0], FIRST, "王建国") + article(heads[1], SECOND, "赵磊") * 2)
    articles = split_articles(text)
    assert [_squash(a.headline) for a in articles] == [
        "".join(h) for h in [heads[0], *heads[1:] * 2]
    ]
    assert [_squash(a.body) for a in articles] == [
        _squash("".join(paragraphs)) for paragraphs in (FIRST, SECOND, SECOND)
    ]
    # Lines set in here and there, as OCR sometimes puts spaces before a line, or a
    # headline centred by spaces, are no habit of the text: its paragraphs are not taken
    # to start there.
    stray = text.replace("\u3000\u3000", "").replace("大棚蔬菜喜获丰收", "      大棚蔬菜喜获丰收")
    assert [_squash(a.headline) for a in split_articles(stray)][1:] == ["大棚蔬菜喜获丰收"] * 2


def test_subheads_stay_inside_their_article() -> None:
    text = _page(
        "县委统战部工作综述",
        FIRST[:1],
        "一、强化政治引领",
        FIRST[1:],
        "（二）服务中心大局",
        SECOND[1:],
        "【下一步工作】",
        FIRST[1:],
        width=20,
    )
    articles = split_articles(text)
    assert [a.headline for a in articles] == ["县委统战部工作综述"]
    assert "一、强化政治引领" in articles[0].body.split("\n")
    assert "（二）服务中心大局" in articles[0].body.split("\n")


def test_a_section_label_above_a_headline() -> None:
    text = _page("交城县", "城关镇老旧小区改造开工", FIRST, width=18)
    article = split_articles(text)[0]
    assert (article.section, article.headline) == ("交城县", "城关镇老旧小区改造开工")


def test_a_long_headline_set_apart_is_no_section_label() -> None:
    # Under a headline too long for a section label, the headline-like lines set apart
    # (the subtitle repeated, a lead line) are the body's first lines.
    head = "县城关镇老旧小区改造工程正式开工 惠及居民两千余户"
    text = _page(head, "老旧小区改造工程", "年内完成十二个小区", FIRST, width=18)
    article = split_articles(text)[0]
    assert (article.section, article.headline) == (None, head)
    assert article.body.splitlines()[:2] == ["老旧小区改造工程", "年内完成十二个小区"]


# --- debris and furniture ------------------------------------------------------------------


def test_debris_lines_are_dropped_and_the_paragraph_joined_again() -> None:
    lines = _wrap(FIRST[0], 16)
    for debris in ("县", "202", "综", "2"):
        lines.insert(2, debris)
    text = "\n".join(["城关镇老旧小区改造开工", "", *lines, "", *_wrap(FIRST[1], 16)])
    article = split_articles(text)[0]
    assert article.body.split("\n")[0] == FIRST[0]
    single = _wrap(SECOND[0], 16)
    single.insert(3, "综")
    text = "\n".join(["西营镇大棚蔬菜喜获丰收", "", *single, *_wrap(SECOND[1], 16)])
    assert _squash(split_articles(text)[0].body) == _squash("".join(SECOND))


def test_page_furniture_is_dropped_and_pages_are_kept() -> None:
    body = _wrap(FIRST[0] + FIRST[1] + SECOND[1], 16)
    lines = [
        "交城报  2024年3月1日  星期五  第1版",
        "城关镇老旧小区改造开工",
        "",
        *body[:4],
        "（下转第2版）",
        "- 1 -",
        "交城报  2024年3月1日  星期五  第2版",
        "（上接第1版）",
        *body[4:],
        "（摄影 王小明）",
        "（记者 范英哲）",
        "西营镇大棚蔬菜喜获丰收",
        *_wrap(SECOND[0], 16),
        "本报记者 李华 摄",
        "（赵磊）",
        "- 2 -",
    ]
    articles = split_articles("\n".join(lines))
    assert [a.headline for a in articles] == ["城关镇老旧小区改造开工", "西营镇大棚蔬菜喜获丰收"]
    assert _squash(articles[0].body) == _squash(FIRST[0] + FIRST[1] + SECOND[1])
    assert _squash(articles[1].body) == _squash(SECOND[0])
    assert [a.page for a in articles] == [1, 2]
    assert [a.author for a in articles] == ["范英哲", "赵磊"]


# --- bylines -------------------------------------------------------------------------------


def test_bylines_become_the_author() -> None:
    lead = "本报讯（记者 司瑞东 通讯员 梁赟）" + FIRST[0].removeprefix("本报讯 ")
    text = _page(
        "城关镇老旧小区改造开工",
        (lead, FIRST[1]),
        "西营镇大棚蔬菜喜获丰收",
        ("本报记者 张三 通讯员 李四", *SECOND),
        width=18,
    )
    articles = split_articles(text)
    assert [a.author for a in articles] == ["司瑞东、梁赟", "张三、李四"]
    assert not articles[1].body.startswith("本报记者")


def test_a_department_line_closes_a_release() -> None:
    text = "\n".join(
        [
            "城关镇老旧小区改造开工",
            *_wrap(FIRST[0], 20),
            *_wrap(FIRST[1], 20),
            "（城关镇人民政府）",
            "西营镇大棚蔬菜喜获丰收",
            *_wrap(SECOND[0], 20),
            *_wrap(SECOND[1], 20),
            "（西营镇农业办公室）",
        ]
    )
    articles = split_articles(text)
    assert [a.author for a in articles] == ["城关镇人民政府", "西营镇农业办公室"]
    assert all("（" not in a.body.split("\n")[-1][:1] for a in articles)


def test_traditional_script() -> None:
    first = "縣城關鎮老舊小區改造工程正式開工，計劃年內完成12個小區的管網更新和外牆保溫改造。"
    second = "日前，西營鎮千畝大棚蔬菜進入採摘旺季，黃瓜、番茄、辣椒等陸續上市，日均銷量達15噸。"
    text = _page("城關鎮舊小區改造開工", (first, first), "西營鎮蔬菜喜獲豐收", (second, second))
    articles = split_articles(text)
    assert [a.headline for a in articles] == ["城關鎮舊小區改造開工", "西營鎮蔬菜喜獲豐收"]
    assert articles[1].body.split("\n") == [second, second]


# --- property: any wrapping of a clean issue parses back to the same articles -----------------


@pytest.fixture(scope="module")
def clean_issues() -> list[Issue]:
    # Clean issues of the development corpus that ship with the project.
    return [read_issue(BULLETINS / name) for name in ("2024-07-14.txt", "2024-12-29.txt")]


def _folded(text: str) -> str:
    """Whitespace removed, full-width punctuation folded: what OCR repair may change."""
    return unicodedata.normalize("NFKC", _squash(text))


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same styles on every run: CI stays reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 10_000), which=st.integers(0, 1))
def test_any_wrapping_parses_back_to_the_same_articles(
    clean_issues: list[Issue], seed: int, which: int
) -> None:
    # Any width, blank lines or none between paragraphs, ragged lines, page furniture,
    # continuation markers, photo credits and stray spaces, columns side by side (read
    # as files are); headlines set apart, as
    # printed headlines are (without that, a headline as wide as the column is
    # indistinguishable from a paragraph's first line), no debris (drawn from the text
    # itself, it may take real characters with it).
    style = replace(
        random_style(random.Random(seed)),
        blank_around_headline=True,
        debris=0.0,
        traditional=False,
    )
    issue = clean_issues[which]
    parsed = split_articles(read_columns(layout(issue.articles, issue.date, style, seed)))
    assert [(_folded(a.headline), _folded(a.body)) for a in parsed] == [
        (_folded(a.headline), _folded(a.body)) for a in issue.articles
    ]


@pytest.mark.parametrize(
    ("headline", "lead"),
    [
        # The headline almost fills the 16-character column; the body's first line, no
        # longer and short of the column by half a character, looks like a headline's
        # second half, but its "1" was cut from "月起": the line ran on.
        pytest.param(
            "清明扫墓好停车，路边停车不收费",
            "为因应民众清明节扫墓停车需求，1月起南市路边停车格位将暂停收费1日。",
            id="number-cut-from-its-unit",
        ),
        # OCR's spaces inside the headline ("清明扫墓 好停车") are no characters of it:
        # the body's first line, two characters longer, is no second half of it (a
        # headline's second half is no longer than its first).
        pytest.param(
            "清明扫墓 好停车，路边停车不 收费",
            "为因应民众清明扫墓停车需求，4/1至4/4南市路边停车格位将暂停收费。",
            id="stray-spaces",
        ),
    ],
)
def test_a_body_line_as_long_as_the_headline_is_no_second_half_of_it(
    headline: str, lead: str
) -> None:
    first = ["老旧小区改造开工"], PLAIN_FIRST, "王建国"
    body = (lead, "同时，交通局南门路缴费处暂停服务1日，请洽公民众注意。")
    articles = split_articles(_closed_issue(first, ([headline], body, "赵磊"), width=16))
    assert [_squash(a.headline) for a in articles] == ["老旧小区改造开工", _squash(headline)]
    assert _squash(articles[1].body) == _squash("".join(body))
