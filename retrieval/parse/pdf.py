"""Text of PDF issues: each page's text in reading order, with columns kept apart.

E-paper PDFs carry a text layer: every glyph with its position. Reading the glyphs in
the order the file draws them, or row by row across the page, interleaves the lines of
articles printed side by side, so each page is laid out again from the positions:

1. Glyphs are grouped into printed lines (rows), and each row into *segments*: runs of
   glyphs with no blank strip as wide as a column gutter inside them. Space glyphs fill
   the strip they stand in, so "人勤春来早　项目施工忙" stays one segment.
2. The page is cut recursively (an XY cut). It is split into horizontal bands at blank
   space running across its whole width; consecutive bands are merged again while they
   share a gutter (a vertical blank strip that no segment crosses), so that columns stay
   whole even where both happen to have a blank line at the same height. A group of
   bands with a gutter is cut into columns, read left to right, and each column is laid
   out the same way; a line crossing the gutter (a headline over several columns) ends
   the group above it, so it is read after the columns above it and before those below.
   Two pages side by side (a spread scanned as one image) are cut apart before anything
   else, at a blank running down the whole region wider than any gutter.
3. Each block that cannot be cut any further is read top to bottom, and its lines are
   joined into paragraphs from their geometry: a paragraph goes on while the previous
   line runs to the block's right edge (from its left: not centred or set flush right,
   as a photo's credit is), the next one is not indented, the font size
   stays the same and no extra space opens between them (edges are taken per text
   size, as a title's are not the text's). Lines set clearly larger than the page's
   body text are headlines: consecutive ones in a block are one headline (broken over
   lines, or a kicker and a subtitle with it; a banner over several columns is a block
   of its own), written as a Markdown heading ("# 标题"), as pymupdf4llm and docling
   mark them, so that articles are split at headlines known from the print, not
   guessed from the text (:mod:`retrieval.parse.marked`). The result has one
   paragraph, heading or label per line.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pdfplumber
from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
from pdfplumber.utils.exceptions import MalformedPDFException, PdfminerException

from retrieval.parse.errors import BadFileError
from retrieval.parse.marked import PAGE_BREAK, heading, paragraph
from retrieval.parse.masthead import is_masthead_line

__all__ = ["extract_pages"]

log = logging.getLogger(__name__)

# Distances in fractions of the body text size (the commonest glyph size of the page).
# Column gutters of Chinese newspapers are about one character wide; word spaces and the
# tracking of justified lines stay well under this.
GUTTER = 0.6
_PAGES_APART = 4.0  # the margins between two pages side by side (see _spread_pages)
# Distances in fractions of the size of the glyphs or lines concerned.
_WORD_SPACE = 0.25  # a wider gap between two glyphs of a segment reads as a space
_SAME_ROW = 0.4  # glyph centres closer than this vertically are on one printed line
_BAND_OVERLAP = 0.1  # rows overlapping less than this are in separate bands
_INDENT = 0.5  # a line starting further right than this is indented (or centred)
_SHORT = 1.0  # a line ending further left than this is the last one of its paragraph
# A line starting further right than this, beyond a paragraph's indent of two characters,
# is centred or set flush right (a photo's credit over a column): no paragraph runs on
# from it.
_SET_IN = 3.0
_EXTRA_SPACE = 0.5  # more space than this above the usual leading starts a paragraph
# Text this much larger than the body is a headline. Headlines are set at 1.3-2 times
# the body (小二 and up over 五号); subheads, when larger at all, at 1.15 (小四).
HEADLINE_SIZE = 1.25
_SAME_PLACE = 1.0  # points: two same glyphs closer than this are one printed twice
# How pdfminer renders a glyph whose font maps it to no character (no ToUnicode table).
_UNMAPPED = "(cid:"

_Span = tuple[float, float]  # an x-range: (left, right)


@dataclass(frozen=True, slots=True)
class _Glyph:
    """A glyph of the text layer; positions in points from the page's top-left corner."""

    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float


@dataclass(frozen=True, slots=True)
class Box:
    """A segment of a printed line, or a whole line of a block.

    Attributes:
        row: Index of the printed line, in top-to-bottom order over the page.
        text: The text, with spaces where the glyphs leave a word-sized gap.
        x0: Left edge (points from the page's left).
        x1: Right edge.
        top: Top edge (points from the page's top).
        bottom: Bottom edge.
        size: Median glyph size.
    """

    row: int
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float


