"""Read bulletin issue files: decode them, clean OCR text, split them into articles.

Two layouts are recognised automatically:

* **Structured issues** (the development corpus): a masthead, then articles separated
  by ``====`` lines, each with a headline, ``发稿单位/发稿时间/发稿人/联系电话`` header
  lines, paragraphs and a closing ``（issuing department）`` line. This text is clean
  web text, so it is split as it is and never goes through the OCR clean-up.
* **OCR pages** (county newspapers): one paragraph per line with spaces inside words,
  columns broken mid-sentence and layout debris. :func:`clean_text` repairs the text and
  the articles are recovered from the shape of the lines: section label, headline,
  paragraphs, a ``（name）`` byline that closes the article.

PDF issues (e-paper PDFs with a text layer) are turned into the same text, one
paragraph per line, page by page, by :mod:`retrieval.pdf`, and split like OCR pages.
An issue printed as page files (``2024-03-01_01.pdf``, ``2024-03-01_02.pdf``, or text
files named the same way) is grouped by :func:`group_issue_files` and read as one issue
by :func:`read_issue_files`.

Metadata precedence in :func:`read_issue`: explicit metadata wins over inference, so a
sidecar ``NAME.meta.json`` beats front matter, which beats the file name, which beats
the masthead printed in the text.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from retrieval.documents import Article, Issue

__all__ = [
    "BadFileError",
    "clean_text",
    "decode_text",
    "group_issue_files",
    "read_issue",
    "read_issue_files",
    "split_articles",
]


class BadFileError(Exception):
    """A file that cannot be read as a bulletin issue.

    Attributes:
        path: The offending file.
        reason: What is wrong with it, in plain words.
    """

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


# --- character classes --------------------------------------------------------------

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
# CJK symbols, full-width forms, dashes, ellipsis, curly quotes, middle dots.
_CJK_PUNCT = "\u3000-\u303f\uff00-\uffef\u2014\u2015\u2026\u2018\u2019\u201c\u201d\u00b7\u2027"
_CJK = _HAN + _CJK_PUNCT
_HAN_RE = re.compile(f"[{_HAN}]")
_CJK_PUNCT_RE = re.compile(f"[{_CJK_PUNCT}]")

# --- decoding ------------------------------------------------------------------------

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# Plain Big5 first, then the Microsoft (cp950) and Hong Kong supersets, which decode some
# characters plain Big5 rejects.
_BIG5_CODECS = ("big5", "cp950", "big5hkscs")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MAX_CONTROL_RATIO = 0.01
_MIN_COMMON_RATIO = 0.5
_SAMPLE_CHARS = 20_000  # enough to tell two readings apart; keeps large files fast
# Punctuation a Chinese text is made of; mis-decoded bytes rarely land on it.
_COMMON_PUNCT = frozenset("，。、：；！？「」『』（）《》〈〉【】“”‘’—…·　％")


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode the bytes of a text file, detecting its encoding.

    UTF-8 (with or without BOM) and BOM-marked UTF-16/32 are recognised first. Other
    text must be GB18030 (a superset of GBK and GB2312) or Big5: both are tried
    strictly and the reading whose characters are the commoner Chinese characters wins,
    which stays reliable on texts of a few characters where statistical detectors guess.

    Args:
        data: The raw file content.

    Returns:
        The text, with newlines normalised to "\\n" and the BOM removed, and the name
        of the codec that decoded it (e.g. "utf-8", "utf-8-sig", "gb18030", "big5").

    Raises:
        ValueError: The data is binary or in none of the supported encodings; the
            message says which.
    """
    text, encoding = _decode(data)
    if text and len(_CONTROL_RE.findall(text)) > _MAX_CONTROL_RATIO * len(text):
        raise ValueError("binary file (not text)")
    text = text.removeprefix("\ufeff")
    # Only the file's own line breaks: a U+2028 inside a headline is part of the headline.
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n"), encoding


