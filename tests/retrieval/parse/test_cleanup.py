"""Tests for retrieval.parse.cleanup: OCR spaces, punctuation, debris and cut paragraphs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrieval.parse import (
    clean_text,
)
from retrieval.parse.cleanup import next_item
from tests.samples import (
    FIXTURES,
    SEED_DEBRIS,
    debris_free_hanzi,
    hanzi,
    seed_text,
)

# --- clean_text -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        # Spaces OCR put between Chinese characters, punctuation and digits go.
        ("相关部门与专家组就创新中心创 建会进行了深入交流,确保项目落地。", "创建会"),
        ("共有来自全县各学校的少先队员共计 45 名选手进入决赛。", "共计45名选手"),
        ("2022年是统一战线政策 100周年。一年来，统战部坚持团结。", "政策100周年"),
        ("企业基础设施建设、产业提档升级等 方面内容进行了实地参观交流。", "等方面内容"),
        # Spaces that belong stay: Latin words, numbers with Latin words, digit groups.
        ("市府推动 NET ZERO TAINAN 计划，并在会场提供 USB 3.0 接口与说明。", "NET ZERO TAINAN"),
        ("市府推动 NET ZERO TAINAN 计划，并在会场提供 USB 3.0 接口与说明。", "USB 3.0"),
        ("联系电话：06-2991111 #8920，欢迎民众洽询，或于上班时间来电。", "06-2991111 #8920"),
        # A comma OCR read as half-width becomes full-width between Chinese characters.
        ("促进产学研用创新协同发展,具有十分重要的意义。", "发展，具有"),
        ("会后,专家组一行还深入润锦化工有限公司, 围绕化工产业参观交流。", "公司，围绕"),
        # ... but not in numbers, times or addresses.
        ("今年累积补助1,339人，活动于08:45开始，详见https://www.tainan.gov.tw。", "1,339"),
        ("今年累积补助1,339人，活动于08:45开始，详见https://www.tainan.gov.tw。", "08:45"),
        ("今年累积补助1,339人，活动于08:45开始，详见https://www.tainan.gov.tw。", "https://"),
        # The dateline keeps its space.
        ("本报讯 2月21日,交城县举行签约仪式。", "本报讯 2月21日，交城县"),
    ],
)
def test_clean_text_spaces_and_punctuation(raw: str, clean: str) -> None:
    assert clean in clean_text(raw)


def test_clean_text_keeps_phrase_spaces_in_headlines() -> None:
    headline = '开展"百年奋斗共青春 凝心聚力谱华章—— 争当红领巾讲解员 争做新时代好队员"竞演讲述活动'
    text = f"交城县\n\n{headline}\n\n本报讯 2月24日,活动在县委党校举行。"
    lines = clean_text(text).split("\n")
    assert lines[1] == (
        '开展"百年奋斗共青春 凝心聚力谱华章——争当红领巾讲解员 争做新时代好队员"竞演讲述活动'
    )


def test_clean_text_on_the_seed_page() -> None:
    cleaned = clean_text(seed_text())
    lines = cleaned.split("\n")
    assert "" not in lines  # one paragraph per line, no blank lines
    # A paragraph cut by a column break is joined with its continuation.
    assert "进一步加强协作配合，灵的优质服务保障" in cleaned
    assert "约工程量的而在交城县沙河东街" in cleaned
    # Layout debris is gone; section labels and subheadings stay on their own lines.
    assert not set(SEED_DEBRIS) & set(lines)
    assert lines.count("交城县") == 3
    for subheading in ("强化政治引领", "服务中心大局", "携手抗击疫情", "凝聚同心合力"):
        assert subheading in lines
    # Markdown emphasis around a byline is dropped.
    assert cleaned.endswith("王梓晟表示。(梁赟)")


def test_clean_text_keeps_every_character_of_the_text() -> None:
    raw = seed_text()
    assert hanzi(clean_text(raw)) == debris_free_hanzi(raw)
    page = (FIXTURES / "ocr_page_three_articles.txt").read_text(encoding="utf-8")
    assert hanzi(clean_text(page)) == debris_free_hanzi(page)


def test_clean_text_drops_page_numbers_and_keeps_a_lone_sentence() -> None:
    text = (
        "这是第一段完整的新闻内容，已经结束。\n\n12\n\n- 3 -\n\n好。\n\n"
        "这是第二段完整的新闻内容，也已结束。"
    )
    assert clean_text(text).split("\n") == [
        "这是第一段完整的新闻内容，已经结束。",
        "好。",
        "这是第二段完整的新闻内容，也已结束。",
    ]


_ocr_alphabet = st.sampled_from(
    [
        *"交城县召开会议创建中心的一是了",
        *"，。、！？；：“”「」（）——…",
        *",.;:!?\"'()",
        *"0123456789ABCxyz",
        " ",
        "  ",
        "\n",
        "\n\n",
        "**",
        "(司瑞东)",
        "（范英哲）",
        "本报讯 ",
    ]
)


@given(st.lists(_ocr_alphabet, max_size=80).map("".join))
def test_clean_text_is_idempotent(text: str) -> None:
    cleaned = clean_text(text)
    assert clean_text(cleaned) == cleaned


_sentence = st.builds(
    lambda words, end: words + end,
    st.text(alphabet=st.sampled_from(list("交城县白漳河整治工程全长米的了在和")), min_size=6),
    st.sampled_from(["。", "！", "？", "；"]),
)


@given(st.lists(st.lists(_sentence, min_size=1, max_size=4).map("".join), max_size=8))
def test_clean_text_keeps_whole_sentences(paragraphs: list[str]) -> None:
    text = "\n\n".join(paragraphs)
    assert clean_text(text) == "\n".join(paragraphs)


def test_a_body_without_headlines_joins_short_cut_paragraphs() -> None:
    text = "市长表示，今年是台\n南400年。\n一、门诊部\n门诊部设在一楼。"
    # Short lines look like headlines, which stop the joining of text that may hold some.
    assert clean_text(text).count("\n") == 3
    assert clean_text(text, headlines=False).split("\n") == [
        "市长表示，今年是台南400年。",
        "一、门诊部",
        "门诊部设在一楼。",
    ]


@pytest.mark.parametrize(
    ("previous", "following", "expected"),
    [
        ("一、面试流程：报到", "二、面试地点：三楼", True),
        ("九、工作时间：中班", "十、工作地点：灯区", True),
        ("（2）报名", "（3）面试", True),
        ("3.报名", "4.面试", True),
        ("一、面试流程", "三、职缺名称", False),  # not the next one
        ("二、报名方式", "一、工程内容", False),  # a new list: another article's
        ("一、报名", "（二）面试", False),  # numbered in another style
        ("一、报名", "县城关镇老旧小区改造开工", False),
    ],
)
def test_next_item(previous: str, following: str, expected: bool) -> None:
    assert next_item(previous, following) is expected
