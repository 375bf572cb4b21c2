"""Render corpus articles as scanned newspaper pages, and read them back by OCR.

Usage:
    python benchmarks/ocr_render.py [--issue 2024-01-01] [--corpus ../shared/corpus]
        [--articles 6] [--columns 3] [--traditional] [--photo] [--pictures] [--modules]
        [--spread] [--seed 0] [--out DIR]

The corpus is plain text; scanned issues are not. This module typesets articles the way
a county paper prints them, so that the OCR path (:mod:`retrieval.parse.ocr`) can be
measured on pages whose text is known exactly: A4 pages at 300 dpi, a masthead line
("交城报 2024年3月1日 星期五 第2版") over a rule on every page, articles flowing down
2–4 columns, each headline in a larger type wrapped within its column, body paragraphs
indented by two characters and justified to the column (which holds 14–22 characters,
depending on the column count), in WenQuanYi Zen Hei (Debian's fonts-wqy-zenhei). An
article runs on into the next column and the next page, as printed, the run-on part
without a headline. The pages then get what a scanner adds: a paper tone, a slight
rotation, blur and noise, all drawn from ``seed``, so a page is the same on every run.
With ``photo``, the pages are what a phone makes of them instead: turned by 1.5–3°, the
back of the sheet showing through, the light falling off towards a corner, at two
thirds of the resolution, saved as JPEG. With ``pictures``, about every other article
prints a news photo after its first paragraph, as papers do: a halftone (a 45° dot
screen of 85 lines an inch, as newsprint is screened) a column wide and 7–12 lines
high, with its credit ("（记者 王小明 摄）") in smaller type under it. Credits are page
furniture, so they are not part of the page's text. With ``photo`` and ``curl``, the
sheet does not lie flat: its lines bow along a parabola over the page's width (by up to
2–3° at the edges), and the photo is a little out of focus. With ``modules``, the pages
are made up as most papers' are, of modules rather than one flow down the columns: each
article a rectangle one to three columns wide, its headline across it, its news photo
(with ``pictures``) across it under the headline, its text in columns of equal length,
the modules side by side in strips down the page. With ``spread``, each image holds two
facing pages side by side, as an open paper is scanned or photographed; with ``photo``
and ``curl`` too, it is an open paper photographed as it lies: each page's lines droop
into the fold between them (by up to 2–3° there, level at the outer edges), in the
fold's shadow.

``__main__`` renders one corpus issue (its first ``--articles`` articles), reads the
pages back with :func:`retrieval.parse.read_issue_files`, the way ingest reads scanned
page files, and prints each page's character error rate (CER: edit distance over the
reference length, both without whitespace, so it counts misread characters, not layout)
and OCR seconds, plus the articles the parser found.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import logging
import random
import sys
import tempfile
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

ROOT = Path(__file__).resolve().parents[1]
FONT_FILE = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
PAPER = "交城报"
_MM_PER_INCH = 25.4
_PT_PER_INCH = 72.0
_A4_MM = (210.0, 297.0)
_MARGIN_MM = 15.0
_BODY_PT = 10.5  # 五号: the body size of most Chinese newspapers
_LEADING = 1.55  # line pitch over type size
_GUTTER = 1.5  # column gap, in body characters
_INDENT = "\u3000\u3000"  # paragraphs open with two ideographic spaces
_WEEKDAYS = "一二三四五六日"
# Punctuation that may not start a line, and that may not end one (禁则).
_NO_LINE_START = set("，。、；：？！）》」』”’…—·%,.;:?!)]")
_NO_LINE_END = set("（《「『“‘([")
_PICTURE_SHARE = 0.5  # of the articles print a photo
_PICTURE_LINES = (7, 12)  # its height, in body lines
_SCREEN_LPI = 85  # halftone screen ruling of newsprint, lines per inch
# An article's body shorter than these (characters) spans one, two columns of a module;
# a longer one three (or the page's width, if narrower).
_MODULE_SPANS = ((500, 1), (850, 2))
_PHOTOGRAPHERS = ("王小明", "李华", "陈志明", "林美玲", "张伟", "黄建国")


@dataclass
class Page:
    """A typeset page: its image and the text printed on it.

    Attributes:
        image: The page, grayscale, at the rendering resolution.
        lines: What is printed, in reading order: the masthead, then for each article
            (part) on the page its headline and paragraphs, one per item; a paragraph
            broken across columns is one item, one broken across pages is one per page.
    """

    image: Image.Image
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The printed text, one paragraph, headline or masthead per line."""
        return "\n".join(self.lines)