def _decode(data: bytes) -> tuple[str, str]:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            text = _strict(data, codec)
            if text is None:
                raise ValueError(f"cannot decode: invalid {codec.upper()} text")
            return text, codec
    if b"\x00" in data:
        raise ValueError("binary file (not text)")
    text = _strict(data, "utf-8")
    if text is not None:
        return text, "utf-8"
    readings = []
    gb = _strict(data, "gb18030")
    if gb is not None:
        readings.append((_common_ratio(gb), 1, gb, "gb18030"))
    for codec in _BIG5_CODECS:
        big5 = _strict(data, codec)
        if big5 is not None:
            readings.append((_common_ratio(big5), 0, big5, codec))
            break
    # The middle item breaks ties for GB18030: the bulletins are mainland papers first.
    best = max(readings, default=None)
    if best is None or best[0] < _MIN_COMMON_RATIO:
        raise ValueError("cannot decode: not UTF-8, GB18030 or Big5 text")
    return best[2], best[3]


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def _common_ratio(text: str) -> float:
    """Share of the non-ASCII characters that are common Chinese characters or punctuation."""
    chars = [c for c in text if c >= "\x80"][:_SAMPLE_CHARS]
    if not chars:
        return 1.0
    return sum(c in _COMMON_PUNCT or _is_common_han(c) for c in chars) / len(chars)


@functools.cache
def _is_common_han(char: str) -> bool:
    """Whether a character is in GB2312 level 1 or in Big5's frequently-used block.

    These two standard tables list the ~3,700 simplified and ~5,400 traditional
    characters of everyday text. Bytes decoded with the wrong codec scatter over the
    whole code space (rare characters, kana, box drawing, private use), so they fall
    outside both tables far more often than real text does.
    """
    try:
        gb = char.encode("gb2312")
    except UnicodeEncodeError:
        pass
    else:
        if len(gb) == 2 and 0xB0 <= gb[0] <= 0xD7:
            return True
    try:
        big5 = char.encode("big5")
    except UnicodeEncodeError:
        return False
    return len(big5) == 2 and 0xA440 <= int.from_bytes(big5, "big") <= 0xC67E


# --- OCR clean-up ---------------------------------------------------------------------

_INVISIBLE_RE = re.compile("[\u200b-\u200d\u2060\ufeff]")
_EMPHASIS_RE = re.compile(r"\*{2,}")  # markdown bold that OCR-to-markdown leaves around names
_HSPACE_RE = re.compile(r"[ \t\u00a0\u2002-\u200a\u3000]+")
_SPACE_RUN_RE = re.compile(r"(?<=(\S)) +(?=(\S))")
_DATELINE_RE = re.compile(r"^(本[报報][讯訊]) +")
# Half-width punctuation that OCR produced inside Chinese text; the full-width forms are
# what sentence splitting looks for. Only converted with Chinese on both sides, so
# "08:45", "1,339" or "https://..." are left alone.
_ASCII_PUNCT_RE = re.compile(
    rf"(?<=[{_CJK})\"'])\s*([,;:!?])\s*(?=[{_CJK}(\"'\d]|$)|(?<=[{_HAN}])\s*\.$"
)
_FULL_WIDTH = {",": "，", ";": "；", ":": "：", "!": "！", "?": "？", ".": "。"}

_SENTENCE_END = "。！？；…!?;"
# A paragraph ending like this is complete; otherwise a column break cut it.
_COMPLETE_RE = re.compile(rf"(?:[{_SENTENCE_END}：:）)」』”]|[。！？!?][\"'’])$")
_HEADLINE_MAX = 64
_HEADLINE_BAD_END = frozenset(_SENTENCE_END + "，,、：:")
_HEADLINE_COMMAS_RE = re.compile("[，,：:]")
_FULL_STOP_RE = re.compile("[。；;]")
_SHORT_HEADLINE = 32
_FRAGMENT_MAX = 3
_PAGE_NUMBER_RE = re.compile(r"^[-—–·.\s\d]{1,8}$")

_NAME = f"[{_HAN}]{{2,4}}"
_ROLE = r"(?:本[报報])?(?:特约)?(?:记者|記者|通讯员|通訊員|实习生|實習生)"
_NAMES = rf"(?:{_ROLE}\s*)?{_NAME}(?:\s*[、\s]\s*(?:{_ROLE}\s*)?{_NAME}){{0,3}}"
# A byline closes an article: "（司瑞东）" after the last sentence, or on its own line.
_BYLINE_RE = re.compile(rf"(?:^|(?<=[。！？!?”」』\"'’]))\s*[（(]\s*({_NAMES})\s*[）)]\s*$")
_LEAD_BYLINE_RE = re.compile(rf"^本[报報][讯訊]\s*[（(]\s*({_NAMES})\s*[）)]")
_ROLE_RE = re.compile(_ROLE)
_NAME_SEPARATOR_RE = re.compile(r"[\s、]+")
_NOT_A_BYLINE = frozenset({"待续", "未完待续", "续完"})
_ARTICLE_START_RE = re.compile(r"^本[报報][讯訊]")

