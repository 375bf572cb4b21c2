"""Text that prints a page's columns side by side: read them one after another.

``pdftotext -layout`` and OCR engines told to keep a page's layout (Tesseract reading a
page as one block with its spaces kept, "formatted text" exports) write the columns of a
page side by side, a run of spaces between them, so that each line holds a line of every
column. Read line by line, the columns' sentences interleave: three-column pages of the
OCR benchmark's issues gave boundary F1 0.16 and a body character error rate of 95%.

A page has columns when, on many of its lines, text starts again after a gutter (a run of
at least :data:`_GUTTER` blank columns) at the same place. Places are counted both in
characters (``pdftotext`` pads each column to a character position) and in printed
columns, a Chinese character taking two (a terminal's or an editor's alignment);
whichever the lines agree on more is the file's. Each line's pieces then go to the column
they start in: one starting a little after a column's start is indented, and a second
piece in a column is text that holds a wide space itself (a headline's "77周年   黄伟哲…").
A line that runs across a gutter (a banner headline, a masthead over all the columns) ends
a band of columns: what is above it is read column by column, then the line, then the
next band.
"""

from __future__ import annotations

import bisect
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.text import SENTENCE_END, char_width, text_width

__all__ = ["read_columns"]

_GUTTER = 3  # blank columns (a full-width space is two) between two columns' text
_NEAR = 2  # a piece starting this close to where a column starts starts the column
_MIN_LINES = 8  # lines on which a column must start, and ...
_MIN_SHARE = 0.3  # ... this share of the page's lines with text
_KNOWN_LINES = 1  # lines enough where other pages have a column
# A line starting this far into its column is set in (two full-width spaces: two
# characters, or four columns on screen); further in, it is centred.
_INDENT = (2, 4)
_INDENT_TEXT = "\u3000\u3000"  # how a paragraph's indent is printed
_CLOSING_MARKS = "）)」』”"  # may follow a sentence's end ("。」"), or end a closing line
_FULL = 0.8  # a line this share of its column's median width runs on to the next
# A line this many times its column's median width is set in smaller type to fit (a
# headline's line too long for the column): ``pdftotext`` leaves blank rows beside it.
_SMALLER = 1.25
# Column text is wrapped prose: most of a column's lines hold many letters (Chinese
# characters, or Hangul or Latin in an article in another language). A table of names
# and telephone numbers is not read column by column.
_MIN_MEDIAN_LETTERS = 6
_RUN_RE = re.compile(r"[ \u3000]+|[^ \u3000]+")


@dataclass(frozen=True)
class _Piece:
    text: str
    start: int  # where it starts on the line, in the page's measure
    end: int


def read_columns(text: str) -> str:
    """``text`` with side-by-side columns read one after another, page by page.

    Args:
        text: The text of a file; form feeds end its pages (pdftotext writes one after
            each). Each page's columns are found on it (pdftotext places them anew on
            every page); a page with fewer columns than most takes the others' next
            columns after its own (the last page, whose last column may hold a line).

    Returns:
        The text as it is when it has no side-by-side columns; else its pages' lines
        (form feeds become line breaks) band by band, in each band the first column's
        lines, then the second's, and so on (a column's blank lines kept: they may be its
        paragraph breaks).
    """
    pages = [page.split("\n") for page in text.split("\f")]
    layouts = []
    for wide in (False, True):
        pieces = [[_pieces(line, wide) for line in lines] for lines in pages]
        found = [_column_starts(page) for page in pieces]
        # A page with fewer columns than most (the last of an issue, its last column a
        # few lines long) may have the others' next columns after its own.
        usual = Counter(len(starts) for starts in found if len(starts) > 1)
        if usual:
            most = usual.most_common(1)[0][0]
            known = sorted({start for starts in found for start in starts})
            found = [
                _column_starts(page, [k for k in known if k > starts[-1] + 2 * _NEAR])
                if len(starts) < most
                else starts
                for page, starts in zip(pieces, found, strict=True)
            ]
        if any(len(starts) > 1 for starts in found):
            layouts.append((_support(pieces, found), found, pieces))
    if not layouts:
        return text.replace("\f", "\n")
    _, found, pieces = max(layouts, key=lambda layout: layout[0])
    out: list[str] = []
    for lines, page_pieces, starts in zip(pages, pieces, found, strict=True):
        band: list[list[str]] = [[] for _ in starts]
        for line, line_pieces in zip(lines, page_pieces, strict=True):
            columns = _assign(line_pieces, starts)
            if columns is None:  # runs across a gutter: a band ends
                out += _read_band(band)
                out.append(line.strip())
                band = [[] for _ in starts]
                continue
            for column, text_there in zip(band, columns, strict=True):
                column.append(text_there)
        out += _read_band(band)
    return "\n".join(out)


def _pieces(line: str, wide: bool) -> list[_Piece]:
    """The line's runs of text between gutters, with where they start and end."""
    pieces: list[_Piece] = []
    position = 0
    start, text = 0, ""
    for run in _RUN_RE.findall(line.rstrip()):
        blank = run[0] in " \u3000"
        if blank and text and sum(2 if c == "\u3000" else 1 for c in run) >= _GUTTER:
            pieces.append(_Piece(text, start, position))
            text = ""
        elif not blank or text:
            if not text:
                start = position
            text += run
        position += sum(2 if wide and char_width(c) == 1.0 else 1 for c in run)
    if text:
        pieces.append(_Piece(text, start, position))
    return pieces


