"""Layout recovery for hard-wrapped OCR text: every printed column line on its own line.

Most OCR engines and newspaper archives keep the printed lines: 12–26 characters a line,
paragraphs separated by blank lines or not at all, headlines as short lines, the masthead
repeated on every page, stray characters from photos and rules. Split line by line, such
a file gave 56 "articles" named after wrapped body lines for an issue of 24. The steps:

1. **Page furniture** goes, wherever it is: running heads and mastheads (paper name, date,
   ``第N版``), page-number lines (``- 2 -``), continuation markers (``下转第2版``,
   ``上接第1版``) and photo credits (``（摄影 王小明）``, ``本报记者 李华 摄``). Page numbers
   they print are kept for the articles that follow.
2. **Debris**, isolated 1–4-character lines (``县``, ``202``, ``综``), goes when it
   interrupts a paragraph or comes in a run; a short line between a finished paragraph
   and new text is kept as a headline or label (``新北市`` is a headline).
3. **The wrap width** is found from the lines themselves, around each line (a window of
   lines, so pages set in different column widths are each read at their own): a line
   is *full* when it, plus the first word of the next line, reaches the narrow end of
   the widths of its neighbourhood, and a full line runs on into the next. Chinese runs
   on without a space, Latin words with one, a word hyphenated at the line end is
   joined again.
4. **Paragraphs** end at a line that is not full, and at a blank line, unless the line
   before the gap is full and stops mid-sentence (a column or page break cut it).
5. **Articles**: a headline is a short paragraph without sentence punctuation
   (:func:`~retrieval.parse.cleanup.is_headline_like`) followed by body text; two
   headline lines in a row are a headline broken over two lines (joined when the first
   one is full or leaves a quote open), or, set apart, a section label and a headline
   (a short label; under a long first line, the lines set apart are the body's first
   ones). Subheads (``一、``, ``（一）``, ``【…】``, a line ending with ``：``) stay in
   their article. When the file closes
   its articles (``（记者 张三）`` bylines or ``（issuing department）`` lines, as county
   papers and the press releases do), a headline opens an article only after a
   closing, at the top of the text or above a dateline or release header, as on the
   paragraph-per-line pages of :mod:`~retrieval.parse.pages`; a file without closings
   (an encyclopedia digest, say) opens one at every headline.
6. **Bylines** (``本报讯（记者 张三）``, a ``记者 张三 通讯员 李四`` line, a closing
   ``（张三）``) and release headers (``发稿单位：…``) become the author and leave the body,
   as in :mod:`~retrieval.parse.structured`.
"""

from __future__ import annotations

import bisect
import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from retrieval.documents import Article
from retrieval.parse.cleanup import (
    ARTICLE_START_RE,
    FULL_STOP_RE,
    HSPACE_RE,
    LEAD_BYLINE_RE,
    NAME,
    ROLE,
    SUBHEAD_RE,
    byline,
    byline_names,
    is_headline_like,
    is_item_or_label,
    is_subhead,
    join_lines,
    next_item,
    normalise_line,
)
from retrieval.parse.furniture import (
    CONTINUATION_RE,
    PAGE_IN_LINE_RE,
    PAGE_NUMBER_LINE_RE,
    is_furniture,
)
from retrieval.parse.masthead import PAPER_NAME_MAX, is_masthead_line, page_number
from retrieval.parse.structured import CLOSING_RE, is_meta_line, strip_metadata
from retrieval.text import CLOSING, HAN, HAN_RE, OPENING, SENTENCE_END, breaks_word, text_width

__all__ = ["is_wrapped", "split_wrapped"]

