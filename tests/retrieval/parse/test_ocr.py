"""Tests for retrieval.parse.ocr: scanned pages and page images read by OCR.

The pages are drawn at test time with Pillow in WenQuanYi Zen Hei (Debian's
fonts-wqy-zenhei; .ci/run installs it) and read back by RapidOCR (a dependency). Tests
that draw skip without the font; those of bad files and of a missing engine do not need it.
Pages are small (a few columns of a dozen lines), so that each is read in a second or two.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont, ImageOps
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from benchmarks.ocr_render import cer, render_issue
from retrieval.ingest import find_files
from retrieval.parse import BadFileError, group_issue_files, read_issue, read_issue_files
from retrieval.parse.marked import unmark
from retrieval.parse.ocr import _inked_line, _settle, _Word, ocr_available, ocr_images

FONT_FILE = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
PACKAGE = "the rapidocr package (pip install rapidocr)"
BODY = 40  # pixels: 9.6 pt at 300 dpi
CHARS = 14  # characters a column line holds (a headline of 10 fits)
GUTTER = 2 * BODY
MARGIN = 60

A_HEAD = "县医院新大楼投入使用"
A_BODY = (
    "本报讯三月一日，县医院新门诊大楼正式投入使用，设有床位三百张，"
    "配备核磁共振、彩超等先进医疗设备，群众在家门口就能看上好病。"
)
B_HEAD = "全县春耕备耕有序推进"
B_BODY = (
    "本报讯连日来，全县各乡镇抢抓农时，组织群众开展土地深翻、地膜覆盖和种子调运，"
    "确保春耕生产不误农时，全县已落实春播面积十二万亩。"
)
T_HEAD = "臺南燈會開幕"
T_BODY = (
    "臺灣燈會今日在臺南開幕，主燈高達二十二公尺，吸引大批遊客前來觀賞，"
    "市府預估活動期間將湧入逾千萬人次，交通局加開接駁車。"
)


@pytest.fixture(scope="module")
def font() -> Path:
    if not FONT_FILE.is_file():
        pytest.skip(f"CJK font {FONT_FILE} not installed (apt-get install fonts-wqy-zenhei)")
    return FONT_FILE


@pytest.fixture(scope="module")
def engine(font: Path) -> None:
    if not ocr_available():
        pytest.skip(f"OCR engine not installed: {PACKAGE}")


def without_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import rapidocr`` fail, as it does where the package is not installed."""
    monkeypatch.setitem(sys.modules, "rapidocr", None)


