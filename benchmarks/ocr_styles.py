"""Lay a clean corpus issue out as an OCR engine would return a printed newspaper.

The development corpus is clean web text with one paragraph per line, but the bulletins
the product reads come from OCR of printed pages: every printed column line is a line of
its own, headlines wrap, page furniture (running heads, page numbers, "下转第N版") sits
in the middle of articles, and layout debris ("县", "202", "·") and stray spaces creep in.
Layout recovery in :mod:`retrieval.parse` has to undo all of that, and it can only be
measured against text whose true structure is known. This module makes such text from
the corpus, deterministically (one seeded :class:`random.Random` per call), in named
styles (:data:`STYLES`) and random ones (:func:`random_style`) for property tests.

Only the standard library and OpenCC are used, so tests can import it cheaply.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import random
import re
import subprocess
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

PAPER = "台南市政府新闻汇编"
_WEEKDAYS = "一二三四五六日"

# Chinese typesetting (禁则): these never start a line, so a line that would start with
# one takes it onto the previous line instead (hanging punctuation).
NO_LINE_START = frozenset("，。、；：？！）」』”’》〉】〕…—%,.;:?!)]}·")
# ... and these never end one: they move down with what they open.
NO_LINE_END = frozenset("（「『“‘《〈【〔([{")
# A run that must not be broken: Latin words, numbers with their separators, URLs.
_UNBREAKABLE_RE = re.compile(
    r"(?:https?://|www\.)[A-Za-z0-9./?=&%#_~+:@-]*[A-Za-z0-9/]"
    r"|[A-Za-z0-9](?:[A-Za-z0-9]|[.,:/%#&=?@_+'~-](?=[A-Za-z0-9]))*"
)
_HAN_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CJK_RE = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef“”‘’…—·]")
_DOUBLE_SPACE_RE = re.compile(r"\s{2,}")

# Stray fragments OCR leaves between the lines of a column: section labels, parts of a
# date, a pictures' credit cut off, bullets. Some are also taken from the text itself.
_DEBRIS = ("县", "202", "2", "年", "综", "·", "■", "版", "本报", "图", "1", "02", "文", "市", "摄")
_PHOTOGRAPHERS = ("王小明", "李华", "陈志明", "林美玲", "张伟", "黄建国", "吴佩珊", "郑文杰")
_CREDITS = ("（摄影 {name}）", "本报记者 {name} 摄", "（{name} 摄）")


class ArticleLike(Protocol):
    """What :func:`layout` needs of an article (:class:`retrieval.documents.Article`)."""

    headline: str
    body: str
    author: str | None


@dataclass(frozen=True)
class PrintedArticle:
    """An article as it is printed: in the style's script, ready to lay out."""

    headline: str
    body: str
    author: str | None = None


@dataclass(frozen=True)
class Style:
    """How an issue is printed and OCR'd.

    Attributes:
        name: The style's name (a key of :data:`STYLES`, or "random").
        width: Column width in full-width characters (a line holds about ``width``
            Chinese characters or ``2 * width`` Latin letters and digits).
        ragged: Each line's width varies by up to this many columns around ``width``
            (OCR engines that do not keep the column's measure).
        blank_between_paragraphs: A blank line between paragraphs.
        blank_around_headline: A blank line before and after each headline.
        furniture_every: A page break about every this many lines (0: one long page):
            a page number at the foot and/or a running head at the top of the next page.
        continuation_markers: At a page break inside an article, sometimes
            "（下转第N版）" / "（上接第N版）".
        photo_credits: Probability, per gap between paragraphs, of a photo credit line.
        debris: Probability, per line inside a paragraph, of a stray 1-4 character line
            after it.
        stray_spaces: Probability of a space between two adjacent CJK characters.
        traditional: Printed in Traditional script.
        byline: The article's author printed on a closing "（author）" line, as the
            corpus prints its issuing department.
        laid_out: Laid out as OCR would read the printed page; False: the corpus file
            as it is, only in the style's script (the other knobs do not apply), which
            separates what the script costs from what the layout costs.
        columns: Columns printed side by side, as ``pdftotext -layout`` writes a page:
            each line holds a line of every column, the columns padded with spaces to
            line up on screen (a Chinese character two columns wide), a form feed after
            each page of :data:`COLUMN_ROWS` lines.
        indent: Each paragraph's first line set in by two full-width spaces, as Chinese
            text is printed (the line holds two characters fewer).
        pdftotext: The columns typeset as a PDF page (reportlab's built-in STSong-Light,
            a line wider than its column set smaller to fit) and read back by
            ``pdftotext -layout`` (poppler-utils), rather than padded here.
    """

    name: str = "custom"
    width: int = 18
    ragged: int = 0
    blank_between_paragraphs: bool = True
    blank_around_headline: bool = True
    furniture_every: int = 0
    continuation_markers: bool = False
    photo_credits: float = 0.0
    debris: float = 0.0
    stray_spaces: float = 0.0
    traditional: bool = False
    byline: bool = True
    laid_out: bool = True
    columns: int = 1
    indent: bool = False
    pdftotext: bool = False


