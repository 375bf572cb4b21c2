"""Tests for retrieval.parse.files: reading issue files, their metadata and page files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from retrieval.parse import (
    BadFileError,
    group_issue_files,
    read_issue,
    read_issue_files,
)
from tests.samples import (
    MINI_ISSUE,
    SEED,
    SEED_EXPECTED,
    seed_text,
)

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
    path.write_bytes(seed_text().replace("\n", "\r\n").encode(encoding))
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
    path.write_text(seed_text(), encoding="utf-8")
    issue = read_issue(path)
    assert issue.date == date
    assert issue.issue_id == path.stem


def _write_with_sidecar(tmp_path: Path, meta: object, name: str = "2024-03-01.txt") -> Path:
    path = tmp_path / name
    path.write_text(seed_text(), encoding="utf-8")
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
        '---\ntitle: "交城报 第4088期"\ndate: 2023-02-28\npage: 2\n---\n' + seed_text(),
        encoding="utf-8",
    )
    issue = read_issue(path)
    assert (issue.title, issue.date) == ("交城报 第4088期", dt.date(2023, 2, 28))
    assert [(a.section, a.headline) for a in issue.articles] == [e[:2] for e in SEED_EXPECTED]
    assert {a.page for a in issue.articles} == {2}


def test_sidecar_wins_over_front_matter_which_wins_over_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "2024-03-01.txt"
    path.write_text("---\ndate: 2023-02-27\ntitle: 交城报\n---\n" + seed_text(), encoding="utf-8")
    assert read_issue(path).date == dt.date(2023, 2, 27)
    (tmp_path / "2024-03-01.meta.json").write_text('{"date": "2023-02-28"}', encoding="utf-8")
    issue = read_issue(path)
    assert (issue.date, issue.title) == (dt.date(2023, 2, 28), "交城报")


def test_masthead_date_of_an_ocr_page(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    path.write_text("交城报\n\n2023年2月28日 星期二 第2版\n\n" + seed_text(), encoding="utf-8")
    issue = read_issue(path)
    assert (issue.title, issue.date) == ("交城报", dt.date(2023, 2, 28))
    assert len(issue.articles) == 6


def test_a_date_in_a_headline_is_not_a_masthead(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    path.write_text("2023年2月21日召开全县经济工作会议\n\n" + seed_text(), encoding="utf-8")
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
    path.write_text(seed_text(), encoding="utf-8")
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
    first.write_text(seed_text(), encoding="utf-8")
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


def test_an_article_cut_by_the_page_break_is_joined_again(tmp_path: Path) -> None:
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
    assert [(a.headline, a.body, a.author, a.page) for a in issue.articles] == [
        (
            "县医院新大楼投入使用",
            "本报讯 3月1日，县医院新门诊大楼投入使用，大楼共12层，设有床位"
            "300张，方便群众就近看病。",
            "张三",
            1,
        ),
        ("全县春耕备耕有序推进", "本报讯 全县各乡镇抢抓农时。", "王五", 2),
    ]


def test_untitled_text_after_a_finished_page_stays_its_own_article(tmp_path: Path) -> None:
    # The page before ends with a full stop: the text opening the next page may be any
    # article's (a jump from another page), so it is not joined to the last one.
    (tmp_path / "2024-03-01_01.txt").write_text(
        _page(1, "县医院新大楼投入使用", "本报讯 3月1日，县医院新门诊大楼投入使用。"),
        encoding="utf-8",
    )
    (tmp_path / "2024-03-01_02.txt").write_text(
        "大楼共12层，设有床位300张，方便群众就近看病。（记者 张三）", encoding="utf-8"
    )
    issue, _ = read_issue_files(sorted(tmp_path.iterdir()))
    assert [(a.headline, a.author, a.page) for a in issue.articles] == [
        ("县医院新大楼投入使用", None, 1),
        ("", "张三", 2),
    ]


@pytest.mark.parametrize(
    ("opening", "joined"),
    [
        ("", True),  # a page break between two paragraphs of one article
        ("（上接第1版）", True),  # from the page before: the same
        ("接上版 ", True),
        ("（上接第3版）", False),  # a jump from a page after: another article's part
    ],
)
def test_untitled_text_on_a_marked_page_runs_on_unless_it_jumps_in(
    tmp_path: Path, opening: str, joined: bool
) -> None:
    # Headlines marked by their print size (scans, PDFs, Markdown) leave no doubt that
    # untitled text is no article's beginning, so it goes on from the page before even
    # when that page ended with a sentence.
    (tmp_path / "2024-03-01_01.md").write_text(
        "# 县医院新大楼投入使用\n\n本报讯 3月1日，县医院新门诊大楼投入使用。", encoding="utf-8"
    )
    (tmp_path / "2024-03-01_02.md").write_text(
        f"{opening}大楼共12层，设有床位300张，方便群众就近看病。（记者 张三）\n\n"
        "# 全县春耕备耕有序推进\n\n本报讯 全县各乡镇抢抓农时。（记者 王五）",
        encoding="utf-8",
    )
    issue, _ = read_issue_files(sorted(tmp_path.iterdir()))
    heads = [(a.headline, a.author, a.page) for a in issue.articles]
    if joined:
        assert heads == [("县医院新大楼投入使用", "张三", 1), ("全县春耕备耕有序推进", "王五", 2)]
        # A new paragraph: the page before ended with a sentence.
        assert issue.articles[0].body.endswith(
            "投入使用。\n大楼共12层，设有床位300张，方便群众就近看病。"
        )
    else:
        assert heads == [
            ("县医院新大楼投入使用", None, 1),
            ("", "张三", 2),
            ("全县春耕备耕有序推进", "王五", 2),
        ]


def test_untitled_text_after_a_signed_article_stays_its_own(tmp_path: Path) -> None:
    (tmp_path / "2024-03-01_01.md").write_text(
        "# 县医院新大楼投入使用\n\n本报讯 县医院新门诊大楼投入使用。（记者 李四）", encoding="utf-8"
    )
    (tmp_path / "2024-03-01_02.md").write_text(
        "大楼共12层，设有床位300张。（记者 张三）", encoding="utf-8"
    )
    issue, _ = read_issue_files(sorted(tmp_path.iterdir()))
    assert [(a.headline, a.author) for a in issue.articles] == [
        ("县医院新大楼投入使用", "李四"),
        ("", "张三"),
    ]


def test_read_issue_files_skips_and_reports_bad_pages(tmp_path: Path) -> None:
    good = tmp_path / "2024-03-01_01.txt"
    good.write_text(seed_text(), encoding="utf-8")
    again = tmp_path / "2024-03-01_p1.md"
    again.write_text(seed_text(), encoding="utf-8")
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
