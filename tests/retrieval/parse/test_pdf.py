"""Tests for retrieval.pdf and PDF issues in retrieval.parse.

The PDFs are drawn at test time with reportlab: Chinese text in WenQuanYi Zen Hei, a
TrueType font from Debian's fonts-wqy-zenhei package (.ci/run installs it), embedded
the way e-paper PDFs embed theirs. Tests that draw Chinese text skip when the font is
absent; the others use a standard PDF font.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from retrieval.parse import BadFileError, group_issue_files, read_issue, read_issue_files
from retrieval.parse.pdf import Box, extract_pages, reading_blocks

FONT_FILE = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
FONT = "WenQuanYiZenHei"
WIDTH, HEIGHT = 595.0, 842.0  # A4, in points
BODY = 10.5  # 五号, the usual body size of Chinese newspapers
MARGIN = 40.0
GUTTER = 15.0  # about one and a half characters, as printed
COLUMN = (WIDTH - 2 * MARGIN - GUTTER) / 2

TITLE = "交城县全力推进重点项目建设"
A_HEAD = "县医院新大楼投入使用"
A_BODY = [
    "本报讯 3月1日，县医院新门诊大楼正式投入使用，设有床位300张，"
    "配备核磁共振、彩超等先进医疗设备，群众在家门口就能看上好病。",
    "医院负责人介绍，新大楼建筑面积2.3万平方米，门诊、医技、病房一体设计，患者就医动线大大缩短。",
]
A_BYLINE = "（记者 张三）"
B_HEAD = "全县春耕备耕有序推进"
B_BODY = [
    "本报讯 连日来，全县各乡镇抢抓农时，组织群众开展土地深翻、地膜覆盖和种子调运，"
    "确保春耕生产不误农时，全县已落实春播面积12万亩。",
    "农业农村局组织技术人员深入田间地头，指导农民科学施肥、合理密植，全力保障粮食稳产增收。",
]
B_BYLINE = "（记者 王五）"
# A's and B's paragraphs wrap to as many lines each (three), so that a blank line between
# paragraphs falls at the same height in both columns.


@pytest.fixture(scope="module")
def font() -> str:
    """The name of the CJK font registered with reportlab."""
    if not FONT_FILE.is_file():
        pytest.skip(f"CJK font {FONT_FILE} not installed (apt-get install fonts-wqy-zenhei)")
    pdfmetrics.registerFont(TTFont(FONT, str(FONT_FILE), subfontIndex=0))
    return FONT


@dataclass
class Column:
    """A column of a page: left edge, top, width, bottom (points from the page's top)."""

    x: float
    top: float
    width: float = COLUMN
    bottom: float = HEIGHT - MARGIN


class Sheet:
    """Draws on a reportlab page with y measured from the top, as a layout is planned."""

    def __init__(self, canvas: Canvas, font: str) -> None:
        self.canvas = canvas
        self.font = font

    def line(self, x: float, top: float, size: float, text: str, spacing: float = 0.0) -> None:
        """Draw one line whose glyph tops are at ``top``; ``spacing`` justifies it."""
        line = self.canvas.beginText(x, HEIGHT - top - size)
        line.setFont(self.font, size)
        line.setCharSpace(spacing)
        line.textOut(text)
        self.canvas.drawText(line)

    def centred(self, top: float, size: float, text: str, centre: float = WIDTH / 2) -> None:
        width = pdfmetrics.stringWidth(text, self.font, size)
        self.line(centre - width / 2, top, size, text)

    def flow(
        self,
        paragraphs: Sequence[str],
        columns: Sequence[Column],
        size: float = BODY,
        paragraph_space: float = 0.0,
    ) -> None:
        """Set paragraphs in justified lines with a two-character first-line indent,
        filling the columns one after the other, as newspapers do."""
        columns = list(columns)
        column = columns.pop(0)
        top = column.top
        for paragraph in paragraphs:
            lines = self._wrap(paragraph, column.width, size)
            for i, text in enumerate(lines):
                if top + size > column.bottom:
                    column = columns.pop(0)
                    top = column.top
                indent = 2 * size if i == 0 else 0.0
                spacing = 0.0
                if i < len(lines) - 1 and len(text) > 1:  # the last line is not justified
                    free = column.width - indent - pdfmetrics.stringWidth(text, self.font, size)
                    spacing = free / (len(text) - 1)
                self.line(column.x + indent, top, size, text, spacing)
                top += 1.6 * size
            top += paragraph_space

    def _wrap(self, text: str, width: float, size: float) -> list[str]:
        lines: list[str] = []
        available = width - 2 * size
        while text:
            end = 1
            while (
                end < len(text)
                and pdfmetrics.stringWidth(text[: end + 1], self.font, size) <= available
            ):
                end += 1
            lines.append(text[:end])
            text = text[end:]
            available = width
        return lines


def write_pdf(
    path: Path,
    font: str,
    *pages: Callable[[Sheet], None],
    encrypt: StandardEncryption | None = None,
) -> Path:
    """Write a PDF with one page per drawing function."""
    canvas = Canvas(str(path), pagesize=(WIDTH, HEIGHT), encrypt=encrypt)
    for draw in pages:
        draw(Sheet(canvas, font))
        canvas.showPage()
    canvas.save()
    return path


def article(
    head: str, body: Sequence[str], byline: str, x: float = MARGIN, top: float = 90.0
) -> Callable[[Sheet], None]:
    """A page drawing: one article in one column."""

    def draw(sheet: Sheet) -> None:
        sheet.centred(top, 16, head, centre=x + COLUMN / 2)
        sheet.flow([*body[:-1], body[-1] + byline], [Column(x, top + 30)])

    return draw


def two_articles(
    offset: float = 0.0, paragraph_space: float = 0.0, title: str = TITLE
) -> Callable[[Sheet], None]:
    """A page drawing: a full-width title over two articles side by side."""

    def draw(sheet: Sheet) -> None:
        sheet.centred(40, 22, title)
        right = MARGIN + COLUMN + GUTTER
        sheet.centred(90 + offset, 16, B_HEAD, centre=right + COLUMN / 2)
        sheet.centred(90, 16, A_HEAD, centre=MARGIN + COLUMN / 2)
        # Drawn right column first: the file's drawing order must not matter.
        sheet.flow(
            [*B_BODY[:-1], B_BODY[-1] + B_BYLINE],
            [Column(right, 120 + offset)],
            paragraph_space=paragraph_space,
        )
        sheet.flow(
            [*A_BODY[:-1], A_BODY[-1] + A_BYLINE],
            [Column(MARGIN, 120)],
            paragraph_space=paragraph_space,
        )

    return draw


# --- extract_pages ------------------------------------------------------------------------


def test_single_column_page(tmp_path: Path, font: str) -> None:
    def page(sheet: Sheet) -> None:
        sheet.line(MARGIN, 30, BODY, "交城报  2024年3月1日 星期五 第1版")
        sheet.centred(70, 18, A_HEAD)
        column = Column(MARGIN, 110, width=WIDTH - 2 * MARGIN)
        sheet.flow([*A_BODY[:-1], A_BODY[-1] + A_BYLINE], [column])

    path = write_pdf(tmp_path / "page.pdf", font, page)
    assert extract_pages(path) == [
        "\n".join(
            ["交城报 2024年3月1日 星期五 第1版", f"# {A_HEAD}", *A_BODY[:-1], A_BODY[-1] + A_BYLINE]
        )
    ]
    issue = read_issue(path)
    assert (issue.issue_id, issue.source) == ("page", str(path))
    assert (issue.title, issue.date) == ("交城报", dt.date(2024, 3, 1))
    [only] = issue.articles
    assert (only.headline, only.body, only.author, only.page) == (
        A_HEAD,
        "\n".join(A_BODY),
        "张三",
        1,
    )


@pytest.mark.parametrize(
    ("offset", "paragraph_space"),
    [(0.0, 0.0), (5.0, 0.0), (0.0, BODY)],
    ids=["shared-baselines", "offset-baselines", "blank-lines-at-the-same-height"],
)
def test_two_articles_side_by_side_do_not_interleave(
    tmp_path: Path, font: str, offset: float, paragraph_space: float
) -> None:
    path = write_pdf(tmp_path / "page.pdf", font, two_articles(offset, paragraph_space))
    [text] = extract_pages(path)
    # Each paragraph comes out whole, on one line, and each column in one piece; the
    # title and headlines, printed larger, are marked as headings.
    assert text.split("\n") == [
        f"# {TITLE}",
        f"# {A_HEAD}",
        *A_BODY[:-1],
        A_BODY[-1] + A_BYLINE,
        f"# {B_HEAD}",
        *B_BODY[:-1],
        B_BODY[-1] + B_BYLINE,
    ]
    first, second = read_issue(path).articles
    assert first.section == TITLE  # the banner over both
    assert (first.headline, first.body, first.author) == (A_HEAD, "\n".join(A_BODY), "张三")
    assert (second.headline, second.body, second.author) == (B_HEAD, "\n".join(B_BODY), "王五")


def test_a_title_whose_space_is_over_the_gutter_stays_whole(tmp_path: Path, font: str) -> None:
    title = "人勤春来早\u3000项目施工忙"  # the full-width space falls on the gutter
    path = write_pdf(tmp_path / "page.pdf", font, two_articles(title=title))
    assert extract_pages(path)[0].split("\n")[:2] == ["# 人勤春来早 项目施工忙", f"# {A_HEAD}"]


def test_a_headline_over_two_lines_with_its_subtitle_is_one_heading(
    tmp_path: Path, font: str
) -> None:
    def page(sheet: Sheet) -> None:
        sheet.centred(40, 18, "县医院新门诊")
        sheet.centred(64, 18, "大楼投入使用")
        sheet.centred(90, 14, "设有床位300张")
        sheet.flow([*A_BODY[:-1], A_BODY[-1] + A_BYLINE], [Column(MARGIN, 120)])

    path = write_pdf(tmp_path / "page.pdf", font, page)
    assert extract_pages(path)[0].split("\n")[:2] == [
        "# 县医院新门诊大楼投入使用 设有床位300张",
        A_BODY[0],
    ]
    [only] = read_issue(path).articles
    assert (only.section, only.headline, only.author) == (
        None,
        "县医院新门诊大楼投入使用 设有床位300张",
        "张三",
    )


def test_modules_of_columns_each_under_its_headline(tmp_path: Path, font: str) -> None:
    # Most papers are made up of modules, each article's headline across its columns.
    # A's two columns stand beside an empty third, its first one a line longer; B's
    # headline spans all three, with a wide space inside its first line and a second line
    # that fits in the middle column below.
    third = (WIDTH - 2 * MARGIN - 2 * GUTTER) / 3
    x = [MARGIN + i * (third + GUTTER) for i in range(3)]
    b_head = ("亚太国际棒球训练中心成棒主球场上梁", "黄伟哲期待台南的棒球", "梦早日实现")
    pitch = 1.6 * BODY

    def page(sheet: Sheet) -> None:
        sheet.centred(40, 16, A_HEAD, centre=(x[0] + x[1] + third) / 2)
        a_bottom = 70 + 7 * pitch
        columns = [Column(x[0], 70, third, a_bottom), Column(x[1], 70, third)]
        sheet.flow([*A_BODY[:-1], A_BODY[-1] + A_BYLINE], columns)
        top = a_bottom + 2 * pitch
        first = pdfmetrics.stringWidth(b_head[0], font, 16)
        second = pdfmetrics.stringWidth(b_head[1], font, 16)
        left = (WIDTH - first - 1.5 * 16 - second) / 2
        sheet.line(left, top, 16, b_head[0])
        sheet.line(left + first + 1.5 * 16, top, 16, b_head[1])
        sheet.centred(top + 22, 16, b_head[2])
        body_top, rows = top + 50, 5
        columns = [Column(at, body_top, third, body_top + rows * pitch) for at in x]
        sheet.flow([*B_BODY[:-1], B_BODY[-1] + B_BYLINE], columns)

    path = write_pdf(tmp_path / "page.pdf", font, page)
    first, second = read_issue(path).articles
    assert (first.headline, first.body, first.author) == (A_HEAD, "\n".join(A_BODY), "张三")
    headline = f"{b_head[0]} {b_head[1]}{b_head[2]}"
    assert (second.headline, second.body, second.author) == (headline, "\n".join(B_BODY), "王五")


def test_a_credit_set_flush_right_over_a_column_is_no_line_of_its_paragraph(
    tmp_path: Path, font: str
) -> None:
    # A photo's credit over the second column, in the body's size as OCR measures it,
    # with the paragraph of the first column running on under it.
    credit = "（记者 王小明 摄）"

    def page(sheet: Sheet) -> None:
        sheet.centred(40, 18, A_HEAD)
        right = MARGIN + COLUMN + GUTTER
        width = pdfmetrics.stringWidth(credit, font, BODY)
        sheet.line(right + COLUMN - width, 90, BODY, credit)
        bottom = 90 + 2 * 1.6 * BODY
        columns = [Column(MARGIN, 90, bottom=bottom), Column(right, 90 + 1.6 * BODY)]
        sheet.flow([*A_BODY[:-1], A_BODY[-1] + A_BYLINE], columns)

    path = write_pdf(tmp_path / "page.pdf", font, page)
    [only] = read_issue(path).articles
    assert (only.headline, only.body, only.author) == (A_HEAD, "\n".join(A_BODY), "张三")


def box(row: int, text: str, x0: float, top: float, size: float = 40.0, width: float = 0) -> Box:
    """A segment as the OCR layout makes it, as wide as its text unless ``width``."""
    return Box(row, text, x0, x0 + (width or len(text) * size), top, top + size, size)


def read_blocks(boxes: list[Box]) -> list[list[str]]:
    """The texts of each block :func:`reading_blocks` makes of ``boxes`` (body 40), in
    reading order, each block's top to bottom."""
    return [
        [b.text for b in sorted(block, key=lambda b: b.row)]
        for block in reading_blocks(boxes, 40.0)
    ]


def test_a_headlines_pieces_on_rows_of_their_own_are_one_line() -> None:
    # An OCR engine returns a headline's two halves, either side of its wide space, as
    # lines of their own; they are one line of the headline all the same, and the last
    # line of the module above (its first column's, beside the empty third) is not read
    # after the headline.
    x = [170.0, 910.0, 1640.0]  # three columns of 16 characters of 40 pixels
    boxes = [
        box(0, "上一篇文章的标题在这", 300, 100, 72),
        *(box(1 + r, f"甲栏第{r}行", x[0], 200 + 62 * r, width=640) for r in range(4)),
        *(box(5 + r, f"乙栏第{r}行", x[1], 200 + 62 * r, width=640) for r in range(3)),
        box(8, "亚太国际棒球训练中心成棒主球场上梁", 210, 520, 72),
        box(9, "黄伟哲期待台南的棒球", 1535, 521, 72),
        box(10, "梦早日实现", 1060, 620, 72),
        *(
            box(11 + 3 * r + c, f"{'丙丁戊'[c]}栏第{r}行", x[c], 740 + 62 * r, width=640)
            for r in range(3)
            for c in range(3)
        ),
    ]
    assert read_blocks(boxes) == [
        ["上一篇文章的标题在这"],
        [f"甲栏第{r}行" for r in range(4)],
        [f"乙栏第{r}行" for r in range(3)],
        ["亚太国际棒球训练中心成棒主球场上梁 黄伟哲期待台南的棒球", "梦早日实现"],
        *([f"{c}栏第{r}行" for r in range(3)] for c in "丙丁戊"),
    ]


def test_a_headline_over_some_columns_beside_another_modules_is_read_over_its_own() -> None:
    # A module of two columns beside one of one: their headlines share lines, the wider
    # one crossing the gutter under it, and the gutter between the modules runs down the
    # page. Each module is read whole, its headline first.
    x = [170.0, 910.0, 1640.0]
    boxes = [
        box(0, "交城报 2024年2月28日 星期三 第3版", 170, 100),
        box(1, "世界兰花会议今闭幕明年亚太兰", 170, 200, 72),
        box(2, "民团建议中正路更名", 1640, 200, 72),
        box(3, "展台南登场", 170, 290, 72),
        box(4, "南市府持续凝聚社", 1640, 290, 72),
        box(5, "会共识让台湾团结", 1640, 380, 72),
        *(box(6 + r, f"甲栏第{r}行", x[0], 400 + 62 * r, width=640) for r in range(6)),
        *(box(12 + r, f"乙栏第{r}行", x[1], 400 + 62 * r, width=640) for r in range(6)),
        *(box(18 + r, f"丙栏第{r}行", x[2], 800 + 62 * r, width=640) for r in range(6)),
    ]
    assert read_blocks(boxes) == [
        ["交城报 2024年2月28日 星期三 第3版"],
        ["世界兰花会议今闭幕明年亚太兰", "展台南登场"],
        [f"甲栏第{r}行" for r in range(6)],
        [f"乙栏第{r}行" for r in range(6)],
        ["民团建议中正路更名", "南市府持续凝聚社", "会共识让台湾团结"]
        + [f"丙栏第{r}行" for r in range(6)],
    ]


def test_a_module_of_one_column_opens_under_the_end_of_a_wider_one() -> None:
    # The end of an article run on over three columns, and under its first column, with
    # nothing beside it, the headline of a module one column wide: the run-on is read
    # to its end before that module.
    x = [170.0, 910.0, 1640.0]
    boxes = [
        *(
            box(3 * r + c, f"{'甲乙丙'[c]}栏第{r}行", x[c], 200 + 62 * r, width=640)
            for r in range(4)
            for c in range(3)
            if c < 2 or r < 2
        ),
        box(20, "修复期间限定喵星", 170, 500, 72),
        box(21, "人开箱刑务所修复", 170, 590, 72),
        *(box(22 + r, f"丁栏第{r}行", x[0], 700 + 62 * r, width=640) for r in range(5)),
    ]
    assert read_blocks(boxes) == [
        [f"甲栏第{r}行" for r in range(4)],
        [f"乙栏第{r}行" for r in range(4)],
        [f"丙栏第{r}行" for r in range(2)],
        ["修复期间限定喵星", "人开箱刑务所修复", *(f"丁栏第{r}行" for r in range(5))],
    ]


def test_two_pages_side_by_side_are_read_one_after_the_other() -> None:
    # A spread scanned as one image. The left page's columns run down its whole height,
    # so every band holds the gap between the pages; the right page opens with a run-on
    # in its third column, beside nothing, over a module of two columns under its
    # headline. The run-on is read before that module, as on the page alone.
    column = 640.0  # 16 characters of 40 pixels
    left = [170.0, 910.0, 1650.0]
    right = [x + 2480.0 for x in left]  # the next A4 page at 300 dpi
    boxes = [
        *(
            box(3 * r + c, f"左{'甲乙丙'[c]}{r}", left[c], 200 + 62 * r, width=column)
            for r in range(8)
            for c in range(3)
        ),
        *(box(30 + r, f"接续{r}", right[2], 200 + 62 * r, width=column) for r in range(3)),
        box(40, "右页模块的标题横跨两栏不止一栏宽", right[0], 420, 72),
        *(
            box(50 + 2 * r + c, f"右{'甲乙'[c]}{r}", right[c], 520 + 62 * r, width=column)
            for r in range(4)
            for c in range(2)
        ),
    ]
    assert read_blocks(boxes) == [
        *([f"左{c}{r}" for r in range(8)] for c in "甲乙丙"),
        [f"接续{r}" for r in range(3)],
        ["右页模块的标题横跨两栏不止一栏宽"],
        *([f"右{c}{r}" for r in range(4)] for c in "甲乙"),
    ]


def test_a_spreads_pages_are_read_apart_where_their_lines_share_bands() -> None:
    # Both mastheads on one line; the left page's headline beside the right page's
    # run-on of a line and then beside the first line of its headline, whose second line
    # stands beside the left page's photo. Each page is read whole, in its own order.
    left, right = [170.0], [2650.0, 3390.0]
    boxes = [
        box(0, "交城报 第3版", left[0], 100),
        box(1, "交城报 第4版", right[0], 100),
        box(2, "儿艺节艺起全国赛", left[0], 200, 72),
        box(3, "击回顾。", right[0], 210),
        box(4, "戏院开演皮影戏", left[0], 290, 72),
        box(5, "严加稽查光电案场杜绝非法绿能产业", right[0], 300, 72),
        box(6, "厂投资", right[0], 390, 72),
        *(
            box(7 + 2 * r + c, f"右{'甲乙'[c]}{r}", right[c], 500 + 62 * r, width=640)
            for r in range(4)
            for c in range(2)
        ),
        *(box(20 + r, f"左甲{r}", left[0], 700 + 62 * r, width=640) for r in range(4)),
    ]
    assert [line for block in read_blocks(boxes) for line in block] == [
        "交城报 第3版",
        "儿艺节艺起全国赛",
        "戏院开演皮影戏",
        *(f"左甲{r}" for r in range(4)),
        "交城报 第4版",
        "击回顾。",
        "严加稽查光电案场杜绝非法绿能产业",
        "厂投资",
        *(f"右{c}{r}" for c in "甲乙" for r in range(4)),
    ]


def test_a_masthead_whose_gaps_fall_over_gutters_is_one_line() -> None:
    # The masthead's last item stands over the second column: it is read with the rest
    # of the masthead, before the columns, not at the head of the second one.
    x = [170.0, 910.0]
    boxes = [
        box(0, "交城报 2024年3月1日 星期五", x[0], 100, width=560),
        box(0, "第10版", x[1] + 40, 100),
        *(box(1 + r, f"甲栏第{r}行", x[0], 200 + 62 * r, width=640) for r in range(3)),
        *(box(4 + r, f"乙栏第{r}行", x[1], 200 + 62 * r, width=640) for r in range(3)),
    ]
    assert read_blocks(boxes) == [
        ["交城报 2024年3月1日 星期五", "第10版"],
        [f"甲栏第{r}行" for r in range(3)],
        [f"乙栏第{r}行" for r in range(3)],
    ]


def test_text_printed_twice_for_bold_is_read_once(tmp_path: Path, font: str) -> None:
    def page(sheet: Sheet) -> None:
        two_articles()(sheet)
        sheet.centred(90.3, 16, A_HEAD, centre=MARGIN + COLUMN / 2 + 0.3)

    path = write_pdf(tmp_path / "page.pdf", font, page)
    assert extract_pages(path)[0].split("\n")[:3] == [f"# {TITLE}", f"# {A_HEAD}", A_BODY[0]]


def test_an_article_running_on_into_the_next_column(tmp_path: Path, font: str) -> None:
    body = [
        A_BODY[0] + "据介绍，新大楼于2021年开工建设，总投资4.6亿元，"
        "按照三级综合医院标准设计，开设内科、外科、妇产科、儿科等28个临床科室，"
        "日门诊接诊能力可达3000人次，同时设立了远程会诊中心，可与省市大医院实时连线。",
        "下一步，医院将持续优化服务流程，推行预约诊疗和一站式服务，让群众看病更方便。",
    ]

    def page(sheet: Sheet) -> None:
        sheet.centred(40, 22, A_HEAD)
        right = MARGIN + COLUMN + GUTTER
        # Five lines fit in the left column: the first paragraph goes on in the right one.
        sheet.flow(
            [*body[:-1], body[-1] + A_BYLINE],
            [Column(MARGIN, 90, bottom=90 + 5 * 1.6 * BODY), Column(right, 90)],
        )

    path = write_pdf(tmp_path / "page.pdf", font, page)
    [only] = read_issue(path).articles
    assert (only.headline, only.author) == (A_HEAD, "张三")
    assert only.body == "\n".join(body)


def test_pages_of_a_pdf_are_numbered(tmp_path: Path, font: str) -> None:
    path = write_pdf(
        tmp_path / "2024-03-01.pdf",
        font,
        article(A_HEAD, A_BODY, A_BYLINE),
        lambda sheet: None,  # a page left blank (a picture page) counts too
        article(B_HEAD, B_BODY, B_BYLINE),
    )
    assert len(extract_pages(path)) == 3
    issue = read_issue(path)
    assert (issue.issue_id, issue.date) == ("2024-03-01", dt.date(2024, 3, 1))
    assert [(a.headline, a.page) for a in issue.articles] == [(A_HEAD, 1), (B_HEAD, 3)]


def test_page_files_make_one_issue(tmp_path: Path, font: str) -> None:
    first = write_pdf(tmp_path / "2024-03-01_01.pdf", font, article(A_HEAD, A_BODY, A_BYLINE))
    second = write_pdf(tmp_path / "2024-03-01_02.pdf", font, article(B_HEAD, B_BODY, B_BYLINE))
    picture = tmp_path / "2024-03-01_03.pdf"
    _picture_pdf(picture)
    alone = write_pdf(tmp_path / "2024-03-01.pdf", font, article(B_HEAD, B_BODY, B_BYLINE))
    groups = group_issue_files(sorted(tmp_path.iterdir(), reverse=True))
    # A name without a page number is an issue of its own.
    assert groups == [[first, second, picture], [alone]]
    assert read_issue_files(groups[1])[0].issue_id == "2024-03-01"

    issue, skipped = read_issue_files(groups[0])
    assert (issue.issue_id, issue.date) == ("2024-03-01", dt.date(2024, 3, 1))
    assert issue.source == str(tmp_path / "2024-03-01{_01.pdf,_02.pdf}")
    assert [(a.headline, a.author, a.page) for a in issue.articles] == [
        (A_HEAD, "张三", 1),
        (B_HEAD, "王五", 2),
    ]
    # The picture page is reported (OCR finds no text on it, or there is no OCR engine to
    # try), and the rest of the issue is read all the same.
    assert [e.path for e in skipped] == [picture]
    assert skipped[0].reason.startswith("no text layer")

    # Once it is OCR'd, its text serves as page 3 and the PDF is no longer reported.
    (tmp_path / "2024-03-01_03.txt").write_text(f"{B_HEAD}\n\n{B_BODY[0]}", encoding="utf-8")
    issue, skipped = read_issue_files(group_issue_files(sorted(tmp_path.glob("*_0*")))[0])
    assert [a.page for a in issue.articles] == [1, 2, 3]
    assert skipped == []


# --- files that are not readable issues ----------------------------------------------------


def _picture_pdf(path: Path) -> Path:
    """A scanned page: a picture and no text layer."""
    canvas = Canvas(str(path), pagesize=(WIDTH, HEIGHT))
    canvas.drawImage(ImageReader(Image.new("L", (120, 160), 200)), 0, 0, WIDTH, HEIGHT)
    canvas.showPage()
    canvas.save()
    return path


def _latin_pdf(path: Path, encrypt: StandardEncryption | None = None) -> Path:
    canvas = Canvas(str(path), pagesize=(WIDTH, HEIGHT), encrypt=encrypt)
    canvas.setFont("Helvetica", 12)
    canvas.drawString(MARGIN, HEIGHT - 100, "Council approves the new hospital building.")
    canvas.showPage()
    canvas.save()
    return path


def test_a_scan_without_text_layer(tmp_path: Path) -> None:
    path = _picture_pdf(tmp_path / "scan.pdf")
    with pytest.raises(BadFileError) as caught:
        read_issue(path)
    assert caught.value.path == path
    # A blank picture: OCR finds nothing on it, or says how to install the OCR engine.
    assert caught.value.reason.startswith("no text layer")


def _unmapped_pdf(path: Path) -> Path:
    """A page in a CID font with no ToUnicode map, as some typesetting systems write
    them: the text layer holds glyph numbers, not characters. Written by hand, as
    reportlab always adds the map."""
    content = b"BT /F1 12 Tf 50 700 Td <0001000200030004000500060007> Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type0 /BaseFont /SimSun /Encoding /Identity-H"
        b" /DescendantFonts [6 0 R] >>",
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /SimSun /DW 1000 /FontDescriptor 7 0 R"
        b" /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> >>",
        b"<< /Type /FontDescriptor /FontName /SimSun /Flags 4 /FontBBox [0 -140 1000 860]"
        b" /ItalicAngle 0 /Ascent 860 /Descent -140 /CapHeight 700 /StemV 80 >>",
    ]
    data = b"%PDF-1.7\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(data))
        data += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(data)
    data += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    data += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    data += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(data)
    return path