def _style(name: str, **knobs: object) -> Style:
    return Style(name=name, **knobs)  # type: ignore[arg-type]


_NOBLANK = {"blank_between_paragraphs": False, "blank_around_headline": False}
_INDENT = "\u3000\u3000"
_FURNITURE = {"furniture_every": 60, "continuation_markers": True, "photo_credits": 0.08}

STYLES: dict[str, Style] = {
    style.name: style
    for style in (
        _style("w12-blank", width=12),
        _style("w12-noblank", width=12, **_NOBLANK),
        _style("w18-blank", width=18),
        _style("w18-noblank", width=18, **_NOBLANK),
        _style("w26-blank", width=26),
        _style("w26-noblank", width=26, **_NOBLANK),
        # Headlines still stand apart, paragraphs do not: a common OCR output.
        _style("furniture", width=20, blank_between_paragraphs=False, **_FURNITURE),
        _style("debris", width=22, blank_around_headline=False, debris=0.03, stray_spaces=0.02),
        _style("ragged", width=20, ragged=2, **_NOBLANK),
        # The clean corpus file in Traditional: the script's share of the Traditional rows.
        _style("hant-clean", traditional=True, laid_out=False),
        _style("hant-w18-blank", width=18, traditional=True),
        _style("hant-w24-noblank-furniture", width=24, traditional=True, **_NOBLANK, **_FURNITURE),
        _style("worst", width=16, debris=0.03, stray_spaces=0.02, **_NOBLANK, **_FURNITURE),
        # No blank line anywhere, but paragraphs set in, as Chinese text is printed.
        _style("w18-noblank-indent", width=18, indent=True, **_NOBLANK),
        _style("columns", width=16, columns=3, blank_between_paragraphs=False),
        _style(
            "columns-pdftotext",
            width=16,
            columns=3,
            blank_between_paragraphs=False,
            pdftotext=True,
        ),
    )
}


def random_style(rng: random.Random) -> Style:
    """A random style within the ranges of :data:`STYLES` (for property tests).

    Args:
        rng: The random source (seed it for reproducible tests).
    """
    furniture = rng.random() < 0.5
    style = Style(
        name="random",
        width=rng.randint(12, 26),
        ragged=rng.choice((0, 0, 1, 2)),
        blank_between_paragraphs=rng.random() < 0.5,
        blank_around_headline=rng.random() < 0.5,
        furniture_every=rng.randint(40, 80) if furniture else 0,
        continuation_markers=furniture and rng.random() < 0.5,
        photo_credits=rng.choice((0.0, 0.0, 0.05, 0.1)),
        debris=rng.choice((0.0, 0.0, 0.01, 0.03, 0.05)),
        stray_spaces=rng.choice((0.0, 0.0, 0.01, 0.02, 0.03)),
        traditional=rng.random() < 0.2,
        byline=rng.random() < 0.8,
    )
    # Drawn last: the styles drawn before them for a seed stay what they were.
    return replace(style, columns=rng.choice((1, 1, 2, 3)), indent=rng.random() < 0.3)


@functools.cache
def _converter(config: str) -> object:
    import opencc  # imported lazily: Simplified styles never need it

    return opencc.OpenCC(config)


def to_traditional(text: str) -> str:
    """Simplified → Traditional as written in Taiwan (OpenCC s2twp), the corpus's origin."""
    return _converter("s2twp").convert(text)  # type: ignore[attr-defined]