def page(*columns: tuple[str, str], masthead: str | None = None) -> Image.Image:
    """A page of columns side by side, each a headline over a justified paragraph."""
    body = ImageFont.truetype(str(FONT_FILE), BODY)
    head = ImageFont.truetype(str(FONT_FILE), round(BODY * 1.3))
    width = 2 * MARGIN + len(columns) * CHARS * BODY + (len(columns) - 1) * GUTTER
    rows = max(-(-(len(text) + 2) // CHARS) for _, text in columns)
    height = max(14 * round(BODY * 1.3), 4 * BODY + rows * round(BODY * 1.5)) + 2 * MARGIN
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    top = MARGIN
    if masthead:
        draw.text((MARGIN, top), masthead, font=body, fill=0)
        top += 2 * BODY
    for number, (headline, text) in enumerate(columns):
        x = MARGIN + number * (CHARS * BODY + GUTTER)
        draw.text((x, top), headline, font=head, fill=0)
        y = top + round(BODY * 2.2)
        text = "\u3000\u3000" + text
        for start in range(0, len(text), CHARS):
            left = x
            for char in text[start : start + CHARS]:
                draw.text((left, y), char, font=body, fill=0)
                # Latin letters, digits and their marks take their own width, as set.
                left += round(body.getlength(char)) if char.isascii() else BODY
            y += round(BODY * 1.5)
    return image


def lines_of(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def best_line(text: str, expected: str) -> float:
    """The CER of the output line closest to ``expected`` (headings without their mark)."""
    return min(cer(expected, unmark(line)) for line in lines_of(text))


def test_two_columns_are_read_one_after_the_other(engine: None) -> None:
    [text] = ocr_images([page((A_HEAD, A_BODY), (B_HEAD, B_BODY))])
    assert cer(A_HEAD + A_BODY + B_HEAD + B_BODY, text) < 0.05
    # Each paragraph and headline on a line of its own, column A's before column B's.
    assert [best_line(text, part) < 0.1 for part in (A_HEAD, A_BODY, B_HEAD, B_BODY)] == [True] * 4
    # The headlines, printed larger, are marked as such; the text is not.
    headings = [unmark(line) for line in lines_of(text) if line.startswith("# ")]
    assert len(headings) == 2
    assert cer(A_HEAD, headings[0]) < 0.15
    assert cer(B_HEAD, headings[1]) < 0.15
    a_last = max(text.find(A_BODY[-8:-1]), text.find(A_BODY[-15:-8]))
    b_first = min(i for i in (text.find(B_BODY[2:9]), text.find(B_BODY[9:16])) if i >= 0)
    assert 0 <= a_last < b_first
    # No space between Chinese characters.
    assert " " not in "".join(unmark(line) for line in lines_of(text))


def test_a_numbers_separators_are_read_as_printed(engine: None) -> None:
    # The engine reads "1,703户" in Chinese text as "1，703户": a question asking for
    # "1,703户" would match no passage.
    body = "本报讯和顺安居全案预计提供1,703户社会住宅，基地面积为22,608平方公尺，共1，2两期。"
    [text] = ocr_images([page((A_HEAD, body))])
    assert "1,703户" in text
    assert "22,608平方公尺" in text
    assert "共1，2两期" in text  # a comma between numbers stays one
    # The same where the number runs over two printed lines, "1," ending the first.
    broken = "和顺安居预计提供共计1,703户社会住宅，将于117年完工。"
    assert broken.index("1,") == CHARS - 4  # after the paragraph's indent of two
    [text] = ocr_images([page((A_HEAD, broken))])
    assert "1,703户" in text


@pytest.mark.parametrize("degrees", [3.0, -3.0])
def test_a_page_turned_askew_is_read_upright(engine: None, degrees: float) -> None:
    # As a phone photographs a page: turned by a few degrees, the lines no longer stand
    # on the image's rows, nor the columns' edges on its columns.
    upright = page((A_HEAD, A_BODY * 4), (B_HEAD, B_BODY * 4))
    turned = upright.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    [text] = ocr_images([turned])
    assert cer(A_HEAD + A_BODY * 4 + B_HEAD + B_BODY * 4, text) < 0.05
    assert [best_line(text, part) < 0.1 for part in (A_HEAD, A_BODY * 4, B_HEAD, B_BODY * 4)] == [
        True
    ] * 4


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_a_page_upside_down_or_on_its_side_is_read_upright(engine: None, turn: int) -> None:
    # Fed into the scanner upside down, or scanned across; no orientation tag says so.
    turned = page((A_HEAD, A_BODY), (B_HEAD, B_BODY)).rotate(turn, expand=True)
    [text] = ocr_images([turned])
    assert [best_line(text, part) < 0.1 for part in (A_HEAD, A_BODY, B_HEAD, B_BODY)] == [True] * 4


def test_a_line_without_chinese_is_no_headline(engine: None) -> None:
    # Letters reach above and below, and a long word's box on a bowed sheet slants over
    # two lines: a URL's ink can measure as large as a headline's.
    top = page((A_HEAD, A_BODY))
    image = Image.new("L", (top.width, top.height + 4 * BODY), 255)
    image.paste(top, (0, 0))
    font = ImageFont.truetype(str(FONT_FILE), round(BODY * 1.5))
    url = "www.tn.gov.tw"
    ImageDraw.Draw(image).text((MARGIN, top.height), url, font=font, fill=0)
    [text] = ocr_images([image])
    assert best_line(text, url) < 0.1
    assert best_line(text, A_BODY) < 0.1  # the body is still one paragraph
    headings = [unmark(line) for line in lines_of(text) if line.startswith("# ")]
    assert len(headings) == 1
    assert cer(A_HEAD, headings[0]) < 0.15


def test_print_showing_through_from_the_back_is_not_read(engine: None) -> None:
    # A photographed sheet: the back page's print shows through, mirrored and grey, in
    # the empty column, and the light falls off towards the bottom right.
    front = page((A_HEAD, A_BODY), ("", ""))
    back = ImageOps.mirror(page((B_HEAD, B_BODY), ("", "")))
    pixels = np.minimum(np.asarray(front, dtype=np.float32), 185 + 0.27 * np.asarray(back))
    height, width = pixels.shape
    pixels *= np.linspace(1.0, 0.6, width)[None, :] * np.linspace(1.0, 0.85, height)[:, None]
    [text] = ocr_images([Image.fromarray(pixels.astype(np.uint8))])
    assert cer(A_HEAD + A_BODY, text) < 0.05


def test_print_showing_through_beside_a_headline_is_no_part_of_it(engine: None) -> None:
    # The back's print, grey, just after the headline on its line: the engine reads it
    # on as part of the headline, but no ink lies under those characters.
    image = page((A_HEAD, A_BODY), ("", ""))
    head = ImageFont.truetype(str(FONT_FILE), round(BODY * 1.3))
    width = round(head.getlength(A_HEAD))
    ImageDraw.Draw(image).text(
        (MARGIN + width + BODY // 4, MARGIN), "秒杀完售", font=head, fill=215
    )
    [text] = ocr_images([image])
    [headline] = [unmark(line) for line in lines_of(text) if line.startswith("# ")]
    assert cer(A_HEAD, headline) < 0.15
    assert not set("秒杀完售") & set(headline)


def test_a_character_read_in_a_headlines_blank_from_the_back_is_dropped(font: Path) -> None:
    # A photographed spread's headline "…剧场 《列车…": the engine read a "才" from the
    # back of the sheet in the blank before the bracket, grey but for a few dark pixels
    # (the fold's shadow, JPEG). A thin printed character ("一") keeps its place.
    head = ImageFont.truetype(str(font), round(BODY * 1.3))
    image = Image.new("L", (20 * BODY, 3 * BODY), 255)
    draw = ImageDraw.Draw(image)
    words, x = [], BODY
    for char in "第一场才《列车":
        back = char == "才"
        draw.text((x, BODY), char, font=head, fill=170 if back else 0)
        left, top, right, bottom = draw.textbbox((x, BODY), char, font=head)
        if back:
            strokes = np.argwhere(np.asarray(image)[top:bottom, left:right] < 200)[:5]
            for row, column in strokes:
                image.putpixel((left + int(column), top + int(row)), 60)
        words.append(_Word(char, x, x + head.size, BODY - 4, BODY + head.size + 4))
        x += head.size
    kept = _inked_line(np.asarray(image), words)
    assert "".join(word.text for word in kept) == "第一场《列车"


def test_traditional_page_is_read_in_traditional(engine: None) -> None:
    [text] = ocr_images([page((T_HEAD, T_BODY))])
    assert cer(T_HEAD + T_BODY, text) < 0.05
    assert "臺灣燈會" in text  # not folded to 台湾灯会


def test_png_page_files_make_an_issue(tmp_path: Path, engine: None) -> None:
    page((A_HEAD, A_BODY), masthead="交城报　2024年3月1日　星期五　第1版").save(
        tmp_path / "2024-03-01_01.png"
    )
    page((B_HEAD, B_BODY)).save(tmp_path / "2024-03-01_02.png", dpi=(300, 300))
    [group] = group_issue_files(find_files([tmp_path]))
    issue, skipped = read_issue_files(group)
    assert skipped == []
    assert issue.issue_id == "2024-03-01"
    assert issue.source == str(tmp_path / "2024-03-01{_01.png,_02.png}")
    assert [a.page for a in issue.articles] == [1, 2]
    assert cer(A_HEAD, issue.articles[0].headline) < 0.15
    assert cer(B_BODY, issue.articles[1].body) < 0.05


def test_a_spread_in_one_image_gives_each_page_its_printed_number(
    tmp_path: Path, engine: None
) -> None:
    # Pages 3 and 4 side by side, scanned as the issue's second image: the file's number
    # cannot be both pages', so each takes the one its masthead prints.
    left = page((A_HEAD, A_BODY), masthead="交城报　2024年3月1日　第3版")
    right = page((B_HEAD, B_BODY), masthead="交城报　2024年3月1日　第4版")
    fold = 4 * BODY
    spread = Image.new("L", (left.width + fold + right.width, left.height), 255)
    spread.paste(left, (0, 0))
    spread.paste(right, (left.width + fold, 0))
    spread.save(tmp_path / "2024-03-01_02.png")
    issue, skipped = read_issue_files([tmp_path / "2024-03-01_02.png"])
    assert skipped == []
    assert [a.page for a in issue.articles] == [3, 4]
    assert cer(A_HEAD, issue.articles[0].headline) < 0.15
    assert cer(B_BODY, issue.articles[1].body) < 0.05


def test_an_issues_page_images_are_read_together(
    tmp_path: Path, engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The characters the engine was unsure of are settled against the whole issue, so
    # its page images are read in one pass; a damaged one is reported, the others read.
    page((A_HEAD, A_BODY)).save(tmp_path / "2024-03-01_01.png")
    (tmp_path / "2024-03-01_02.png").write_bytes(b"not an image")
    page((B_HEAD, B_BODY)).save(tmp_path / "2024-03-01_03.png")
    settled: list[int] = []
    monkeypatch.setattr(
        "retrieval.parse.ocr._settle", lambda pages: settled.append(len(pages)) or _settle(pages)
    )
    issue, skipped = read_issue_files(sorted(tmp_path.iterdir()))
    assert settled == [2]
    assert [a.page for a in issue.articles] == [1, 3]
    assert [err.path.name for err in skipped] == ["2024-03-01_02.png"]


def test_multi_frame_tiff_is_one_page_a_frame(tmp_path: Path, engine: None) -> None:
    path = tmp_path / "scan.tiff"
    first, second = page((A_HEAD, A_BODY)), page((B_HEAD, B_BODY))
    first.save(path, save_all=True, append_images=[second])
    issue = read_issue(path)
    assert [a.page for a in issue.articles] == [1, 2]
    assert cer(A_BODY + B_BODY, "".join(a.body for a in issue.articles)) < 0.05


def test_a_photo_stored_sideways_is_read_as_its_orientation_tag_says(
    tmp_path: Path, engine: None
) -> None:
    # A phone held upright stores the photo turned a quarter and tags it "rotate 90° CW".
    path = tmp_path / "photo.jpg"
    stored = page((A_HEAD, A_BODY)).rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the picture is shown turned 90° clockwise
    stored.save(path, quality=90, exif=exif)
    [article] = read_issue(path).articles
    assert cer(A_BODY, article.body) < 0.05


@pytest.mark.parametrize("suffix", [".heic", ".webp"])
def test_phone_photo_formats_are_read(tmp_path: Path, engine: None, suffix: str) -> None:
    from pillow_heif import register_heif_opener

    register_heif_opener()  # to write the test's HEIC; reading registers it itself
    path = tmp_path / f"2024-03-01_01{suffix}"
    page((A_HEAD, A_BODY)).save(path, quality=90)
    assert find_files([tmp_path]) == [path]
    [article] = read_issue(path).articles
    assert cer(A_BODY, article.body) < 0.05


def test_scanned_pdf_is_read_by_ocr_page_by_page(tmp_path: Path, engine: None) -> None:
    path = tmp_path / "scan.pdf"
    first, second = page((A_HEAD, A_BODY)), page((T_HEAD, T_BODY))
    first.save(path, "PDF", resolution=300, save_all=True, append_images=[second])
    issue = read_issue(path)
    assert [a.page for a in issue.articles] == [1, 2]
    assert cer(A_BODY, issue.articles[0].body) < 0.05
    assert cer(T_BODY, issue.articles[1].body) < 0.05


SCAN_SCALE = 72 / 300  # PDF points a pixel of a page drawn at 300 dpi


def a4_canvas(path: Path) -> Canvas:
    """A reportlab canvas of A4 pages, with the CJK font registered."""
    pdfmetrics.registerFont(TTFont("WenQuanYiZenHei", str(FONT_FILE), subfontIndex=0))
    return Canvas(str(path), pagesize=(595, 842))


def draw_text(canvas: Canvas) -> None:
    """Column A's headline and the start of its body as a text layer in print."""
    canvas.setFont("WenQuanYiZenHei", 16)
    canvas.drawString(40, 780, A_HEAD)
    canvas.setFont("WenQuanYiZenHei", 10.5)
    canvas.drawString(40, 750, A_BODY[:40])


def draw_scan(canvas: Canvas, scan: Image.Image) -> None:
    """A scanned page drawn over the whole PDF page, from its top left, at 300 dpi."""
    width, height = scan.width * SCAN_SCALE, scan.height * SCAN_SCALE
    canvas.drawImage(ImageReader(scan), 0, 842 - height, width, height)


def mixed_pdf(path: Path) -> Path:
    """Page 1 with a text layer, page 2 a scan of column B."""
    canvas = a4_canvas(path)
    draw_text(canvas)
    canvas.showPage()
    draw_scan(canvas, page((B_HEAD, B_BODY)))
    canvas.showPage()
    canvas.save()
    return path


def test_mixed_pdf_keeps_its_text_layer_and_ocrs_the_rest(tmp_path: Path, engine: None) -> None:
    issue = read_issue(mixed_pdf(tmp_path / "mixed.pdf"))
    by_page = {a.page: a for a in issue.articles}
    assert by_page[1].headline == A_HEAD and by_page[1].body == A_BODY[:40]
    assert cer(B_BODY, by_page[2].body) < 0.05


def test_without_the_engine_a_mixed_pdf_keeps_its_text_pages(
    tmp_path: Path, font: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    without_engine(monkeypatch)
    with caplog.at_level(logging.WARNING):
        issue = read_issue(mixed_pdf(tmp_path / "mixed.pdf"))
    assert [a.page for a in issue.articles] == [1]
    assert f"no text layer on page 2, left out: install {PACKAGE}" in caplog.text


def searchable_scan(path: Path) -> Path:
    """A scan of column A under an invisible text layer that misread it, as another OCR
    makes a scan searchable (Tesseract spaces Chinese out and misreads headline type)."""
    canvas = a4_canvas(path)
    draw_scan(canvas, page((A_HEAD, A_BODY)))
    layer = canvas.beginText(MARGIN * SCAN_SCALE, 842 - MARGIN * SCAN_SCALE - 12)
    layer.setTextRenderMode(3)  # invisible
    layer.setFont("WenQuanYiZenHei", 12)
    layer.textLine(" ".join("县医院新大搂投人使用"))
    layer.textLine(A_BODY[:20].replace("三月", "二月"))
    canvas.drawText(layer)
    canvas.showPage()
    canvas.save()
    return path


def test_a_scan_made_searchable_by_another_ocr_is_read_again(tmp_path: Path, engine: None) -> None:
    [article] = read_issue(searchable_scan(tmp_path / "searchable.pdf")).articles
    assert cer(A_HEAD, article.headline) < 0.15
    assert cer(A_BODY, article.body) < 0.05


def test_without_the_engine_a_searchable_scan_keeps_its_layer(
    tmp_path: Path, font: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    without_engine(monkeypatch)
    issue = read_issue(searchable_scan(tmp_path / "searchable.pdf"))
    assert "二月一日" in "".join(a.headline + a.body for a in issue.articles)


def test_a_text_layer_in_print_is_not_read_again(
    tmp_path: Path, engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An e-paper page: visible text over a picture (a photo, a background).
    path = tmp_path / "epaper.pdf"
    canvas = a4_canvas(path)
    canvas.drawImage(ImageReader(Image.new("L", (600, 400), 200)), 40, 400, 300, 200)
    draw_text(canvas)
    canvas.showPage()
    canvas.save()
    monkeypatch.setattr("retrieval.parse.ocr._ocr_pages", lambda images: pytest.fail("OCR'd"))
    [article] = read_issue(path).articles
    assert (article.headline, article.body) == (A_HEAD, A_BODY[:40])


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (lambda image, path: image.save(path), "page image"),
        (lambda image, path: image.save(path, "PDF", resolution=300), "no text layer"),
    ],
    ids=["png", "scanned-pdf"],
)
def test_missing_engine_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make, what: str
) -> None:
    without_engine(monkeypatch)
    path = tmp_path / ("page.png" if what == "page image" else "scan.pdf")
    make(Image.new("L", (200, 100), 255), path)
    with pytest.raises(BadFileError) as caught:
        read_issue(path)
    assert caught.value.reason.startswith(f"{what}: install {PACKAGE} to OCR it (")
    assert caught.value.reason.endswith("), or OCR it first")


def _blank(width: int, height: int) -> Callable[[Path], bytes]:
    """A blank 1-bit image file: a few kilobytes for any number of pixels (a bomb)."""

    def make(path: Path) -> bytes:
        Image.new("1", (width, height), 1).save(path)
        return path.read_bytes()

    return make


def _truncated_png(path: Path) -> bytes:
    page_image = Image.effect_noise((400, 300), 60).convert("L")
    page_image.save(path)
    return path.read_bytes()[:2000]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("page.png", lambda path: b"", "empty file"),
        ("page.jpg", lambda path: "不是图片".encode(), "not an image, or damaged"),
        ("page.png", _truncated_png, "damaged image"),
        ("page.png", _blank(10_000, 10_000), "image too large to be a page"),
        ("page.tif", _blank(15_000, 15_000), "image too large to be a page"),
    ],
    ids=["empty", "not-an-image", "truncated", "too-large", "bomb"],
)
def test_bad_images_are_reported_not_crashed_on(
    tmp_path: Path, name: str, content, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content(path))
    with pytest.raises(BadFileError) as caught:
        read_issue(path)
    assert caught.value.path == path
    assert caught.value.reason.startswith(reason)


def test_folder_scan_picks_up_page_images_but_not_markdown(tmp_path: Path) -> None:
    for name in ("2024-03-01_01.png", "2024-03-01_02.JPG", "2024-03-01_03.tiff", "README.md"):
        (tmp_path / name).write_bytes(b"")
    found = find_files([tmp_path])
    assert [p.name for p in found] == [
        "2024-03-01_01.png",
        "2024-03-01_02.JPG",
        "2024-03-01_03.tiff",
    ]
    assert group_issue_files(found) == [found]


@pytest.mark.slow
def test_a_scanned_page_answers_a_question(tmp_path: Path, engine: None, embedder) -> None:
    from retrieval.answer import answer_question
    from retrieval.ingest import ingest
    from retrieval.search import Searcher

    articles = [
        (
            "白漳河改造工程开工",
            "本报讯据了解，白漳河河道城区段全长2886米，一期改造工程治理长度1075米。",
        ),
        (B_HEAD, B_BODY),
    ]
    paths = render_issue(articles, tmp_path / "scans", columns=2, page_mm=(148, 105), dpi=300)
    report = ingest(paths, tmp_path / "index", embedder)
    assert report.ok, report.failed
    answer = answer_question(
        Searcher(tmp_path / "index", embedder), "白漳河河道城区段全长多少米？", 3
    )
    assert "2886米" in answer.hits[0].quote


def test_a_blank_scan_says_ocr_found_no_text(tmp_path: Path, engine: None) -> None:
    path = tmp_path / "scan.pdf"
    Image.new("L", (600, 800), 235).save(path, "PDF", resolution=300)
    with pytest.raises(BadFileError) as caught:
        read_issue(path)
    assert caught.value.reason == "no text layer, and OCR found no text in it"


def read_as(text: str, choices: dict[int, tuple[tuple[str, float], tuple[str, float]]]) -> list:
    """A line as the engine gives it: a word a character, with the two likeliest readings
    where the engine was unsure (by position)."""
    return [
        _Word(char, 10 * i, 10 * i + 9, 0, 10, choices=choices.get(i, ()))
        for i, char in enumerate(text)
    ]


def settled_text(pages: list[list[list]]) -> list[list[str]]:
    return [["".join(word.text for word in line) for line in page] for page in _settle(pages)]


def test_an_unsure_character_is_read_as_the_issue_reads_it_elsewhere() -> None:
    # The engine read the same headline on two pages, unsure both times: 千 at 0.6 on
    # one, 干 at 0.52 on the other. Together the two readings say 千, on both pages.
    first = read_as("台湾灯会自驾车搭乘人次破千", {12: (("千", 0.6), ("干", 0.4))})
    second = read_as("搭乘人次破干", {5: (("干", 0.52), ("千", 0.48))})
    assert settled_text([[first], [second]]) == [["台湾灯会自驾车搭乘人次破千"], ["搭乘人次破千"]]


def test_a_sure_reading_elsewhere_outweighs_an_unsure_one() -> None:
    sure = read_as("牛坔排水属龟子港排水系统", {})
    unsure = read_as("龟于港排水", {1: (("于", 0.6), ("子", 0.4))})
    assert settled_text([[sure], [unsure]])[1] == ["龟子港排水"]


def test_where_nothing_recurs_a_word_decides_else_the_first_choice_stands() -> None:
    word = read_as("护岸工程己经完成", {4: (("己", 0.6), ("已", 0.4))})
    name = read_as("市长黄伟哲表示", {4: (("哲", 0.6), ("折", 0.4))})
    assert settled_text([[word, name]]) == [["护岸工程已经完成", "市长黄伟哲表示"]]
