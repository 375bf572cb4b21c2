"""Read issue files: text, PDF and page image files, page files of one issue, metadata.

Metadata precedence in :func:`read_issue`: explicit metadata wins over inference, so a
sidecar ``NAME.meta.json`` beats front matter, which beats the file name, which beats
the masthead printed in the text.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from retrieval.documents import Article, Issue
from retrieval.parse.articles import split_articles
from retrieval.parse.cleanup import is_complete, join_lines
from retrieval.parse.columns import read_columns
from retrieval.parse.decode import decode_text
from retrieval.parse.errors import BadFileError
from retrieval.parse.furniture import jumps_in
from retrieval.parse.marked import PAGE_BREAK, has_headings
from retrieval.parse.masthead import (
    MASTHEAD_LINES,
    is_masthead_line,
    masthead_date,
    masthead_title,
    valid_date,
)

_MARKDOWN_SUFFIX = ".md"
_TEXT_SUFFIXES = frozenset({".txt", ".text", _MARKDOWN_SUFFIX})
_PDF_SUFFIX = ".pdf"
# Page images, OCR'd: scanners' (a multi-frame TIFF is several pages) and phones' (HEIC
# from iPhones, WebP from messengers).
_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".heic", ".heif", ".webp"})
# The issue files a folder scan picks up (retrieval.ingest, retrieval.watch): all that
# read_issue reads but Markdown, which a bulletins folder holds as its README.md.
ISSUE_SUFFIXES = frozenset({".txt", ".text", _PDF_SUFFIX, *_IMAGE_SUFFIXES})
_NAME_DATE_RE = re.compile(r"(?<!\d)(\d{4})([-_]?)(\d{2})\2(\d{2})(?!\d)")
# A page file: the issue's date, then the page number ("2024-03-01_02", "20240301-3",
# "jcb_2024_03_01_p2", "2024-03-01_page04", "2024-03-01_第5版").
_PAGE_FILE_RE = re.compile(
    r"^(?P<key>.*?(?<!\d)(?P<year>\d{4})(?P<sep>[-_]?)(?P<month>\d{2})(?P=sep)(?P<day>\d{2}))"
    r"[-_](?:p|page|第)?(?P<page>\d{1,3})版?$",
    re.IGNORECASE,
)
_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n((?:.*\n)*?)---[ \t]*(?:\n|\Z)")
_FRONT_MATTER_LINE_RE = re.compile(r"^\s*([A-Za-z_]+)\s*:\s*(.*?)\s*$")
_ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def read_issue(path: Path) -> Issue:
    """Read one issue file into an :class:`Issue`.

    Text files (.txt, .text, .md) are decoded and their layout recognised by
    :func:`split_articles`. PDFs go through :func:`retrieval.parse.pdf.extract_pages` (text
    layer, columns kept apart) and then the same :func:`split_articles`, page by page;
    each article's ``page`` is its page in the PDF, counted from 1 (or from the page a
    sidecar states). PDF pages without text (scans) and page images (.png, .jpg, .jpeg,
    .tif, .tiff; a multi-frame TIFF is several pages) are OCR'd by
    :mod:`retrieval.parse.ocr` (RapidOCR, 6–9 s an A4 page) into the same kind of
    text, and numbered the same way.

    Metadata comes from, in order of precedence (explicit metadata wins over
    inference): a sidecar ``NAME.meta.json`` (keys ``title``, ``date`` "YYYY-MM-DD",
    ``page``/``pages``), front matter at the top of a text file (``---`` / ``key: value``
    lines / ``---``, same keys), a date in the file name (``2024-03-01``, ``2024_03_01``
    or ``20240301``), and the masthead in the first lines (``2024年3月1日``, title and
    ``第N期``). A date nothing states is None, never guessed. A sidecar or front-matter
    page applies to every article of a text file.

    The page files of an issue (``2024-03-01_01.pdf``, ``2024-03-01_02.pdf``) are read
    together by :func:`read_issue_files`; read here, such a file is an issue of its own.

    Args:
        path: A .txt, .text, .md, .pdf, .png, .jpg, .jpeg, .tif or .tiff file.

    Returns:
        The issue; ``issue_id`` is the file stem, ``source`` is ``str(path)``.

    Raises:
        BadFileError: The file is not a supported type, cannot be read or decoded, is
            empty, is a damaged image or PDF, needs OCR while the engine is not installed,
            carries invalid metadata, or holds no article.
    """
    file = _read_file(Path(path))
    title, date = _title_and_date(file, file.meta, file.path.stem)
    return Issue(
        issue_id=file.path.stem,
        source=str(file.path),
        title=title,
        date=date,
        articles=_articles(file, None),
    )


def group_issue_files(paths: Sequence[Path]) -> list[list[Path]]:
    """Group issue files by issue: the page files of an issue together, others alone.

    A page file is named after its issue's date followed by a page number:
    ``2024-03-01_01.pdf``, ``2024-03-01-2.txt``, ``jcb_20240301_p3.pdf``,
    ``2024_03_01_page04.pdf``, ``2024-03-01_第5版.pdf``, ``2024-03-01_06.png``. Page files
    in the same folder whose names agree up to the end of the date make one issue,
    whatever their type (a scanned page may come as an image or as OCR'd text among
    PDFs). A name with no page number after
    the date (``2024-03-01.txt``) or no date (``000_d59eaba95ec30256.txt``) is an issue
    of its own.

    Args:
        paths: Issue files, e.g. from a folder scan; repeats are ignored.

    Returns:
        One list per issue, in the order of their first file, for
        :func:`read_issue_files`; page files are sorted by page number.
    """
    groups: dict[tuple[Path, str] | Path, list[tuple[int, Path]]] = {}
    for path in dict.fromkeys(Path(p) for p in paths):
        name = _page_name(path)
        key = (path.parent, name.key) if name else path
        groups.setdefault(key, []).append((name.page if name else 0, path))
    return [[path for _, path in sorted(group)] for group in groups.values()]


def read_issue_files(paths: Sequence[Path]) -> tuple[Issue, list[BadFileError]]:
    """Read the files of one issue, as grouped by :func:`group_issue_files`.

    A lone file that is not a page file is read by :func:`read_issue`. Page files make
    one issue:

    * ``issue_id`` is their name up to the end of the date (``2024-03-01`` for
      ``2024-03-01_02.pdf``);
    * the articles come page by page; ``page`` is the page number in the file name (a
      sidecar or front-matter page wins over it; the pages of a multi-page PDF count on
      from it). Untitled text at the top of a page is the article running on from the
      page before, and is joined to it (the article keeps the page it starts on), when
      that article is not signed off by a byline and the text does not say it jumps in
      from another page ("上接第3版"); on text pages, only when the page before ended
      mid-sentence (see ``_run_on``);
    * ``source`` names the files read, in shell brace form:
      ``data/2024-03-01{_01.pdf,_02.pdf}`` (for a single file, its path);
    * title and date come from a sidecar for the whole issue (``2024-03-01.meta.json``),
      then the metadata of the first file read, the date in the name, and the masthead
      of the first page with text.

    A page file that cannot be read (a damaged scan, a scan without the OCR engine) or holds no
    article is skipped and reported, so the rest of the issue is still read. When two
    files give the same page (``2024-03-01_03.pdf`` and its OCR'd
    ``2024-03-01_03.txt``), the first one in name order that can be read is used, the
    others are reported, and an unreadable one is not reported when the other one serves.
    Page images are OCR'd together, so that the characters the engine was unsure of are
    read as the rest of the issue reads them (:func:`retrieval.parse.ocr.ocr_image_files`).

    Args:
        paths: The files of one issue.

    Returns:
        The issue, and the page files that were skipped, each as the error saying why.

    Raises:
        BadFileError: No file of the issue could be read (for a single file, its own
            error), or the issue's sidecar is invalid.
        ValueError: The paths are not the files of one issue.
    """
    paths = [Path(p) for p in paths]
    if len(paths) == 1 and _page_name(paths[0]) is None:
        return read_issue(paths[0]), []
    key, pages = _issue_pages(paths)
    scans = _scanned([files[0] for files in pages.values()])
    articles: list[Article] = []
    read: list[_File] = []
    skipped: list[BadFileError] = []
    for page, files in pages.items():
        failed: list[BadFileError] = []
        served_by: _File | None = None
        for path in files:
            if served_by is not None:
                skipped.append(
                    BadFileError(path, f"page {page} is already read from {served_by.path.name}")
                )
                continue
            try:
                file = _read_file(path, scans.get(path))
                articles = _articles(file, page, articles)
            except BadFileError as err:
                failed.append(err)
                continue
            served_by = file
            read.append(file)
        if served_by is None:
            skipped.extend(failed)
    if not read:
        if len(skipped) == 1:
            raise skipped[0]
        reasons = "; ".join(f"{err.path.name}: {err.reason}" for err in skipped)
        raise BadFileError(skipped[0].path, f"no page file could be read ({reasons})")
    meta = _sidecar(read[0].path, key).over(read[0].meta)
    title, date = _title_and_date(read[0], meta, key)
    issue = Issue(
        issue_id=key,
        source=_group_source(key, [file.path for file in read]),
        title=title,
        date=date,
        articles=articles,
    )
    return issue, skipped


class _PageName(NamedTuple):
    key: str  # the name up to the end of the date: the issue's id
    page: int


def _page_name(path: Path) -> _PageName | None:
    match = _PAGE_FILE_RE.match(path.stem)
    if not match or int(match["page"]) < 1:
        return None
    if not valid_date(match["year"], match["month"], match["day"]):
        return None
    return _PageName(match["key"], int(match["page"]))


def _group_source(key: str, paths: list[Path]) -> str:
    """The files of an issue in shell brace form: "data/2024-03-01{_01.pdf,_02.pdf}"."""
    if len(paths) == 1:
        return str(paths[0])
    tails = ",".join(path.name[len(key) :] for path in paths)
    return str(paths[0].with_name(f"{key}{{{tails}}}"))


def _issue_pages(paths: list[Path]) -> tuple[str, dict[int, list[Path]]]:
    """The issue key of page files, and the files giving each page, in page order."""
    keys: set[tuple[Path, str]] = set()
    pages: dict[int, list[Path]] = {}
    for path in sorted(paths):
        name = _page_name(path)
        if name is None:
            raise ValueError(f"{path} is not a page file (a date, then a page number)")
        keys.add((path.parent, name.key))
        pages.setdefault(name.page, []).append(path)
    if len(keys) != 1:
        raise ValueError(f"not the page files of one issue: {', '.join(map(str, paths))}")
    return keys.pop()[1], dict(sorted(pages.items()))


@dataclass(frozen=True)
class _File:
    """A file read and decoded, before its articles are split.

    Attributes:
        path: The file.
        pages: Its text: one item for a text file, one per page for a PDF or an image
            file (a multi-frame TIFF has several).
        meta: What its sidecar and front matter state.
        paged: Whether it is a PDF or an image file, whose pages are numbered by their
            position.
    """

    path: Path
    pages: list[str]
    meta: _Metadata
    paged: bool

    @property
    def marked(self) -> bool:
        """Whether its headlines are marked as Markdown headings: the layout of PDF and
        scanned pages marks them (:mod:`retrieval.parse.pdf`), a Markdown file with
        headings does (one without is read as plain text)."""
        if self.paged:
            return True
        return self.path.suffix.lower() == _MARKDOWN_SUFFIX and any(map(has_headings, self.pages))


def _scanned(paths: list[Path]) -> dict[Path, list[str] | BadFileError]:
    """The page images among ``paths`` OCR'd together (see
    :func:`retrieval.parse.ocr.ocr_image_files`): each one's pages, or its error."""
    images = [path for path in paths if path.suffix.lower() in _IMAGE_SUFFIXES]
    if not images:
        return {}
    from retrieval.parse.ocr import ocr_image_files  # imported here: see _ocr

    return ocr_image_files(images)