def from_taiwan(text: str) -> str:
    """Traditional as written in Taiwan → Simplified as written on the mainland (OpenCC
    tw2sp, phrases included: 計程車 → 出租车), the conversion the corpus was made with."""
    return _converter("tw2sp").convert(text)  # type: ignore[attr-defined]


def printed_articles(
    articles: Sequence[ArticleLike],
    style: Style,
    originals: Sequence[ArticleLike] | None = None,
) -> list[PrintedArticle]:
    """The articles in the style's script: what :func:`layout` prints.

    Args:
        articles: The articles as :func:`retrieval.parse.read_issue` reads them
            (Simplified, from the corpus's ``issues/``).
        style: The style.
        originals: For a Traditional style, the same articles in their original
            Traditional script (the corpus's ``issues_zh-Hant/``), when there are any:
            they are printed as they are instead of converting ``articles``.

    Raises:
        ValueError: ``originals`` do not have the same number of articles.
    """
    if not style.traditional:
        return [PrintedArticle(a.headline, a.body, a.author) for a in articles]
    if originals is not None:
        if len(originals) != len(articles):
            raise ValueError(f"{len(originals)} original articles for {len(articles)}")
        return [PrintedArticle(a.headline, a.body, a.author) for a in originals]
    return [
        PrintedArticle(
            to_traditional(a.headline),
            to_traditional(a.body),
            to_traditional(a.author) if a.author else None,
        )
        for a in articles
    ]


def corpus_originals(corpus: Path, issue: str) -> list[ArticleLike] | None:
    """The Traditional originals of a corpus issue (``issues_zh-Hant/``), if it has them.

    Imports :mod:`retrieval.parse` (the repository root must be importable).
    """
    path = corpus / "issues_zh-Hant" / f"{issue}.txt"
    if not path.is_file():
        return None
    from retrieval.parse import read_issue

    return list(read_issue(path).articles)


def corpus_file_text(corpus: Path, issue: str, style: Style) -> str:
    """A corpus issue's file as it is, in the style's script (for styles not laid out).

    A Traditional style takes the original (``issues_zh-Hant/``) when the corpus has it,
    else the Simplified file converted as :func:`to_traditional` converts articles.
    """
    if style.traditional:
        original = corpus / "issues_zh-Hant" / f"{issue}.txt"
        if original.is_file():
            return original.read_text(encoding="utf-8")
    text = (corpus / "issues" / f"{issue}.txt").read_text(encoding="utf-8")
    return to_traditional(text) if style.traditional else text


def masthead_lines(date: dt.date | None, page: int = 1, traditional: bool = False) -> list[str]:
    """The masthead of the first page: paper name, date and weekday, "第1版"."""
    lines = [PAPER]
    if date is not None:
        lines.append(f"{date.year}年{date.month}月{date.day}日 星期{_WEEKDAYS[date.weekday()]}")
    lines.append(f"第{page}版")
    return [to_traditional(line) for line in lines] if traditional else lines


def char_width(char: str) -> float:
    """Columns a character takes: 1 for full-width (CJK), 1/2 for Latin, digits, spaces."""
    return 1.0 if unicodedata.east_asian_width(char) in "FWA" else 0.5


def text_width(text: str) -> float:
    """Columns a text takes (see :func:`char_width`)."""
    return sum(char_width(c) for c in text)


def _tokens(text: str) -> list[str]:
    """Units a line may break between: a Latin word or number, or a single character."""
    tokens: list[str] = []
    i = 0
    while i < len(text):
        match = _UNBREAKABLE_RE.match(text, i)
        end = match.end() if match else i + 1
        tokens.append(text[i:end])
        i = end
    return tokens


