"""OCR of page images and scanned PDF pages, laid out like a PDF's text layer.

Scanned issues come as page images or as PDFs of images, without text. They are read by
Tesseract (Debian's tesseract-ocr with tesseract-ocr-chi-sim and tesseract-ocr-chi-tra)
and their text is laid out the way :func:`retrieval.parse.pdf.extract_pages` lays out a
text layer: one string per page, one paragraph, headline or label per line, so that
:func:`retrieval.parse.split_articles` reads both alike.

Engine. Measured on six A4 pages at 300 dpi rendered by ``benchmarks/ocr_render.py``
(three columns of corpus articles, scan noise; three Simplified, three Traditional),
character error rate without whitespace and seconds per page on one CPU:

===========================  ==============  ==============  ===========
engine                       Simplified CER  Traditional     s/page
===========================  ==============  ==============  ===========
Tesseract 5.3 (this module)  2.2–4.8%        1.6–3.8%        10.4–13.7
rapidocr_onnxruntime 1.4.4   0.3–0.6%        6.4–9.1%        8–27
===========================  ==============  ==============  ===========

(Tesseract with the page's model, chosen per page as :func:`_script` says, script
detection included; rapidocr (PP-OCRv4 mobile, its wheel ships its models and runs
offline) with its lines put in column order by hand, as it gives lines without any
layout.) rapidocr reads Simplified text far better, but drops or simplifies many
Traditional characters (監, 聯, 誌; 車 as 车), is up to twice as slow, returns no
blocks, columns or reading order, and needs onnxruntime and opencv-python (some 80 MB)
besides; Tesseract is a Debian package with models for both scripts. Tesseract is kept;
rapidocr is the candidate should Simplified accuracy matter more than these.

Layout. Tesseract's page segmentation finds the columns, but not always (it read two
columns with headlines side by side as one, line by line), and its boxes of Chinese
words are a character off at times. So its lines are laid out again, by the layout of
:mod:`retrieval.parse.pdf` (columns cut at gutters, read one after the other, lines
joined into paragraphs from their geometry), from segments made thus:

1. A line is cut where a blank strip as wide as a gutter runs through it in the image
   (1.6 characters); a blank of a character's width is a space (a masthead's items), as
   is the gap between Latin words; Chinese characters are joined without spaces.
2. A segment's text size is the median height of the ink of its Han characters (a
   box can be half as tall again as its glyphs, mostly on short lines, which made the
   last line of a paragraph look like a headline), snapped to the sizes printed. Lines
   set larger than the body text are the headlines, marked as headings.
3. Lines Tesseract split on a lone printed row (a masthead) are joined again; quote
   marks it sees in blank space, and specks, are dropped.

Blocks are separated by a blank line, paragraphs by a line break.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import logging
import os
import shutil
import statistics
import subprocess
import time
import unicodedata
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from retrieval.parse.errors import BadFileError
from retrieval.text import OPENING

__all__ = ["ocr_available", "ocr_images", "ocr_pdf"]

log = logging.getLogger(__name__)

_TESSERACT = "tesseract"
_LANGUAGES = ("chi_sim", "chi_tra")
# The strip a page's script is told from: a sixth of the page, at least two inches.
_PROBE = 1 / 6
_PROBE_INCHES = 2
_TRADITIONAL_MARGIN = 5.0  # points of mean word confidence chi_tra must lead by
_PACKAGES = "tesseract-ocr, tesseract-ocr-chi-sim and tesseract-ocr-chi-tra"
# Tesseract's own guess of the resolution is often far off (it said 515 for a 300 dpi
# page), and its Chinese models want the true one.
_DEFAULT_DPI = 300
_MIN_DPI, _MAX_DPI = 70, 1200
_RENDER_DPI = 300  # scanned PDF pages are rasterised at this resolution
# A4 at 600 dpi is 35 megapixels; anything far beyond it is a decompression bomb, or
# would take Tesseract minutes a page.
_MAX_PIXELS = 80_000_000
_TIMEOUT = 600.0  # seconds a page may take (an A4 page takes about 12 s)

# Distances in fractions of the text size of the line or page concerned (its glyphs'
# height, about one em).
_WIDE_GAP = 0.9  # a blank this wide in a line is a space, even in Chinese
_GUTTER = 1.6  # a blank this wide is a gutter between columns
_MARGIN = 0.1  # blanks are looked for in the line's height but this much at each end
_SLACK = 0.25  # how far a word's box may miss its glyphs' edges, horizontally
_OPENING_BLANK = 0.4  # the blank in an opening bracket's square, left of its ink
_SAME_ROW = 0.4  # line centres closer than this vertically are on one printed row
_TALL = 1.25  # a word box this much taller than its line's text reaches out of it
_SAME_SIZE = 0.2  # relative difference of text heights within one size of text
_SPECK = 0.5  # text smaller than this (relative to the body text) is specks, left out
_SPECK_CHARS = 2  # if it is no more characters than this (else its boxes are wrong)
_INK = 128  # gray levels under this are ink


def ocr_available() -> bool:
    """Whether Tesseract and its Chinese models (Simplified and Traditional) are installed."""
    return _missing() is None


def ocr_images(images: Sequence[Path | Image.Image]) -> list[str]:
    """OCR page images (PNG, JPEG, TIFF, …): one string per page.

    A multi-frame TIFF gives one page per frame. Pages are read in parallel, one
    Tesseract process per CPU; an A4 page at 300 dpi takes about 12 s of
    one CPU.

    Args:
        images: Image files, or images already loaded.

    Returns:
        The text of each page, in order, laid out as described in the module docstring
        ("" for a page without text).

    Raises:
        BadFileError: Tesseract or its Chinese models are missing, a file is not an
            image, is damaged or truncated, or is too large to be a page; an image
            given directly is named ``<image N>`` (N from 1).
    """
    pages: list[tuple[Path, Image.Image, int]] = []
    for number, image in enumerate(images, start=1):
        if isinstance(image, Image.Image):
            name = Path(f"<image {number}>")
            pages.append((name, _page_image(name, image), _dpi(image)))
        else:
            pages.extend((Path(image), frame, dpi) for frame, dpi in _load_frames(Path(image)))
    if not pages:
        return []
    _require_engine(pages[0][0], "page image")
    return _ocr_pages(pages)


def ocr_pdf(path: Path) -> list[str]:
    """Read a PDF page by page: the text layer where there is one, else OCR.

    Pages with text keep their text layer, laid out by
    :func:`retrieval.parse.pdf.extract_pages`; pages without any (scans) are rasterised
    at 300 dpi by PDFium and OCR'd, so a PDF of scans with a few born-digital pages is
    read whole. OCR takes about 12 s of one CPU per A4 page.

    Args:
        path: The PDF file.

    Returns:
        One string per page (1-based page n is item n - 1).

    Raises:
        BadFileError: The PDF cannot be read (see ``extract_pages``), or it has pages
            without text and Tesseract or its Chinese models are missing.
    """
    # Imported here: pdfplumber and PDFium take a noticeable time to load, and text-only
    # runs never need them.
    import pypdfium2

    from retrieval.parse.pdf import extract_pages

    try:
        pages = extract_pages(path)
    except BadFileError:
        # A PDF that PDFium opens and finds without any text is a scan: OCR it whole.
        # Any other failure (damaged, encrypted, text without character codes) stands.
        if not _pdf_has_no_text(path):
            raise
        pdf = pypdfium2.PdfDocument(path)
        pages = [""] * len(pdf)
        pdf.close()
    blank = [number for number, text in enumerate(pages) if not text.strip()]
    if not blank:
        return pages
    if len(blank) == len(pages):
        _require_engine(path, "no text layer")
    elif not ocr_available():
        log.warning(
            "%s: no text layer on page %s, left out: install %s to OCR it",
            path,
            ", ".join(str(n + 1) for n in blank),
            _PACKAGES,
        )
        return pages
    images = _render_pdf_pages(path, blank)
    for number, text in zip(blank, _ocr_pages(images), strict=True):
        pages[number] = text
    return pages


def _pdf_has_no_text(path: Path) -> bool:
    """Whether PDFium opens the PDF and finds no character on any page."""
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(path)
    except pypdfium2.PdfiumError:
        return False
    try:
        for page in pdf:
            text = page.get_textpage()
            if text.count_chars():
                return False
        return True
    finally:
        pdf.close()


def _render_pdf_pages(path: Path, numbers: list[int]) -> list[tuple[Path, Image.Image, int]]:
    import pypdfium2

    pdf = pypdfium2.PdfDocument(path)
    try:
        images = []
        for number in numbers:
            page = pdf[number]
            width, height = page.get_size()  # points
            scale = _RENDER_DPI / 72
            if width * height * scale * scale > _MAX_PIXELS:
                scale = (_MAX_PIXELS / (width * height)) ** 0.5
            bitmap = page.render(scale=scale, grayscale=True)
            images.append((path, bitmap.to_pil().convert("L"), round(scale * 72)))
        return images
    finally:
        pdf.close()


def _missing() -> str | None:
    """What of Tesseract is missing: the program, a language, or nothing (None)."""
    program = shutil.which(_TESSERACT)
    if program is None:
        return "the tesseract program"
    try:
        listed = subprocess.run(
            [program, "--list-langs"], capture_output=True, text=True, timeout=60, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return "a working tesseract program"
    missing = [lang for lang in _LANGUAGES if lang not in listed]
    return f"the {' and '.join(missing)} language data" if missing else None


def _require_engine(path: Path, what: str) -> None:
    missing = _missing()
    if missing:
        raise BadFileError(
            path, f"{what}: install {_PACKAGES} to OCR it ({missing} missing), or OCR it first"
        )


def _load_frames(path: Path) -> Iterator[tuple[Image.Image, int]]:
    """The pages of an image file, grayscale, with their resolution."""
    try:
        # Beyond Pillow's own limit (twice its warning threshold) it refuses to open a
        # file at all; below it, this module's smaller limit applies.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError as err:
        raise BadFileError(path, f"image too large to be a page: {err}") from err
    except UnidentifiedImageError as err:
        empty = path.stat().st_size == 0
        raise BadFileError(path, "empty file" if empty else "not an image, or damaged") from err
    except OSError as err:
        raise BadFileError(path, f"cannot read: {(err.strerror or str(err)).lower()}") from err
    with image:
        for frame in range(getattr(image, "n_frames", 1)):
            try:
                image.seek(frame)
                yield _page_image(path, image), _dpi(image)
            except (OSError, SyntaxError, ValueError, EOFError) as err:
                raise BadFileError(path, f"damaged image: {err}") from err


def _page_image(path: Path, image: Image.Image) -> Image.Image:
    """The image as a grayscale page, transparency on white; refused when implausible."""
    width, height = image.size
    if not width or not height:
        raise BadFileError(path, "empty image (no pixels)")
    if width * height > _MAX_PIXELS:
        raise BadFileError(
            path,
            f"image too large to be a page: {width}×{height} pixels "
            f"(at most {_MAX_PIXELS // 1_000_000} million)",
        )
    if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info:
        rgba = image.convert("RGBA")
        page = Image.new("RGBA", image.size, "white")
        page.alpha_composite(rgba)
        return page.convert("L")
    return image.convert("L")


def _dpi(image: Image.Image) -> int:
    """The resolution an image states, when plausible; else 300 dpi."""
    stated = image.info.get("dpi")
    try:
        dpi = round(float(stated[0])) if stated else 0
    except (TypeError, ValueError, IndexError):
        dpi = 0
    return dpi if _MIN_DPI <= dpi <= _MAX_DPI else _DEFAULT_DPI


def _ocr_pages(pages: list[tuple[Path, Image.Image, int]]) -> list[str]:
    """OCR pages in parallel, one Tesseract process per CPU, logging each page."""
    workers = max(1, min(len(pages), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda job: _ocr_page(*job[1], job[0], len(pages)), enumerate(pages)))


def _ocr_page(path: Path, image: Image.Image, dpi: int, index: int, count: int) -> str:
    started = time.perf_counter()
    language = _script(path, image, dpi)
    text = _layout(_parse_tsv(_tesseract(path, image, dpi, language, "tsv")), np.asarray(image))
    log.info(
        "%s: OCR page %d/%d (%s): %d characters in %.1f s",
        path,
        index + 1,
        count,
        language,
        len(text),
        time.perf_counter() - started,
    )
    return text


def _script(path: Path, image: Image.Image, dpi: int) -> str:
    """The language model for a page: the one that reads a strip of it more confidently.

    Each model reads the other script too, in its own (chi_sim reads 國 as 国), so a
    page is read with the model of its script: measured on rendered pages, chi_sim
    misreads 2-5% of the characters of Simplified pages and chi_tra 1-4% of Traditional
    ones, while chi_sim+chi_tra misreads 11% of Simplified ones. The strip, a sixth of
    the page (two inches at least; a small page whole) across its middle, is read with
    both. Their mean word confidences differed by 3-5 points for chi_sim on Simplified
    pages and by 9-17 for chi_tra on Traditional ones (but a strip of a small page once
    gave chi_tra 3 more on a Simplified one): chi_tra needs a lead of 5. The strip takes
    about a third of the page's time.
    """
    height = max(image.height * _PROBE, _PROBE_INCHES * dpi)
    if 2 * height < image.height:
        top = (image.height - height) / 2
        image = image.crop((0, round(top), image.width, round(top + height)))
    simplified = _confidence(path, image, dpi, "chi_sim")
    traditional = _confidence(path, image, dpi, "chi_tra")
    return "chi_tra" if traditional > simplified + _TRADITIONAL_MARGIN else "chi_sim"


def _confidence(path: Path, image: Image.Image, dpi: int, language: str) -> float:
    """The mean confidence of the words Tesseract reads in an image (0 for none)."""
    tsv = _tesseract(path, image, dpi, language, "tsv")
    rows = csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE)
    confidences = [float(row["conf"]) for row in rows if row["level"] == "5" and row["text"]]
    return statistics.mean(confidences) if confidences else 0.0


@dataclass(frozen=True, slots=True)
class _Word:
    """A word as Tesseract found it; pixels from the image's top-left corner."""

    text: str
    x0: int
    x1: int
    top: int
    bottom: int
    spaced: bool = False  # a wide blank before it is a space