def _ocr(path: Path) -> list[str]:
    """A scanned file's pages: a PDF's text layer where it has one, else OCR."""
    # Imported here: OCR loads Pillow and NumPy, and PDFs pdfplumber, which take a
    # noticeable time to load; text-only runs never need them.
    from retrieval.parse.ocr import ocr_images, ocr_pdf

    return ocr_pdf(path) if path.suffix.lower() == _PDF_SUFFIX else ocr_images([path])


def _read_file(path: Path, scanned: list[str] | BadFileError | None = None) -> _File:
    """Read a file; ``scanned``: a page image's pages, or its error, OCR'd already."""
    if isinstance(scanned, BadFileError):
        raise scanned
    suffix = path.suffix.lower()
    if suffix in _IMAGE_SUFFIXES or suffix == _PDF_SUFFIX:
        pages = scanned if scanned is not None else _ocr(path)
        if not any(page.strip() for page in pages):
            what = "no text layer, and" if suffix == _PDF_SUFFIX else "an image, but"
            raise BadFileError(path, f"{what} OCR found no text in it")
        return _File(path, pages, _sidecar(path, path.stem), paged=True)
    if suffix not in _TEXT_SUFFIXES:
        raise BadFileError(path, f"unsupported file type {suffix or '(no extension)'}")
    data = _read_bytes(path)
    if not data:
        raise BadFileError(path, "empty file")
    try:
        text, _ = decode_text(data)
    except ValueError as err:
        raise BadFileError(path, str(err)) from err
    if not text.strip():
        raise BadFileError(path, "no text (whitespace only)")
    front, text = _front_matter(path, text)
    # A form feed ends a page (pdftotext writes one after each), which may print its
    # columns side by side. The pages are read as one text, as before: an article
    # goes on over a page break, and the layout is recovered over all of them.
    text = read_columns(text)
    return _File(path, [text], _sidecar(path, path.stem).over(front), paged=False)