# Hard-wrapped text: most lines reach the column width, and columns are narrow. Wide
# e-paper columns hold up to ~40 characters; a paragraph-per-line file (the seed page)
# has widths spread over 20–250.
_MAX_COLUMN = 48
_MIN_LINES = 5
_FULL_SHARE = 0.5  # share of the lines within 25% of the column width
# Widths are read around each line: enough lines for a column's widths to show, few
# enough that a page in another width is read at its own.
_WINDOW = 30
# The narrow end of the column lines' widths is the measure: a line may end early when
# OCR does not keep the measure (ragged lines), never late.
_NARROW_END = 0.1
# Unless most lines of the file have one width: then the engine kept the measure, and
# the commonest width around a line is it. (The narrow end would be pulled in by the
# short lines among the column's: headlines and a paragraph's last line that happen not
# to end in punctuation. Ragged lines have no width most lines share, though a window
# of them may by chance.)
_SET_SHARE = 0.5
_WIDE_END = 0.97  # ... and the wide end, over lines whose last character cannot hang
# Punctuation that may not start a line hangs past the column's end instead.
_HANGING = frozenset("，。、；：？！）」』”’》〉】〕…—%,.;:?!)]}·")
_NO_LINE_START = _HANGING - frozenset("…—·")  # (a dash or an ellipsis may open a line)
# A line opening with one character and an exclamation or question mark holds the end of
# the sentence the line before cut ("…鸣枪开" / "跑！小选手…"), where jieba does not know
# the word (开跑) to see the cut. (Headlines open with such an exclamation: "贺！台南市…";
# a headline's first line filled by the column is not followed by one.)
_CUT_SENTENCE_TAIL_RE = re.compile(rf"[{HAN}][！？!?]")
_FENCE = 1.5  # Tukey's: widths beyond the upper quartile by 1.5 interquartile ranges
_OVERWIDE = 1.0  # a line a character wider than the column is set in another measure
_LATIN_RUN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.,:/%+\-@&#=?]*")
_COLUMN_SHARE = 0.7  # lines narrower than this share of the widest are not column lines
# A line ran to the column's end when the next line's first word would not have fit:
# greedy wrapping, give or take half a column for half-width digits and letters.
_FULL_SLACK = 0.5
_RAGGED_SLACK = 1.5
_DEBRIS_MAX = 4
_RUNNING_HEAD_REPEATS = 3
_RUNNING_HEAD_MAX = 30
_FULL_SHARE_OF_TYPICAL = 0.8  # a line narrower than this share of the median stopped short
# Headlines of papers that close their articles may end with "！" and hold commas; a
# paragraph without a full stop right after a closing is one up to this width.
_LOOSE_HEADLINE_MAX = 80
_MAX_HEADLINE_LINES = 3
# A full line under a headline's short first line is its subtitle when it holds no
# punctuation but quotes: body lines have some (an 18-character first line lacks it in
# 39% of the corpus's articles, a 26-character one in 15%; subtitles in 84%). In narrow
# columns body lines lack it too often to tell.
_SUBTITLE_BAD_RE = re.compile(r"[，。、；：！？,;:!?（）()]")
_SUBTITLE_MIN_MEASURE = 16
# What a title or a quote holds is its own ("《列车毛古拉斯，要开了》创下2场秒杀完售纪录").
_QUOTED_RE = re.compile(r"《[^《》]*》|「[^「」]*」|『[^『』]*』|“[^“”]*”")
# Where lines are ragged, width tells a subtitle from a body line no more, and one
# enumerating ("柳营义士路、后壁南80线路面平整完工新气象") is let through too: 88% of
# subtitles pass then (84% without "、"), and 43% of first body lines at 18 (39%).
# Measured on the ragged style: hit@5 0.914 → 0.924; allowed everywhere, it lost in
# w18, w26 and debris.
_RAGGED_SUBTITLE_BAD_RE = re.compile(r"[，。；：！？,;:!?（）()]")
# ... or when it quotes someone ("黄伟哲：南市府会与时俱进，确保民众权益"), however wide:
# 285 of the corpus's subtitles do, and 11 of its 7,438 articles' first lines, most of
# them labels ("计划目的：") or dialogue ("小美:「阿…").
_SPEAKER_RE = re.compile(rf"^[{HAN}]{{2,4}}[：:](?!\s*[「『“\"])")
# Section labels are short: "交城县", "县域经济", "综合新闻".
_SECTION_MAX = 8
_BLANK_SHARE = 0.5  # paragraphs set apart by blank lines in fewer files than this: not a habit

_LINE_END_PUNCT = frozenset(SENTENCE_END + "：:）)」』”’\"'》】")
# A byline printed on its own line under the headline: "本报记者 张三 通讯员 李四".
_BYLINE_LINE_RE = re.compile(rf"^(?:{ROLE}\s*{NAME}\s*(?:[、\s]\s*{NAME})*\s*){{1,3}}$")
# In papers that close their articles, bare subheads are short ("强化政治引领"); a
# headline-like line at least this wide opens an article even without a closing before.
_SUBHEAD_MAX = 12
# A paragraph's first line set in by two full-width spaces (or their width in others),
# as Chinese text is printed; a line set in further is centred (a headline).
_INDENT_RE = re.compile(r"^[ \t\u00a0\u3000]+(?=\S)")
_INDENT_WIDTH = (1.5, 2.5)
# A gap of two spaces or more inside a line (or a full-width one) parts a main title
# from its subtitle printed on the same line; body lines are set without one (of the 20
# most asked-about corpus issues wrapped at 18, 12 lines have one, all headlines).
_GAP_RE = re.compile(r"(?<=\S)[ \t\u00a0\u2002-\u200a\u3000]+(?=\S)")
# Indents are a habit of the file when at least this many lines have one and most of them
# follow the end of a sentence or a headline (stray spaces OCR puts before a line do not).
_MIN_INDENTS = 3
_INDENT_SHARE = 0.6
# ... and at least this share of the lines after a sentence's end is set in (a sentence
# also ends inside a paragraph, at a line's end).
_OPENED_SHARE = 0.3


@dataclass
class _Line:
    text: str
    width: float
    page: int | None
    blank_before: bool = False
    # Set in as a paragraph's first line is (two full-width spaces), in a text that sets
    # in its paragraphs (:func:`_indents_paragraphs`).
    indented: bool = False
    # Printed with a gap of two spaces or more inside it (:data:`_GAP_RE`).
    gapped: bool = False


@dataclass
class _Paragraph:
    text: str
    page: int | None
    lines: int
    blank_before: bool
    blank_after: bool = False
    full_end: bool = False  # its last line ran to the column's end
    indented: bool = False  # its first line is set in: body text, not a headline


@dataclass
class _Draft:
    headline: str
    section: str | None
    page: int | None
    lines: list[str] = field(default_factory=list)
    author: str | None = None
    department: str | None = None


