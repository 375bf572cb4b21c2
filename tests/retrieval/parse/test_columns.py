"""Tests for retrieval.parse.columns: columns printed side by side, read one after another."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from benchmarks.ocr_styles import STYLES, layout
from retrieval.parse import read_issue, split_articles
from retrieval.parse.columns import read_columns
from retrieval.text import char_width
from tests.samples import BULLETINS, seed_text

_LEFT = [
    "本报讯 3月5日，县城关镇老旧小",
    "区改造工程正式开工，计划年内完",
    "成12个小区的管网更新和外墙保温",
    "改造，惠及居民2100余户。",
    "",
    "改造过程中，镇里坚持居民点单、",
    "政府买单，先后召开居民议事会30",
    "余场，收集意见建议86条。",
    "（王建国）",
]
_MIDDLE = [
    "西营镇大棚蔬菜喜获丰收",
    "",
    "本报讯 日前，西营镇千亩大棚蔬",
    "菜进入采摘旺季，黄瓜、西红柿、",
    "辣椒等陆续上市，日均销售量达15",
    "吨。种植户张大爷说，今年的菜价",
    "不错，一个大棚能收入3万多元，",
    "比去年多了一成。",
    "（赵磊）",
]
_RIGHT = [
    "县图书馆延长开放时间",
    "",
    "本报讯 为方便读者，县图书馆自",
    "本月起延长开放时间，周一至周五",
    "开放至晚上9时，周末全天开放，",
    "读者可凭身份证免费办理借阅证。",
    "（李华）",
]
# Each column twice over: a page's columns run for dozens of lines.
LEFT, MIDDLE, RIGHT = [*_LEFT, "", *_LEFT], [*_MIDDLE, *_MIDDLE], [*_RIGHT, "", *_RIGHT]


def _cells(text: str) -> int:
    return round(sum(2 * char_width(c) for c in text))


def _side_by_side(*columns: list[str], by_characters: bool = False, gutter: int = 4) -> str:
    """Columns side by side, padded to line up on screen (a Chinese character two
    cells wide) or, as pdftotext pads them, by characters."""
    size = len if by_characters else _cells
    width = max(size(line) for column in columns for line in column)
    rows = max(map(len, columns))
    lines = []
    for row in range(rows):
        cells = [column[row] if row < len(column) else "" for column in columns]
        padded = [cell + " " * (width - size(cell)) for cell in cells]
        lines.append((" " * gutter).join(padded).rstrip())
    return "\n".join(lines)


def test_columns_side_by_side_are_read_one_after_another() -> None:
    text = _side_by_side(LEFT, MIDDLE, RIGHT)
    # The second and third columns end above the first: a blank line after their text.
    assert read_columns(text).split("\n") == [*LEFT, *MIDDLE, "", *RIGHT, ""]


def test_columns_padded_by_characters_as_pdftotext_pads_them() -> None:
    text = _side_by_side(LEFT, MIDDLE, by_characters=True)
    assert read_columns(text).split("\n") == [*LEFT, *MIDDLE, ""]


def test_an_indented_paragraph_stays_in_its_column() -> None:
    left = ["\u3000\u3000" + line if i % 10 in (0, 5) else line for i, line in enumerate(LEFT)]
    middle = ["  " + line if i == 2 else line for i, line in enumerate(MIDDLE)]
    text = _side_by_side(left, middle)
    lines = [line.strip("\u3000 ") for line in read_columns(text).split("\n")]
    assert lines == [*LEFT, *MIDDLE, ""]


def test_a_line_across_the_columns_ends_a_band() -> None:
    banner = "全县春耕生产全面展开 各乡镇抢抓农时确保粮食稳产增收工作有序推进中"
    top, bottom = _side_by_side(LEFT, MIDDLE), _side_by_side(RIGHT, LEFT)
    lines = read_columns(f"{top}\n{banner}\n{bottom}").split("\n")
    assert lines == [*LEFT, *MIDDLE, "", banner, *RIGHT, "", *LEFT]


def test_pages_are_read_in_turn_and_a_short_last_column_is_known_from_the_others() -> None:
    first = _side_by_side(LEFT, MIDDLE, RIGHT)
    # The last page: its third column holds one line, at the place the first page's does.
    last = _side_by_side(MIDDLE, LEFT, ["（李华）"])
    assert read_columns(f"{first}\n\f{last}\n").split("\n") == [
        *LEFT,
        *MIDDLE,
        "",  # the columns that end above the others' feet
        *RIGHT,
        "",
        *MIDDLE,
        "",
        *LEFT,
        "（李华）",
        "",
    ]


def test_a_row_blank_in_every_column_between_their_text_is_no_gap() -> None:
    # pdftotext leaves one or two such rows beside a line in other type; here they part
    # the two lines of a headline as wide as the column, beside sentences running on in
    # the others.
    head = ["西营镇千亩大棚蔬菜进入采摘旺季", "喜获丰收"]
    for rows in (1, 2):
        gap = [""] * rows
        left = [*LEFT[:2], head[0], *gap, head[1], *LEFT[2:]]
        middle, right = [*MIDDLE[:3], *gap, *MIDDLE[3:]], [*RIGHT[:3], *gap, *RIGHT[3:]]
        lines = read_columns(_side_by_side(left, middle, right)).split("\n")
        assert lines[: len(LEFT) + 2] == [*LEFT[:2], *head, *LEFT[2:]]
    # A bracket closed inside a sentence ("（股）") does not end it: the text runs on.
    # The first column's own gap, after a sentence's end, stays.
    assert LEFT[3].endswith("。") and LEFT[4] == ""
    bracket = ["本月起县图书馆与新华书店（股）", "合作延长开放时间，周一至周五"]
    right = [*RIGHT[:3], bracket[0], "", bracket[1], *RIGHT[4:]]
    middle = [*MIDDLE[:4], "", *MIDDLE[4:]]
    lines = read_columns(_side_by_side(LEFT, middle, right)).split("\n")
    assert lines[: len(LEFT)] == LEFT
    at = lines.index(bracket[0])
    assert lines[at : at + 4] == [*bracket, *RIGHT[4:6]]
    # Where a line above the blank row stops short, it may be a gap after a headline.
    left = [*LEFT[:2], "西营镇蔬菜丰收", "", *LEFT[2:]]
    lines = read_columns(_side_by_side(left, middle, right)).split("\n")
    assert lines[: len(left)] == left
    # Where a line above the blank row ends a sentence, it may be a paragraph's gap:
    # the first column's own blank line, here beside blank rows in the others.
    assert LEFT[3].endswith("。") and LEFT[4] == ""
    middle, right = [*MIDDLE[:4], "", *MIDDLE[4:]], [*RIGHT[:4], "", *RIGHT[4:]]
    lines = read_columns(_side_by_side(LEFT, middle, right)).split("\n")
    assert lines[: len(LEFT)] == LEFT
    # A line wider than its column is in smaller type, set to fit: the row beside it is
    # its own, not a gap, even after a sentence's end.
    head = ["幼囡仔来读册！全县公办幼儿园新生入园3月5日开跑！", "8所新建幼儿园成为招生新亮点"]
    left, middle = [*LEFT[:3], "", *LEFT[3:]], [*MIDDLE[:3], "", *MIDDLE[3:]]
    right = [*RIGHT[:2], head[0], "", head[1], "", *RIGHT[2:]]
    lines = read_columns(_side_by_side(left, middle, right)).split("\n")
    assert lines[: len(LEFT) + len(MIDDLE)] == [*LEFT, *MIDDLE]
    at = lines.index(head[0])
    assert lines[at : at + 3] == [*head, ""]


def test_text_without_columns_is_left_as_it_is() -> None:
    seed = seed_text()
    assert read_columns(seed) == seed
    # A wide space inside a headline, and a table whose cells line up: no columns of prose.
    table = "\n".join(f"{name}      {phone}" for name, phone in [("城关镇", "0358-1234567")] * 12)
    text = "\n".join(["交城县召开春耕生产会议     各乡镇抢抓农时", *LEFT, table])
    assert read_columns(text) == text


def test_an_issue_file_with_columns_side_by_side_parses_as_one_column(tmp_path: Path) -> None:
    issue = read_issue(BULLETINS / "2024-03-01.txt")
    style = STYLES["columns"]
    one_column = layout(issue.articles, issue.date, dataclasses.replace(style, columns=1))
    path = tmp_path / "2024-03-01.txt"
    path.write_text(layout(issue.articles, issue.date, style), encoding="utf-8")
    assert "\f" in path.read_text(encoding="utf-8")
    parsed = read_issue(path)
    expected = split_articles(one_column)
    assert [(a.headline, a.body, a.author) for a in parsed.articles] == [
        (a.headline, a.body, a.author) for a in expected
    ]
    assert parsed.date == issue.date