def _articles(file: _File, name_page: int | None, before: Sequence[Article] = ()) -> list[Article]:
    """The articles of a file, page by page, numbered from ``name_page`` if given, after
    ``before`` (the articles of the issue's pages before it): text running on from the
    page before is joined to its article (see :func:`_run_on`).

    Explicit metadata wins over the page in the file name, which wins over the position
    in a PDF and over the "第N版" of a text page's masthead. The two pages of a spread
    (side by side in one image or PDF page, their texts apart at a
    :data:`~retrieval.parse.marked.PAGE_BREAK`) are numbered by their mastheads where
    they print one: one number cannot be both pages'.

    Raises:
        BadFileError: The file holds no article.
    """
    number = file.meta.page or name_page or (1 if file.paged else None)
    articles = list(before)
    found = False
    for text in file.pages:
        sides = text.split(PAGE_BREAK) if file.paged else [text]
        for side in sides:
            page_articles = split_articles(side, marked=file.marked)
            printed = page_articles[0].page if len(sides) > 1 and page_articles else None
            number = printed or number
            for article in page_articles:
                article.page = number
            found = found or bool(page_articles)
            _run_on(articles, page_articles, marked=file.marked, text=side, number=number)
            number = None if number is None else number + 1
    if not found:
        raise BadFileError(file.path, "no article found in the text")
    return articles


