"""Clean OCR'd text: spaces inside words, half-width punctuation, debris, broken paragraphs.

Works on text with one paragraph (or headline, or label) per line, the way the seed page
and PDF text layers come; hard-wrapped column text is first joined into such lines by
:mod:`retrieval.parse.layout`.
"""

from __future__ import annotations

import re

from retrieval.parse.masthead import page_numeral
from retrieval.text import CJK, CJK_PUNCT_RE, HAN, HAN_RE, SENTENCE_END

_INVISIBLE_RE = re.compile("[\u200b-\u200d\u2060\ufeff]")
_EMPHASIS_RE = re.compile(r"\*{2,}")  # markdown bold that OCR-to-markdown leaves around names
HSPACE_RE = re.compile(r"[ \t\u00a0\u2002-\u200a\u3000]+")
_SPACE_RUN_RE = re.compile(r"(?<=(\S)) +(?=(\S))")
_DATELINE_RE = re.compile(r"^(本[报報][讯訊]) +")
# Half-width punctuation that OCR produced inside Chinese text; the full-width forms are
# what sentence splitting looks for. Only converted with Chinese on both sides, so
# "08:45", "1,339" or "https://..." are left alone.
_ASCII_PUNCT_RE = re.compile(
    rf"(?<=[{CJK})\"'])\s*([,;:!?])\s*(?=[{CJK}(\"'\d]|$)|(?<=[{HAN}])\s*\.$"
)
_FULL_WIDTH = {",": "，", ";": "；", ":": "：", "!": "！", "?": "？", ".": "。"}

# A paragraph ending like this is complete; otherwise a column break cut it.
_COMPLETE_RE = re.compile(rf"(?:[{SENTENCE_END}：:）)」』”]|[。！？!?][\"'’])$")
_HEADLINE_MAX = 64
_HEADLINE_BAD_END = frozenset(SENTENCE_END + "，,、：:")
_HEADLINE_COMMAS_RE = re.compile("[，,：:]")
FULL_STOP_RE = re.compile("[。；;]")
_SHORT_HEADLINE = 32
_FRAGMENT_MAX = 3
_PAGE_NUMBER_RE = re.compile(r"^[-—–·.\s\d]{1,8}$")

NAME = f"[{HAN}]{{2,4}}"
ROLE = r"(?:本[报報])?(?:特约)?(?:记者|記者|通讯员|通訊員|实习生|實習生)"
_NAMES = rf"(?:{ROLE}\s*)?{NAME}(?:\s*[、\s]\s*(?:{ROLE}\s*)?{NAME}){{0,3}}"
# A byline closes an article: "（司瑞东）" after the last sentence, or on its own line.
_BYLINE_RE = re.compile(rf"(?:^|(?<=[。！？!?”」』\"'’]))\s*[（(]\s*({_NAMES})\s*[）)]\s*$")
LEAD_BYLINE_RE = re.compile(rf"^本[报報][讯訊]\s*[（(]\s*({_NAMES})\s*[）)]")
_ROLE_RE = re.compile(ROLE)
_NAME_SEPARATOR_RE = re.compile(r"[\s、]+")
_NOT_A_BYLINE = frozenset({"待续", "未完待续", "续完"})
ARTICLE_START_RE = re.compile(r"^本[报報][讯訊]")
# Subheads inside an article: numbered, bulleted or bracketed.
# (Each style of number is a named group: see next_item.)
_NUMBERED = (
    r"(?P<han>[一二三四五六七八九十]+)[、.．]|[（(](?P<bracketed>[一二三四五六七八九十\d]+)[）)]"
    r"|(?P<digits>\d+)[、.．]"
)
_NUMBERED_RE = re.compile(f"^(?:{_NUMBERED})")
SUBHEAD_RE = re.compile(rf"^(?:{_NUMBERED}|[◆●■★※•▲△◎○□【]|第[一二三四五六七八九十\d]+[章节部分])")
# "活动地点：新营文化中心" or "报名方式：" inside an article.
_LABEL_RE = re.compile(
    r"^[^\s：:，,]{0,6}(?:地点|地點|时间|時間|日期|期间|期間|对象|對象|方式|电话|電話|地址"
    r"|名称|名稱|单位|單位|资格|資格|内容|內容|费用|費用|主旨|说明|說明|依据|依據|网址|網址"
    r"|人数|人數|条件|條件|项目|項目|办法|辦法|附件|职称|職稱|职缺|職缺)\s*[：:]|.*[：:]$"
)


