"""Structured issues: articles between ``====`` lines, with press-release header lines.

The development corpus is laid out this way: a masthead, then articles separated by
``====`` lines, each with a headline, ``发稿单位/发稿时间/发稿人/联系电话`` header lines,
paragraphs and a closing ``（issuing department）`` line. This is clean web text, so it is
split as it is and never goes through the OCR clean-up.
"""

from __future__ import annotations

import html
import re

from retrieval.documents import Article
from retrieval.parse.cleanup import HSPACE_RE, NAME

_SEPARATOR_RE = re.compile(r"^[ \t]*[=＝]{6,}[ \t]*$", re.MULTILINE)
CLOSING_RE = re.compile(r"^[（(]([^（）()]{1,40})[）)]$")

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
_PERSON_RE = re.compile(rf"\s*({NAME}(?:、{NAME})*)")
_USUAL_NAME = 3  # most Chinese full names have three characters
_PHONE_TAIL_RE = re.compile(r"\s*\(?\d{2,}.*$")  # "工程企划科 苏柏璁 (06)2991111-8784"


def is_structured(text: str) -> bool:
    return _SEPARATOR_RE.search(text) is not None


def split_structured(text: str) -> list[Article]:
    articles = []
    for block in _SEPARATOR_RE.split(text)[1:]:
        lines = [line.strip() for line in block.split("\n")]
        lines = [line for line in lines if line]
        if not lines:
            continue
        headline, rest = lines[0], lines[1:]
        department = None
        if rest and (closing := CLOSING_RE.match(rest[-1])):
            department, rest = closing.group(1).strip(), rest[:-1]
        author, rest = strip_metadata(rest)
        articles.append(
            Article(headline=headline, body="\n".join(rest), author=author or department)
        )
    return articles


def strip_metadata(lines: list[str]) -> tuple[str | None, list[str]]:
    """Remove header, footer and stray "发稿…：" lines; return the 发稿人 and the body."""
    header_author, lines = _strip_header(lines)
    footer_author, lines = _strip_footer(lines)
    stray = [line for line in lines if _PUBLISH_LINE_RE.match(line)]
    stray_author = next((a for line in stray if (a := _header_fields(line)[0])), None)
    body = [line for line in lines if not _PUBLISH_LINE_RE.match(line)]
    return header_author or footer_author or stray_author, body


def is_meta_line(line: str) -> bool:
    return _META_LINE_RE.match(line) is not None


def _strip_header(lines: list[str]) -> tuple[str | None, list[str]]:
    """Remove the header lines under the headline; return the 发稿人 and the rest."""
    author = None
    i = 0
    while i < len(lines) and (
        is_meta_line(lines[i])
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
    value = HSPACE_RE.sub(" ", value).strip(" ：:，,。（()）")
    return value or None


def _strip_footer(lines: list[str]) -> tuple[str | None, list[str]]:
    """Remove the trailing contact block ("新闻联系人：…", "业务联系人：… 电话…").

    Returns:
        The 发稿人 named in the block, if any, and the remaining lines.
    """
    start = len(lines)
    while start > 0 and (is_meta_line(lines[start - 1]) or _is_contact_line(lines[start - 1])):
        start -= 1
    body, footer = lines[:start], lines[start:]
    # Phone numbers alone are not a footer (an article may end "洽询电话：…"): it needs a key.
    if not any(is_meta_line(line) for line in footer):
        body, footer = lines, []
    # The block may also start on the last line: "…健康城市。发稿单位：体育局".
    glued = _GLUED_FOOTER_RE.search(body[-1]) if body else None
    if glued and glued.start():
        body, footer = [*body[:-1], body[-1][: glued.start()]], [glued.group().strip(), *footer]
    authors = (_header_fields(line)[0] for line in footer if is_meta_line(line))
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