def _run_on(
    articles: list[Article], page: list[Article], *, marked: bool, text: str, number: int | None
) -> None:
    """Add a page's articles to those before it, joining the part of an article that
    runs on from the previous page: untitled text opening a page, after an article not
    signed off by a byline, unless the text says it jumps in from another page ("上接第3版"
    on page 5; "下转第4版" jumps are not followed: their parts stay apart).

    On pages whose headlines are marked by their print size (PDF, scans), untitled text is
    no article's beginning, so it is joined also where the page before ended with a
    sentence: on rendered scans of three issues whose articles flow from page to page
    (with news photos in the columns), 2 of 44 articles went on at the top of a page with
    a new paragraph, and were two untitled articles before. On text pages untitled text
    may be an article whose headline the layout missed, so it is joined only to an
    article that stopped mid-sentence. ``text`` and ``number`` are the page's text and
    number, for the jump marker.
    """
    if page and articles and not page[0].headline and page[0].body and not jumps_in(text, number):
        last = articles[-1]
        complete = is_complete(last.body)
        if last.body and last.author is None and (marked or not complete):
            if complete:  # the page most likely broke between paragraphs
                last.body = f"{last.body}\n{page[0].body}"
            else:
                last.body = join_lines(last.body, page[0].body)
            last.author = page[0].author
            page = page[1:]
    articles.extend(page)