def clean_text(text: str, *, headlines: bool = True) -> str:
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
        headlines: Whether the text may hold headlines. Without (an article's body, its
            headlines known from the print), a short paragraph cut mid-sentence is joined
            with the next too, unless it is a subhead or a label ("一、", "报名方式：").

    Returns:
        The cleaned text.
    """
    lines = [normalise_line(raw) for raw in text.split("\n")]
    lines = _drop_debris([ln for ln in lines if ln])
    merged: list[str] = []
    for line in lines:
        if merged and _continues(merged[-1], line, headlines):
            # Normalised again: the seam can bring OCR spaces and punctuation together.
            merged[-1] = normalise_line(join_lines(merged[-1], line))
        else:
            merged.append(line)
    return "\n".join(merged)


def normalise_line(raw: str) -> str:
    line = _INVISIBLE_RE.sub("", raw)
    line = _EMPHASIS_RE.sub("", line)
    line = HSPACE_RE.sub(" ", line).strip()
    line = _ASCII_PUNCT_RE.sub(lambda m: _FULL_WIDTH[m.group(1) or "."], line)
    prefix = suffix = ""
    lead = LEAD_BYLINE_RE.match(line)
    if lead:  # "本报讯（记者 张三 李四）": the spaces separate names, keep them
        prefix, line = lead.group(0), line[lead.end() :]
    dateline = _DATELINE_RE.match(line)
    if dateline:  # "本报讯 " is a dateline: the space after it is the paper's, keep it
        prefix, line = dateline.group(1) + " ", line[dateline.end() :]
    byline = _BYLINE_RE.search(line)
    if byline:  # spaces in "（记者 张三 李四）" separate names, keep them
        line, suffix = line[: byline.start()].rstrip(), byline.group(0).strip()
    keep_phrases = is_headline_like(line)
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
    if HAN_RE.match(char):
        return "han"
    if CJK_PUNCT_RE.match(char):
        return "punct"
    if char.isascii() and not char.isalnum():
        return "ascii"
    return "latin"


def is_headline_like(line: str) -> bool:
    """Short, no sentence punctuation, not a byline: a headline, label or subheading."""
    core = line.replace(" ", "")
    if not core or len(core) > _HEADLINE_MAX or core[-1] in _HEADLINE_BAD_END:
        return False
    if FULL_STOP_RE.search(core):
        return False
    commas = len(_HEADLINE_COMMAS_RE.findall(core))
    if commas > 1 or (commas == 1 and len(core) > _SHORT_HEADLINE):
        return False
    return byline(line) is None


def is_subhead(text: str) -> bool:
    """A numbered or bracketed subhead, or a label introducing a list ("报名方式：")."""
    return bool(SUBHEAD_RE.match(text) or _LABEL_RE.match(text))


def is_item_or_label(text: str) -> bool:
    """A numbered item ("一、", "（二）", "3.") or a label ("报名方式："): body text, never
    a headline's line, where a bulleted or bracketed line ("【埕南报报】…") may be one."""
    return bool(_NUMBERED_RE.match(text) or _LABEL_RE.match(text))


def next_item(previous: str, following: str) -> bool:
    """Whether ``following`` is numbered as the item after ``previous`` ("一、…" then
    "二、…", "（2）" then "（3）"): what lies between them is the first one's text."""
    first, second = _NUMBERED_RE.match(previous), _NUMBERED_RE.match(following)
    if not first or not second or first.lastgroup != second.lastgroup:
        return False
    value, after = page_numeral(first[first.lastgroup]), page_numeral(second[second.lastgroup])
    return value is not None and after == value + 1


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
            and is_headline_like(lines[end])
            and text_after is not None
            and not is_headline_like(text_after)
        )
        if above_headline and not _PAGE_NUMBER_RE.match(last.replace(" ", "")):
            kept.append(last)
        i = end
    return kept


def _continues(previous: str, line: str, headlines: bool) -> bool:
    """Whether ``line`` carries on the sentence a column break cut in ``previous``."""
    if is_complete(previous) or ARTICLE_START_RE.match(line):
        return False
    if headlines:
        return not (is_headline_like(previous) or is_headline_like(line))
    return not is_subhead(previous)


def is_complete(paragraph: str) -> bool:
    """Whether a paragraph ends as a sentence does (else a column or page break cut it)."""
    return bool(_COMPLETE_RE.search(paragraph))


def join_lines(left: str, right: str) -> str:
    """Two pieces of one paragraph joined: Chinese runs on without a space, two Latin
    words get one, a Latin word hyphenated at the break is joined again."""
    if left.endswith("-") and left[-2:-1].isalpha() and right[:1].islower():
        return left[:-1] + right  # "inter-" + "national"
    if left[-1].isascii() and left[-1].isalnum() and right[0].isascii() and right[0].isalnum():
        return f"{left} {right}"
    return left + right


def byline(line: str) -> tuple[str, str] | None:
    """Split a paragraph ending with a "（name）" byline into (text before, author)."""
    match = _BYLINE_RE.search(line)
    if not match:
        return None
    names = byline_names(match.group(1))
    if not names or names in _NOT_A_BYLINE:
        return None
    return line[: match.start()].rstrip(), names


def byline_names(byline: str) -> str:
    """ "记者 张三 李四" → "张三、李四": role words dropped, names joined with "、"."""
    return "、".join(n for n in _NAME_SEPARATOR_RE.split(_ROLE_RE.sub(" ", byline)) if n)