def wrap(text: str, widths: WidthSource) -> list[str]:
    """Hard-wrap one paragraph into column lines, following Chinese typesetting rules.

    * A Latin word or a number is never broken: it moves to the next line whole (a word
      wider than a whole line overflows it rather than being cut);
    * closing punctuation never starts a line: it is pulled up onto the previous one;
    * opening punctuation never ends a line: it moves down with what it opens;
    * a space where the line breaks disappears (the break stands for it).

    Args:
        text: The paragraph, on one line.
        widths: Gives each line's width in columns, line after line.

    Returns:
        The lines, none empty.
    """
    lines: list[str] = []
    line: list[str] = []
    used = 0.0
    limit = widths.next()
    for token in _tokens(text.strip(" \n")):  # a paragraph's indent ("\u3000\u3000") stays
        size = text_width(token)
        if line and used + size > limit and token not in NO_LINE_START and token != " ":
            carried: list[str] = []
            while len(line) > 1 and line[-1] in NO_LINE_END:
                carried.insert(0, line.pop())
            lines.append("".join(line).rstrip())
            line, used, limit = carried, text_width("".join(carried)), widths.next()
        if token == " " and not line:
            continue  # the space a break stands for
        line.append(token)
        used += size
    if line:
        lines.append("".join(line).rstrip())
    return [ln for ln in lines if ln]


class WidthSource:
    """Line widths of a style: ``width``, or varying by ``ragged`` columns around it."""

    def __init__(self, style: Style, rng: random.Random) -> None:
        self.width = style.width
        self.ragged = style.ragged
        self.rng = rng

    def next(self) -> int:
        """The width of the next line."""
        if not self.ragged:
            return self.width
        return max(4, self.width + self.rng.randint(-self.ragged, self.ragged))


def split_headline(headline: str, width: int) -> list[str]:
    """A headline as printed: one line, or two when it is wider than ``width``.

    It breaks where the headline's own gap is (the corpus's double space between title and
    subtitle) closest to the middle, else at a single space, else at the legal break
    closest to the middle. Gaps inside a line are kept as printed.
    """
    headline = headline.strip()
    if text_width(headline) <= width:
        return [headline]
    middle = len(headline) / 2
    for pattern in (_DOUBLE_SPACE_RE, re.compile(r"\s+")):
        gaps = [m for m in pattern.finditer(headline) if m.start() > 0 and m.end() < len(headline)]
        if gaps:
            gap = min(gaps, key=lambda m: abs(m.start() - middle))
            return [headline[: gap.start()], headline[gap.end() :]]
    # No gap: break between tokens, never before closing or after opening punctuation.
    breaks, offset = [], 0
    tokens = _tokens(headline)
    for before, after in itertools.pairwise(tokens):
        offset += len(before)
        if after not in NO_LINE_START and before not in NO_LINE_END:
            breaks.append(offset)
    if not breaks:
        return [headline]
    cut = min(breaks, key=lambda b: abs(b - middle))
    return [headline[:cut], headline[cut:]]


@dataclass
class _Line:
    text: str
    article: int | None  # the article it belongs to (None: masthead)
    kind: str  # masthead, headline, body, byline, credit, debris, blank


def layout(
    articles: Sequence[ArticleLike],
    date: dt.date | None,
    style: Style,
    seed: int = 0,
    *,
    originals: Sequence[ArticleLike] | None = None,
) -> str:
    """The text of an issue as an OCR engine would give it for the printed paper.

    A masthead (paper name, date and weekday, "第1版"), then each article: its headline
    (on two lines when wider than the column), its paragraphs hard-wrapped to the column
    (:func:`wrap`), and its author on a closing "（author）" line if the style prints
    bylines. The press-release header lines of the corpus (发稿单位…) are not printed.
    Then the style's noise: blank lines or none, page furniture at page breaks,
    continuation markers, photo credits, debris lines and stray spaces.

    Args:
        articles: The issue's articles as :func:`retrieval.parse.read_issue` reads them.
        date: The issue's date (None: the masthead prints none).
        style: How to print and OCR it.
        seed: Seed of the random choices; the same arguments give the same text.
        originals: Traditional originals of ``articles`` (see :func:`printed_articles`).

    Returns:
        The text, lines separated by "\\n", ending with a newline.
    """
    # A named style draws the same random layout whatever settings styles gain later
    # (its numbers stay comparable from run to run); others, by all their settings.
    stream = style.name if STYLES.get(style.name) == style else repr(style)
    rng = random.Random(f"{seed}:{stream}:{date}")
    printed = printed_articles(articles, style, originals)
    widths = WidthSource(style, rng)
    lines = [_Line(text, None, "masthead") for text in masthead_lines(date, 1, style.traditional)]
    lines.append(_Line("", None, "blank"))
    for index, article in enumerate(printed):
        lines.extend(_article_lines(article, index, style, widths, rng))
    lines = _paginate(lines, date, style, rng) if style.furniture_every else lines
    if style.stray_spaces:
        for line in lines:
            if line.kind in ("headline", "body"):
                # Inside the text: OCR puts no space into a paragraph's indent.
                body = line.text.removeprefix(_INDENT)
                spaced = _stray_spaces(body, style.stray_spaces, rng)
                line.text = line.text[: len(line.text) - len(body)] + spaced
    text = _collapse_blanks(lines)
    if style.pdftotext:
        return pdftotext_columns(text, style.columns)
    if style.columns > 1:
        return _side_by_side(text, style.columns)
    return "\n".join(text) + "\n"