def is_wrapped(text: str) -> bool:
    """Whether ``text`` keeps the printed column lines (rather than a paragraph a line).

    Args:
        text: Decoded text of an issue or page.

    Returns:
        True when most lines fill a narrow column.
    """
    widths = [
        text_width(line)
        for line in text.split("\n")
        if len(HSPACE_RE.sub("", line)) > _DEBRIS_MAX and not is_furniture(line.strip())
    ]
    if len(widths) < _MIN_LINES:
        return False
    column = statistics.quantiles(widths, n=10)[-1]  # the 90th percentile
    if column > _MAX_COLUMN:
        return False
    return sum(w >= 0.75 * column for w in widths) >= _FULL_SHARE * len(widths)


def split_wrapped(text: str) -> list[Article]:
    """Recover the articles of hard-wrapped OCR text (see the module docstring).

    Args:
        text: Decoded text for which :func:`is_wrapped` holds.

    Returns:
        The articles in reading order, bodies one paragraph per line; ``page`` is set
        when the text prints page numbers or ``第N版``.
    """
    lines = _drop_debris(_content_lines(text))
    paragraphs = _paragraphs(lines)
    return _articles(paragraphs)


# --- 1. furniture ---------------------------------------------------------------------


def _content_lines(text: str) -> list[_Line]:
    """The lines of the text with page furniture removed, each with the page it is on."""
    printed = text.split("\n")
    raw = [HSPACE_RE.sub(" ", line).strip() for line in printed]
    # A running head is printed on every page: a short line that recurs, whatever its
    # page number, is furniture even when it is not recognisably a masthead.
    shapes = Counter(re.sub(r"\d+", "#", line) for line in raw if line)
    lines: list[_Line] = []
    page: int | None = None
    blank = True  # the top of the text is as good as a blank line
    just_kept = False  # the line before was kept as text
    for line, as_printed in zip(raw, printed, strict=True):
        if not line:
            blank, just_kept = True, False
            continue
        shape = re.sub(r"\d+", "#", line)
        if is_furniture(line) or _is_running_head(line, shapes[shape]):
            page = _printed_page(line) or page
            # The paper's name printed on its own line right above the date (at the top
            # of the text, or again on every page).
            if (
                just_kept
                and lines[-1].blank_before
                and is_masthead_line(line)
                and _is_paper_name(lines[-1].text)
                and (len(lines) == 1 or shapes[lines[-1].text] > 1)
            ):
                lines.pop()
            # Furniture sits in a page gap: not a paragraph break of its own.
            just_kept = False
            continue
        line = CONTINUATION_RE.sub("", line).strip()
        if not line:
            continue
        # The indent is part of the line's printed width.
        lead = _INDENT_RE.match(as_printed)
        indent = text_width(lead.group().replace("\t", "    ")) if lead else 0.0
        indented = _INDENT_WIDTH[0] <= indent <= _INDENT_WIDTH[1]
        gapped = any(text_width(gap) >= 1 for gap in _GAP_RE.findall(as_printed.strip()))
        lines.append(_Line(line, text_width(line) + indent, page, blank, indented, gapped))
        blank, just_kept = False, True
    return lines


def _is_paper_name(line: str) -> bool:
    return text_width(line) <= PAPER_NAME_MAX and not re.search(r"[\d，。,；;：:！？]", line)


def _is_running_head(line: str, repeats: int) -> bool:
    """A short line printed again and again with another number: "交城报 第3版"."""
    return (
        repeats >= _RUNNING_HEAD_REPEATS
        and bool(re.search(r"\d", line))
        and text_width(line) <= _RUNNING_HEAD_MAX
        and not re.search("[，。,；;！？]", line)
    )


def _printed_page(line: str) -> int | None:
    if is_masthead_line(line):
        return page_number([line])
    core = HSPACE_RE.sub("", line)
    if PAGE_NUMBER_LINE_RE.match(core) and not CONTINUATION_RE.fullmatch(core):
        match = PAGE_IN_LINE_RE.search(core)
        if match and match.group(2):
            return int(match.group(2))
        return page_number([core])
    return None


# --- 2. debris ------------------------------------------------------------------------


def _ends_sentence(text: str) -> bool:
    return bool(text) and text[-1] in _LINE_END_PUNCT


def _is_short(line: _Line) -> bool:
    return len(line.text.replace(" ", "")) <= _DEBRIS_MAX