_FULL_DATE_RE = re.compile(r"(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_PAGE_NO_RE = re.compile(r"第\s*([0-9一二三四五六七八九十]{1,3})\s*版")
_ISSUE_NO_RE = re.compile(r"第\s*\d+\s*期")
_DATE_SPACES_RE = re.compile(r"(?<=\d)\s+(?=[年月日版期])|(?<=[年月第])\s+(?=\d)")
_MASTHEAD_ITEM_RE = re.compile(
    r"\d{4}年\d{1,2}月\d{1,2}日|星期[一二三四五六日天]|周[一二三四五六日]"
    r"|[(（]?总?第[0-9一二三四五六七八九十]{1,4}[版期][)）]?|本期\d+篇"
)
_MASTHEAD_LINES = 5
_MASTHEAD_MAX = 60
_PAPER_NAME_MAX = 12
_CHINESE_DIGITS = {c: i for i, c in enumerate("一二三四五六七八九十", start=1)}


def clean_text(text: str) -> str:
    """Repair OCR'd newspaper text.

    * Spaces OCR put inside Chinese text are removed: between Chinese characters and
      punctuation, and between Chinese characters and digits ("创 建会" → "创建会",
      "共计 45 名" → "共计45名"). Spaces next to Latin letters and between digits stay
      ("NET ZERO TAINAN", "USB 3.0"). Headline-like lines keep single spaces between
      Chinese phrases ("人勤春来早 项目施工忙"), as printed headlines use them.
    * Half-width , ; : ! ? between Chinese characters become full-width, and a "." that
      ends a Chinese line becomes "。", so sentences can be split. Markdown bold ("**")
      goes; the dateline keeps its space ("本报讯 2月21日"), and so does a byline with
      several names ("（记者 张三 李四）").
    * Layout debris is dropped: runs of one-to-three-character lines ("县", "202",
      "年") and page numbers. The last short line right above a headline is kept: it is
      the section label ("交城县").
    * A paragraph that a column break cut mid-sentence (no final punctuation) is joined
      with the next paragraph, unless either one is headline-like (short, without
      sentence punctuation), the first one ends with a byline or the next one starts
      with a dateline ("本报讯").

    The result has one paragraph (or headline, or label) per line and no blank lines:
    the blank lines of OCR output are column and picture gaps, not structure. Cleaning
    is idempotent.

    Args:
        text: OCR text, paragraphs on their own lines.

    Returns:
        The cleaned text.
    """
    lines = [_normalise_line(raw) for raw in text.split("\n")]
    lines = _drop_debris([ln for ln in lines if ln])
    merged: list[str] = []
    for line in lines:
        if merged and _continues(merged[-1], line):
            # Normalised again: the seam can bring OCR spaces and punctuation together.
            merged[-1] = _normalise_line(_join(merged[-1], line))
        else:
            merged.append(line)
    return "\n".join(merged)


def _normalise_line(raw: str) -> str:
    line = _INVISIBLE_RE.sub("", raw)
    line = _EMPHASIS_RE.sub("", line)
    line = _HSPACE_RE.sub(" ", line).strip()
    line = _ASCII_PUNCT_RE.sub(lambda m: _FULL_WIDTH[m.group(1) or "."], line)
    prefix = suffix = ""
    dateline = _DATELINE_RE.match(line)
    if dateline:  # "本报讯 " is a dateline: the space after it is the paper's, keep it
        prefix, line = dateline.group(1) + " ", line[dateline.end() :]
    byline = _BYLINE_RE.search(line)
    if byline:  # spaces in "（记者 张三 李四）" separate names, keep them
        line, suffix = line[: byline.start()].rstrip(), byline.group(0).strip()
    keep_phrases = _is_headline_like(line)
    return (
        prefix
        + _SPACE_RUN_RE.sub(lambda m: _space_between(m.group(1), m.group(2), keep_phrases), line)
        + suffix
    )


def _space_between(left: str, right: str, keep_phrases: bool) -> str:
    """The space OCR left between two characters: "" if it is an artefact, else " "."""
    kinds = {_char_kind(left), _char_kind(right)}
    if "latin" in kinds or kinds == {"digit"} or kinds <= {"digit", "ascii"}:
        return " "
    if "punct" in kinds or "ascii" in kinds:
        return ""
    return " " if keep_phrases else ""


def _char_kind(char: str) -> str:
    if char.isdigit() and char.isascii():
        return "digit"
    if _HAN_RE.match(char):
        return "han"
    if _CJK_PUNCT_RE.match(char):
        return "punct"
    if char.isascii() and not char.isalnum():
        return "ascii"
    return "latin"


def _is_headline_like(line: str) -> bool:
    """Short, no sentence punctuation, not a byline: a headline, label or subheading."""
    core = line.replace(" ", "")
    if not core or len(core) > _HEADLINE_MAX or core[-1] in _HEADLINE_BAD_END:
        return False
    if _FULL_STOP_RE.search(core):
        return False
    commas = len(_HEADLINE_COMMAS_RE.findall(core))
    if commas > 1 or (commas == 1 and len(core) > _SHORT_HEADLINE):
        return False
    return _byline(line) is None


def _is_fragment(line: str) -> bool:
    core = line.replace(" ", "")
    if _PAGE_NUMBER_RE.match(core):
        return True
    return len(core) <= _FRAGMENT_MAX and not _COMPLETE_RE.search(core)


def _drop_debris(lines: list[str]) -> list[str]:
    kept: list[str] = []
    i = 0
    while i < len(lines):
        if not _is_fragment(lines[i]):
            kept.append(lines[i])
            i += 1
            continue
        end = i
        while end < len(lines) and _is_fragment(lines[end]):
            end += 1
        last = lines[end - 1]
        # The last short line right above a headline (a headline-like line followed by
        # text) is its section label; above a label and a headline, it is debris.
        text_after = next((line for line in lines[end + 1 :] if not _is_fragment(line)), None)
        above_headline = (
            end < len(lines)
            and _is_headline_like(lines[end])
            and text_after is not None
            and not _is_headline_like(text_after)
        )
        if above_headline and not _PAGE_NUMBER_RE.match(last.replace(" ", "")):
            kept.append(last)
        i = end
    return kept


def _continues(previous: str, line: str) -> bool:
    """Whether ``line`` carries on the sentence a column break cut in ``previous``."""
    return not (
        _COMPLETE_RE.search(previous)
        or _is_headline_like(previous)
        or _is_headline_like(line)
        or _ARTICLE_START_RE.match(line)
    )


def _join(left: str, right: str) -> str:
    # Chinese runs on without a space; only two Latin words need one.
    if left[-1].isascii() and left[-1].isalnum() and right[0].isascii() and right[0].isalnum():
        return f"{left} {right}"
    return left + right


def _byline(line: str) -> tuple[str, str] | None:
    """Split a paragraph ending with a "（name）" byline into (text before, author)."""
    match = _BYLINE_RE.search(line)
    if not match:
        return None
    names = _byline_names(match.group(1))
    if not names or names in _NOT_A_BYLINE:
        return None
    return line[: match.start()].rstrip(), names


def _byline_names(byline: str) -> str:
    """ "记者 张三 李四" → "张三、李四": role words dropped, names joined with "、"."""
    return "、".join(n for n in _NAME_SEPARATOR_RE.split(_ROLE_RE.sub(" ", byline)) if n)


# --- article splitting ----------------------------------------------------------------


def split_articles(text: str) -> list[Article]:
    """Split the text of an issue into articles, recognising its layout.

    Structured issues (articles between ``====`` lines) are split on the separators;
    the ``发稿单位/发稿时间/发稿人/联系电话`` header lines, the contact block at the end,
    any other "发稿…：" line and the closing ``（department）`` line are kept out of the
    body (a first paragraph glued to a header line is put back), and the author is the
    发稿人 or else the department. Any other text is treated as OCR pages: it is cleaned with
    :func:`clean_text` (harmless if it already was) and read line by line:

    * a run of headline-like lines followed by body text opens an article; when the run
      has several lines, the first is the section label (place or column slogan) and
      the rest is the headline;
    * a single headline-like line opens an article only at the start of the page, after
      an article was closed by a byline, or before a "本报讯" paragraph; elsewhere it is
      a subheading and stays in the body;
    * a paragraph ending with a "（name）" byline closes the article, and body text that
      follows a closed article opens an untitled one (headline "");
    * masthead lines at the top of the page (date, "第N版") are skipped.

    Args:
        text: The decoded text of one issue or page.

    Returns:
        The articles in reading order; ``page`` is set only when the page prints "第N版".
    """
    if _is_structured(text):
        return _split_structured(text)
    return _split_ocr(clean_text(text))


def _split_ocr(text: str) -> list[Article]:
    lines = text.split("\n") if text else []
    masthead = _masthead_end(lines)
    page = _page_number(lines[:masthead])
    articles: list[Article] = []
    bodies: list[list[str]] = []
    closed = True  # at the top of the page, as after a byline, text opens an article
    i = masthead
    while i < len(lines):
        end = i
        while end < len(lines) and _is_headline_like(lines[end]):
            end += 1
        if end > i:
            heads = lines[i:end]
            before_dateline = end < len(lines) and _ARTICLE_START_RE.match(lines[end])
            if len(heads) > 1 or closed or before_dateline:
                section = heads[0] if len(heads) > 1 else None
                headline = " ".join(heads[1:]) if len(heads) > 1 else heads[0]
                articles.append(Article(headline=headline, body="", section=section, page=page))
                bodies.append([])
            else:
                bodies[-1].extend(heads)  # a subheading inside the article
            closed = False
            i = end
            continue
        line = lines[i]
        if closed or (_ARTICLE_START_RE.match(line) and bodies[-1]):
            articles.append(Article(headline="", body="", page=page))
            bodies.append([])
        signed = _byline(line)
        closed = signed is not None
        if signed:
            line, articles[-1].author = signed
        if line:
            bodies[-1].append(line)
        i += 1
    for article, body in zip(articles, bodies, strict=True):
        article.body = "\n".join(body)
        lead = _LEAD_BYLINE_RE.match(article.body)
        if article.author is None and lead:
            article.author = _byline_names(lead.group(1))
    return articles


def _masthead_end(lines: list[str]) -> int:
    """Number of masthead lines (paper name, date, page) at the top of an OCR page."""
    end = 0
    for i, line in enumerate(lines[:_MASTHEAD_LINES]):
        if _is_masthead_line(line):
            end = i + 1
    return end


def _is_masthead_line(line: str) -> bool:
    """A line made only of masthead items: paper name, date, weekday, page, issue number.

    "交城报 2023年3月1日 星期三 第2版" is one; "2023年2月21日召开会议" is a headline.
    """
    tokens = _DATE_SPACES_RE.sub("", line).split()
    if not tokens or len(line) > _MASTHEAD_MAX:
        return False
    dated = False
    for token in tokens:
        if _MASTHEAD_ITEM_RE.fullmatch(token):
            dated = dated or not token.startswith(("星期", "周"))
        elif len(token) > _PAPER_NAME_MAX or any(c.isdigit() or c in "，。" for c in token):
            return False
    return dated


def _page_number(masthead: list[str]) -> int | None:
    for line in masthead:
        match = _PAGE_NO_RE.search(line)
        if match:
            number = match.group(1)
            return int(number) if number.isdigit() else _chinese_number(number)
    return None


def _chinese_number(numeral: str) -> int | None:
    """Value of a page numeral up to 99 written in Chinese ("三", "十二", "二十")."""
    if "十" not in numeral:
        return _CHINESE_DIGITS[numeral] if len(numeral) == 1 else None
    tens, _, units = numeral.partition("十")
    if len(tens) > 1 or len(units) > 1:
        return None
    return (_CHINESE_DIGITS[tens] if tens else 1) * 10 + (_CHINESE_DIGITS[units] if units else 0)


# --- structured issues ----------------------------------------------------------------

_SEPARATOR_RE = re.compile(r"^[ \t]*[=＝]{6,}[ \t]*$", re.MULTILINE)
_CLOSING_RE = re.compile(r"^[（(]([^（）()]{1,40})[）)]$")

# Header keys, with the variants, typos and letter-spacing the releases carry ("发稿者",
# "发稿单：", "发稿时间；", "连 络 人：", "新闻联系人 地籍科…").
_PUBLISH = r"[发發][稿告槁]"
_CONTACT = r"[联聯连連]\s?[系繫络絡]\s?(?:人\s?[员員]|人|[电電]\s?[话話]|[处處])(?:信息|資訊)?"
_KEY = (
    rf"(?P<author>{_PUBLISH}(?:人员|人員|人|者|⼈))"
    rf"|(?P<published>(?:{_PUBLISH}|稿)(?:时间|時間|日期|间|間))"
    rf"|{_PUBLISH}[^\s\d:：;；﹕]{{0,3}}"  # 发稿单位 and its typos (发稿单, 发稿摊位…)
    rf"|(?:新闻|新聞|业务|業務)?{_CONTACT}"
    r"|(?:业务|業務)?承\s?[办辦](?:代理)?(?:\s?人\s?[员員]|\s?人|科[长長]|科室|[单單]位)?"
    r"|[电電]\s?[话話]|科\s?[长長]|(?:标题|標題)"
)
_SEPARATOR_CHARS = ":：;；﹕"
# A line is a header line when it starts with a key: any "发稿…" or "新闻联系人…"
# line, other keys when a colon or a number follows. Contact keys may have a short
# prefix ("本案联系人：", "主办单位联系人："); "洽询电话：" or "九、本案承办人：…" are text.
_META_LINE_RE = re.compile(
    rf"^[(（\[]?\s*(?:{_PUBLISH}|稿时间|(?:新闻|新聞){_CONTACT}"
    rf"|(?:[^\s{_SEPARATOR_CHARS}]{{0,6}}?{_CONTACT}|{_KEY})\s*(?:[{_SEPARATOR_CHARS}]|(?=\d)))"
)
# A "发稿…：" line is metadata wherever it is, even mid-article.
_PUBLISH_LINE_RE = re.compile(rf"^[(（\[]?\s*{_PUBLISH}\S{{0,4}}?\s*[{_SEPARATOR_CHARS}]")
# A footer glued to the end of the last paragraph ("…健康城市。发稿单位：体育局"): only
# the unmistakable keys, followed by a short tail without a sentence.
_GLUED_FOOTER_RE = re.compile(
    rf"\s*(?:{_PUBLISH}\S{{0,4}}?|(?:新闻|新聞){_CONTACT})\s*[{_SEPARATOR_CHARS}][^。！？]{{0,80}}$"
)
# Some releases open with "台南市政府工务局新闻稿" and mark the text with "内文：".
_RELEASE_LABEL_RE = re.compile(r"^(?:\S{2,24}新[闻聞]稿|[内內](?:文|容))\s*[:：]?$")
# Several fields often share one line: "发稿单位：…发稿时间：…发稿人：…".
_META_FIELD_RE = re.compile(rf"(?:{_KEY})\s*[{_SEPARATOR_CHARS}]?\s*")
# Phone numbers as the contact lines write them: "06-2991111#8333", "(06)2686751转1600",
# "0910735124", "2991111分机1540"; URLs and dates are not phone numbers.
_PHONE_RE = re.compile(
    r"电话|電話|分机|分機|[#＃转轉]\s*\d|0\d{1,3}-\d{3}|\(0\d{1,2}\)\s*\d"
    r"|(?<![A-Za-z0-9/=.-])\d{7,10}(?![A-Za-z0-9])"
)
_CONTACT_MAX = 60
_ROC_DATE_RE = re.compile(
    r"\d{2,3}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日"
    r"(?:\s*\d{1,2}\s*[:：]\s*\d{2})?(?:\s*[(（][^()（）]{0,20}[)）])?"
)
_FUSED_MIN = 20  # a header value this long with a comma has the first paragraph glued on
_COMMA_RE = re.compile("[，,]")
_PERSON_RE = re.compile(rf"\s*({_NAME}(?:、{_NAME})*)")
_USUAL_NAME = 3  # most Chinese full names have three characters
_PHONE_TAIL_RE = re.compile(r"\s*\(?\d{2,}.*$")  # "工程企划科 苏柏璁 (06)2991111-8784"


def _is_structured(text: str) -> bool:
    return _SEPARATOR_RE.search(text) is not None


def _split_structured(text: str) -> list[Article]:
    articles = []
    for block in _SEPARATOR_RE.split(text)[1:]:
        lines = [line.strip() for line in block.split("\n")]
        lines = [line for line in lines if line]
        if not lines:
            continue
        headline, rest = lines[0], lines[1:]
        department = None
        if rest and (closing := _CLOSING_RE.match(rest[-1])):
            department, rest = closing.group(1).strip(), rest[:-1]
        author, rest = _strip_metadata(rest)
        articles.append(
            Article(headline=headline, body="\n".join(rest), author=author or department)
        )
    return articles


def _strip_metadata(lines: list[str]) -> tuple[str | None, list[str]]:
    """Remove header, footer and stray "发稿…：" lines; return the 发稿人 and the body."""
    header_author, lines = _strip_header(lines)
    footer_author, lines = _strip_footer(lines)
    stray = [line for line in lines if _PUBLISH_LINE_RE.match(line)]
    stray_author = next((a for line in stray if (a := _header_fields(line)[0])), None)
    body = [line for line in lines if not _PUBLISH_LINE_RE.match(line)]
    return header_author or footer_author or stray_author, body


def _is_meta_line(line: str) -> bool:
    return _META_LINE_RE.match(line) is not None


def _strip_header(lines: list[str]) -> tuple[str | None, list[str]]:
    """Remove the header lines under the headline; return the 发稿人 and the rest."""
    author = None
    i = 0
    while i < len(lines) and (
        _is_meta_line(lines[i])
        or _RELEASE_LABEL_RE.match(lines[i])
        or (i > 0 and _is_contact_line(lines[i]))
    ):
        value, glued = _header_fields(lines[i])
        author = author or value
        i += 1
        if glued:  # the first paragraph was glued to the header: put it back
            return author, [glued, *lines[i:]]
    return author, lines[i:]


def _header_fields(line: str) -> tuple[str | None, str | None]:
    """The 发稿人 of a header line, and any paragraph text glued to its end."""
    fields = list(_META_FIELD_RE.finditer(line))
    author = glued = None
    for i, field in enumerate(fields):
        last = i == len(fields) - 1
        value = line[field.end() : len(line) if last else fields[i + 1].start()].strip()
        if last:
            value, glued = _unglue(value, field)
        if field.group("author") and value:
            author = _clean_author(value)
    return author, glued


def _unglue(value: str, field: re.Match[str]) -> tuple[str, str | None]:
    """Split a header's last value from the paragraph glued to it, if there is one."""
    if len(value) < _FUSED_MIN or not _COMMA_RE.search(value):
        return value, None
    if field.group("published"):
        head = _ROC_DATE_RE.match(value)
        end = head.end() if head else 0
    elif field.group("author"):
        end = _person_end(value)
    else:  # e.g. "标题：… 2024台湾灯会在台南盛大举办，": the text starts after a space
        end = max(value.rfind(" ", 0, _COMMA_RE.search(value).start()), 0)
    if not end:
        return value, None
    return value[:end].strip(), value[end:].strip() or None


def _person_end(value: str) -> int:
    """Where the names end in "叶泯萱、林静怡台南市…": names run into the text unmarked."""
    match = _PERSON_RE.match(value)
    if not match:
        return 0
    names = match.group(1).split("、")
    last_start = match.end(1) - len(names[-1])
    # The last name runs into the paragraph; assume the usual length.
    return min(match.end(1), last_start + _USUAL_NAME)


def _clean_author(value: str) -> str | None:
    value = _PHONE_TAIL_RE.sub("", html.unescape(value))  # "&ensp;" occurs in the releases
    value = _HSPACE_RE.sub(" ", value).strip(" ：:，,。（()）")
    return value or None


def _strip_footer(lines: list[str]) -> tuple[str | None, list[str]]:
    """Remove the trailing contact block ("新闻联系人：…", "业务联系人：… 电话…").

    Returns:
        The 发稿人 named in the block, if any, and the remaining lines.
    """
    start = len(lines)
    while start > 0 and (_is_meta_line(lines[start - 1]) or _is_contact_line(lines[start - 1])):
        start -= 1
    body, footer = lines[:start], lines[start:]
    # Phone numbers alone are not a footer (an article may end "洽询电话：…"): it needs a key.
    if not any(_is_meta_line(line) for line in footer):
        body, footer = lines, []
    # The block may also start on the last line: "…健康城市。发稿单位：体育局".
    glued = _GLUED_FOOTER_RE.search(body[-1]) if body else None
    if glued and glued.start():
        body, footer = [*body[:-1], body[-1][: glued.start()]], [glued.group().strip(), *footer]
    authors = (_header_fields(line)[0] for line in footer if _is_meta_line(line))
    return next((author for author in authors if author), None), body


def _is_contact_line(line: str) -> bool:
    """A contact line without a key: "家庭教育中心主任张冰嫈 电话：6591068#10"."""
    return (
        len(line) <= _CONTACT_MAX
        and bool(_PHONE_RE.search(line))
        and not _COMMA_RE.search(line)
        and "。" not in line
        and "://" not in line
    )


# --- reading files ----------------------------------------------------------------------

_TEXT_SUFFIXES = frozenset({".txt", ".text", ".md"})
_PDF_SUFFIX = ".pdf"
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
_MIN_YEAR, _MAX_YEAR = 1900, 2100


def read_issue(path: Path) -> Issue:
    """Read one issue file into an :class:`Issue`.

    Text files (.txt, .text, .md) are decoded and their layout recognised by
    :func:`split_articles`. PDFs go through :func:`retrieval.pdf.extract_pages` (text
    layer, columns kept apart) and then the same :func:`split_articles`, page by page;
    each article's ``page`` is its page in the PDF, counted from 1 (or from the page a
    sidecar states).

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
        path: A .txt, .text, .md or .pdf file.

    Returns:
        The issue; ``issue_id`` is the file stem, ``source`` is ``str(path)``.

    Raises:
        BadFileError: The file is not a supported type, cannot be read or decoded, is
            empty, is a PDF without a usable text layer, carries invalid metadata, or
            holds no article.
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
    ``2024_03_01_page04.pdf``, ``2024-03-01_第5版.pdf``. Page files in the same folder
    whose names agree up to the end of the date make one issue, whatever their type (a
    scanned page may come as OCR'd text among PDFs). A name with no page number after
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
      from it). An article that runs on from one page to the next stays two articles,
      the second one untitled: no text is lost, but it is not joined;
    * ``source`` names the files read, in shell brace form:
      ``data/2024-03-01{_01.pdf,_02.pdf}`` (for a single file, its path);
    * title and date come from a sidecar for the whole issue (``2024-03-01.meta.json``),
      then the metadata of the first file read, the date in the name, and the masthead
      of the first page with text.

    A page file that cannot be read (a picture-only page: "no text layer") or holds no
    article is skipped and reported, so the rest of the issue is still read. When two
    files give the same page (``2024-03-01_03.pdf`` and its OCR'd
    ``2024-03-01_03.txt``), the first one in name order that can be read is used, the
    others are reported, and an unreadable one is not reported when the other one serves.

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
                file = _read_file(path)
                articles.extend(_articles(file, page))
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
    if not _valid_date(match["year"], match["month"], match["day"]):
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
        pages: Its text: one item for a text file, one per page for a PDF.
        meta: What its sidecar and front matter state.
        pdf: Whether it is a PDF, whose pages are numbered by their position.
    """

    path: Path
    pages: list[str]
    meta: _Metadata
    pdf: bool


def _read_file(path: Path) -> _File:
    suffix = path.suffix.lower()
    if suffix == _PDF_SUFFIX:
        # Imported here: pdfplumber takes a noticeable time to load, and text-only runs
        # never need it.
        from retrieval.pdf import extract_pages

        return _File(path, extract_pages(path), _sidecar(path, path.stem), pdf=True)
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
    return _File(path, [text], _sidecar(path, path.stem).over(front), pdf=False)


def _articles(file: _File, name_page: int | None) -> list[Article]:
    """The articles of a file, page by page, numbered from ``name_page`` if given.

    Explicit metadata wins over the page in the file name, which wins over the position
    in a PDF and over the "第N版" of a text page's masthead.
    """
    first = file.meta.page or name_page or (1 if file.pdf else None)
    articles: list[Article] = []
    for offset, text in enumerate(file.pages):
        page_articles = split_articles(text)
        if first is not None:
            for article in page_articles:
                article.page = first + offset
        articles.extend(page_articles)
    if not articles:
        raise BadFileError(file.path, "no article found in the text")
    return articles


def _title_and_date(file: _File, meta: _Metadata, stem: str) -> tuple[str | None, dt.date | None]:
    """Title and date by precedence: metadata, date in the name, masthead (first page
    with text)."""
    text = next((page for page in file.pages if page.strip()), "")
    head = [line.strip() for line in text.split("\n") if line.strip()][:_MASTHEAD_LINES]
    masthead = [line for line in head if _is_masthead_line(line)]
    return (
        meta.title or _masthead_title(head, masthead),
        meta.date or _date_from_name(stem) or _masthead_date(masthead),
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
        date = _valid_date(match.group(1), match.group(3), match.group(4))
        if date:
            return date
    return None


def _masthead_date(masthead: list[str]) -> dt.date | None:
    for line in masthead:
        for match in _FULL_DATE_RE.finditer(line):
            date = _valid_date(*match.groups())
            if date:
                return date
    return None


def _valid_date(year: str, month: str, day: str) -> dt.date | None:
    if not _MIN_YEAR <= int(year) <= _MAX_YEAR:
        return None
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        return None


def _masthead_title(head: list[str], masthead: list[str]) -> str | None:
    """Paper name and issue number from the masthead: "台南市政府新闻汇编 第61期"."""
    if not masthead:
        return None
    # The paper's name is the first thing printed that is not a date or a number.
    names = (
        name
        for line in head[: head.index(masthead[-1]) + 1]
        if (name := _MASTHEAD_ITEM_RE.sub("", _DATE_SPACES_RE.sub("", line)).strip())
    )
    number = next((m.group(0) for line in masthead if (m := _ISSUE_NO_RE.search(line))), None)
    return " ".join(part for part in (next(names, None), number) if part) or None