_Printed = TypeVar("_Printed", _Glyph, Box)  # what is grouped into printed lines


def extract_pages(path: Path) -> list[str]:
    """Read the text layer of a PDF, page by page, in reading order.

    Columns are detected from the glyph positions and read one after the other, left to
    right, each top to bottom, so lines of articles printed side by side never
    interleave; a line spanning the columns (a headline) stays above the columns below
    it. Lines are joined into paragraphs, one per output line (see the module
    docstring). Rotated text and tables are read as if they were columns of text.

    Args:
        path: The PDF file.

    Returns:
        One string per page (1-based page n is item n - 1); "" for a page without text,
        such as a full-page picture. The two pages of a spread on one PDF page are read
        apart, their texts separated by a form feed (``marked.PAGE_BREAK``).

    Raises:
        BadFileError: The file cannot be read, is damaged or not a PDF, is encrypted
            with a password, or has no usable text layer at all (a scan: "no text
            layer: OCR it first").
    """
    pages = _read_glyphs(path)
    unmapped = sum(g.text.startswith(_UNMAPPED) for page in pages for g in page)
    mapped = sum(bool(g.text.strip()) for page in pages for g in page) - unmapped
    if not mapped and not unmapped:
        raise BadFileError(path, "no text layer: OCR it first")
    if unmapped > mapped:
        raise BadFileError(
            path, "text layer without character codes (fonts lack a ToUnicode map): OCR it first"
        )
    if unmapped:
        log.warning("%s: %d glyphs without a character code left out", path, unmapped)
    return [_page_text([g for g in page if not g.text.startswith(_UNMAPPED)]) for page in pages]


def _read_glyphs(path: Path) -> list[list[_Glyph]]:
    try:
        with pdfplumber.open(path) as pdf:
            return [
                _dedupe(
                    [
                        _Glyph(c["text"], c["x0"], c["x1"], c["top"], c["bottom"], c["size"])
                        for c in page.chars
                    ]
                )
                for page in pdf.pages
            ]
    except OSError as err:
        raise BadFileError(path, f"cannot read: {(err.strerror or str(err)).lower()}") from err
    except (PdfminerException, MalformedPDFException) as err:
        cause = err.args[0] if err.args else err
        if isinstance(cause, PDFPasswordIncorrect | PDFEncryptionError):
            raise BadFileError(path, "encrypted PDF: needs a password to open") from err
        raise BadFileError(path, f"damaged or not a PDF: {cause}") from err


def _dedupe(glyphs: list[_Glyph]) -> list[_Glyph]:
    """The glyphs without the copies some e-papers print a hair apart to fake bold type.

    (pdfplumber's ``dedupe_chars`` does the same but takes quadratic time.)
    """
    kept: list[_Glyph] = []
    # Glyphs by text and position in whole points: a copy is in a neighbouring cell.
    cells: defaultdict[tuple[str, int, int], list[_Glyph]] = defaultdict(list)
    for glyph in glyphs:
        x, y = round(glyph.x0), round(glyph.top)
        if not any(
            other.size == glyph.size
            and abs(other.x0 - glyph.x0) <= _SAME_PLACE
            and abs(other.top - glyph.top) <= _SAME_PLACE
            for dx, dy in itertools.product((-1, 0, 1), repeat=2)
            for other in cells.get((glyph.text, x + dx, y + dy), ())
        ):
            cells[glyph.text, x, y].append(glyph)
            kept.append(glyph)
    return kept


def _page_text(glyphs: list[_Glyph]) -> str:
    inked = [g for g in glyphs if g.text.strip()]
    if not inked:
        return ""
    body = Counter(round(g.size, 1) for g in inked).most_common(1)[0][0]
    gutter = GUTTER * body
    segments = [
        segment
        for row, row_glyphs in enumerate(_rows(glyphs))
        for segment in _segments(row, row_glyphs, gutter)
    ]
    return laid_out(segments, body)


def _rows(glyphs: list[_Printed]) -> list[list[_Printed]]:
    """Glyphs (or segments) grouped into printed lines, top to bottom (across all columns)."""
    rows: list[list[_Printed]] = []
    for glyph in sorted(glyphs, key=_centre):
        # Compared with the row's first glyph, so that rows cannot drift down the page.
        if rows and _centre(glyph) - _centre(rows[-1][0]) <= _SAME_ROW * min(
            glyph.size, rows[-1][0].size
        ):
            rows[-1].append(glyph)
        else:
            rows.append([glyph])
    return rows