def _article_lines(
    article: PrintedArticle, index: int, style: Style, widths: WidthSource, rng: random.Random
) -> list[_Line]:
    out: list[_Line] = []

    def blank() -> None:
        out.append(_Line("", index, "blank"))

    if style.blank_around_headline:
        blank()
    out.extend(_Line(t, index, "headline") for t in split_headline(article.headline, style.width))
    if style.blank_around_headline:
        blank()
    paragraphs = [p.strip() for p in article.body.split("\n") if p.strip()]
    for number, paragraph in enumerate(paragraphs):
        if number:
            if style.blank_between_paragraphs:
                blank()
            if style.photo_credits and rng.random() < style.photo_credits:
                out.append(_Line(_photo_credit(rng, style.traditional), index, "credit"))
                if style.blank_between_paragraphs:
                    blank()
        wrapped = wrap(_INDENT + paragraph if style.indent else paragraph, widths)
        for i, text in enumerate(wrapped):
            out.append(_Line(text, index, "body"))
            if i < len(wrapped) - 1 and style.debris and rng.random() < style.debris:
                out.append(_Line(_debris(rng, paragraph, style.traditional), index, "debris"))
    if style.byline and article.author:
        if style.blank_between_paragraphs:
            blank()
        out.append(_Line(f"（{article.author}）", index, "byline"))
    blank()  # the gap between articles: collapsed away below unless the style keeps blanks
    if not (style.blank_between_paragraphs or style.blank_around_headline):
        out.pop()
    return out


def _photo_credit(rng: random.Random, traditional: bool) -> str:
    text = rng.choice(_CREDITS).format(name=rng.choice(_PHOTOGRAPHERS))
    return to_traditional(text) if traditional else text


def _debris(rng: random.Random, paragraph: str, traditional: bool) -> str:
    if rng.random() < 0.3:  # a character of the text, as when a neighbouring column bleeds
        chars = _HAN_RE.findall(paragraph)
        if chars:
            return "".join(rng.choice(chars) for _ in range(rng.randint(1, 2)))
    text = rng.choice(_DEBRIS)
    if rng.random() < 0.15:  # sometimes two fragments run together ("县202")
        text = (text + rng.choice(_DEBRIS))[:4]
    return to_traditional(text) if traditional else text


def _stray_spaces(text: str, probability: float, rng: random.Random) -> str:
    out = [text[0]] if text else []
    for left, right in itertools.pairwise(text):
        if _CJK_RE.match(left) and _CJK_RE.match(right) and rng.random() < probability:
            out.append(" ")
        out.append(right)
    return "".join(out)


