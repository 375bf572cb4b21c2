"""Tests for retrieval.parse.marked: pages whose headlines are marked as headings."""

from __future__ import annotations

from pathlib import Path

from retrieval.parse import read_issue, split_articles
from retrieval.parse.marked import heading, paragraph, split_marked, unmark

PAGE = "\n".join(
    [
        "交城报 2024年3月1日 星期五 第2版",
        # The end of an article from the page before.
        "大楼共12层，设有床位300张。",
        heading("县医院新大楼投入使用"),
        "本报讯 3月1日，县医院新门诊大楼投入使用，",
        # The last line of a paragraph, cut short by the engine: not a headline.
        "值得一提的是，",
        "大楼设有床位300张。",
        "一、门诊部",
        "门诊部设在一楼。（记者 张三）",
        heading("经济观察"),
        heading("全县春耕备耕有序推进"),
        "本报讯 全县各乡镇抢抓农时。",
        "（下转第3版）",
        "- 2 -",
    ]
)


def test_headings_are_told_from_hashtags() -> None:
    assert unmark(heading("标题")) == "标题"
    assert unmark("### 标题") == "标题"
    assert unmark("#话题 不是标题") == "#话题 不是标题"
    [article] = split_marked("#话题 不是标题\n正文。")
    assert article.headline == ""


def test_a_paragraph_starting_as_a_heading_is_escaped() -> None:
    # The last line of a contact list, "#229/0963-191-787", read with a space after "#".
    line = "# 229/0963-191-787"
    assert paragraph(line) == "\\# 229/0963-191-787"
    assert paragraph("#话题") == "#话题"  # no heading: left as it is
    assert unmark(paragraph(line)) == line
    [article] = split_marked("\n".join([heading("标题"), "电话：06-2157691", paragraph(line)]))
    assert (article.headline, article.body) == ("标题", "电话：06-2157691\n# 229/0963-191-787")


def test_articles_open_at_headings_only() -> None:
    articles = split_marked(PAGE)
    assert [(a.section, a.headline, a.author, a.page) for a in articles] == [
        (None, "", None, 2),
        (None, "县医院新大楼投入使用", "张三", 2),
        ("经济观察", "全县春耕备耕有序推进", None, 2),
    ]
    run_on, hospital, farming = articles
    assert run_on.body == "大楼共12层，设有床位300张。"
    # A paragraph cut mid-sentence is joined however short; a subhead stays apart.
    assert hospital.body == (
        "本报讯 3月1日，县医院新门诊大楼投入使用，值得一提的是，大楼设有床位300张。\n"
        "一、门诊部\n门诊部设在一楼。"
    )
    # The continuation marker and the page number are furniture.
    assert farming.body == "本报讯 全县各乡镇抢抓农时。"


def test_text_after_a_byline_is_an_untitled_article() -> None:
    text = heading("标题") + "\n正文一。（记者 张三）\n正文二。"
    first, second = split_marked(text)
    assert (first.headline, first.body, first.author) == ("标题", "正文一。", "张三")
    assert (second.headline, second.body) == ("", "正文二。")


def test_a_lead_byline_names_the_author() -> None:
    [article] = split_marked(heading("标题") + "\n本报讯（记者 李四）全县各乡镇抢抓农时。")
    assert article.author == "李四"


def test_only_marked_text_is_split_at_headings() -> None:
    assert [a.headline for a in split_articles(PAGE, marked=True)] == [
        "",
        "县医院新大楼投入使用",
        "全县春耕备耕有序推进",
    ]
    # In plain text, a line that happens to start with "# " is text (a corpus issue
    # has "# 实施时间：113年1月9日起。"): its headlines are found from the text alone.
    plain = split_articles("县医院新大楼投入使用\n# 实施时间：3月1日起。\n全县春耕。")
    assert [a.headline for a in plain] == ["县医院新大楼投入使用"]


def test_markdown_files_are_split_at_headings(tmp_path: Path) -> None:
    (tmp_path / "2024-03-01.md").write_text(PAGE, encoding="utf-8")
    issue = read_issue(tmp_path / "2024-03-01.md")
    assert [a.headline for a in issue.articles] == [
        "",
        "县医院新大楼投入使用",
        "全县春耕备耕有序推进",
    ]