def _tesseract(path: Path, image: Image.Image, dpi: int, language: str, output: str) -> str:
    """Run Tesseract on an image: its ``txt`` or ``tsv`` output."""
    png = io.BytesIO()
    image.save(png, "PNG", compress_level=1)
    # One thread per process: Tesseract's OpenMP threads slow it down several times
    # (44 s instead of 10.5 s a page measured on two CPUs); pages run in parallel instead.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    command = [_TESSERACT, "-", "-", "-l", language, "--dpi", str(dpi), output]
    try:
        done = subprocess.run(
            command, input=png.getvalue(), capture_output=True, timeout=_TIMEOUT, env=env
        )
    except subprocess.TimeoutExpired as err:
        raise BadFileError(path, f"OCR took more than {_TIMEOUT:.0f} s for a page") from err
    except OSError as err:
        raise BadFileError(path, f"cannot run tesseract: {err}") from err
    if done.returncode:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise BadFileError(path, f"OCR failed: {message[-1] if message else done.returncode}")
    return done.stdout.decode("utf-8", errors="replace")


def _parse_tsv(tsv: str) -> list[list[_Word]]:
    """The lines of Tesseract's TSV output, as their words (level 5), in its order."""
    lines: dict[tuple[str, str, str], list[_Word]] = {}
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        text = (row.get("text") or "").strip()
        if row["level"] != "5" or not text:
            continue
        left, top = int(row["left"]), int(row["top"])
        word = _Word(text, left, left + int(row["width"]), top, top + int(row["height"]))
        lines.setdefault((row["block_num"], row["par_num"], row["line_num"]), []).append(word)
    return list(lines.values())