def _drop_debris(lines: list[_Line]) -> list[_Line]:
    """Drop stray short lines; keep a short line that stands between paragraphs."""
    kept: list[_Line] = []
    typical = statistics.median([line.width for line in lines] or [0.0])
    i = 0
    while i < len(lines):
        if not _is_short(lines[i]) or _ends_sentence(lines[i].text):
            kept.append(lines[i])
            i += 1
            continue
        end = i
        while end < len(lines) and _is_short(lines[end]) and not _ends_sentence(lines[end].text):
            end += 1
        previous = kept[-1] if kept else None
        alone = end - i == 1 and bool(HAN_RE.search(lines[i].text))
        # Between paragraphs: after a finished sentence, or set apart by blank lines
        # from a line that stopped short of the column.
        # Between paragraphs: after a line that stopped short of the column at the end
        # of a sentence or headline, or set apart from it by blank lines.
        stopped_short = previous is None or previous.width < _FULL_SHARE_OF_TYPICAL * typical
        set_apart = lines[i].blank_before and end < len(lines) and lines[end].blank_before
        between_paragraphs = (
            previous is None
            or (
                (stopped_short or set_apart)
                and (_ends_sentence(previous.text) or is_headline_like(previous.text))
            )
            or (stopped_short and set_apart)
        )
        # The last few characters of a paragraph or headline, before a blank line.
        tail = (
            previous is not None
            and not stopped_short
            and not _ends_sentence(previous.text)
            and not lines[i].blank_before
            and (end == len(lines) or lines[end].blank_before)
        )
        # A short line broken before a URL or number too long for the rest of it.
        before_long_word = end < len(lines) and (
            lines[i].width + _first_word_width(lines[end].text) > _FULL_SHARE_OF_TYPICAL * typical
        )
        if (alone or (end - i == 1 and before_long_word)) and (
            tail or before_long_word or (between_paragraphs and end < len(lines))
        ):
            kept.append(lines[i])  # a short headline or label ("新北市", "交城县")
        elif end < len(lines) and lines[i].blank_before and not lines[end].blank_before:
            # The gap before the debris is the gap before what follows it.
            lines[end].blank_before = True
        i = end
    return kept


# --- 3–4. wrap width and paragraphs ---------------------------------------------------