def test_fonts_without_character_codes(tmp_path: Path) -> None:
    with pytest.raises(BadFileError, match="text layer without character codes"):
        extract_pages(_unmapped_pdf(tmp_path / "page.pdf"))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda data: data[: len(data) // 2], "damaged or not a PDF: Unexpected EOF"),
        (lambda data: b"%PDF-1.7\n" + b"\x00" * 64, "damaged or not a PDF: No /Root object"),
        (lambda data: b"", "damaged or not a PDF"),
    ],
    ids=["truncated", "garbage", "empty"],
)
def test_damaged_pdfs(tmp_path: Path, damage: Callable[[bytes], bytes], reason: str) -> None:
    path = _latin_pdf(tmp_path / "page.pdf")
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(BadFileError) as caught:
        read_issue(path)
    assert caught.value.path == path
    assert caught.value.reason.startswith(reason)


def test_encrypted_pdfs(tmp_path: Path) -> None:
    locked = _latin_pdf(tmp_path / "locked.pdf", StandardEncryption("secret"))
    with pytest.raises(BadFileError, match="encrypted PDF: needs a password"):
        extract_pages(locked)
    # E-papers often forbid copying with an owner password only: they open without one.
    protected = _latin_pdf(
        tmp_path / "protected.pdf", StandardEncryption("", ownerPassword="owner", canCopy=0)
    )
    assert extract_pages(protected) == ["Council approves the new hospital building."]


def test_missing_pdf(tmp_path: Path) -> None:
    with pytest.raises(BadFileError, match="cannot read: no such file"):
        extract_pages(tmp_path / "missing.pdf")