def render_issue(
    articles: Sequence[tuple[str, str]],
    out_dir: Path,
    *,
    traditional: bool = False,
    columns: int = 3,
    seed: int = 0,
    issue: str = "2024-03-01",
    paper: str = PAPER,
    page_mm: tuple[float, float] = _A4_MM,
    dpi: int = 300,
    photo: bool = False,
    pictures: bool = False,
    curl: bool = False,
    modules: bool = False,
    spread: bool = False,
) -> list[Path]:
    """Typeset articles as the scanned pages of one issue and save them as PNG files
    (JPEG files for ``photo``).

    Args:
        articles: (headline, body) pairs; the body has one paragraph per line.
        out_dir: Where the pages go (created when missing).
        traditional: Print in Traditional characters (converted by OpenCC ``s2tw``).
        columns: Columns per page.
        seed: Fixes everything left to chance (headline sizes, rotation, noise).
        issue: The issue's date ``YYYY-MM-DD``: the masthead's date and the file names.
        paper: The paper's name, in the masthead.
        page_mm: Page width and height in millimetres (A4 by default).
        dpi: Resolution of the page images.
        photo: Phone photos of the pages instead of scans (see the module docstring).
        pictures: Print news photos in about every other article (see the module
            docstring).
        curl: With ``photo``: the sheet does not lie flat, its lines bow (see the module
            docstring).
        modules: Make pages up of modules, headlines and photos across an article's
            columns, rather than flow articles down the columns (see the module docstring).
        spread: Two facing pages in each image, as a spread is scanned or photographed.

    Returns:
        The page files ``<issue>_<NN>.png`` or ``.jpg`` (NN from 01), in page order, which
        :func:`retrieval.parse.group_issue_files` groups into one issue.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    pages = typeset(
        articles,
        traditional=traditional,
        columns=columns,
        seed=seed,
        issue=issue,
        paper=paper,
        page_mm=page_mm,
        dpi=dpi,
        photo=photo,
        pictures=pictures,
        curl=curl,
        modules=modules,
        spread=spread,
    )
    for number, page in enumerate(pages, start=1):
        path = out_dir / f"{issue}_{number:02d}.{'jpg' if photo else 'png'}"
        page.image.save(path, dpi=(dpi, dpi))
        paths.append(path)
    return paths


def typeset(
    articles: Sequence[tuple[str, str]],
    *,
    traditional: bool = False,
    columns: int = 3,
    seed: int = 0,
    issue: str = "2024-03-01",
    paper: str = PAPER,
    page_mm: tuple[float, float] = _A4_MM,
    dpi: int = 300,
    photo: bool = False,
    pictures: bool = False,
    curl: bool = False,
    modules: bool = False,
    spread: bool = False,
) -> list[Page]:
    """Typeset articles into pages, keeping the text printed on each (see :class:`Page`).

    The arguments are those of :func:`render_issue`, which saves these pages.

    Raises:
        FileNotFoundError: The CJK font (Debian's fonts-wqy-zenhei) is not installed.
    """
    if not FONT_FILE.is_file():
        raise FileNotFoundError(f"{FONT_FILE} (apt-get install fonts-wqy-zenhei)")
    if traditional:
        import opencc

        convert = opencc.OpenCC("s2tw").convert
        articles = [(convert(head), convert(body)) for head, body in articles]
        paper = convert(paper)
    rng = random.Random(seed)
    setter = (_ModuleSetter if modules else _Setter)(
        columns, page_mm, dpi, rng, _masthead_text(paper, issue)
    )
    for headline, body in articles:
        paragraphs = [p.strip() for p in body.split("\n") if p.strip()]
        # Drawn only for pictures: the pages of the other styles stay what they were.
        picture = pictures and rng.random() < _PICTURE_SHARE
        setter.article(headline.strip(), paragraphs, picture=picture)
    pages = setter.pages
    if spread:
        pages = [_spread(pages[i : i + 2]) for i in range(0, len(pages), 2)]
    if photo:  # a last page alone in a spread's image is bowed as a single sheet is
        return [
            _photograph(page, rng, curl=curl, fold=page.image.width > page.image.height)
            for page in pages
        ]
    return [_scan(page, rng) for page in pages]


def _masthead_text(paper: str, issue: str) -> str:
    """The masthead items; wide gaps between them come from spaces, as printed."""
    date = dt.date.fromisoformat(issue)
    return (
        f"{paper}\u3000{date.year}年{date.month}月{date.day}日\u3000星期{_WEEKDAYS[date.weekday()]}"
    )


class _Setter:
    """Flows articles down the columns of successive pages."""

    def __init__(
        self,
        columns: int,
        page_mm: tuple[float, float],
        dpi: int,
        rng: random.Random,
        masthead: str,
    ) -> None:
        self.dpi = dpi
        px_per_mm = dpi / _MM_PER_INCH
        self.width, self.height = (round(mm * px_per_mm) for mm in page_mm)
        self.margin = round(_MARGIN_MM * px_per_mm)
        self.size = round(_BODY_PT / _PT_PER_INCH * dpi)
        self.pitch = round(self.size * _LEADING)
        self.body = ImageFont.truetype(str(FONT_FILE), self.size)
        self.rng = rng
        self.masthead = masthead
        self.columns = columns
        inner = self.width - 2 * self.margin
        gutter = round(_GUTTER * self.size)
        # Columns hold whole characters, so that justified lines are evenly spaced.
        self.chars = (inner - (columns - 1) * gutter) // (columns * self.size)
        self.column_width = self.chars * self.size
        spare = inner - columns * self.column_width
        self.column_x = [
            self.margin + i * (self.column_width + spare // max(columns - 1, 1))
            for i in range(columns)
        ]
        self.pages: list[Page] = []
        self.column = columns  # past the last column: the first line opens a page
        self.y = 0
        self.draw: ImageDraw.ImageDraw | None = None
        self.open_item: int | None = None  # the page line a paragraph continues on

    def article(self, headline: str, paragraphs: list[str], *, picture: bool = False) -> None:
        size = round(self.size * self.rng.choice((1.5, 1.7, 2.0)))
        font = ImageFont.truetype(str(FONT_FILE), size)
        # Headlines keep half a character clear of the column's edges.
        head_lines = _wrap(headline, font, self.column_width - self.size) if headline else []
        head_height = len(head_lines) * round(size * 1.3)
        # A headline stands over at least two lines of its text, else in the next column.
        if self.column >= self.columns or self.y + head_height + 3 * self.pitch > self.bottom:
            self._next_column()
        if head_lines:
            if self.y > self.top:
                self.y += self.pitch
            self._print_headline(head_lines, font, self.column_x[self.column], self.column_width)
        for number, paragraph in enumerate(paragraphs):
            if picture and number == 1:
                self._picture()
            self.open_item = None
            for line, last in _lines(_INDENT + paragraph, self.body, self.column_width):
                if self.y + self.size > self.bottom:
                    self._next_column()
                self._justify(line, self.column_x[self.column], self.y, justified=not last)
                if self.open_item is None:
                    self.pages[-1].lines.append("")
                    self.open_item = len(self.pages[-1].lines) - 1
                self.pages[-1].lines[self.open_item] += line.strip("\u3000")
                self.y += self.pitch
        self.open_item = None

    def _print_headline(
        self, lines: list[str], font: ImageFont.FreeTypeFont, x0: int, width: int
    ) -> None:
        """A headline's lines at (``x0``, ``y``), left or centred within ``width``."""
        centred = self.rng.random() < 0.5
        pitch = round(font.size * 1.3)
        for line in lines:
            x = x0 + (width - font.getlength(line)) / 2 if centred else x0
            self._draw().text((x, self.y), line, font=font, fill=0, stroke_width=1)
            self.y += pitch
        self.pages[-1].lines.append("".join(lines))
        self.y += self.pitch // 3

    def _picture(self) -> None:
        """A news photo a column wide, with its credit under it, where the column has
        room for it and a line after; else none."""
        lines = self.rng.randint(*_PICTURE_LINES)
        height = lines * self.pitch
        credit_size = round(self.size * 0.8)
        if self.y + height + credit_size + 2 * self.pitch > self.bottom:
            return
        self._print_picture(self.column_x[self.column], self.column_width, height)

    def _print_picture(self, x: int, width: int, height: int) -> None:
        """A halftone ``width`` by ``height`` at (``x``, ``y``), its credit under it."""
        credit_size = round(self.size * 0.8)
        image = _halftone(width, height, self.dpi / _SCREEN_LPI, self.rng)
        self.pages[-1].image.paste(image, (x, self.y))
        self.y += height + self.pitch // 4
        font = ImageFont.truetype(str(FONT_FILE), credit_size)
        credit = f"（记者 {self.rng.choice(_PHOTOGRAPHERS)} 摄）"
        self._draw().text((x + width - font.getlength(credit), self.y), credit, font=font, fill=0)
        self.y += credit_size + self.pitch // 2

    @property
    def top(self) -> int:
        return self.margin + 2 * self.pitch

    @property
    def bottom(self) -> int:
        return self.height - self.margin

    def _draw(self) -> ImageDraw.ImageDraw:
        assert self.draw is not None
        return self.draw

    def _next_column(self) -> None:
        self.column += 1
        if self.column >= self.columns:
            self._new_page()
            self.column = 0
        self.y = self.top

    def _new_page(self) -> None:
        image = Image.new("L", (self.width, self.height), 255)
        self.draw = ImageDraw.Draw(image)
        number = len(self.pages) + 1
        masthead = f"{self.masthead}\u3000第{number}版"
        self.draw.text((self.margin, self.margin), masthead, font=self.body, fill=0)
        rule = self.margin + round(self.pitch * 1.2)
        self.draw.line(
            (self.margin, rule, self.width - self.margin, rule),
            fill=0,
            width=max(self.size // 12, 2),
        )
        self.pages.append(Page(image, [masthead]))
        # A paragraph running on from the previous page is a new item of this one.
        if self.open_item is not None:
            self.pages[-1].lines.append("")
            self.open_item = 1

    def _justify(self, line: str, x0: int, y: int, *, justified: bool) -> None:
        """Draw a line at (``x0``, ``y``), its characters spread to fill the column unless
        it ends a paragraph."""
        widths = [self.body.getlength(char) for char in line]
        extra = self.column_width - sum(widths)
        # Latin words keep their letters together: the space goes between words and
        # around them, never inside.
        gaps = [
            i for i in range(1, len(line)) if not (_is_latin(line[i - 1]) and _is_latin(line[i]))
        ]
        step = extra / len(gaps) if justified and gaps and extra > 0 else 0.0
        x = float(x0)
        gap_set = set(gaps)
        for i, (char, width) in enumerate(zip(line, widths, strict=True)):
            if i in gap_set:
                x += step
            self._draw().text((x, y), char, font=self.body, fill=0)
            x += width


class _ModuleSetter(_Setter):
    """Makes up pages of modules, as most papers are: each article a rectangle one or more
    columns wide (by its length, see :data:`_MODULE_SPANS`), its headline across the top,
    with ``pictures`` a news photo across it under the headline, and its text in columns
    of equal length. Modules stand side by side in strips down the page, a line's space
    between strips; one too long for what is left of the page fills it and goes on,
    untitled, at the top of the next page, in as many columns.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.strip_bottom = 0  # the foot of the lowest module of the open strip

    def article(self, headline: str, paragraphs: list[str], *, picture: bool = False) -> None:
        length = sum(map(len, paragraphs))
        span = min(next((n for most, n in _MODULE_SPANS if length < most), 3), self.columns)
        width = self.column_x[span - 1] + self.column_width - self.column_x[0]
        size = round(self.size * self.rng.choice((1.5, 1.7, 2.0)))
        font = ImageFont.truetype(str(FONT_FILE), size)
        head_lines = _wrap(headline, font, width - self.size) if headline else []
        picture_height = self.rng.randint(*_PICTURE_LINES) * self.pitch if picture else 0
        # A module opens with its headline, its photo and two lines in each column.
        self._place(span, len(head_lines) * round(size * 1.3) + picture_height + 3 * self.pitch)
        top = self.y
        x0 = self.column_x[self.column]
        if head_lines:
            self._print_headline(head_lines, font, x0, width)
        if picture_height:
            self._print_picture(x0, width, picture_height)
        lines = [
            (number, line, last)
            for number, paragraph in enumerate(paragraphs)
            for line, last in _lines(_INDENT + paragraph, self.body, self.column_width)
        ]
        while True:
            room = max((self.bottom - self.y - self.size) // self.pitch + 1, 1)
            per_column = min(-(-len(lines) // span), room)
            here, lines = lines[: span * per_column], lines[span * per_column :]
            for i, (number, line, last) in enumerate(here):
                x = self.column_x[self.column + i // per_column]
                y = self.y + (i % per_column) * self.pitch
                self._justify(line, x, y, justified=not last)
                if i == 0 or number != here[i - 1][0]:  # a paragraph, or its part on a page
                    self.pages[-1].lines.append("")
                self.pages[-1].lines[-1] += line.strip("\u3000")
            if not lines:
                break
            self._new_page()  # the rest at the top of the next page, in as many columns
            self.y = self.strip_bottom = top = self.top
        self.strip_bottom = max(self.strip_bottom, self.y + per_column * self.pitch)
        self.column += span
        self.y = top

    def _place(self, span: int, height: int) -> None:
        """Moves ``column`` and ``y`` to where a module ``span`` columns wide and at least
        ``height`` high opens: beside the open strip's modules, else under them, else at
        the top of a new page."""
        while self.pages:
            if self.column + span <= self.columns and self.y + height <= self.bottom:
                return
            if self.column == 0:
                break
            self.column, self.y = 0, self.strip_bottom + self.pitch  # a strip under it
        self._new_page()
        self.column, self.y = 0, self.top
        self.strip_bottom = self.top


def _halftone(width: int, height: int, screen: float, rng: random.Random) -> Image.Image:
    """A photo as newsprint prints it: smooth shapes of light and shade (random, upscaled
    from a coarse grid), screened into black dots on a 45° grid ``screen`` pixels apart,
    each dot as large as its tone is dark."""
    noise = np.random.default_rng(rng.getrandbits(32))
    coarse = noise.normal(size=(rng.randint(3, 6), rng.randint(3, 6))).astype(np.float32)
    tone = np.asarray(
        Image.fromarray(coarse, mode="F").resize((width, height), Image.Resampling.BICUBIC)
    )
    tone = (tone - tone.min()) / max(float(np.ptp(tone)), 1e-6)
    tone = 0.1 + 0.8 * tone  # ink coverage: no photo is paper white or solid black
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = (x + y) / np.sqrt(2.0), (x - y) / np.sqrt(2.0)
    cells = (np.cos(2 * np.pi * u / screen) * np.cos(2 * np.pi * v / screen) + 1.0) / 2.0
    return Image.fromarray(np.where(tone > cells, 0, 255).astype(np.uint8))


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """A headline broken into lines at most ``width`` wide (at its spaces if it has any)."""
    return [line.strip() for line, _ in _lines(text, font, width)]


def _lines(text: str, font: ImageFont.FreeTypeFont, width: int) -> Iterator[tuple[str, bool]]:
    """Break text into lines no wider than ``width``: (line, whether it is the last).

    Latin words and numbers move to the next line whole; punctuation that may not start
    a line takes the last character of the line before along (推出 in Chinese typesetting).
    """
    # A unit wider than the column (a long URL) is broken anywhere.
    units = [
        piece
        for unit in _units(text)
        for piece in (unit if font.getlength(unit) > width else (unit,))
    ]
    line: list[str] = []
    used = 0.0
    for unit in units:
        unit_width = font.getlength(unit)
        if line and used + unit_width > width:
            carried: list[str] = []
            while line and (unit[0] in _NO_LINE_START or line[-1][-1] in _NO_LINE_END):
                carried.insert(0, line.pop())
                if not (line and line[-1][-1] in _NO_LINE_END):
                    break
            if not line:  # nothing could be carried: break anyway
                line, carried = carried, []
            yield "".join(line).rstrip(" "), False
            line = carried
            used = sum(font.getlength(u) for u in line)
            if unit == " " and not line:
                continue
        line.append(unit)
        used += unit_width
    if line:
        yield "".join(line).rstrip(" "), True


def _units(text: str) -> Iterator[str]:
    """Characters, with runs of Latin letters and digits kept as one unit."""
    word = ""
    for char in text:
        if _is_latin(char):
            word += char
            continue
        if word:
            yield word
            word = ""
        yield char
    if word:
        yield word


def _is_latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _spread(pages: list[Page]) -> Page:
    """Two facing pages (or a last one alone) side by side in one image."""
    image = Image.new("L", (sum(p.image.width for p in pages), pages[0].image.height), 255)
    for number, page in enumerate(pages):
        image.paste(page.image, (number * pages[0].image.width, 0))
    return Page(image, [line for page in pages for line in page.lines])


def _scan(page: Page, rng: random.Random) -> Page:
    """The page as a scanner returns it: toned paper, slightly rotated, soft, noisy."""
    image = page.image.rotate(rng.uniform(-0.4, 0.4), resample=Image.BICUBIC, fillcolor=255)
    pixels = np.asarray(image.filter(ImageFilter.GaussianBlur(0.7)), dtype=np.float32)
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0.0, 8.0, pixels.shape)
    # Paper takes a tone, ink stays dark.
    pixels = pixels * rng.uniform(0.9, 0.97) + noise
    return Page(Image.fromarray(pixels.clip(0, 255).astype(np.uint8)), page.lines)


def _photograph(page: Page, rng: random.Random, *, curl: bool = False, fold: bool = False) -> Page:
    """The page as a phone photographs it: the back of the sheet showing through, light
    falling off towards a corner, turned by 1.5–3°, at two thirds of the resolution, as
    a JPEG; with ``curl``, bowed (see :func:`_bow`; a spread, ``fold``, into its fold,
    see :func:`_fold`) and a little out of focus."""
    if curl:  # drawn only here: the photos without curl stay what they were
        page = Page((_fold if fold else _bow)(page.image, rng), page.lines)
    pixels = np.asarray(page.image, dtype=np.float32)
    back = ImageOps.mirror(page.image).filter(ImageFilter.GaussianBlur(2.0))
    pixels = pixels - 0.15 * (255.0 - np.asarray(back, dtype=np.float32))
    height, width = pixels.shape
    dim = rng.uniform(0.3, 0.45)
    light = (
        np.linspace(1.0 - dim, 1.0, width)[None, :]
        * np.linspace(1.0, 1.0 - dim / 2, height)[:, None]
    )
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0.0, 6.0, pixels.shape)
    image = Image.fromarray((pixels * light + noise).clip(0, 255).astype(np.uint8))
    angle = rng.choice((-1, 1)) * rng.uniform(1.5, 3.0)
    image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=190)
    image = image.resize((width * 2 // 3, height * 2 // 3), Image.Resampling.LANCZOS)
    if curl:  # a phone focused on the middle of a sheet that does not lie flat
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.0)))
    jpeg = io.BytesIO()
    image.save(jpeg, "JPEG", quality=50)
    return Page(Image.open(io.BytesIO(jpeg.getvalue())), page.lines)


def _bow(image: Image.Image, rng: random.Random) -> Image.Image:
    """The page as it lies when it does not lie flat: each column of pixels shifted up or
    down along a parabola over the page's width, by 0.5–1% of its height at the edges
    (its lines bow by up to 2–3° there, and lie level in the middle)."""
    height, width = image.height, image.width
    depth = rng.choice((-1, 1)) * rng.uniform(0.005, 0.01) * height
    x = (np.arange(width) - width / 2) / (width / 2)
    return Image.fromarray(_shifted(np.asarray(image), depth * x * x))


def _fold(image: Image.Image, rng: random.Random) -> Image.Image:
    """An open paper as it lies, two facing pages in one image: each column of pixels
    shifted along a cubic that is 0 at the outer edges and 0.6–1.2% of the height at the
    fold (the lines droop into it, by up to 2–3° there), and darkened towards the fold
    (its shadow, up to 35% darker, over about a fifth of each page)."""
    height, width = image.height, image.width
    depth = rng.uniform(0.006, 0.012) * height
    near = 1.0 - np.abs(np.arange(width) - width / 2) / (width / 2)  # 1 at the fold
    folded = _shifted(np.asarray(image), depth * near**3).astype(np.float32)
    shadow = 1.0 - rng.uniform(0.25, 0.35) * near**8
    return Image.fromarray((folded * shadow[None, :]).clip(0, 255).astype(np.uint8))


def _shifted(pixels: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """The pixels with each column moved down by ``shift`` (rounded; up where negative)."""
    height, width = pixels.shape
    moved = np.arange(height)[:, None] - np.round(shift).astype(int)[None, :]
    rows = np.clip(moved, 0, height - 1)
    shifted = pixels[rows, np.arange(width)[None, :]]
    # What came in from beyond the top or bottom edge is paper.
    shifted[(moved < 0) | (rows >= height - 1)] = 255
    return shifted


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: edit distance over the reference length, whitespace ignored.

    NFKC folds full-width digits and letters, which OCR engines read either way.
    """
    ref = "".join(unicodedata.normalize("NFKC", reference).split())
    hyp = "".join(unicodedata.normalize("NFKC", hypothesis).split())
    if not ref:
        return float(bool(hyp))
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        current = [i]
        for j, h in enumerate(hyp, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / len(ref)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--issue", default="2024-01-01", help="corpus issue (YYYY-MM-DD)")
    parser.add_argument("--articles", type=int, default=6, help="its first N articles")
    parser.add_argument("--columns", type=int, default=3)
    parser.add_argument("--traditional", action="store_true")
    parser.add_argument("--photo", action="store_true", help="phone photos instead of scans")
    parser.add_argument("--pictures", action="store_true", help="news photos in the articles")
    parser.add_argument("--curl", action="store_true", help="with --photo: the sheet bowed")
    parser.add_argument("--modules", action="store_true", help="articles as modules of columns")
    parser.add_argument("--spread", action="store_true", help="two facing pages an image")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="where the pages go (default: a temp folder)")
    args = parser.parse_args()

    from retrieval.parse import read_issue, read_issue_files
    from retrieval.parse.ocr import ocr_images

    logging.basicConfig(level=logging.WARNING)
    source = read_issue(args.corpus / "issues" / f"{args.issue}.txt")
    articles = [(a.headline, a.body) for a in source.articles[: args.articles]]
    options = {
        "traditional": args.traditional,
        "columns": args.columns,
        "seed": args.seed,
        "photo": args.photo,
        "pictures": args.pictures,
        "curl": args.curl,
        "modules": args.modules,
        "spread": args.spread,
    }
    pages = typeset(articles, issue=args.issue, **options)
    out = args.out or Path(tempfile.mkdtemp(prefix="ocr_render-"))
    paths = render_issue(articles, out, issue=args.issue, **options)
    print(f"{len(paths)} pages in {out}")
    for number, (page, path) in enumerate(zip(pages, paths, strict=True), start=1):
        started = time.perf_counter()
        [text] = ocr_images([path])
        seconds = time.perf_counter() - started
        print(f"page {number}: CER {cer(page.text, text):.2%}, {seconds:.1f} s")
    issue, skipped = read_issue_files(paths)
    print(
        f"{len(issue.articles)} articles parsed ({len(articles)} printed), {len(skipped)} skipped"
    )
    for article in issue.articles:
        print(f"  p{article.page} {article.headline[:30]!r}: {len(article.body)} characters")


if __name__ == "__main__":
    sys.exit(main())