@dataclass(frozen=True, slots=True)
class _Run:
    """Words of a line between wide blanks, with the size and extent of their text."""

    words: list[_Word]
    size: float
    top: float
    bottom: float

    @classmethod
    def of(cls, words: list[_Word]) -> _Run:
        """The run of ``words`` (boxes cut to their ink): the size is the median height of
        the words with Han characters, which fill their square (a few, such as 一 or 口,
        do not; a box reaching into the next line is taller), and top and bottom are the
        medians of the words about that size."""
        # Latin letters and digits stand lower than Han characters, and punctuation says
        # little: its tallest mark stands for the size.
        letters = [word for word in words if any(_is_han(char) for char in word.text)] or [
            word for word in words if any(char.isalnum() for char in word.text)
        ]
        heights = sorted(word.bottom - word.top for word in letters or words)
        size = heights[len(heights) // 2] if letters else heights[-1]
        steady = [word for word in letters or words if word.bottom - word.top <= _TALL * size]
        return cls(
            words,
            size,
            statistics.median(word.top for word in steady),
            statistics.median(word.bottom for word in steady),
        )


def _layout(lines: list[list[_Word]], pixels: np.ndarray) -> str:
    """The page's text, laid out as a PDF's text layer is (see the module docstring)."""
    # Imported here: pdfplumber takes a noticeable time to load.
    from retrieval.parse import pdf

    # Tesseract sees quote marks in wide blanks, a gutter or a masthead's spaces:
    # punctuation without ink under its box is dropped.
    lines = [
        inked
        for words in lines
        if (inked := [ink for w in words if (ink := _to_ink(pixels, w)) is not None])
    ]
    runs: list[tuple[int, _Run]] = []  # (index of the line, run)
    for index, words in enumerate(_join_lone_rows(lines)):
        line = _Run.of(words)
        runs.extend(
            (index, run) for run in _split(words, _wide_blanks(pixels, words, line), line.size)
        )
    if not runs:
        return ""
    sizes = _snap_sizes([run for _, run in runs])
    body = Counter(
        size for (_, run), size in zip(runs, sizes, strict=True) for word in run.words
    ).most_common(1)[0][0]
    # Printed lines top to bottom over the page, as pdf.py numbers its rows.
    tops: dict[int, float] = {}
    for index, run in runs:
        tops[index] = min(tops.get(index, run.top), run.top)
    rows = {index: row for row, index in enumerate(sorted(tops, key=tops.__getitem__))}
    boxes = [
        pdf.Box(
            row=rows[index],
            text=_run_text(run.words),
            x0=run.words[0].x0 - (_OPENING_BLANK * size if run.words[0].text[0] in OPENING else 0),
            x1=max(word.x1 for word in run.words),
            top=run.top,
            bottom=run.bottom,
            size=size,
        )
        for (index, run), size in zip(runs, sizes, strict=True)
        # Tiny boxes of a character or two are specks (or fragments of a glyph).
        if size >= _SPECK * body or len(_run_text(run.words)) > _SPECK_CHARS
    ]
    blocks = pdf.reading_blocks(boxes, pdf.GUTTER * body)
    return "\n\n".join("\n".join(pdf.block_paragraphs(block, body)) for block in blocks)


def _join_lone_rows(lines: list[list[_Word]]) -> list[list[_Word]]:
    """Lines Tesseract split on one printed row (a masthead's items) joined again.

    So they are when they stand side by side closer than a gutter, in one size, with no
    line right above or below them (a column's lines have), as a masthead's do; else
    the page's layout would take the gap between them for a gutter.
    """
    runs = [_Run.of(words) for words in lines]

    def lone(i: int) -> bool:
        a = runs[i]
        return not any(
            min(lines[i][-1].x1, lines[j][-1].x1) > max(lines[i][0].x0, lines[j][0].x0)
            and -a.size < max(runs[j].top - a.bottom, a.top - runs[j].bottom) < a.size
            for j in range(len(lines))
            if j != i
        )

    joined: list[list[_Word]] = []
    previous: int | None = None
    for i, words in enumerate(lines):
        if previous is not None and lone(i) and lone(previous):
            a, b = runs[previous], runs[i]
            gap = words[0].x0 - lines[previous][-1].x1
            if (
                abs((a.top + a.bottom) - (b.top + b.bottom)) / 2 < _SAME_ROW * a.size
                and abs(a.size - b.size) <= _SAME_SIZE * a.size
                and 0 <= gap < _GUTTER * a.size
            ):
                joined[-1] = [*joined[-1], dataclasses.replace(words[0], spaced=True), *words[1:]]
                continue
        joined.append(words)
        previous = i
    return joined


def _to_ink(pixels: np.ndarray, word: _Word) -> _Word | None:
    """A word's box cut down to the rows its glyphs ink; None for punctuation without ink.

    Tesseract's boxes of Chinese words are often far taller than their glyphs (61
    pixels for glyphs of 44, mostly on short lines), which made the last lines of
    paragraphs look like headlines; the ink does not lie. Letters without ink under
    their box keep it.
    """
    box = pixels[max(word.top, 0) : word.bottom, max(word.x0, 0) : word.x1]
    rows = np.flatnonzero((box < _INK).any(axis=1)) if box.size else box
    if not len(rows):
        return word if any(char.isalnum() for char in word.text) else None
    top = max(word.top, 0)
    return dataclasses.replace(word, top=top + int(rows[0]), bottom=top + int(rows[-1]) + 1)


def _wide_blanks(pixels: np.ndarray, words: list[_Word], line: _Run) -> list[tuple[int, int]]:
    """The blank strips as wide as a character across a line: (left, right) in pixels.

    Tesseract's word boxes cannot tell: they are often a character narrower or wider
    than their glyphs. The image can.
    """
    x0, x1 = min(word.x0 for word in words), max(word.x1 for word in words)
    margin = _MARGIN * line.size
    band = pixels[round(line.top + margin) : round(line.bottom - margin), x0:x1]
    if not band.size:
        return []
    inked = np.concatenate(([True], (band < _INK).any(axis=0), [True]))
    # Runs of blank columns: starts where inked turns False, ends where it turns True.
    edges = np.flatnonzero(np.diff(inked.astype(np.int8)))
    return [
        (x0 + int(start), x0 + int(end))
        for start, end in zip(edges[::2], edges[1::2], strict=True)
        if end - start >= _WIDE_GAP * line.size
    ]


def _split(words: list[_Word], blanks: list[tuple[int, int]], size: float) -> list[_Run]:
    """A line's words cut into runs at its gutters, with spaces at its wide blanks.

    A blank as wide as a gutter cuts the line (Tesseract sometimes reads a line across
    columns) between the words whose box centres stand on either side of its centre:
    boxes may be a character off, but not by half a gutter. A narrower blank is a space
    (a masthead's, a headline's) between letters whose boxes stand on either side of
    it, give or take their unsteadiness; not next to punctuation, whose own blank it
    widens, nor inside a word, as the blank of "、" in "F、G" is. ``size`` is the line's
    text size.
    """
    runs: list[list[_Word]] = [[words[0]]]
    for before, word in itertools.pairwise(words):
        if any(
            right - left >= _GUTTER * size
            and (before.x0 + before.x1) / 2 < (left + right) / 2 < (word.x0 + word.x1) / 2
            for left, right in blanks
        ):
            runs.append([word])
            continue
        slack = _SLACK * size
        if (
            before.text[-1].isalnum()
            and word.text[0].isalnum()
            and any(
                before.x1 - slack <= (left + right) / 2 <= word.x0 + slack for left, right in blanks
            )
        ):
            word = dataclasses.replace(word, spaced=True)
        runs[-1].append(word)
    return [_Run.of(run) for run in runs]


def _snap_sizes(runs: list[_Run]) -> list[float]:
    """The runs' text sizes snapped to the sizes printed, so that lines of one size
    compare equal as :mod:`retrieval.parse.pdf` wants.

    The size that has the most characters within 20% of it (the body text's) takes all
    those, then the same is done with the rest, and so on.
    """
    chars = [sum(len(word.text) for word in run.words) for run in runs]
    snapped: list[float | None] = [None] * len(runs)
    while None in snapped:
        left = [i for i, size in enumerate(snapped) if size is None]
        near = {
            i: [j for j in left if abs(runs[j].size - runs[i].size) <= _SAME_SIZE * runs[i].size]
            for i in left
        }
        centre = max(left, key=lambda i: sum(chars[j] for j in near[i]))
        for j in near[centre]:
            snapped[j] = runs[centre].size
    return [size for size in snapped if size is not None]


def _run_text(words: list[_Word]) -> str:
    """Words joined without spaces (Tesseract cuts Chinese text into a word per
    character or so), but between Latin letters and digits and at wide blanks."""
    text = words[0].text
    for before, word in itertools.pairwise(words):
        spaced = word.spaced or (_is_latin(before.text[-1]) and _is_latin(word.text[0]))
        text += (" " if spaced else "") + word.text
    return text


def _is_latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _is_han(char: str) -> bool:
    return unicodedata.east_asian_width(char) == "W" and char.isalpha()