def _title_and_date(file: _File, meta: _Metadata, stem: str) -> tuple[str | None, dt.date | None]:
    """Title and date by precedence: metadata, date in the name, masthead (first page
    with text)."""
    text = next((page for page in file.pages if page.strip()), "")
    head = [line.strip() for line in text.split("\n") if line.strip()][:MASTHEAD_LINES]
    masthead = [line for line in head if is_masthead_line(line)]
    return (
        meta.title or masthead_title(head, masthead),
        meta.date or _date_from_name(stem) or masthead_date(masthead),
    )


@dataclass(frozen=True)
class _Metadata:
    """What a sidecar file or front matter states about an issue."""

    title: str | None = None
    date: dt.date | None = None
    page: int | None = None

    def over(self, other: _Metadata) -> _Metadata:
        """This metadata, completed by ``other`` where it states nothing."""
        return _Metadata(
            title=self.title or other.title,
            date=self.date or other.date,
            page=self.page if self.page is not None else other.page,
        )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except PermissionError as err:
        raise BadFileError(path, "cannot read: permission denied") from err
    except FileNotFoundError as err:
        raise BadFileError(path, "cannot read: no such file") from err
    except IsADirectoryError as err:
        raise BadFileError(path, "cannot read: it is a folder, not a file") from err
    except OSError as err:
        raise BadFileError(path, f"cannot read: {err.strerror or err}") from err


def _sidecar(path: Path, stem: str) -> _Metadata:
    """What the sidecar ``STEM.meta.json`` next to ``path`` states (errors name ``path``)."""
    sidecar = path.with_name(stem + ".meta.json")
    if not sidecar.is_file():
        return _Metadata()
    try:
        raw = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadFileError(path, f"unreadable metadata file {sidecar.name}: {err}") from err
    if not isinstance(raw, dict):
        raise BadFileError(path, f"metadata file {sidecar.name} is not a JSON object")
    return _validate_meta(path, raw, sidecar.name)


def _front_matter(path: Path, text: str) -> tuple[_Metadata, str]:
    """Metadata from "---" / "key: value" lines / "---" at the top, and the text after."""
    match = _FRONT_MATTER_RE.match(text)
    if not match:
        return _Metadata(), text
    raw: dict[str, object] = {}
    for line in match.group(1).split("\n"):
        if not line.strip():
            continue
        field = _FRONT_MATTER_LINE_RE.match(line)
        if not field:  # not "key: value" lines: a rule line, not front matter
            return _Metadata(), text
        raw[field.group(1).lower()] = field.group(2).strip("'\"")
    return _validate_meta(path, raw, "front matter"), text[match.end() :]


def _validate_meta(path: Path, raw: dict[str, object], origin: str) -> _Metadata:
    """The known keys of sidecar or front-matter metadata, checked and typed."""
    title = str(raw.get("title") or "").strip() or None
    date = _meta_date(path, raw["date"], origin) if raw.get("date") not in (None, "") else None
    page = raw.get("page")
    if page in (None, ""):
        page = raw.get("pages")
        # Several pages in one file cannot be told apart per article: no page then.
        if isinstance(page, list):
            page = page[0] if len(page) == 1 else None
    return _Metadata(
        title=title,
        date=date,
        page=_meta_page(path, page, origin) if page not in (None, "") else None,
    )


def _meta_date(path: Path, value: object, origin: str) -> dt.date:
    text = str(value).strip()
    try:
        if not _ISO_DATE_RE.match(text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError as err:
        raise BadFileError(path, f"invalid date {text!r} in {origin} (want YYYY-MM-DD)") from err


def _meta_page(path: Path, value: object, origin: str) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise BadFileError(path, f"invalid page {value!r} in {origin} (want a number)")
    return int(text)


def _date_from_name(stem: str) -> dt.date | None:
    for match in _NAME_DATE_RE.finditer(stem):
        date = valid_date(match.group(1), match.group(3), match.group(4))
        if date:
            return date
    return None