def _paginate(
    lines: list[_Line], date: dt.date | None, style: Style, rng: random.Random
) -> list[_Line]:
    """Insert page furniture every ``furniture_every`` lines (give or take a tenth).

    The paper is consistent within an issue: it prints running heads, page numbers at the
    foot, or both, chosen once per issue.
    """
    kinds = rng.choice(("head", "foot", "both", "both"))
    heads, feet = kinds in ("head", "both"), kinds in ("foot", "both")
    date_text = f"{date.year}年{date.month}月{date.day}日" if date else ""
    jitter = max(1, style.furniture_every // 10)
    out: list[_Line] = []
    page, on_page = 1, 0
    page_len = style.furniture_every + rng.randint(-jitter, jitter)
    for i, line in enumerate(lines):
        if on_page >= page_len and line.kind != "blank":
            previous = next((ln for ln in reversed(out) if ln.kind != "blank"), None)
            inside = previous is not None and previous.article == line.article
            marked = inside and style.continuation_markers and rng.random() < 0.5
            furniture = []
            if marked:
                furniture.append(f"（下转第{page + 1}版）")
            if feet:
                furniture.append(f"- {page} -")
            page += 1
            if heads:
                furniture.append("  ".join(p for p in (PAPER, date_text, f"第{page}版") if p))
            if marked:
                furniture.append(f"（上接第{page - 1}版）")
            for text in furniture:
                text = to_traditional(text) if style.traditional else text
                out.append(_Line(text, None, "furniture"))
            on_page = len(furniture) // 2
            page_len = style.furniture_every + rng.randint(-jitter, jitter)
        out.append(line)
        on_page += 1
        if i == len(lines) - 1 and feet:
            out.append(_Line(f"- {page} -", None, "furniture"))
    return out


def _collapse_blanks(lines: list[_Line]) -> list[str]:
    """The lines' text, without leading, trailing or repeated blank lines."""
    out: list[str] = []
    for line in lines:
        if line.kind == "blank" and (not out or out[-1] == ""):
            continue
        out.append(line.text)
    while out and out[-1] == "":
        out.pop()
    return out


COLUMN_ROWS = 50
_COLUMN_GUTTER = "    "


def _side_by_side(lines: list[str], columns: int) -> str:
    """The lines as pages of ``columns`` columns side by side, a form feed after each.

    The columns are as wide as the widest line (the page's grid is the same throughout).
    """
    pages: list[str] = []
    per_page = columns * COLUMN_ROWS
    width = max(map(_cells, lines), default=0)
    for top in range(0, len(lines), per_page):
        page = [lines[top + k * COLUMN_ROWS : top + (k + 1) * COLUMN_ROWS] for k in range(columns)]
        rows = []
        for row in range(COLUMN_ROWS):
            cells = [column[row] if row < len(column) else "" for column in page]
            padded = [cell + " " * (width - _cells(cell)) for cell in cells]
            rows.append(_COLUMN_GUTTER.join(padded).rstrip())
        pages.append("\n".join(rows).rstrip("\n") + "\n")
    return "\f".join(pages)


def _cells(text: str) -> int:
    """Width of ``text`` on screen: a Chinese character (any wide one) takes two cells."""
    return round(2 * text_width(text.replace(" ", "_")))


def pdftotext_columns(lines: list[str], columns: int) -> str:
    """The lines typeset in ``columns`` columns on A4 pages and read back by
    ``pdftotext -layout``: form feeds between pages, columns side by side.

    The type is WenQuanYi Zen Hei, embedded, where Debian's fonts-wqy-zenhei is installed
    (it has Hangul and most symbols, as a real paper's fonts do), else reportlab's
    built-in STSong-Light, which has neither: pdftotext reads those back as other
    characters or blanks.

    Raises:
        FileNotFoundError: pdftotext (poppler-utils) is not installed.
    """
    from reportlab.pdfbase import pdfmetrics  # imported here: a benchmark-only need
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    from benchmarks.ocr_render import FONT_FILE

    size, margin, gutter = 9.0, 30.0, 12.0
    page_width, page_height = 595.0, 842.0  # A4, in points
    if FONT_FILE.is_file():
        font = "WenQuanYiZenHei"
        pdfmetrics.registerFont(TTFont(font, str(FONT_FILE), subfontIndex=0))
    else:
        font = "STSong-Light"
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    column_width = (page_width - 2 * margin) / columns
    with tempfile.TemporaryDirectory(prefix="pdftotext-") as tmp:
        pdf = Path(tmp) / "page.pdf"
        page = canvas.Canvas(str(pdf), pagesize=(page_width, page_height))
        per_page = columns * COLUMN_ROWS
        for top in range(0, len(lines), per_page):
            for k in range(columns):
                column = lines[top + k * COLUMN_ROWS : top + (k + 1) * COLUMN_ROWS]
                for row, line in enumerate(column):
                    width = pdfmetrics.stringWidth(line, font, size)
                    fitted = min(size, size * (column_width - gutter) / width) if width else size
                    page.setFont(font, fitted)
                    y = page_height - margin - (row + 1) * 1.6 * size
                    page.drawString(margin + k * column_width, y, line)
            page.showPage()
        page.save()
        run = subprocess.run(
            ["pdftotext", "-layout", "-enc", "UTF-8", str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        )
    return run.stdout