def _centre(item: _Glyph | Box) -> float:
    return (item.top + item.bottom) / 2


def _segments(row: int, glyphs: list[_Glyph], gutter: float) -> list[Box]:
    """Split one printed line where a blank strip as wide as a gutter opens."""
    runs: list[list[tuple[str, _Glyph]]] = []  # (what goes before the glyph, glyph)
    previous: _Glyph | None = None
    blank = 0.0  # width of the space glyphs since the previous inked glyph
    for glyph in sorted(glyphs, key=lambda g: g.x0):
        if not glyph.text.strip():
            blank += glyph.x1 - glyph.x0
            continue
        if previous is None or glyph.x0 - previous.x1 - blank >= gutter:
            runs.append([("", glyph)])
        else:
            gap = glyph.x0 - previous.x1
            spaced = blank > 0 or gap > _WORD_SPACE * min(glyph.size, previous.size)
            runs[-1].append((" " if spaced else "", glyph))
        previous, blank = glyph, 0.0
    return [
        Box(
            row=row,
            text="".join(sep + glyph.text for sep, glyph in run),
            x0=run[0][1].x0,
            x1=max(glyph.x1 for _, glyph in run),
            top=min(glyph.top for _, glyph in run),
            bottom=max(glyph.bottom for _, glyph in run),
            size=statistics.median(glyph.size for _, glyph in run),
        )
        for run in runs
    ]


def laid_out(segments: list[Box], body: float, between_blocks: str = "\n") -> str:
    """A page's text in reading order: a paragraph, headline or label a line, the blocks
    apart at ``between_blocks``, the two pages of a spread apart at a
    :data:`~retrieval.parse.marked.PAGE_BREAK`.

    Args:
        segments: The page's line segments.
        body: The size of the page's body text, in the segments' units.
        between_blocks: What separates two blocks (OCR'd pages leave a blank line).
    """
    return PAGE_BREAK.join(
        between_blocks.join(
            "\n".join(block_paragraphs(block, body)) for block in reading_blocks(page, body)
        )
        for page in _spread_pages(segments, body)
    )


def _spread_pages(segments: list[Box], body: float) -> list[list[Box]]:
    """The segments of each of the pages printed side by side in a region, left to right
    (a spread scanned or photographed as one image); all of them if it holds one page.

    A blank at least 4 body characters wide running down the whole region is the margins
    of two pages: a gutter is 1–2, two A4 margins about 9.
    """
    cover = _coverage(((s.x0, s.x1) for s in segments), GUTTER * body)
    folds = [
        (left[1] + right[0]) / 2
        for left, right in itertools.pairwise(cover)
        if right[0] - left[1] >= _PAGES_APART * body
    ]
    pages: list[list[Box]] = [[] for _ in range(len(folds) + 1)]
    for segment in segments:
        pages[bisect.bisect(folds, (segment.x0 + segment.x1) / 2)].append(segment)
    return pages


def reading_blocks(segments: list[Box], body: float) -> list[list[Box]]:
    """The blocks of a region that cannot be cut any further, in reading order.

    Args:
        segments: The segments of the region's printed lines.
        body: The size of the page's body text, in the segments' units.
    """
    gutter, headline = GUTTER * body, HEADLINE_SIZE * body
    # Two pages side by side are cut apart first, then each is read as a page: read
    # together, bands across both pages were cut into all their columns at once, and a
    # page's run-on was read after the article under it.
    pages = _spread_pages(segments, body)
    if len(pages) > 1:
        return [block for page in pages for block in reading_blocks(page, body)]
    blocks: list[list[Box]] = []
    bands = _bands(segments)
    # A page's masthead is one line, wherever the gaps between its items fall over the
    # gutters of the columns under it: on a photographed spread "交城报 … 星期五" and
    # "第10版" went into two columns, and the run-on read between them was taken for
    # part of the masthead.
    if bands and is_masthead_line(" ".join(s.text for s in sorted(bands[0], key=lambda s: s.x0))):
        blocks.append(bands.pop(0))
    for group in _groups(bands, gutter, headline):
        cover = _coverage(((s.x0, s.x1) for s in group), gutter)
        # A single line with wide gaps (a masthead, a spaced-out title) stays one line.
        if len(cover) == 1 or len({s.row for s in group}) == 1:
            blocks.append(group)
            continue
        cuts = [(left[1] + right[0]) / 2 for left, right in itertools.pairwise(cover)]
        columns: list[list[Box]] = [[] for _ in range(len(cuts) + 1)]
        for segment in group:
            columns[bisect.bisect(cuts, (segment.x0 + segment.x1) / 2)].append(segment)
        for column in columns:
            blocks.extend(reading_blocks(column, body))
    return blocks


