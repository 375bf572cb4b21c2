"""OCR of page images and scanned PDF pages, laid out like a PDF's text layer.

Scanned issues come as page images or as PDFs of images, without text or under the
invisible text another OCR made them searchable with (see :func:`ocr_pdf`). They are
read by RapidOCR (PP-OCR models on ONNX Runtime, shipped in its wheel: nothing is
downloaded) and their text is laid out the way :func:`retrieval.parse.pdf.extract_pages`
lays out a text layer: one string per page, one paragraph, headline or label per line,
so that :func:`retrieval.parse.split_articles` reads both alike.

Engine. Measured side by side on six A4 pages at 300 dpi rendered by
``benchmarks/ocr_render.py`` (three columns of corpus articles, scan noise; three
Simplified, three Traditional), alternating page by page on an idle 2-CPU machine:
character error rate of the laid-out page without whitespace, and seconds per page (a
page alone in a new process; then all six through :func:`ocr_images`, which reads
Tesseract's pages two at a time and RapidOCR's one at a time on both CPUs):

====================================  ==============  ==============  ========  ========
engine                                Simplified CER  Traditional     s, alone  s, six
====================================  ==============  ==============  ========  ========
RapidOCR 3.10 (PP-OCRv6 small)        0.18–0.29%      0.35–0.57%      8.6–9.3   6.4
Tesseract 5.3 (before this version)   2.6–5.5%        1.6–2.6%        10.3–10.9 4.8
====================================  ==============  ==============  ========  ========

(Tesseract was run with the page's model, chi_sim or chi_tra, chosen per page from a
strip read with both; RapidOCR's one model reads both scripts.) Over three rendered
issues (``benchmarks/ocr.py --real-ocr``) RapidOCR found every article boundary (F1 1.0
against Tesseract's 0.96 Simplified, 0.90 Traditional) and read 80–82% of the
headlines exactly (91–95% punctuation aside) against Tesseract's 27–36%: Tesseract
misread the large bold headline type. It is a
third slower per page in a batch, and needs OpenCV (headless) and its models, some
80 MB of wheels, where Tesseract was a system package.

Layout. The engine gives text lines with a box per character (per word in Latin
lines), but no columns or reading order, and a line may run across a gutter. So its
lines are laid out by the layout of :mod:`retrieval.parse.pdf` (columns cut at gutters,
read one after the other, lines joined into paragraphs from their geometry), from
segments made thus:

1. A line is cut where a blank strip as wide as a gutter runs through it in the image
   (1.6 characters); a blank of a character's width is a space (a masthead's items), as
   is the gap between Latin words; Chinese characters are joined without spaces.
2. A segment's text size is the median height of the ink of its Han characters (the
   engine's boxes are as tall as their line's, padded), snapped to the sizes printed.
   Lines set larger than the body text are the headlines, marked as headings (not a
   line without a Han character: a URL's letters can measure as large).
3. Lines the engine split on a lone printed row (a masthead) are joined again; marks it
   sees in blank space, and specks, are dropped.

Blocks are separated by a blank line, paragraphs by a line break; the two pages of a
spread in one image are read apart, their texts separated by a form feed
(:data:`~retrieval.parse.marked.PAGE_BREAK`).

Skew. A page photographed or fed askew is read again upright: the layout measures
lines, blanks and gutters along the image's axes, and a page turned by 2° (a phone
photo) came out as 63% wrong characters (5°: 82%), lines of neighbouring columns
interleaved, against 0.2% upright. The engine's text lines show the skew (the median
slope of the wide ones); beyond :data:`_MAX_SKEW` the page is turned back and read
again, which doubles the time of such pages only. Bleed-through from the back of the
sheet, uneven light and a 200 dpi JPEG cost nothing measurable on the same page. A page
fed upside down or scanned on its side read as garbage (98% and 97% wrong characters);
the engine reads it with little confidence, or most of its lines run down the image,
and it is read turned the other ways until one reads upright (:data:`_UPRIGHT`): two to
four reads of such pages, none more of upright ones.

Doubtful characters. Where the engine's runner-up for a Han character comes close
(:data:`_RUNNER_UP`), both readings are kept until every page of the issue is read, and
the one its other readings of the same words support stands (:func:`_settle`): a
headline read "…人次破干" on page 8 (干 0.52, 千 0.48) is "…人次破千" on page 1. Over
the benchmark's three rendered issues (Simplified), headlines read exactly went from
0.909 to 0.932 and hit@5 from 0.884 to 0.907, in the same OCR time; the Traditional,
photographed, illustrated and bowed pages read as before.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import math
import re
import statistics
import threading
import time
import unicodedata
import warnings
from collections import Counter
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from retrieval.parse.errors import BadFileError
from retrieval.text import HAN_RE, OPENING, jieba_rs

__all__ = ["ocr_available", "ocr_image_files", "ocr_images", "ocr_pdf"]

log = logging.getLogger(__name__)

_PACKAGE = "the rapidocr package (pip install rapidocr)"
_ENGINE_LOCK = threading.Lock()
_RENDER_DPI = 300  # scanned PDF pages are rasterised at this resolution
# The engine scales an image down to this many pixels on its long side (an A4 page at
# 300 dpi to 57%) before it reads it; an image wider than tall (a spread: two pages side
# by side) is scaled by its height instead, as each of its pages would be alone.
_ENGINE_SIDE = 2000
# A4 at 600 dpi is 35 megapixels; anything far beyond it is a decompression bomb, or
# would take the engine minutes a page.
_MAX_PIXELS = 80_000_000

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
_INK = 128  # gray levels under this are ink (on paper made white, see _flattened)
# A Han character inking less than this share of its line's median character is the back
# of the sheet: show-through inked 0.7–1% of its neighbours on the photographed spreads,
# the faintest printed character ("一") 17% at least, over 240,000 characters read.
_FAINT = 0.05
# The paper's brightness is taken on the page reduced this many times, as the brightest
# pixel within a window of this many (about 100 pixels at 300 dpi: a large character).
_PAPER_REDUCE = 16
_PAPER_WINDOW = 7
# Pages turned by more than this (degrees) are read again upright. Rendered scans turned
# by up to 0.4° read as well as straight ones.
_MAX_SKEW = 0.5
_SKEW_LINES = 5  # wide lines needed to tell a page's skew
# A page turned by a quarter or upside down (fed so, or scanned across) reads as garbage:
# where most of its lines (of this many characters or more) run down the page, or the
# engine reads it with less confidence than this (per character: upright pages of every
# benchmark style 0.99 and more, the same pages upside down 0.6-0.71), it is read turned
# the other ways too, and a turn that reads upright with at least that confidence stands.
_UPRIGHT = 0.9
_ORIENTING_CHARS = 4
_WIDE_LINE = 3.0  # a line box this many times wider than tall shows the text's slope
# The engine's Chinese models read a number's separators as the full-width marks of the
# text around it ("1,703户" as "1，703户"), and a question's "1,703" then matches no
# passage; a full-width comma before exactly three digits, or a full-width full stop
# between digits, inside a number is its separator, on one printed line or where the
# number runs over two ("1，" ending one line, "703户" opening the next: the passage of
# the benchmark's rendered issue that a question asks "1,703户" of).
_NUMBER_COMMA_RE = re.compile(r"(?<=\d)，(?=\n?\d{3}(?!\d))")
_NUMBER_POINT_RE = re.compile(r"(?<=\d)．(?=\n?\d)")
# A Han character the engine reads with a runner-up, a Han character too, at least this
# likely (relative) is settled against the rest of the issue (see _settle). At 0.2, a
# bowed page's "破千" (千 0.81, 干 0.19) was outvoted by another page's wrong "破干" read
# surely, and hit@5 fell by 0.047; only near-ties are doubtful.
_RUNNER_UP = 0.5


def ocr_available() -> bool:
    """Whether the OCR engine (RapidOCR, with its Chinese models) can be loaded."""
    return _missing() is None


def ocr_images(images: Sequence[Path | Image.Image]) -> list[str]:
    """OCR page images (PNG, JPEG, TIFF, …): one string per page.

    A multi-frame TIFF gives one page per frame. Pages are read one after the other,
    each on every CPU: an A4 page at 300 dpi takes 6–9 s on two.

    Args:
        images: Image files, or images already loaded.

    Returns:
        The text of each page, in order, laid out as described in the module docstring
        ("" for a page without text; a spread's two pages apart at a form feed).

    Raises:
        BadFileError: The OCR engine cannot be loaded, a file is not an
            image, is damaged or truncated, or is too large to be a page; an image
            given directly is named ``<image N>`` (N from 1).
    """
    pages: list[tuple[Path, Image.Image]] = []
    for number, image in enumerate(images, start=1):
        if isinstance(image, Image.Image):
            name = Path(f"<image {number}>")
            pages.append((name, _page_image(name, image)))
        else:
            pages.extend((Path(image), frame) for frame in _load_frames(Path(image)))
    if not pages:
        return []
    _require_engine(pages[0][0], "page image")
    return _ocr_pages(pages)


def ocr_image_files(paths: Sequence[Path]) -> dict[Path, list[str] | BadFileError]:
    """OCR the page image files of one issue (a page a file, or several frames of a
    TIFF) as :func:`ocr_images` does, each file on its own: one that cannot be read does
    not stop the others. The characters the engine was unsure of are settled against all
    of them, as an issue repeats its headlines and names from page to page.

    Returns:
        Each file's pages, or the error saying why it could not be read.
    """
    frames: dict[Path, list[Image.Image] | BadFileError] = {}
    for path in paths:
        try:
            frames[path] = list(_load_frames(path))
        except BadFileError as err:
            frames[path] = err
    pages = [
        (path, frame)
        for path, read in frames.items()
        if not isinstance(read, BadFileError)
        for frame in read
    ]
    if pages:
        try:
            _require_engine(pages[0][0], "page image")
        except BadFileError as err:
            return {path: BadFileError(path, err.reason) for path in paths}
    texts = iter(_ocr_pages(pages))
    return {
        path: read if isinstance(read, BadFileError) else [next(texts) for _ in read]
        for path, read in frames.items()
    }


def ocr_pdf(path: Path) -> list[str]:
    """Read a PDF page by page: the text layer where there is one, else OCR.

    Pages with text keep their text layer, laid out by
    :func:`retrieval.parse.pdf.extract_pages`; pages without any (scans) are rasterised
    at 300 dpi by PDFium and OCR'd, so a PDF of scans with a few born-digital pages is
    read whole. OCR takes 6–9 s per A4 page on two CPUs.

    A scan that another OCR made searchable (a copier's "searchable PDF", ``ocrmypdf``)
    has a text layer too, but one that nobody sees: invisible text over the page's image
    (:func:`_hidden_layer_pages`). Such pages are OCR'd again from their image when the
    engine is installed: Tesseract's layer (``ocrmypdf -l chi_sim``) over the benchmark's
    scanned pages read with F1 0.875, headlines 0.25 and 8% wrong characters, its
    Chinese spaced out character by character, where this engine reads the same images
    with F1 1.0, headlines 0.955 and 0.16%. Without the engine their layer is read.

    Args:
        path: The PDF file.

    Returns:
        One string per page (1-based page n is item n - 1).

    Raises:
        BadFileError: The PDF cannot be read (see ``extract_pages``), or it has pages
            without text and the OCR engine cannot be loaded.
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
    if ocr_available():
        hidden = _hidden_layer_pages(path, exclude=set(blank))
        if hidden:
            log.info(
                "%s: page %s: an OCR text layer over a scan, read again by OCR",
                path,
                ", ".join(str(n + 1) for n in hidden),
            )
            blank = sorted({*blank, *hidden})
    if not blank:
        return pages
    if len(blank) == len(pages):
        _require_engine(path, "no text layer")
    elif not ocr_available():
        log.warning(
            "%s: no text layer on page %s, left out: install %s to OCR it",
            path,
            ", ".join(str(n + 1) for n in blank),
            _PACKAGE,
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


def _hidden_layer_pages(path: Path, exclude: Container[int] = ()) -> list[int]:
    """The pages (0-based, but those in ``exclude``) whose text is all invisible, over
    an image: a scan under the text layer another OCR made (PDF text render mode 3, as
    Tesseract, ocrmypdf and scanners' "searchable PDF" write it)."""
    import pypdfium2

    pdf = pypdfium2.PdfDocument(path)
    try:
        return [
            number
            for number, page in enumerate(pdf)
            if number not in exclude and _is_hidden_layer(page)
        ]
    finally:
        pdf.close()


def _is_hidden_layer(page: Any) -> bool:
    """Whether a PDFium page has text, none of it visible, and an image."""
    import pypdfium2.raw as pdfium_c

    text = image = False
    for item in page.get_objects(max_depth=3):
        if item.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            image = True
        elif item.type == pdfium_c.FPDF_PAGEOBJ_TEXT:
            mode = pdfium_c.FPDFTextObj_GetTextRenderMode(item.raw)
            if mode != pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE:
                return False  # printed text (an e-paper's): the page's layer is its own
            text = True
    return text and image


def _render_pdf_pages(path: Path, numbers: list[int]) -> list[tuple[Path, Image.Image]]:
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
            images.append((path, bitmap.to_pil().convert("L")))
        return images
    finally:
        pdf.close()


def _missing() -> str | None:
    """Why the OCR engine cannot be loaded, or None when it can."""
    try:
        import rapidocr  # noqa: F401
    except ImportError as err:  # OpenCV can fail to load too (a missing system library)
        return str(err)
    return None


def _require_engine(path: Path, what: str) -> None:
    missing = _missing()
    if missing:
        raise BadFileError(
            path, f"{what}: install {_PACKAGE} to OCR it ({missing}), or OCR it first"
        )


def _load_frames(path: Path) -> Iterator[Image.Image]:
    """The pages of an image file, grayscale, upright as the camera's orientation tag
    says (a phone held upright stores its photo sideways and tags it so)."""
    _read_heif()
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
                yield _page_image(path, ImageOps.exif_transpose(image))
            except (OSError, SyntaxError, ValueError, EOFError) as err:
                raise BadFileError(path, f"damaged image: {err}") from err


@functools.cache
def _read_heif() -> None:
    """Let Pillow open HEIC/HEIF photos (pillow-heif's plugin, registered on first use)."""
    from pillow_heif import register_heif_opener

    register_heif_opener()


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


def _ocr_pages(pages: list[tuple[Path, Image.Image]]) -> list[str]:
    """OCR pages one after the other (the engine uses every CPU), logging each page; the
    characters it could not tell apart are settled against all the pages (see
    :func:`_settle`) before each page is laid out."""
    read = [_read_page(path, image, index, len(pages)) for index, (path, image) in enumerate(pages)]
    settled = _settle([lines for lines, _ in read])
    return [
        _layout(lines, _flattened(image)) for lines, (_, image) in zip(settled, read, strict=True)
    ]


def _read_page(
    path: Path, image: Image.Image, index: int, count: int
) -> tuple[list[list[_Word]], Image.Image]:
    """A page's text lines, and the page as read (turned upright if it was upside down,
    on its side or askew)."""
    started = time.perf_counter()
    reading = _read_lines(image)
    # A page on its side may read as a few short lines with little confidence, as one
    # upside down does: such a page is tried every way, the likeliest first (a blank one
    # not at all).
    turns: tuple[int, ...] = ()
    if reading.sideways:
        turns = (90, 270)
    elif reading.lines and reading.score < _UPRIGHT:
        turns = (180, 90, 270)
    for turn in turns:
        turned = image.rotate(turn, expand=True)
        again = _read_lines(turned)
        if not again.sideways and again.score >= _UPRIGHT:
            log.info("%s: page %d is turned by %d°: read upright", path, index + 1, turn)
            image, reading = turned, again
            break
    lines, skew = reading.lines, reading.skew
    if abs(skew) > _MAX_SKEW:
        log.info("%s: page %d is turned by %.1f°: reading it again upright", path, index + 1, skew)
        image = image.rotate(-skew, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
        lines = _read_lines(image).lines
    log.info(
        "%s: OCR page %d/%d: %d lines in %.1f s",
        path,
        index + 1,
        count,
        len(lines),
        time.perf_counter() - started,
    )
    return lines, image


def _flattened(image: Image.Image) -> np.ndarray:
    """The page's grey levels with its paper made white, for the layout to tell ink by.

    A phone photo's light falls off towards a corner, where the paper turns as grey as
    the back of the sheet showing through elsewhere, and a fixed threshold takes the
    one for ink or the other for paper. So each pixel is divided by the paper's
    brightness around it: the brightest pixel within about a character, smoothed (the
    largest glyphs leave paper that close). The engine reads the photo as it is.
    """
    small = image.reduce(_PAPER_REDUCE)
    paper = small.filter(ImageFilter.MaxFilter(_PAPER_WINDOW)).filter(ImageFilter.GaussianBlur(2))
    light = np.asarray(paper.resize(image.size, Image.Resampling.BILINEAR), dtype=np.float32)
    pixels = np.asarray(image, dtype=np.float32) * 255.0 / np.maximum(light, 1.0)
    return pixels.clip(0, 255).astype(np.uint8)


@functools.cache
def _engine() -> Any:
    """The OCR engine, loaded once (about a second): RapidOCR with the models its wheel
    ships, on ONNX Runtime, one thread per CPU."""
    # Imported here: OpenCV and the models take a noticeable time to load.
    from rapidocr import RapidOCR

    engine = RapidOCR(params={"Global.log_level": "error", "Global.use_cls": False})
    # The runner-up characters are read off the recogniser's decoder, an internal of the
    # rapidocr version pinned; without it the engine's first choices stand.
    try:
        recogniser = engine._load_rec_model()
        recogniser.postprocess_op = _RunnerUps(recogniser.postprocess_op)
    except AttributeError:
        log.warning("rapidocr's recogniser has changed: characters are not settled by the issue")
    return engine


# A character the engine was unsure of: its first two readings with their probabilities.
_Choices = tuple[tuple[str, float], tuple[str, float]]


class _RunnerUps:
    """The engine's CTC decoder, keeping for each line it decodes the Han characters whose
    runner-up, a Han character too, is at least :data:`_RUNNER_UP` times as likely: ``found``
    maps a line's text to {character index: the two characters and their probabilities}."""

    def __init__(self, decode: Any) -> None:
        self._decode = decode
        self.found: dict[str, dict[int, _Choices]] = {}

    def __call__(self, preds: np.ndarray, return_word_box: bool = False, **kwargs: Any) -> Any:
        lines, words = self._decode(preds, return_word_box, **kwargs)
        characters = self._decode.character
        ignored = self._decode.get_ignored_tokens()
        for (text, _), probs in zip(lines, preds, strict=True):
            best = probs.argmax(axis=1)
            # The steps the decoder makes characters of: a run's first, not a blank.
            steps = np.flatnonzero(np.r_[True, best[1:] != best[:-1]] & ~np.isin(best, ignored))
            if len(steps) != len(text):
                continue
            rows = probs[steps]
            firsts = best[steps]
            two = np.argpartition(rows, -2, axis=1)[:, -2:]  # the two likeliest, unordered
            seconds = np.where(two[:, 1] == firsts, two[:, 0], two[:, 1])
            p = rows[np.arange(len(steps)), firsts]
            q = rows[np.arange(len(steps)), seconds]
            close: dict[int, _Choices] = {}
            for position in np.flatnonzero(q >= _RUNNER_UP * p).tolist():
                first, second = characters[firsts[position]], characters[seconds[position]]
                if HAN_RE.fullmatch(first) and HAN_RE.fullmatch(second):
                    close[position] = ((first, float(p[position])), (second, float(q[position])))
            if close:
                self.found[text] = close
        return lines, words


@dataclass(frozen=True, slots=True)
class _Word:
    """A word as the engine found it (a Han character, a Latin word or number, a mark);
    pixels from the image's top-left corner."""

    text: str
    x0: int
    x1: int
    top: int
    bottom: int
    spaced: bool = False  # a blank before it is a space
    # A Han character's reading when the engine's runner-up came close: both characters
    # with their probabilities (see _RunnerUps); empty when it was sure.
    choices: _Choices | tuple[()] = ()


class _Reading(NamedTuple):
    """What the engine read on a page.

    Attributes:
        lines: The text lines it found, as their words, in its order.
        skew: The page's skew in degrees (see :func:`_skew`).
        score: The engine's confidence, averaged over the characters; 0 for no text.
        sideways: Most lines of some length run down the page (it lies on its side).
    """

    lines: list[list[_Word]]
    skew: float
    score: float
    sideways: bool


def _read_lines(image: Image.Image) -> _Reading:
    """What the engine reads on a page (see :class:`_Reading`)."""
    with _ENGINE_LOCK:  # one page at a time: the engine is not documented thread-safe
        engine = _engine()
        decoder = getattr(engine.text_rec, "postprocess_op", None)
        found = decoder.found if isinstance(decoder, _RunnerUps) else {}
        found.clear()
        engine.max_side_len = _ENGINE_SIDE * max(1.0, image.width / image.height)
        result = engine(np.asarray(image.convert("RGB")), return_word_box=True)
        found = dict(found)
    if not result.txts:
        return _Reading([], 0.0, 0.0, sideways=False)
    lines = [
        _words(text, boxes, found.get(text, {}))
        for text, boxes in zip(result.txts, result.word_results, strict=True)
    ]
    chars = sum(map(len, result.txts))
    score = sum(s * len(t) for t, s in zip(result.txts, result.scores, strict=True)) / chars
    down = [
        _runs_down(quad)
        for text, quad in zip(result.txts, result.boxes, strict=True)
        if len(text) >= _ORIENTING_CHARS
    ]
    return _Reading(
        [words for words in lines if words],
        _skew(result.boxes),
        score,
        sideways=len(down) >= _SKEW_LINES and sum(down) > len(down) / 2,
    )


def _runs_down(quad: Any) -> bool:
    """Whether a text line's box (its four corners, clockwise from the top left as the
    engine read it) is taller than wide: the line runs down the image."""
    (x0, y0), (x1, y1), _, (x3, y3) = quad[:4]
    return math.hypot(x3 - x0, y3 - y0) > math.hypot(x1 - x0, y1 - y0)


def _settle(pages: list[list[list[_Word]]]) -> list[list[list[_Word]]]:
    """The pages' lines with each character the engine was unsure of (``choices``) read
    as the issue reads it where the same words recur.

    The engine read a headline's "破千" as "破干" (0.52 against 0.48) where the page before
    has it as "破千" (0.68 against 0.31): an issue repeats its headlines, names and terms.
    Each of the two characters gets the probabilities with which the engine read a
    character in the same place, after the same two characters or before the same two,
    anywhere in the issue (a sure reading counting 1), and the likelier one stands. Where
    nothing recurs, a character jieba reads as part of a word with its neighbours wins
    over one it does not ("已经" against "己经"); else the engine's first choice stands.
    """
    votes: dict[tuple[str, str], Counter[str]] = {}
    for page in pages:
        for line in page:
            for _, word, context in _contexts(line):
                for char, odds in word.choices or ((word.text, 1.0),):
                    votes.setdefault(context, Counter())[char] += odds

    def settle(line: list[_Word]) -> list[_Word]:
        text = "".join(word.text for word in line)
        seen: dict[int, list[Counter[str]]] = {}
        for at, _, context in _contexts(line):
            seen.setdefault(at, []).append(votes[context])
        settled = []
        for at, word in _placed(line):
            if word.choices:
                (first, p), (second, q) = word.choices
                here = seen.get(at, [])
                p_all, q_all = sum(c[first] for c in here), sum(c[second] for c in here)
                recurs = p_all + q_all > (p + q) * len(here)
                if (recurs and q_all > p_all) or (
                    not recurs and _in_word(text, at, second) and not _in_word(text, at, first)
                ):
                    word = dataclasses.replace(word, text=second)
            settled.append(word)
        return settled

    return [
        [settle(line) if any(w.choices for w in line) else line for line in page] for page in pages
    ]


def _placed(line: list[_Word]) -> Iterator[tuple[int, _Word]]:
    """A line's words with where each starts in the line's text."""
    at = 0
    for word in line:
        yield at, word
        at += len(word.text)


def _contexts(line: list[_Word]) -> Iterator[tuple[int, _Word, tuple[str, str]]]:
    """Each Han character of a line, where it is, with the two characters before it and
    the two after it (where the line has them), as ("<", before) and (">", after)."""
    text = "".join(word.text for word in line)
    for at, word in _placed(line):
        if len(word.text) == 1 and HAN_RE.fullmatch(word.text):
            if at >= 2:
                yield at, word, ("<", text[at - 2 : at])
            if at + 3 <= len(text):
                yield at, word, (">", text[at + 1 : at + 3])


def _in_word(text: str, at: int, char: str) -> bool:
    """Whether jieba reads ``char``, put at ``at`` in ``text``, as part of a word."""
    start = max(0, at - 3)
    offset = at - start
    for word in jieba_rs().cut(text[start:at] + char + text[at + 1 : at + 4], False):
        if offset < len(word):
            return len(word) > 1
        offset -= len(word)
    return False


def _skew(quads: Sequence[Any]) -> float:
    """Degrees the page's text lines slope by (the median over its wide line boxes;
    positive: rising to the right, as in a page turned anticlockwise); 0 when too few
    lines tell."""
    slopes = []
    for quad in quads:
        (x0, y0), (x1, y1), _, (x3, y3) = quad[:4]
        width, height = math.hypot(x1 - x0, y1 - y0), math.hypot(x3 - x0, y3 - y0)
        if width > _WIDE_LINE * height:
            slopes.append(math.degrees(math.atan2(y0 - y1, x1 - x0)))
    return statistics.median(slopes) if len(slopes) >= _SKEW_LINES else 0.0


def _words(
    text: str, boxes: Sequence[tuple[str, float, Any]], runner_ups: dict[int, _Choices]
) -> list[_Word]:
    """A line's words from the engine's text and its boxes of characters or words.

    The boxes are of the line's characters, or of its words in mostly Latin lines,
    without the spaces the text has. Han characters stay one a word, as the layout
    measures their ink one by one, each with its runner-up if it has one (``runner_ups``:
    by index in ``text``); letters and digits that touch are joined into a word, so that
    spaces go between words alone.
    """
    words: list[_Word] = []
    position = 0
    for piece, _, quad in boxes:
        piece = "".join(piece.split())
        start = position
        while position < len(text) and text[position].isspace():
            position += 1
        if not piece or quad is None or text[position : position + len(piece)] != piece:
            return []  # text and boxes disagree: no trustworthy geometry for the line
        position += len(piece)
        xs, ys = [round(x) for x, _ in quad], [round(y) for _, y in quad]
        word = _Word(
            piece,
            min(xs),
            max(xs),
            min(ys),
            max(ys),
            spaced=position - len(piece) > start,
            choices=runner_ups.get(position - 1, ()) if len(piece) == 1 else (),
        )
        if words and not word.spaced and _is_latin(words[-1].text[-1]) and _is_latin(piece[0]):
            before = words[-1]
            word = _Word(
                before.text + piece,
                before.x0,
                word.x1,
                min(before.top, word.top),
                max(before.bottom, word.bottom),
                before.spaced,
            )
            words[-1] = word
            continue
        words.append(word)
    return words


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

    lines = [inked for words in lines if (inked := _inked_line(pixels, words))]
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
    # A line without a Han character (a URL, a phone number, an English name) is no
    # headline of a Chinese page, however tall its ink: letters and digits reach above
    # and below, and a long word's box on a bowed sheet slants over two lines' height
    # (a URL at the top of a page was read as a headline).
    latin = {index for index, _ in runs} - {
        index for index, run in runs for word in run.words if any(map(_is_han, word.text))
    }
    sizes = [
        min(size, body) if index in latin else size
        for (index, _), size in zip(runs, sizes, strict=True)
    ]
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
    text = pdf.laid_out(boxes, body, between_blocks="\n\n")
    return _NUMBER_POINT_RE.sub(".", _NUMBER_COMMA_RE.sub(",", text))


def _join_lone_rows(lines: list[list[_Word]]) -> list[list[_Word]]:
    """Lines the engine split on one printed row (a masthead's items) joined again.

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


def _inked_line(pixels: np.ndarray, words: list[_Word]) -> list[_Word]:
    """A line's words with their boxes cut down to the rows their glyphs ink.

    The engine's boxes of characters are as tall as the line it detected, padded
    (Tesseract's were up to 61 pixels for glyphs of 44, mostly on short lines, which
    made the last lines of paragraphs look like headlines); the ink does not lie.
    Latin words and numbers without ink under their box keep it (their boxes are the
    engine's guess within the line). An engine may see quote marks in wide blanks, a
    gutter or a masthead's spaces (Tesseract did): punctuation without ink under its box
    is dropped. A line with no ink at all is the back of the sheet showing through, in
    grey (see :func:`_flattened`): none of it is kept; nor is a Han character with no
    ink or next to none (:data:`_FAINT`), the back's print read on as part of a line: a
    photographed spread's headline "…交流及参访" went on "完 杀", grey under the fold's
    shadow, from the back of "秒杀完售" beside it, and "…移动剧场 《列车" read a "才"
    in its wide blank, five dark pixels where its neighbours had hundreds.
    """
    # Each word with the top of its box and the box's ink, a mask of pixels.
    inks: list[tuple[_Word, int, np.ndarray]] = []
    for word in words:
        top = max(word.top, 0)
        inks.append((word, top, pixels[top : word.bottom, max(word.x0, 0) : word.x1] < _INK))
    han = [int(ink.sum()) for word, _, ink in inks if ink.any() and any(map(_is_han, word.text))]
    faint = _FAINT * statistics.median(han) if han else 0.0
    kept: list[_Word] = []
    inked = False
    for word, top, ink in inks:
        rows = np.flatnonzero(ink.any(axis=1))
        is_han = any(map(_is_han, word.text))
        if len(rows) and not (is_han and ink.sum() <= faint):
            inked = True
            kept.append(
                dataclasses.replace(word, top=top + int(rows[0]), bottom=top + int(rows[-1]) + 1)
            )
        elif any(char.isalnum() for char in word.text) and not is_han:
            kept.append(word)
    return kept if inked else []


def _wide_blanks(pixels: np.ndarray, words: list[_Word], line: _Run) -> list[tuple[int, int]]:
    """The blank strips as wide as a character across a line: (left, right) in pixels.

    The engine's boxes cannot tell: they are estimated from where it read each
    character, often a fraction of one off. The image can.
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

    A blank as wide as a gutter cuts the line (an engine may read a line across
    columns, where a headline's line meets the next column's) between the words whose
    box centres stand on either side of its centre: boxes may be a character off, but
    not by half a gutter. A narrower blank is a space
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
    """Words joined without spaces (a Han character is a word of its own), but between
    Latin words and numbers and where the engine or a wide blank puts a space."""
    text = words[0].text
    for before, word in itertools.pairwise(words):
        spaced = word.spaced or (_is_latin(before.text[-1]) and _is_latin(word.text[0]))
        text += (" " if spaced else "") + word.text
    return text


def _is_latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _is_han(char: str) -> bool:
    return unicodedata.east_asian_width(char) == "W" and char.isalpha()
