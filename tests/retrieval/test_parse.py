"""Tests for retrieval.parse: decoding, OCR clean-up, article splitting, reading files.

The seed page ships with the project (data/bulletins), so its tests always run. The
development corpus is read from the shared folder ($BULLETIN_QA_SHARED, default
../shared next to the repository); those tests skip when it is absent.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import re
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrieval.documents import Article
from retrieval.parse import (
    BadFileError,
    clean_text,
    decode_text,
    group_issue_files,
    read_issue,
    read_issue_files,
    split_articles,
)

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "data" / "bulletins" / "000_d59eaba95ec30256.txt"
FIXTURES = ROOT / "tests" / "fixtures"
SHARED = Path(os.environ.get("BULLETIN_QA_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus"

# Traditional text of our own, so the Big5 tests never depend on the shared folder.
TRADITIONAL = (
    "臺南市政府今日舉辦記者會，說明春節期間的交通管制與垃圾清運安排。"
    "市長表示，各區清潔隊將加派人力，並請民眾配合資源回收，一起維護環境整潔。"
    "觀光旅遊局也提醒遊客，連假期間景點周邊車多，建議多利用大眾運輸。"
)
SEED_DEBRIS = ("县", "202", "2", "年", "综", "武亚西")
HAN = re.compile(r"[\u4e00-\u9fff]")


def _hanzi(text: str) -> str:
    return "".join(HAN.findall(text))


def _seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def seed_articles() -> list[Article]:
    return split_articles(_seed_text())


@pytest.fixture(scope="module")
def manifest() -> dict[str, list[dict]]:
    if not (CORPUS / "manifest.jsonl").is_file():
        pytest.skip(f"shared corpus not found at {CORPUS} (set BULLETIN_QA_SHARED)")
    rows: dict[str, list[dict]] = collections.defaultdict(list)
    with (CORPUS / "manifest.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            rows[row["issue"]].append(row)
    return rows


# --- decode_text ----------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32"])
def test_decode_unicode_encodings(encoding: str) -> None:
    text = "台南市政府新闻汇编\n本报讯 今天，NET ZERO TAINAN 开幕。"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    decoded, name = decode_text(data)
    assert decoded == text
    assert "\ufeff" not in decoded
    assert name.startswith("utf")


def test_decode_normalises_newlines_and_strips_bom() -> None:
    text, name = decode_text("\ufeff第一行\r\n第二行\r第三行\n".encode())
    assert (text, name) == ("第一行\n第二行\n第三行\n", "utf-8-sig")


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_decode_detects_gb_on_the_seed_page(encoding: str) -> None:
    text = _seed_text()
    assert decode_text(text.encode(encoding)) == (text, "gb18030")


def test_decode_gb18030_four_byte_characters() -> None:
    text = "县市合并𢓭首度跨年双现场，在原县区行政中心南𤅀绿都心公园举办。"
    assert decode_text(text.encode("gb18030")) == (text, "gb18030")


def test_decode_detects_big5() -> None:
    decoded, name = decode_text(TRADITIONAL.encode("big5"))
    assert decoded == TRADITIONAL
    assert name == "big5"


def test_decode_detects_big5_on_the_traditional_corpus(manifest: dict) -> None:
    for path in sorted((CORPUS / "issues_zh-Hant").glob("*.txt")):
        # A few characters of the originals have no Big5 code: replace them.
        data = path.read_text(encoding="utf-8").encode("big5", errors="replace")
        decoded, name = decode_text(data)
        assert name == "big5", path.name
        assert decoded == data.decode("big5")


def _windows(text: str, size: int = 20) -> list[str]:
    """Every 20-character slice (step 7) that is mostly Chinese characters."""
    text = re.sub(r"\s+", "", text)
    slices = (text[i : i + size] for i in range(0, len(text) - size, 7))
    return [s for s in slices if len(_hanzi(s)) >= size // 2]


def test_decode_short_texts() -> None:
    simplified = _windows(_seed_text())
    traditional = _windows(TRADITIONAL * 2)
    assert simplified and traditional
    for window in simplified:
        assert decode_text(window.encode("gbk")) == (window, "gb18030"), window
    for window in traditional:
        assert decode_text(window.encode("big5"))[0] == window, window


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"PK\x03\x04\x14\x00\x06\x00",
        "正文".encode() + bytes(range(1, 9)) * 20,
    ],
)
def test_decode_rejects_binary(data: bytes) -> None:
    with pytest.raises(ValueError, match="binary file"):
        decode_text(data)


def test_decode_rejects_other_encodings() -> None:
    with pytest.raises(ValueError, match="cannot decode: not UTF-8, GB18030 or Big5"):
        decode_text("Café crème, déjà vu à Zürich".encode("latin-1"))


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
    cleaned = clean_text(_seed_text())
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


def _debris_free_hanzi(text: str) -> str:
    kept = (line for line in text.split("\n") if line.strip() not in SEED_DEBRIS)
    return _hanzi("\n".join(kept))


def test_clean_text_keeps_every_character_of_the_text() -> None:
    raw = _seed_text()
    assert _hanzi(clean_text(raw)) == _debris_free_hanzi(raw)
    page = (FIXTURES / "ocr_page_three_articles.txt").read_text(encoding="utf-8")
    assert _hanzi(clean_text(page)) == _debris_free_hanzi(page)


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


# --- split_articles: OCR pages ----------------------------------------------------------

SEED_EXPECTED = [
    ("交城经济开发区", '召开"精细化工国家重点实验室交城创新中心"创建会', None),
    (
        "全力以赴抓经济 踔厉奋发开新局",
        "交城县与山西经济管理干部学院 山西经贸职业学院)举行战略合作签约",
        "司瑞东",
    ),
    (None, "", None),
    ("交城县", "人勤春来早 项目施工忙", None),
    ("交城县", "举办电子商务进农村党政干部培训会", "范英哲"),
    (
        "交城县",
        '开展"百年奋斗共青春 凝心聚力谱华章——争当红领巾讲解员 争做新时代好队员"竞演讲述活动',
        "梁赟",
    ),
]


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
    assert _hanzi("".join(p for p in parts if p)) == _debris_free_hanzi(_seed_text())


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
    page = "交城报\n\n2023年2月28日 星期二 第三版\n\n" + _seed_text()
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


# --- split_articles: structured issues --------------------------------------------------

MINI_ISSUE = """臺南市政府新聞彙編
2024年1月9日 星期二　第9期　本期2篇
資料來源：臺南市政府全球資訊網「市政新聞」