def _bands(segments: list[Box]) -> list[list[Box]]:
    """Segments split at blank space running across the whole region, top to bottom."""
    bands: list[list[Box]] = []
    bottom = -math.inf
    for segment in sorted(segments, key=lambda s: s.top):
        if bands and segment.top < bottom - _BAND_OVERLAP * segment.size:
            bands[-1].append(segment)
            bottom = max(bottom, segment.bottom)
        else:
            bands.append([segment])
            bottom = segment.bottom
    return bands


def _only_headline(band: list[Box], headline: float) -> bool:
    """Whether a band holds nothing but text set at least ``headline`` large: a headline
    standing over lines of its own, not beside a column's lines."""
    return all(segment.size >= headline for segment in band)


def _groups(bands: list[list[Box]], gutter: float, headline: float) -> list[list[Box]]:
    """Consecutive bands merged while they share a gutter, or while neither has one.

    Lines of two columns side by side often fall into bands of their own (one per
    printed line when the columns share a baseline grid), so a region is only cut where
    the column structure changes: at a line crossing the gutter, or where columns start
    under full-width text. Bands are merged from the bottom up: titles stand above their
    text, so a band that fits both the columns above and those below belongs below.

    Most papers are made up of modules: each article a rectangle of a few columns, its
    headline across them on lines of its own (see :func:`_only_headline`). Such a
    headline over columns opens what is under it: only its own lines above join its
    group, not the last lines of the module above, which are that module's. Its second
    line, centred under the first, may fit in one of the columns under it and is still no
    line of that column; and a wide space inside it ("…上梁  黄伟哲期待…") is no gap
    between two headlines unless a gutter of the text below runs on up through it (see
    :func:`_headline_lines`). Where another module's headline shares its lines, a gutter
    runs down between the two modules: the headline joins the group below, which is cut
    at that gutter before each side is read, and still opens it. A headline over one
    column opens it too under the end of a wider module; one within a column of several,
    with nothing beside it (a photo in the next column), is the column's, as before.
    """
    groups: list[list[Box]] = []
    cover: list[_Span] = []  # what the last group made covers
    opened = False  # whether that group opens with a headline over its columns
    for at in range(len(bands) - 1, -1, -1):
        band = bands[at]
        alone = _only_headline(band, headline)
        if alone:
            band = _headline_lines(band, cover)
        band_cover = _coverage(((s.x0, s.x1) for s in band), gutter)
        union = _coverage([*cover, *band_cover], gutter)
        shares = len(union) > 1 or (len(cover) == 1 and len(band_cover) == 1)
        # A headline over the columns below: it spans a gutter of theirs, or it is the
        # second line of one that does. (One in a column, beside a photo, is the column's.)
        above = bands[at - 1] if at > 0 else []
        spans = alone and len(cover) > 1 and len(union) < len(cover)
        over = (spans and (len(union) == 1 or len(band_cover) == 1)) or (
            alone
            and len(band_cover) == 1 < len(cover)
            and _spans_gutter(above, cover, gutter, headline)
        )
        # Where a gutter still runs down beside it (another module's headline on its
        # lines), it joins the group, which is cut at that gutter first, but still opens
        # it. So does a headline over one column under the end of a wider module.
        heads = (
            alone
            and len(cover) == 1 == len(band_cover)
            and len(_coverage([*cover, *((s.x0, s.x1) for s in above)], gutter)) > 1
            and all(s.size < headline for s in above)
        )
        if groups and shares and not over and (alone or not opened):
            groups[-1].extend(band)
            cover = union
            opened = (opened and alone) or spans or heads
        else:
            groups.append(list(band))
            cover = band_cover
            opened = over
    return groups[::-1]


def _spans_gutter(band: list[Box], cover: list[_Span], gutter: float, headline: float) -> bool:
    """Whether ``band`` is a headline over lines of its own that spans a gutter of the
    text covering ``cover``."""
    if not _only_headline(band, headline):
        return False
    spans = [(s.x0, s.x1) for s in _headline_lines(band, cover)]
    return len(_coverage([*cover, *spans], gutter)) < len(cover)