def _column_starts(pieces: list[list[_Piece]], known: Sequence[int] = ()) -> list[int]:
    """Where a page's columns start: 0, and the places where text starts after a gutter
    on enough lines (give or take :data:`_NEAR`) and is prose there; at a place in
    ``known`` (columns found on other pages), one such line is enough, prose or not
    (a list of names and addresses)."""
    with_text = sum(1 for line in pieces if line)
    # Text after a gutter: a line's second piece on, or its first set in further than an
    # indent (the columns before it are blank on that line).
    letters: dict[int, list[int]] = defaultdict(list)  # where text starts → its letters
    for line in pieces:
        for piece in line:
            if piece is not line[0] or piece.start > _INDENT[1]:
                letters[piece.start].append(sum(char.isalpha() for char in piece.text))
    starts = [0]
    for start in sorted(letters, key=lambda s: -len(letters[s])):
        if any(abs(start - found) <= 2 * _NEAR for found in starts):
            continue
        there = [
            n for near in range(start - _NEAR, start + _NEAR + 1) for n in letters.get(near, ())
        ]
        if any(abs(start - column) <= _NEAR for column in known):
            if len(there) >= _KNOWN_LINES:
                starts.append(start)
        elif (
            len(there) >= max(_MIN_LINES, _MIN_SHARE * with_text)
            and statistics.median(there) >= _MIN_MEDIAN_LETTERS
        ):
            starts.append(start)
    return sorted(starts)


def _support(pieces: list[list[list[_Piece]]], found: list[list[int]]) -> int:
    """How many pieces after a gutter start right where a column does: how well a
    measure fits the pages (a line's first piece says nothing: it starts at the first
    column, or is set in)."""
    return sum(
        any(abs(piece.start - s) <= 1 for s in starts)
        for page, starts in zip(pieces, found, strict=True)
        for line in page
        for piece in line[1:]
    )


def _assign(pieces: list[_Piece], starts: list[int]) -> list[str] | None:
    """The line's text in each column; None when a piece runs across a gutter.

    A piece belongs to the column it starts in (an indented paragraph starts a little
    after the column, and keeps its indent); a second piece in one column is text holding
    a wide space itself.
    """
    columns: list[list[str]] = [[] for _ in starts]
    for piece in pieces:
        column = max(bisect.bisect_right(starts, piece.start + _NEAR) - 1, 0)
        if column + 1 < len(starts) and piece.end > starts[column + 1]:
            return None
        # A line set in from its column's start is a paragraph's first line: it keeps
        # its indent, which tells the paragraph's start (retrieval.parse.layout).
        indented = not columns[column] and _INDENT[0] <= piece.start - starts[column] <= _INDENT[1]
        columns[column].append(_INDENT_TEXT + piece.text if indented else piece.text)
    return ["  ".join(texts) for texts in columns]


def _read_band(band: list[list[str]]) -> list[str]:
    """A band's columns one after another.

    Rows blank in every column through which the text of two columns or more runs on
    (each line above as wide as its column's lines are, ending no sentence and no closing
    line, and text below) are no gap: ``pdftotext`` leaves one or two such rows beside
    a line in other type, where they parted a headline's two lines in the benchmark's
    PDFs (its first line read as a section label). They go from each column whose text
    runs on through them, and stay in the others, where they may stand for the column's
    own gap (after a headline that stops short, or a paragraph's end). A line wider than
    its column's lines is that line in other type, set smaller to fit: the rows beside it
    are its own, not its column's gap, even after a sentence's end ("…3月5日开跑！" /
    "8所新建幼儿园成为招生新亮点"); a gap of the column's own would be rows blank in it
    alone, below them.
    Then the rows blank in every column at the band's foot are the page's margin and go,
    and blank lines at a column's foot stand for one (its text ended above, beside
    another column's).
    """
    rows = len(band[0]) if band else 0
    typical = [statistics.median([text_width(t) for t in c if t] or [0.0]) for c in band]

    def runs_through(column: list[str], top: int, end: int, width: float) -> bool:
        above = column[top - 1]
        wide = text_width(above)
        return (
            end < rows
            and bool(above and column[end])
            and wide >= _FULL * width
            and (not _ends_paragraph(above) or wide >= _SMALLER * width)
        )

    blank = [not any(column[row] for column in band) for row in range(rows)]
    drop = [[False] * rows for _ in band]
    for top in range(1, rows):
        if blank[top] and not blank[top - 1]:
            end = top  # a run of blank rows, from ``top`` to before ``end``
            while end < rows and blank[end]:
                end += 1
            through = [
                runs_through(c, top, end, width) for c, width in zip(band, typical, strict=True)
            ]
            if sum(through) >= 2:
                for column_drop, runs in zip(drop, through, strict=True):
                    column_drop[top:end] = [runs] * (end - top)
    band = [
        [text for text, gone in zip(column, column_drop, strict=True) if not gone]
        for column, column_drop in zip(band, drop, strict=True)
    ]
    while band and band[0] and not any(column[-1] for column in band):
        for column in band:
            column.pop()
    out: list[str] = []
    for column in band:
        if column and not column[-1]:
            while column and not column[-1]:
                column.pop()
            column.append("")
        out += column
    return out


def _ends_paragraph(line: str) -> bool:
    """Whether a column's line ends a sentence ("…。", "…！」") or is a closing line
    ("（记者 张三）"); a bracket closed inside a sentence ("…中兴保全科技（股）") runs on."""
    text = line.strip()
    if text[:1] in "（(" and text[-1:] in "）)":
        return True
    return text.rstrip(_CLOSING_MARKS)[-1:] in SENTENCE_END