========================
迎台南400  黃偉哲出席元旦升旗

發稿單位: 新聞及國際關係處發稿時間: 113年1月9日 08:45發稿人: 邱姿穎

迎接新年到來，台南市政府今（9）日舉行升旗典禮。

黃偉哲表示，新的一年市府將繼續努力。
典禮由國小舞龍隊揭開序幕。

（新聞及國際關係處新聞傳播科）

========================
南市推動資源回收 去年回收率創新高

發稿單位：環境保護局發稿日期：113年1月9日環保局今（9）日公布統計，去年資源回收率達六成，創歷年新高。

環保局表示，將持續推動垃圾減量。

承辦單位：一般廢棄物管理科
承辦科長：鄭華安 電話：06-2686751#1600

（臺南市政府環境保護局）
"""


def test_structured_issue_in_traditional_script() -> None:
    first, second = split_articles(MINI_ISSUE)
    assert first == Article(
        headline="迎台南400  黃偉哲出席元旦升旗",
        body="迎接新年到來，台南市政府今（9）日舉行升旗典禮。\n"
        "黃偉哲表示，新的一年市府將繼續努力。\n"
        "典禮由國小舞龍隊揭開序幕。",
        author="邱姿穎",
    )
    # The first paragraph was glued to the header line; the contact footer is dropped.
    assert second == Article(
        headline="南市推動資源回收 去年回收率創新高",
        body="環保局今（9）日公布統計，去年資源回收率達六成，創歷年新高。\n"
        "環保局表示，將持續推動垃圾減量。",
        author="臺南市政府環境保護局",
    )


_HEADER_RE = re.compile(
    r"^[(（]?\s*(?:发稿|發稿|发告|发槁|稿时间|(?:新闻|新聞|业务|業務)?(?:联系|连络|联络|连系|聯絡)"
    r"|\S{0,6}(?:联系人|连络人|联络人)\s*[:：]|(?:业务)?承\s?办|电\s?话\s*[:：]|科\s?长\s*[:：]"
    r"|标题[:：]|\S{2,24}新闻稿$|内(?:文|容)[:：]?$)"
)
_GLUED_FOOTER_RE = re.compile(r"\s*(?:发稿\S{0,4}|新闻联系人)[:：][^。！？]{0,80}$")
_PHONE_RE = re.compile(r"\d{2,4}-\d{3,}|[#＃]\s*\d|分机|转\s*\d|\(0\d\)|(?<![\d/=])\d{7,10}(?!\d)")


def _is_contact(line: str) -> bool:
    return len(line) <= 60 and bool(_PHONE_RE.search(line)) and not re.search(r"[，。,]|://", line)


def _expected_body(article_lines: list[str]) -> tuple[list[str], list[str]]:
    """What the body of a corpus article should be: its lines minus headline, header
    lines, the trailing contact block and the closing department line.

    Returns:
        The removed header lines and the expected body lines.
    """
    body = [line.strip() for line in article_lines[1:-1] if line.strip()]
    header: list[str] = []
    while body and (_HEADER_RE.match(body[0]) or (header and _is_contact(body[0]))):
        header.append(body.pop(0))
    end = len(body)
    while end and (_HEADER_RE.match(body[end - 1]) or _is_contact(body[end - 1])):
        end -= 1
    if any(_HEADER_RE.match(line) for line in body[end:]):
        body = body[:end]
    # "…健康城市。发稿单位：台南市政府体育局" ends the last paragraph: cut it off.
    if body and (glued := _GLUED_FOOTER_RE.search(body[-1])) and glued.start():
        body[-1] = body[-1][: glued.start()]
    # A "发稿…：" line is metadata wherever it is.
    return header, [line for line in body if not re.match(r"[(（]?发稿\S{0,4}[:：]", line)]


def _body_matches(article: Article, article_lines: list[str]) -> bool:
    header, expected = _expected_body(article_lines)
    got = article.body.split("\n") if article.body else []
    if got == expected:
        return True
    # Some releases glue the first paragraph to the header line: it must come back.
    return bool(header) and got[1:] == expected and header[-1].endswith(got[0])


def _author_matches(article: Article, row: dict, article_lines: list[str]) -> bool:
    """The author is the 发稿人 when the article names one, else the department."""
    named = re.search(r"发稿(?:人员|人|者|⼈)\s*[:：﹕]\s*(\S{2})", "\n".join(article_lines))
    if named:
        return bool(article.author) and article.author.startswith(named.group(1))
    return article.author == row["department"]


@pytest.mark.parametrize(
    "issue",
    [
        "2024-01-05",
        "2024-02-15",
        "2024-03-12",
        "2024-04-27",
        "2024-06-14",
        "2024-08-17",
        "2024-10-23",
        "2024-12-31",
    ],
)
def test_corpus_issue_against_the_manifest(manifest: dict, issue: str) -> None:
    path = CORPUS / "issues" / f"{issue}.txt"
    lines = path.read_text(encoding="utf-8").split("\n")
    articles = read_issue(path).articles
    rows = manifest[issue]
    assert len(articles) == len(rows)
    for article, row in zip(articles, rows, strict=True):
        article_lines = lines[row["line_start"] - 1 : row["line_end"]]
        assert article.headline == row["title"]
        assert article.section is None
        assert article.page is None
        assert _author_matches(article, row, article_lines), (row["seq"], article.author)
        assert _body_matches(article, article_lines), (issue, row["seq"])
        assert not re.search(r"^发稿", article.body, re.MULTILINE)


def test_whole_corpus_counts_and_headlines(manifest: dict) -> None:
    paths = sorted((CORPUS / "issues").glob("*.txt"))
    assert len(paths) == 366
    start = time.perf_counter()
    matched = total = 0
    for path in paths:
        articles = read_issue(path).articles
        rows = manifest[path.stem]
        assert len(articles) == len(rows), path.name
        assert [a.headline for a in articles] == [r["title"] for r in rows], path.name
        lines = path.read_text(encoding="utf-8").split("\n")
        for article, row in zip(articles, rows, strict=True):
            total += 1
            matched += _body_matches(article, lines[row["line_start"] - 1 : row["line_end"]])
    assert time.perf_counter() - start < 5
    assert total == 7438
    # The rest differ in where a contact footer ends ("联系窗口：…" kept, "◆联系电话" not).
    assert matched / total > 0.998


def test_traditional_corpus_issues(manifest: dict) -> None:
    paths = sorted((CORPUS / "issues_zh-Hant").glob("*.txt"))
    assert len(paths) == 7
    for path in paths:
        issue = read_issue(path)
        rows = manifest[path.stem]
        simplified = read_issue(CORPUS / "issues" / path.name)
        assert issue.title == f"臺南市政府新聞彙編 第{rows[0]['issue_no']}期"
        assert issue.date == dt.date.fromisoformat(path.stem)
        assert [a.headline for a in issue.articles] == [r["title_zh_hant"] for r in rows]
        for article, twin in zip(issue.articles, simplified.articles, strict=True):
            assert article.body.count("\n") == twin.body.count("\n")
            assert not re.search(r"^發稿", article.body, re.MULTILINE)
            assert article.author


# --- read_issue ----------------------------------------------------------------------------


def test_read_issue_on_the_seed_page() -> None:
    issue = read_issue(SEED)
    assert issue.issue_id == "000_d59eaba95ec30256"
    assert issue.source == str(SEED)
    assert issue.date is None  # not printed on the page: never guessed
    assert issue.title is None
    assert [(a.section, a.headline, a.author) for a in issue.articles] == SEED_EXPECTED


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-16", "utf-8-sig"])
def test_read_issue_in_other_encodings(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "page.txt"
    path.write_bytes(_seed_text().replace("\n", "\r\n").encode(encoding))
    assert read_issue(path).articles == read_issue(SEED).articles


def test_read_issue_structured_masthead(tmp_path: Path) -> None:
    path = tmp_path / "issue.md"
    path.write_text(
        MINI_ISSUE.replace("臺南市政府新聞彙編", "台南市政府新闻汇编"), encoding="utf-8"
    )
    issue = read_issue(path)
    assert issue.title == "台南市政府新闻汇编 第9期"
    assert issue.date == dt.date(2024, 1, 9)
    assert len(issue.articles) == 2


@pytest.mark.parametrize(
    ("name", "date"),
    [
        ("2024-03-01.txt", dt.date(2024, 3, 1)),
        ("jcb_2024_03_01_p2.text", dt.date(2024, 3, 1)),
        ("交城报20240301.txt", dt.date(2024, 3, 1)),
        ("scan-20241399.txt", None),  # not a date
        ("000_d59eaba95ec30256.txt", None),
    ],
)
def test_read_issue_date_from_the_file_name(tmp_path: Path, name: str, date: dt.date) -> None:
    path = tmp_path / name
    path.write_text(_seed_text(), encoding="utf-8")
    issue = read_issue(path)
    assert issue.date == date
    assert issue.issue_id == path.stem


def _write_with_sidecar(tmp_path: Path, meta: object, name: str = "2024-03-01.txt") -> Path:
    path = tmp_path / name
    path.write_text(_seed_text(), encoding="utf-8")
    (tmp_path / f"{path.stem}.meta.json").write_text(
        json.dumps(meta, ensure_ascii=False), encoding="utf-8"
    )
    return path


def test_sidecar_metadata_wins_over_the_file_name(tmp_path: Path) -> None:
    path = _write_with_sidecar(
        tmp_path, {"title": "交城报", "date": "2023-02-28", "page": 2, "issue": 4088}
    )
    issue = read_issue(path)
    assert (issue.title, issue.date) == ("交城报", dt.date(2023, 2, 28))
    assert {a.page for a in issue.articles} == {2}
    assert issue.issue_id == "2024-03-01"


@pytest.mark.parametrize(("pages", "page"), [([3], 3), ("3", 3), ([2, 3], None)])
def test_sidecar_pages(tmp_path: Path, pages: object, page: int | None) -> None:
    issue = read_issue(_write_with_sidecar(tmp_path, {"pages": pages}))
    assert {a.page for a in issue.articles} == {page}
    assert issue.date == dt.date(2024, 3, 1)  # the file name still gives the date


@pytest.mark.parametrize(
    ("meta", "reason"),
    [
        ({"date": "28/02/2023"}, "invalid date '28/02/2023' in 2024-03-01.meta.json"),
        ({"date": "2023-02-30"}, "invalid date"),
        ({"page": "two"}, "invalid page"),
        (["not", "an", "object"], "is not a JSON object"),
    ],
)
def test_bad_sidecar(tmp_path: Path, meta: object, reason: str) -> None:
    with pytest.raises(BadFileError, match=reason):
        read_issue(_write_with_sidecar(tmp_path, meta))


def test_sidecar_that_is_not_json(tmp_path: Path) -> None:
    path = _write_with_sidecar(tmp_path, {})
    (tmp_path / "2024-03-01.meta.json").write_text("{date: 2023}", encoding="utf-8")
    with pytest.raises(BadFileError, match=r"unreadable metadata file 2024-03-01\.meta\.json"):
        read_issue(path)


def test_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "page.md"
    path.write_text(
        '---\ntitle: "交城报 第4088期"\ndate: 2023-02-28\npage: 2\n---\n' + _seed_text(),
        encoding="utf-8",
    )
    issue = read_issue(path)
    assert (issue.title, issue.date) == ("交城报 第4088期", dt.date(2023, 2, 28))
    assert [(a.section, a.headline) for a in issue.articles] == [e[:2] for e in SEED_EXPECTED]
    assert {a.page for a in issue.articles} == {2}


def test_sidecar_wins_over_front_matter_which_wins_over_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "2024-03-01.txt"
    path.write_text("---\ndate: 2023-02-27\ntitle: 交城报\n---\n" + _seed_text(), encoding="utf-8")
    assert read_issue(path).date == dt.date(2023, 2, 27)
    (tmp_path / "2024-03-01.meta.json").write_text('{"date": "2023-02-28"}', encoding="utf-8")
    issue = read_issue(path)
    assert (issue.date, issue.title) == (dt.date(2023, 2, 28), "交城报")


def test_masthead_date_of_an_ocr_page(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    path.write_text("交城报\n\n2023年2月28日 星期二 第2版\n\n" + _seed_text(), encoding="utf-8")
    issue = read_issue(path)
    assert (issue.title, issue.date) == ("交城报", dt.date(2023, 2, 28))
    assert len(issue.articles) == 6


def test_a_date_in_a_headline_is_not_a_masthead(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    path.write_text("2023年2月21日召开全县经济工作会议\n\n" + _seed_text(), encoding="utf-8")
    issue = read_issue(path)
    assert issue.date is None
    assert (
        issue.articles[0].headline
        == '交城经济开发区 召开"精细化工国家重点实验室交城创新中心"创建会'
    )


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "empty file"),
        ("blank.txt", b" \n\r\n\t\n", "no text (whitespace only)"),
        ("debris.txt", "县\n\n2\n\n年\n".encode(), "no article found"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file (not text)"),
        ("latin.txt", "Café déjà vu".encode("latin-1"), "cannot decode: not UTF-8"),
        ("report.docx", b"PK\x03\x04", "unsupported file type .docx"),
        ("README", "正文".encode(), "unsupported file type (no extension)"),
        ("scan.PDF", b"%PDF-1.7", "damaged or not a PDF"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BadFileError) as caught:
        read_issue(path)
    assert caught.value.path == path
    assert caught.value.reason.startswith(reason)
    assert str(caught.value) == f"{path}: {caught.value.reason}"


def test_unreadable_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BadFileError, match="cannot read: no such file"):
        read_issue(tmp_path / "missing.txt")
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    with pytest.raises(BadFileError, match="cannot read: it is a folder"):
        read_issue(folder)
    locked = tmp_path / "locked.txt"
    locked.write_text("正文", encoding="utf-8")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    # chmod does not stop root, so the refusal is simulated.
    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(BadFileError, match="cannot read: permission denied"):
        read_issue(locked)


# --- page files: group_issue_files, read_issue_files ---------------------------------------


@pytest.mark.parametrize(
    ("name", "issue_id", "page"),
    [
        ("2024-03-01_01.txt", "2024-03-01", 1),
        ("2024-03-01-2.txt", "2024-03-01", 2),
        ("20240301_03.text", "20240301", 3),
        ("jcb_2024_03_01_p4.text", "jcb_2024_03_01", 4),
        ("2024-03-01_page05.md", "2024-03-01", 5),
        ("2024-03-01_第6版.txt", "2024-03-01", 6),
        ("交城报20240301-P7.txt", "交城报20240301", 7),
        # Not page files: each is an issue of its own, named by its stem.
        ("2024-03-01.txt", "2024-03-01", None),
        ("000_d59eaba95ec30256.txt", "000_d59eaba95ec30256", None),
        ("2024-03-01_00.txt", "2024-03-01_00", None),  # pages count from 1
        ("2024-03-01_1200.txt", "2024-03-01_1200", None),  # a time, not a page
        ("scan-20241399_01.txt", "scan-20241399_01", None),  # not a date
        ("2024-03-01_v2.txt", "2024-03-01_v2", None),
    ],
)
def test_page_file_names(tmp_path: Path, name: str, issue_id: str, page: int | None) -> None:
    path = tmp_path / name
    path.write_text(_seed_text(), encoding="utf-8")
    issue, skipped = read_issue_files([path])
    assert (issue.issue_id, skipped) == (issue_id, [])
    assert {a.page for a in issue.articles} == {page}
    assert issue.source == str(path)
    # read_issue reads any file on its own.
    assert read_issue(path).issue_id == path.stem


def test_group_issue_files(tmp_path: Path) -> None:
    names = [
        "2024-03-01_02.txt",
        "000_d59eaba95ec30256.txt",
        "2024-03-01.txt",
        "jcb_20240301_p10.pdf",
        "2024-03-01_01.txt",
        "jcb_20240301_p2.pdf",
        "2024-03-01-3.md",
        "b/2024-03-01_01.txt",  # another folder: another paper
        "2024-03-01_01.txt",
    ]
    groups = group_issue_files([tmp_path / name for name in names])
    assert [[str(p.relative_to(tmp_path)) for p in group] for group in groups] == [
        ["2024-03-01_01.txt", "2024-03-01_02.txt", "2024-03-01-3.md"],
        ["000_d59eaba95ec30256.txt"],
        ["2024-03-01.txt"],
        ["jcb_20240301_p2.pdf", "jcb_20240301_p10.pdf"],
        ["b/2024-03-01_01.txt"],
    ]


def _page(masthead_page: int, headline: str, body: str) -> str:
    return f"交城报\n\n2024年3月1日 星期五 第{masthead_page}版\n\n{headline}\n\n{body}"


def test_read_issue_files_of_text_pages(tmp_path: Path) -> None:
    first = tmp_path / "2024-03-01_01.txt"
    first.write_text(_seed_text(), encoding="utf-8")
    second = tmp_path / "2024-03-01_02.txt"
    # The page in the file name wins over the masthead's "第5版".
    second.write_text(
        _page(5, "县医院新大楼投入使用", "本报讯 县医院新门诊大楼正式投入使用。（记者 张三）"),
        encoding="utf-8",
    )
    (tmp_path / "2024-03-01.meta.json").write_text('{"title": "交城报 第4089期"}', "utf-8")
    issue, skipped = read_issue_files(group_issue_files([second, first])[0])
    assert skipped == []
    assert (issue.issue_id, issue.title, issue.date) == (
        "2024-03-01",
        "交城报 第4089期",
        dt.date(2024, 3, 1),
    )
    assert issue.source == str(tmp_path / "2024-03-01{_01.txt,_02.txt}")
    assert [(a.headline, a.page) for a in issue.articles] == [
        *((h, 1) for _, h, _ in SEED_EXPECTED),
        ("县医院新大楼投入使用", 2),
    ]
    # A page file's own sidecar wins over its name.
    (tmp_path / "2024-03-01_02.meta.json").write_text('{"page": 9}', "utf-8")
    assert read_issue_files([first, second])[0].articles[-1].page == 9


def test_an_article_continued_on_the_next_page_keeps_its_text(tmp_path: Path) -> None:
    (tmp_path / "2024-03-01_01.txt").write_text(
        _page(
            1,
            "县医院新大楼投入使用",
            "本报讯 3月1日，县医院新门诊大楼投入使用，大楼共12层，设有床位",
        ),
        encoding="utf-8",
    )
    (tmp_path / "2024-03-01_02.txt").write_text(
        "300张，方便群众就近看病。（记者 张三）\n\n"
        "全县春耕备耕有序推进\n\n本报讯 全县各乡镇抢抓农时。（记者 王五）",
        encoding="utf-8",
    )
    issue, _ = read_issue_files(sorted(tmp_path.iterdir()))
    # Two articles, the second untitled: nothing is lost, nothing is joined.
    assert [(a.headline, a.body, a.author, a.page) for a in issue.articles] == [
        (
            "县医院新大楼投入使用",
            "本报讯 3月1日，县医院新门诊大楼投入使用，大楼共12层，设有床位",
            None,
            1,
        ),
        ("", "300张，方便群众就近看病。", "张三", 2),
        ("全县春耕备耕有序推进", "本报讯 全县各乡镇抢抓农时。", "王五", 2),
    ]


def test_read_issue_files_skips_and_reports_bad_pages(tmp_path: Path) -> None:
    good = tmp_path / "2024-03-01_01.txt"
    good.write_text(_seed_text(), encoding="utf-8")
    again = tmp_path / "2024-03-01_p1.md"
    again.write_text(_seed_text(), encoding="utf-8")
    empty = tmp_path / "2024-03-01_02.txt"
    empty.write_bytes(b"")
    issue, skipped = read_issue_files([empty, again, good])
    assert issue.source == str(good)
    assert {a.page for a in issue.articles} == {1}
    assert [(e.path, e.reason) for e in skipped] == [
        (again, "page 1 is already read from 2024-03-01_01.txt"),
        (empty, "empty file"),
    ]


def test_read_issue_files_with_nothing_readable(tmp_path: Path) -> None:
    empty = tmp_path / "2024-03-01_01.txt"
    empty.write_bytes(b"")
    blank = tmp_path / "2024-03-01_02.txt"
    blank.write_text("  \n", encoding="utf-8")
    with pytest.raises(BadFileError) as caught:
        read_issue_files([empty])
    assert (caught.value.path, caught.value.reason) == (empty, "empty file")
    with pytest.raises(BadFileError) as caught:
        read_issue_files([blank, empty])
    assert caught.value.path == empty
    assert caught.value.reason == (
        "no page file could be read (2024-03-01_01.txt: empty file; "
        "2024-03-01_02.txt: no text (whitespace only))"
    )


@pytest.mark.parametrize(
    "names",
    [
        ["2024-03-01_01.txt", "2024-03-02_02.txt"],
        ["2024-03-01_01.txt", "2024-03-01.txt"],
        ["a/2024-03-01_01.txt", "b/2024-03-01_02.txt"],
        [],
    ],
)
def test_read_issue_files_of_several_issues(tmp_path: Path, names: list[str]) -> None:
    with pytest.raises(ValueError, match="page file"):
        read_issue_files([tmp_path / name for name in names])