def _headline_lines(band: list[Box], below: list[_Span]) -> list[Box]:
    """A headline band's segments, those of each line joined again where no gutter of the
    text ``below`` (its x-ranges) lies between them: the gap between two is then a wide
    space inside one headline, not the space between the headlines of two columns."""
    gutters = list(itertools.pairwise(below))
    joined: list[Box] = []
    # By printed line: an OCR engine may give one line's pieces rows of their own.
    for line in _rows(band):
        pieces: list[Box] = []
        for segment in sorted(line, key=lambda s: s.x0):
            last = pieces[-1] if pieces else None
            if (
                last is not None
                and below
                and not any(left[1] < segment.x0 and right[0] > last.x1 for left, right in gutters)
            ):
                pieces[-1] = Box(
                    row=last.row,
                    text=f"{last.text} {segment.text}",
                    x0=last.x0,
                    x1=max(last.x1, segment.x1),
                    top=min(last.top, segment.top),
                    bottom=max(last.bottom, segment.bottom),
                    size=max(last.size, segment.size),
                )
            else:
                pieces.append(segment)
        joined += pieces
    return joined


def _coverage(spans: Iterable[_Span], gutter: float) -> list[_Span]:
    """The x-ranges that spans cover, as disjoint intervals; gaps under a gutter count
    as covered. More than one interval means a gutter runs between them."""
    merged: list[_Span] = []
    for x0, x1 in sorted(spans):
        if merged and x0 - merged[-1][1] < gutter:
            merged[-1] = (merged[-1][0], max(merged[-1][1], x1))
        else:
            merged.append((x0, x1))
    return merged


def block_paragraphs(block: list[Box], body: float) -> list[str]:
    """The lines of a block joined into paragraphs and headings (see the module docstring).

    Args:
        block: The segments of one block, as :func:`reading_blocks` gives them.
        body: The size of the page's body text, in the boxes' units.
    """
    by_row: defaultdict[int, list[Box]] = defaultdict(list)
    for segment in block:
        by_row[segment.row].append(segment)
    lines = [_line(row, by_row[row]) for row in sorted(by_row)]
    left: dict[float, float] = {}
    right: dict[float, float] = {}
    for line in lines:
        key = round(line.size, 1)
        left[key] = min(left.get(key, line.x0), line.x0)
        right[key] = max(right.get(key, line.x1), line.x1)
    gaps = [below.top - above.bottom for above, below in itertools.pairwise(lines)]
    leading = statistics.median(gaps) if gaps else 0.0
    headline = HEADLINE_SIZE * body
    paragraphs = [lines[0].text]
    headlines = [lines[0].size >= headline]  # whether each paragraph is a headline
    for above, below in itertools.pairwise(lines):
        size, key = below.size, round(below.size, 1)
        same_size = round(above.size, 1) == key
        near = below.top - above.bottom <= leading + _EXTRA_SPACE * size
        runs_on = (
            # A headline runs on over its lines whatever their length: they may be centred.
            size >= headline
            or (
                above.x1 >= right[key] - _SHORT * size
                and above.x0 <= left[key] + _SET_IN * size
                and below.x0 <= left[key] + _INDENT * size
            )
        )
        if same_size and near and runs_on:
            paragraphs[-1] += _seam(paragraphs[-1], below.text) + below.text
        elif headlines[-1] and size >= headline:
            # A kicker over the headline, or a subtitle under it, set in another size.
            paragraphs[-1] += " " + below.text
        else:
            paragraphs.append(below.text)
            headlines.append(size >= headline)
    return [
        heading(text) if is_headline else paragraph(text)
        for text, is_headline in zip(paragraphs, headlines, strict=True)
    ]


def _line(row: int, segments: list[Box]) -> Box:
    segments = sorted(segments, key=lambda s: s.x0)
    return Box(
        row=row,
        text=" ".join(s.text for s in segments),
        x0=segments[0].x0,
        x1=max(s.x1 for s in segments),
        top=min(s.top for s in segments),
        bottom=max(s.bottom for s in segments),
        size=statistics.median(s.size for s in segments),
    )


def _seam(before: str, after: str) -> str:
    """What joins two lines of a paragraph: a space between Latin words, else nothing
    (Chinese text runs on across line breaks)."""
    return " " if _is_latin(before[-1]) and _is_latin(after[0]) else ""


def _is_latin(char: str) -> bool:
    return char.isascii() and char.isalpha()
