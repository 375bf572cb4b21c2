"""Tests for retrieval.parse.structured: the corpus's "====" issues against its manifest."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from retrieval.documents import Article
from retrieval.parse import (
    decode_text,
    read_issue,
    split_articles,
)
from tests.samples import (
    CORPUS,
    MINI_ISSUE,
)

# --- split_articles: structured issues --------------------------------------------------


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
    lines = decode_text(path.read_bytes())[0].split("\n")
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
    matched = total = 0
    for path in paths:
        articles = read_issue(path).articles
        rows = manifest[path.stem]
        assert len(articles) == len(rows), path.name
        assert [a.headline for a in articles] == [r["title"] for r in rows], path.name
        # The file as read: its "&bull;" is "•".
        lines = decode_text(path.read_bytes())[0].split("\n")
        for article, row in zip(articles, rows, strict=True):
            total += 1
            matched += _body_matches(article, lines[row["line_start"] - 1 : row["line_end"]])
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
