"""Tests for retrieval.parse.pages: OCR pages with a paragraph a line (the seed page)."""

from __future__ import annotations

import re

from retrieval.documents import Article
from retrieval.parse import (
    split_articles,
)
from tests.samples import (
    FIXTURES,
    SEED_EXPECTED,
    debris_free_hanzi,
    hanzi,
    seed_text,
)

# --- split_articles: OCR pages ----------------------------------------------------------


def test_seed_page_articles(seed_articles: list[Article]) -> None:
    got = [(a.section, a.headline, a.author) for a in seed_articles]
    assert got == SEED_EXPECTED
    assert all(a.page is None for a in seed_articles)


def test_seed_page_bodies(seed_articles: list[Article]) -> None:
    first, signing, united_front, works, ecommerce, contest = seed_articles
    # The first article's start is on another page: its body starts mid-sentence.
    assert first.body.startswith('"精细化工国家重点实验室交城创新中心"创建会。相关部门')
    assert first.body.endswith("进行了实地参观交流。")
    assert signing.body.startswith("本报讯 2月21日，交城县与山西经济管理干部学院")
    assert signing.body.endswith("进行了交流和探讨。")
    assert united_front.body.startswith("2022年是中国共产党明确提出统一战线政策100周年")
    body_lines = united_front.body.split("\n")
    for subheading in ("强化政治引领", "服务中心大局", "携手抗击疫情", "凝聚同心合力"):
        assert subheading in body_lines
    assert "白漳河河道城区段全长2886米" in works.body
    assert ecommerce.body.endswith("电商企业负责人吕宙表示。")
    assert contest.body.startswith("的二十大精神")
    assert "共计45名选手进入决赛" in contest.body
    for article in seed_articles:
        assert article.headline not in article.body.split("\n")
        assert not re.search(r"[（(](司瑞东|范英哲|梁赟)[）)]", article.body)
        assert "" not in article.body.split("\n")


def test_seed_page_keeps_every_character(seed_articles: list[Article]) -> None:
    parts = [part for a in seed_articles for part in (a.section, a.headline, a.body, a.author)]
    # Bylines move from the text to ``author``, in the same order.
    assert hanzi("".join(p for p in parts if p)) == debris_free_hanzi(seed_text())


def test_synthetic_page_of_three_articles() -> None:
    page = (FIXTURES / "ocr_page_three_articles.txt").read_text(encoding="utf-8")
    articles = split_articles(page)
    assert [(a.section, a.headline, a.author) for a in articles] == [
        ("城关镇", "全力推进老旧小区改造 惠及居民两千余户", "王建国"),
        ("教育园地", "春季学期开学 师生精神饱满迎新", "李晓红"),
        ("乡村振兴", "西营镇 千亩大棚蔬菜喜获丰收", "赵磊"),
    ]
    renovation, school, farm = (a.body.split("\n") for a in articles)
    # The paragraph broken around the "县 / 3 / 年" debris is whole again.
    assert renovation[1].startswith("改造过程中，")
    assert "收集意见建议86条，逐条研究落实。" in renovation[1]
    assert "USB 3.0" in renovation[1]
    assert "NET ZERO 绿色社区" in renovation[1]
    assert school[1] == "安全第一课"  # a subheading inside the article
    assert farm == [
        "本报讯 连日来，西营镇千亩大棚蔬菜进入采摘旺季，黄瓜、西红柿、辣椒等陆续上市，"
        "日均销售量达15吨。",
        '"今年的菜价不错，一个大棚能收入3万多元。"种植户张大爷笑着说。',
    ]


def test_masthead_is_skipped_and_gives_the_page() -> None:
    page = "交城报\n\n2023年2月28日 星期二 第三版\n\n" + seed_text()
    articles = split_articles(page)
    assert [(a.section, a.headline) for a in articles] == [e[:2] for e in SEED_EXPECTED]
    assert {a.page for a in articles} == {3}


def test_bylines_with_roles_and_datelines() -> None:
    page = (
        "县城新闻\n\n"
        "县医院新大楼投入使用\n\n"
        "本报讯 3月1日，县医院新门诊大楼正式投入使用，设有床位300张。（记者 张三 李四）\n\n"
        "全县春耕备耕有序推进\n\n"
        "本报讯（记者 王五）连日来，全县各乡镇抢抓农时，春耕备耕工作有序推进。\n\n"
        "各乡镇提前调运化肥、种子，保障农资供应。"
    )
    first, second = split_articles(page)
    assert (first.section, first.headline, first.author) == (
        "县城新闻",
        "县医院新大楼投入使用",
        "张三、李四",
    )
    assert first.body.endswith("设有床位300张。")
    assert (second.section, second.headline, second.author) == (
        None,
        "全县春耕备耕有序推进",
        "王五",
    )
    assert second.body.split("\n")[1] == "各乡镇提前调运化肥、种子，保障农资供应。"


def test_a_dateline_opens_an_article_even_without_a_byline() -> None:
    page = (
        "城区交通整治见成效\n\n"
        "本报讯 城区主干道高峰时段通行时间缩短两成，市民出行更加顺畅。\n\n"
        "老年大学春季班开课\n\n"
        "本报讯 县老年大学春季班日前开课，共开设书法、声乐等12个班。"
    )
    assert [a.headline for a in split_articles(page)] == [
        "城区交通整治见成效",
        "老年大学春季班开课",
    ]


def test_a_page_that_starts_mid_article() -> None:
    page = (
        "的优质服务保障，确保项目落地生根。 (司瑞东)\n\n"
        "县城新闻\n\n县医院新大楼投入使用\n\n本报讯 3月1日，县医院新门诊大楼正式投入使用。"
    )
    first, second = split_articles(page)
    assert (first.headline, first.author, first.body) == (
        "",
        "司瑞东",
        "的优质服务保障，确保项目落地生根。",
    )
    assert (second.section, second.headline) == ("县城新闻", "县医院新大楼投入使用")


def test_split_articles_of_nothing() -> None:
    assert split_articles("") == []
    assert split_articles("县\n\n202\n\n年") == []