def _column_widths(lines: list[_Line]) -> list[tuple[float, float]]:
    """The column's measure around each line: its narrow and its wide end.

    A line that ends short of the narrow end stopped early (a paragraph's end, a
    headline); a line past the wide end, not ending in punctuation that may hang in the
    margin, is set in another measure: a headline spanning columns.
    """
    # Lines that surely ran on (no final punctuation, text right after them) show the
    # column; a headline or a paragraph's last line would pull the estimate down.
    runs_on = [
        i
        for i in range(len(lines) - 1)
        if not _ends_sentence(lines[i].text) and not lines[i + 1].blank_before
    ]
    every = runs_on if len(runs_on) >= _MIN_LINES else list(range(len(lines)))
    # How wide body lines get is a property of the engine, the same over the file: taken
    # over all of it, a few rare widest lines of a ragged file are not missed.
    unhung_all = _fenced(lines[j].width for j in every if lines[j].text[-1] not in _HANGING)
    widest = unhung_all[int(_WIDE_END * (len(unhung_all) - 1))] if unhung_all else 0.0
    widths = Counter(lines[j].width for j in every)
    kept_measure = bool(widths) and widths.most_common(1)[0][1] >= _SET_SHARE * len(every)
    measures: list[tuple[float, float]] = []
    for i in range(len(lines)):
        lo = max(0, min(bisect.bisect_left(every, i) - _WINDOW // 2, len(every) - _WINDOW))
        near = sorted(lines[j].width for j in every[lo : lo + _WINDOW])
        # Headlines and labels among them are much narrower than the column: left out.
        # (The widest are not the measure either: a URL or a long number overruns.)
        near = [w for w in near if w >= _COLUMN_SHARE * near[int(0.9 * (len(near) - 1))]]
        if not near:
            measures.append((0.0, math.inf))
            continue
        unhung = (
            _fenced(
                lines[j].width
                for j in every[lo : lo + _WINDOW]
                if lines[j].text[-1] not in _HANGING
            )
            or near
        )
        wide_end = max(unhung[int(_WIDE_END * (len(unhung) - 1))], widest)
        if kept_measure:
            measure = Counter(near).most_common(1)[0][0]
        else:
            measure = near[int(_NARROW_END * (len(near) - 1))]
        measures.append((measure, wide_end))
    return measures


def _fenced(widths: Iterable[float]) -> list[float]:
    """The widths in order, without the outliers at the wide end (Tukey's fence).

    A headline that spans columns runs on into its second line as body lines do, and
    in a narrow column (12 characters, two headline lines every 30 or so) such lines
    are common enough to be taken for the column's widest body lines: the headline is
    then read as body text.
    """
    ordered = sorted(widths)
    if not ordered:
        return ordered
    q1, q3 = (ordered[int(q * (len(ordered) - 1))] for q in (0.25, 0.75))
    limit = q3 + _FENCE * max(q3 - q1, 1.0)
    return [w for w in ordered if w <= limit]


def _first_word_width(text: str) -> float:
    """Width of what could not fit at the end of the line before: a word or one char,
    with the opening brackets before it (they never end a line)."""
    opening = len(text) - len(text.lstrip("".join(OPENING)))
    if opening == len(text):
        return text_width(text)
    match = _LATIN_RUN_RE.match(text, opening)
    return text_width(text[: match.end() if match else opening + 1])


def _paragraphs(lines: list[_Line]) -> list[_Paragraph]:
    measures = _column_widths(lines)
    # A line before a dateline ("本报讯") ends its paragraph, however wide it is; so
    # does a headline-like line right after a closing ("（记者 张三）"): the next
    # article's headline, however close to the column's width it is set (unless it
    # ends inside a word: then the headline goes on, see _headline_after_closing).
    full = [
        i + 1 < len(lines)
        and line.width + _first_word_width(lines[i + 1].text)
        > measures[i][0] - _slack(*measures[i])
        and not ARTICLE_START_RE.match(lines[i + 1].text)
        for i, line in enumerate(lines)
    ]
    for i, line in enumerate(lines):
        if line.gapped and is_headline_like(line.text):
            full[i] = False  # a main title and its subtitle on one line
        # Nor at a line before one starting with what no line may start with ("！",
        # "）"): that was a space the engine broke the line at ("破1000万 ！安平…").
        if i + 1 < len(lines) and lines[i + 1].text[0] in _NO_LINE_START:
            full[i] = True
    if _indents_paragraphs(lines):
        for i in range(len(lines) - 1):
            if lines[i + 1].indented:
                full[i] = False  # an indented line opens a paragraph
    else:
        for line in lines:
            line.indented = False  # stray spaces before a line, or a centred headline
    for i in range(len(lines)):
        end = _headline_after_closing(lines, i, *measures[i])
        if end is not None:
            full[i:end] = [True] * (end - i)
            full[end] = False
    for i in range(1, len(lines)):
        if full[i] and _ends_split_headline(lines, full, i, *measures[i]):
            full[i] = False
    # So does a headline set wider than the column, and the line before it: a line that
    # starts where a paragraph or a headline's first line ended (a wide line inside a
    # paragraph is a ragged body line).
    wide = [False] * len(lines)
    for i, (line, measure) in enumerate(zip(lines, measures, strict=True)):
        wide[i] = _is_overwide(line, *measure) and (
            i == 0
            or line.blank_before
            or not full[i - 1]
            or wide[i - 1]
            or _ends_sentence(lines[i - 1].text)
            or (lines[i - 1].blank_before and is_headline_like(lines[i - 1].text))
        )
    paragraphs: list[_Paragraph] = []
    for i, line in enumerate(lines):
        ends = full[i] and not wide[i] and not (i + 1 < len(lines) and wide[i + 1])
        previous = paragraphs[-1] if paragraphs else None
        # A headline-like line set apart by blank lines is a headline, not the rest of
        # a sentence cut by a column break.
        alone = line.blank_before and (i + 1 == len(lines) or lines[i + 1].blank_before)
        if (
            previous is not None
            and not (alone and is_headline_like(line.text))
            and not _is_closing_line(line.text)
            and _runs_on(previous, line, paragraphs[-2] if len(paragraphs) > 1 else None)
        ):
            previous.text = join_lines(previous.text, line.text)
            previous.lines += 1
        else:
            if previous is not None:
                previous.blank_after = line.blank_before
            previous = _Paragraph(line.text, line.page, 1, line.blank_before)
            previous.indented = line.indented
            paragraphs.append(previous)
        previous.full_end = ends
    return paragraphs


def _indents_paragraphs(lines: list[_Line]) -> bool:
    """Whether the text sets in the first line of its paragraphs (see :data:`_INDENT_RE`).

    It does when lines set in mostly follow the end of a sentence or a headline, as
    paragraphs' first lines do, and many of the lines after a sentence's end are set in
    (a stray indent here and there, or centred headlines, are not a habit). Where it
    does, a line set in opens a paragraph, however full the line before it: no blank
    line is needed to tell a headline's last line from the body's first.
    """
    indented = [i for i in range(1, len(lines)) if lines[i].indented]
    opening = sum(
        _ends_sentence(lines[i - 1].text) or is_headline_like(lines[i - 1].text) for i in indented
    )
    after_a_sentence = [i for i in range(1, len(lines)) if _ends_sentence(lines[i - 1].text)]
    return (
        len(indented) >= _MIN_INDENTS
        and opening >= _INDENT_SHARE * len(indented)
        and sum(lines[i].indented for i in after_a_sentence)
        >= _OPENED_SHARE * len(after_a_sentence)
    )


def _headline_after_closing(
    lines: list[_Line], i: int, narrow_end: float, wide_end: float
) -> int | None:
    """The last line of the headline that line ``i`` opens right after a closing (or at
    the top of the text).

    The headline ends at its first line that ends between two words: one that ends
    inside a word ("…于台北、台" / "南二地举行…"), leaves a quote open or comes before
    a line starting with "！" or with a sentence's last character ("跑！") was broken by
    the column and runs on. So does a first line that fills the column when the next
    one reads as a headline's last line (:func:`_ends_headline`):
    "民政局姜局长代表黄伟哲市长率团赴陆军" / "203旅探视94年次1年役期首梯新训役男".
    None when line ``i`` opens no article (:func:`_opens_article`).
    """
    if not _opens_article(lines, i):
        return None
    fills = i + 1 < len(lines) and lines[i].width + _first_word_width(
        lines[i + 1].text
    ) > narrow_end - _slack(narrow_end, wide_end)
    end = i
    while (
        end + 1 < len(lines)
        and end - i + 1 < _MAX_HEADLINE_LINES
        and not lines[end + 1].indented
        and (
            breaks_word(lines[end].text, lines[end + 1].text)
            or lines[end + 1].text[0] in _NO_LINE_START
            or _CUT_SENTENCE_TAIL_RE.match(lines[end + 1].text)
            or _leaves_open("".join(line.text for line in lines[i : end + 1]))
            or (end == i and fills and _ends_headline(lines, end + 1))
        )
    ):
        headline = "".join(line.text for line in lines[i : end + 2])
        if FULL_STOP_RE.search(headline[:-1]) or text_width(headline) > _LOOSE_HEADLINE_MAX:
            break
        end += 1
    return end


def _ends_headline(lines: list[_Line], i: int, *, ragged: bool = False) -> bool:
    """Whether line ``i``, under a headline line, reads as the headline's last line: it
    holds no punctuation but closed quotes (:data:`_SUBTITLE_BAD_RE`; with ``ragged``,
    :data:`_RAGGED_SUBTITLE_BAD_RE`) and ends between two words, in text that runs on
    without gaps (where blank lines set a headline apart, they tell where it ends)."""
    text = lines[i].text
    return (
        not lines[i].blank_before
        and not (i + 1 < len(lines) and lines[i + 1].blank_before)
        and not (_RAGGED_SUBTITLE_BAD_RE if ragged else _SUBTITLE_BAD_RE).search(
            _QUOTED_RE.sub("", text)
        )
        # A quote it opens and does not close goes on in the next line.
        and not _leaves_open(text)
        and not (i + 1 < len(lines) and breaks_word(text, lines[i + 1].text))
    )


def _leaves_open(text: str) -> bool:
    """Whether ``text`` opens a bracket or quote it does not close: it goes on."""
    return sum(c in OPENING for c in text) > sum(c in CLOSING for c in text)


def _opens_article(lines: list[_Line], i: int) -> bool:
    """Whether line ``i`` is a headline line right after a closing ("（记者 张三）") or
    at the top of the text.

    A closing names someone or something, in Chinese: a date or a time span in brackets
    under an event's name ("(112/12/24-113/2/18)") closes nothing. The headline may
    end with "！" or "？" ("2024灯会美食市集招商，等你来加入！").
    """
    text = lines[i].text
    after_closing = (
        i > 0 and _is_closing_line(lines[i - 1].text) and bool(HAN_RE.search(lines[i - 1].text))
    )
    return (
        (i == 0 or after_closing)
        and not lines[i].indented
        and (is_headline_like(text) or (text[-1] in "！？!?" and is_headline_like(text[:-1])))
    )


def _ends_split_headline(
    lines: list[_Line], full: list[bool], i: int, measure: float, wide_end: float
) -> bool:
    """Whether line ``i`` is the second half of a headline broken in the middle.

    Its first half opens an article (after a sentence's end, a closing or a gap) and
    stops short of the column without ending a sentence, as no body line does. The
    second half ends between two words and is either about as long as the first and
    short of the column too, where the body after a one-line headline fills it, or a
    subtitle that fills the column (:func:`_ends_headline`), in columns wide enough for
    body lines to hold punctuation; or a subtitle quoting someone (:data:`_SPEAKER_RE`),
    or, where lines are ragged, one short of the narrowest body lines. Without this, a
    second half that happens to reach within a character of the column ("虎头埤风景区环湖
    木栈" / "道整修工程将于近期完工") or a subtitle ("三股里活动中心动土" / "黄伟哲盼114年
    如期如质完工让居民使用") runs on into the body.
    """
    first, second = lines[i - 1], lines[i]
    # (Not a headline's second line: a third would be the body's first.)
    opens_article = (
        i == 1
        or first.blank_before
        or _ends_sentence(lines[i - 2].text)
        or _is_closing_line(lines[i - 2].text)
    )
    if not (
        opens_article
        and not full[i - 1]
        and not second.blank_before
        and not second.indented
        and not ARTICLE_START_RE.match(second.text)  # "本报讯" opens the body
        and not (i + 1 < len(lines) and breaks_word(second.text, lines[i + 1].text))
        and is_headline_like(first.text)
        and not is_item_or_label(first.text)
    ):
        return False
    # (Counted without OCR's stray spaces: "清明扫墓 好停车，路边停车不 收费".)
    if _letters(second.text) <= _letters(first.text) + 1 and second.width < measure:
        return True
    ragged = _slack(measure, wide_end) > _FULL_SLACK
    # (Under a subhead, "数量：10艘" is a label of the list it opens.)
    if (
        _SPEAKER_RE.match(second.text)
        and not is_subhead(first.text)
        and not is_item_or_label(second.text)
        and not FULL_STOP_RE.search(second.text[:-1])
    ):
        return True
    # Where lines are ragged, the slack that lets a body line stop short of the narrow
    # end lets a subtitle with punctuation in it run on into the body too; one that
    # stops short of the narrow end itself is the headline's.
    if (
        ragged
        and i + 1 < len(lines)
        and second.width + _first_word_width(lines[i + 1].text) <= measure - _FULL_SLACK
    ):
        return True
    return (
        measure >= _SUBTITLE_MIN_MEASURE
        and first.width + _first_word_width(second.text) < measure  # short, not cut
        and bool(HAN_RE.search(first.text))
        and _ends_headline(lines, i, ragged=ragged)
    )


def _letters(text: str) -> int:
    return len(text) - text.count(" ")


def _slack(narrow_end: float, wide_end: float) -> float:
    """How far short of the narrow end a full line may stop: where OCR does not keep the
    measure, lines spread and the narrow end is only an estimate."""
    return _FULL_SLACK if wide_end - narrow_end <= 1 else _RAGGED_SLACK


def _is_overwide(line: _Line, narrow_end: float, wide_end: float) -> bool:
    """Wider than body lines are set, and not because of a long Latin word or URL."""
    # Where OCR does not keep the measure, body lines spread: ask for a wider margin.
    margin = _OVERWIDE if wide_end - narrow_end <= 1 else 2 * _OVERWIDE
    # Punctuation hanging in the margin and a Latin word that cannot be broken make a
    # body line wider too. (All of the closing run hangs: "」；" may not start a line.)
    hanging = text_width(line.text[len(line.text.rstrip("".join(_HANGING))) :])
    latin = max((text_width(m) for m in _LATIN_RUN_RE.findall(line.text)), default=0.0)
    width = line.width - hanging - latin
    return width >= wide_end + margin


def _runs_on(paragraph: _Paragraph, line: _Line, before: _Paragraph | None) -> bool:
    """Whether ``line`` carries on ``paragraph`` (``before`` is the one before it)."""
    if not paragraph.full_end or _is_closing_line(paragraph.text):
        return False
    if not line.blank_before:
        return True
    # Across a gap only a sentence a column or page break cut goes on; a headline whose
    # last line happens to fill the column is not one.
    # (A headline's second line follows its first one, which stopped short.)
    starts_block = paragraph.blank_before or (
        before is not None
        and not before.full_end
        and (is_headline_like(before.text) or _is_loose_heading(before))
    )
    # A sentence cut there ends in a character or a comma, not in a URL or number.
    return not (
        _ends_sentence(paragraph.text)
        or paragraph.text[-1].isascii()
        or (starts_block and _is_loose_heading(paragraph, ignore_end=True))
    )


def _is_closing_line(text: str) -> bool:
    """A whole "（记者 张三）" or "（issuing department）" line: the end of an article."""
    return (byline(text) is not None and text.lstrip()[:1] in "（(") or _closing(text) is not None


# --- 5–6. articles ----------------------------------------------------------------------


def _ends_short(paragraph: _Paragraph) -> bool:
    """Whether the paragraph's last line stops short of the column (or before a gap)."""
    return not paragraph.full_end or paragraph.blank_after


def _is_heading(paragraph: _Paragraph) -> bool:
    return (
        _ends_short(paragraph)
        and not paragraph.indented
        and any(c.isalnum() for c in paragraph.text)
        and is_headline_like(paragraph.text)
        and not is_meta_line(paragraph.text)
        and not _BYLINE_LINE_RE.match(paragraph.text)
        and _closing(paragraph.text) is None
    )


def _is_loose_heading(paragraph: _Paragraph, *, ignore_end: bool = False) -> bool:
    """A headline as papers that close their articles print it after a closing: short,
    no full stop inside, but it may end with "！", "？" or "。" and hold commas."""
    return (
        (ignore_end or _ends_short(paragraph))
        and not paragraph.indented
        and any(c.isalnum() for c in paragraph.text)
        and text_width(paragraph.text) <= _LOOSE_HEADLINE_MAX
        and not FULL_STOP_RE.search(paragraph.text[:-1])
        and not is_meta_line(paragraph.text)
        and not ARTICLE_START_RE.match(paragraph.text)
        and not _BYLINE_LINE_RE.match(paragraph.text)
        and byline(paragraph.text) is None
        and _closing(paragraph.text) is None
    )


def _is_body_sentence(paragraph: _Paragraph) -> bool:
    """A sentence wrapped over lines and ending with a full stop: the body's first
    paragraph, not a headline's second line ("…适合亲子、情侣同游。")."""
    return paragraph.lines > 1 and bool(FULL_STOP_RE.match(paragraph.text[-1]))


def _is_set_apart(paragraph: _Paragraph) -> bool:
    return (
        paragraph.blank_before
        and paragraph.blank_after
        and paragraph.lines <= _MAX_HEADLINE_LINES
        and _is_loose_heading(paragraph)
        and not is_subhead(paragraph.text)
    )


def _closing(text: str) -> str | None:
    """The department of a closing "（department）" line; None for any other line."""
    match = CLOSING_RE.match(text)
    if not match or SUBHEAD_RE.match(text):
        return None
    inner = match.group(1).strip()
    # "（下转第2版）" and "（图为…）" are not departments; a sentence is not one either.
    if CONTINUATION_RE.search(text) or any(c in inner for c in "，。；：,;:"):
        return None
    return inner


def _articles(paragraphs: list[_Paragraph]) -> list[Article]:
    # Body text is repaired for sentence splitting; headlines keep their printed form.
    texts = [normalise_line(p.text) for p in paragraphs]
    closings = sum(bool(byline(t) or _closing(t)) for t in texts)
    headings = sum(_is_heading(p) for p in paragraphs)
    # Papers that close their articles (bylines, departments) use bare headline-like
    # lines as subheads too; files that never close one start one at every headline.
    closes = closings >= 2 and closings >= 0.3 * headings
    # Where paragraphs follow each other without blank lines, a short paragraph a blank
    # line sets apart on both sides is a headline even with commas or a "！" in it.
    body = [p for p in paragraphs if p.lines > 1]
    apart = sum(p.blank_before for p in body) < _BLANK_SHARE * len(body)
    drafts: list[_Draft] = []
    closed = True
    i = 0
    while i < len(paragraphs):
        end = i
        # (Where they are, too, when it does not end a sentence as body paragraphs do.)
        if _is_set_apart(paragraphs[i]) and (apart or not _ends_sentence(paragraphs[i].text)):
            end = i + 1
        # A subhead ends a run of headline lines: it is the first line of the body.
        while (
            end < len(paragraphs)
            and _is_heading(paragraphs[end])
            and (end == i or not is_subhead(texts[end]))
        ):
            end += 1
        # The second line of a headline printed with it may end with "！" or hold commas.
        while (
            end > i
            and end < len(paragraphs)
            and end - i < _MAX_HEADLINE_LINES
            and not paragraphs[end].blank_before
            and paragraphs[end].lines <= 2
            and _is_loose_heading(paragraphs[end])
            and not is_subhead(texts[end])
            and not _is_body_sentence(paragraphs[end])
        ):
            end += 1
        if closed and (closes or drafts):
            # After a closing the next lines are a headline, even one that ends with
            # "！" or holds commas (up to a main title and a subtitle); in a file that
            # seldom closes its articles, only after a closing it does print.
            while (
                end < len(paragraphs)
                and end - i < _MAX_HEADLINE_LINES
                and _is_loose_heading(paragraphs[end])
                and (
                    end == i
                    or not (
                        paragraphs[end].blank_before
                        or paragraphs[end].lines > 2
                        or _is_body_sentence(paragraphs[end])
                        or is_item_or_label(texts[end])
                    )
                )
                and text_width("".join(p.text for p in paragraphs[i : end + 1]))
                <= _LOOSE_HEADLINE_MAX
            ):
                end += 1
        # Headline-like lines right before a closing are the article's last lines.
        if end > i and end < len(paragraphs) and not _is_closing_line(paragraphs[end].text):
            heads = texts[i:end]
            after = texts[end]
            opens = (
                closed
                or (len(heads) > 1 and not is_subhead(heads[0]))
                or bool(ARTICLE_START_RE.match(after))
                or is_meta_line(after)
                or bool(_BYLINE_LINE_RE.match(after))
                or (not is_subhead(heads[0]) and text_width(heads[0]) >= _SUBHEAD_MAX)
                if closes
                else len(heads) > 1 or not is_subhead(heads[0])
            )
            # Nor does one open under a headline that has no body yet: a subtitle and a
            # line of the lead set apart under it are its first lines.
            bare = bool(drafts) and bool(drafts[-1].headline) and not drafts[-1].lines
            # Nor one set between two items of a list: it is the first item's second line.
            listed = i > 0 and next_item(texts[i - 1], after)
            if (opens or not drafts) and not bare and not listed:
                section, headline, first = _section_and_headline(paragraphs[i:end])
                drafts.append(_Draft(headline, section, paragraphs[i].page, lines=first))
            else:
                drafts[-1].lines.extend(heads)  # a subhead inside the article
            closed = False
            i = end
            continue
        text = texts[i]
        if not drafts or closed or (ARTICLE_START_RE.match(text) and drafts[-1].lines):
            drafts.append(_Draft("", None, paragraphs[i].page))
        draft = drafts[-1]
        signed = byline(text)
        department = _closing(text)
        if signed:
            text, draft.author = signed
        elif department:
            draft.department, text = department, ""
        elif _BYLINE_LINE_RE.match(text) and not draft.lines:
            draft.author, text = byline_names(text), ""
        closed = bool(signed or department)
        if text:
            draft.lines.append(text)
        i += 1
    return [_finish(draft) for draft in drafts if draft.lines or draft.headline]


def _section_and_headline(heads: list[_Paragraph]) -> tuple[str | None, str, list[str]]:
    """The section label, headline and first body lines of headline-like lines in a row.

    Lines printed together are one headline (main title and subtitle); a short line set
    apart above them by a blank line is the section label ("交城县"). A longer one is
    the headline, and the lines set apart under it are the body's first ones: a
    subtitle repeated and a lead set apart ("百变艺术家‧王丁乙创作个展" / "擅长各类
    媒材形式创作，以画笔展现独特艺术风格").
    """
    groups: list[list[str]] = []
    for head in heads:
        if not groups or head.blank_before:
            groups.append([])
        groups[-1].append(head.text)
    first = " ".join(groups[0])
    if len(groups) == 1:
        return None, first, []
    rest = [line for group in groups[1:] for line in group]
    if text_width(first) > _SECTION_MAX:
        return None, first, rest
    return first, " ".join(rest), []


def _finish(draft: _Draft) -> Article:
    header_author, lines = strip_metadata(draft.lines)
    body = "\n".join(lines)
    author = draft.author or header_author
    lead = LEAD_BYLINE_RE.match(body)
    if author is None and lead:
        author = byline_names(lead.group(1))
    return Article(
        headline=draft.headline,
        body=body,
        section=draft.section,
        author=author or draft.department,
        page=draft.page,
    )
