"""What the bot says, as Telegram HTML messages that Telegram accepts.

Text is built as styled runs (:class:`retrieval.render.Run`) and only written out as HTML
per message, after splitting: a split can therefore never fall inside a tag or an entity,
every piece closes the styles it uses, and lengths are counted on the text the reader
sees, as Telegram counts them (UTF-16 code units after entity parsing).

An answer reads well on a phone: each passage opens with its quote and source line, and
the rest of it is folded into an expandable blockquote (a :data:`retrieval.render.FOLD`
run), only its first lines shown until tapped. The first page shows the passages that
earn their place next to the best one, within what a reader takes in at a glance; the
others wait behind "更多".
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.answer import Confidence, Hit
from retrieval.parse.files import ISSUE_SUFFIXES
from retrieval.render import (
    FOLD,
    HTML,
    NOT_FOUND,
    QUOTE,
    STRONG,
    UNCERTAIN,
    UNTITLED,
    WRITTEN,
    Run,
    article_parts,
    chunk_source_parts,
    hit_runs,
    nearest_hint,
    passage_runs,
    render,
    source_line,
)
from retrieval.store import ArticleSummary, ChunkRecord, IssueSummary

if TYPE_CHECKING:
    from bot.library import Headline, IndexStats
    from retrieval.grounded import GroundedAnswer
    from retrieval.ingest import IngestReport

MESSAGE_LIMIT = 4096
# Inline results: the headline as title and the quote as description are all a chat's
# result list shows of them (a line or two); longer ones are cut with "…".
INLINE_TITLE = 64
INLINE_DESCRIPTION = 200
# Headlines a new-issue notice lists (each with a "原文" button): a notice is a glance.
NOTICE_HEADLINES = 10
# What a reader takes in at a glance (about a phone screen of Chinese text): the first page
# of an answer shows at most this many characters outside its folds, unless its best
# passage alone needs more.
GLANCE = 600

# Fixed texts: HELP is HTML; the others contain no "<", ">" or "&", so they are valid HTML
# as they stand and can also be shown as plain text (callback query alerts).
HELP = (
    "<b>公报问答</b>：用中文提问，我从本报公报中找出回答问题的原文段落，并注明出处"
    "（标题 · 期次 · 日期 · 版面 · 作者）。\n\n"
    "• 私聊：直接发送问题，例如「白漳河河道城区段全长多少米？」\n"
    "• 群聊：@我 提问、回复我的消息，或发送 /ask 问题\n"
    "• 每个结果先给出回答问题的原句和出处，点开下面折叠的段落可看上下文\n"
    "• 回答下方的「更多」显示后面的结果，「原文」发送整篇文章\n"
    "• /latest 最新几期　/issues 已收录的各期\n"
    "• /subscribe 订阅新一期通知；在任何聊天中输入 @我 加问题，可直接引用原文\n\n"
    "<i>Ask a question about the bulletins (Chinese or English); "
    "I reply with quoted passages and their sources.</i>"
)
ASK_USAGE = "请在 /ask 后面写上问题，例如：/ask 白漳河河道城区段全长多少米？"
EMPTY_MENTION = "请在 @我 的同时写上问题。"
NOT_FOUND_HINT = NOT_FOUND + "可以换个说法再问一次。"
NO_INDEX = "还没有建立索引：请管理员运行 /reindex 或 bulletin-qa ingest。"
NO_ISSUES = "还没有收录任何一期。"
NO_MORE = "没有更多结果了。"
EXPIRED = "这个问题已过期，请重新提问。"
ARTICLE_GONE = "这篇文章已不在索引中（可能已更新），请重新提问。"
REFUSED = "抱歉，这个机器人只对授权的用户和群组开放。"
ADMINS_ONLY = "抱歉，这个命令只有管理员可以使用。"
SORRY = "抱歉，处理你的消息时出了点问题，请稍后再试。"
REINDEX_BUSY = "索引正在更新中，请稍候。"
REINDEX_LOCKED = "另一个进程正在写入索引，请稍后再试。"
REINDEX_STARTED = "正在从公报文件夹更新索引……"
UNKNOWN_COMMAND = "没有这个命令。直接发送问题即可，/help 查看用法。"
UPLOAD_TYPES = "、".join(sorted(ISSUE_SUFFIXES))
UPLOAD_UNSUPPORTED = f"不支持这种文件。请发送一期公报：{UPLOAD_TYPES}（多版面图片可一起发送）。"
UPLOAD_TOO_BIG = (
    "文件超过 20 MB，机器人无法下载。请压缩或分版面发送，或放入公报文件夹后运行 /reindex。"
)
UPLOAD_PHOTO = (
    "照片经 Telegram 压缩，报上的字已看不清。请把原图作为文件发送"
    "（📎 → 文件），多个版面可一起发送。"
)
UPLOAD_STARTED = "已收到，正在建立索引……"
SHOW_USAGE = "请在 /show 后面写上期次，例如：/show 2024-05-20（/issues 列出各期）。"
REMOVE_USAGE = "请在 /remove 后面写上期次，例如：/remove 2024-05-20（/issues 列出各期）。"
REMOVE_BUTTON = "确认删除"
REMOVE_CANCELLED = "已取消。"
SUBSCRIBED = "已订阅：每有新的一期收录，我会在这里通知。/unsubscribe 取消。"
UNSUBSCRIBED = "已取消订阅。"
NOT_SUBSCRIBED = "这里没有订阅。"
GROUP_ADMINS_ONLY = "抱歉，只有群管理员可以为本群订阅或取消订阅。"

# Preferred places to split a text that does not fit, best first: paragraph, line,
# sentence end (with its closing quotes), clause, space.
_BREAKS = tuple(
    re.compile(pattern)
    for pattern in (
        r"\n\s*\n",
        r"\n",
        r"(?:[。！？!?；;]+|…+)[”’」』）)\"']*",
        r"[，、,：:]",
        r"\s",
    )
)


def telegram_length(text: str) -> int:
    """Length of text as Telegram counts it against its limits (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def _fit(text: str, room: int) -> int:
    """The longest prefix of ``text``, in characters, that takes at most ``room`` units."""
    if telegram_length(text) <= room:
        return len(text)
    used = 0
    for i, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > room:
            return i
    return len(text)


def _cut(text: str, room: int, *, must: bool) -> int:
    """Where to cut ``text`` so that its head fits in ``room``.

    Cuts at the best kind of break in the second half of the room; without one, cuts
    nowhere (0) when the text may move whole to the next message, else at the limit.
    """
    limit = _fit(text, room)
    head = text[:limit]
    for pattern in _BREAKS:
        ends = [match.end() for match in pattern.finditer(head)]
        if ends and ends[-1] >= limit // 2:
            return ends[-1]
    return max(limit, 1) if must else 0


def _trim(runs: Sequence[Run]) -> list[Run]:
    """Drop empty runs and the whitespace at both ends (Telegram strips it anyway)."""
    runs = [run for run in runs if run.text]
    while runs and not runs[0].text.strip():
        runs.pop(0)
    while runs and not runs[-1].text.strip():
        runs.pop()
    if runs:
        runs[0] = Run(runs[0].text.lstrip(), runs[0].styles)
        runs[-1] = Run(runs[-1].text.rstrip(), runs[-1].styles)
    return runs


def _length(runs: Iterable[Run]) -> int:
    return sum(telegram_length(run.text) for run in runs)


def visible_length(runs: Iterable[Run]) -> int:
    """What a reader sees of runs before unfolding anything: their length outside folds."""
    return _length(run for run in runs if FOLD not in run.styles)


def split_runs(runs: Sequence[Run], limit: int = MESSAGE_LIMIT) -> list[list[Run]]:
    """Split runs into pieces of at most ``limit`` units, at paragraph or sentence breaks.

    Args:
        runs: The text, e.g. a whole article.
        limit: Maximum length of a piece (see :func:`telegram_length`).

    Returns:
        Non-empty pieces in order; their text is the input's, less whitespace at the cuts.
    """
    pieces: list[list[Run]] = []
    current: list[Run] = []
    room = limit
    queue = deque(runs)
    while queue:
        run = queue.popleft()
        size = telegram_length(run.text)
        if size <= room:
            current.append(run)
            room -= size
            continue
        cut = _cut(run.text, room, must=not _trim(current))
        current.append(Run(run.text[:cut], run.styles))
        pieces.append(current)
        current, room = [], limit
        queue.appendleft(Run(run.text[cut:], run.styles))
    pieces.append(current)
    return [piece for piece in map(_trim, pieces) if piece]


def pack_runs(
    blocks: Iterable[Sequence[Run]], *, separator: str = "\n\n", limit: int = MESSAGE_LIMIT
) -> list[list[Run]]:
    """Join blocks into as few messages as fit; a block is split only if it alone is too long.

    Args:
        blocks: Units that should stay together (e.g. one quoted passage each).
        separator: Text between two blocks in the same message.
        limit: Maximum message length (see :func:`telegram_length`).

    Returns:
        The runs of each message, within ``limit``, none empty.
    """
    messages: list[list[Run]] = []
    current: list[Run] = []
    for block in blocks:
        block = _trim(block)
        if not block:
            continue
        joined = [*current, Run(separator), *block] if current else block
        if _length(joined) <= limit:
            current = joined
        elif _length(block) > limit:
            # Too long for any message: it may as well start right after what is there.
            *full, current = split_runs(joined, limit)
            messages.extend(full)
        else:
            messages.append(current)
            current = block
    if current:
        messages.append(current)
    return [_trim(message) for message in messages]


def pack(
    blocks: Iterable[Sequence[Run]], *, separator: str = "\n\n", limit: int = MESSAGE_LIMIT
) -> list[str]:
    """:func:`pack_runs`, each message written out as HTML that Telegram accepts."""
    return [
        render(message, HTML) for message in pack_runs(blocks, separator=separator, limit=limit)
    ]


def close_to_best(hits: Sequence[Hit], margin: float) -> list[Hit]:
    """The leading hits whose score is within ``margin`` of the first (best) one's.

    A passage much weaker than the best seldom answers when the best does not, and costs
    the reader a screen; it waits behind "更多" instead.

    Args:
        hits: Ranked hits, best first (scores never rise down the ranking).
        margin: How far below the best score a hit may be and still be shown.
    """
    if not hits:
        return []
    floor = hits[0].score - margin
    return list(itertools.takewhile(lambda hit: hit.score >= floor, hits))


def first_page(
    question: str, hits: Sequence[Hit], margin: float, confidence: Confidence = "found"
) -> list[Hit]:
    """The passages an answer shows first, best first.

    Those close to the best (:func:`close_to_best`), as long as the reply stays within
    :data:`GLANCE` visible characters; the best passage is always shown.

    Args:
        question: The question as asked (the reply repeats it).
        hits: At most a page of ranked hits.
        margin: See :func:`close_to_best`.
        confidence: The answer's (an uncertain one carries a label line).
    """
    shown = close_to_best(hits, margin)
    for count in range(2, len(shown) + 1):
        reply = answer_runs(question, shown[:count], confidence=confidence)
        if visible_length(itertools.chain.from_iterable(reply)) > GLANCE:
            return shown[: count - 1]
    return shown


def question_runs(question: str) -> list[Run]:
    """The first line of a reply: the question as asked."""
    return [Run("问：", (STRONG,)), Run(question)]


def passage_blocks(hits: Sequence[Hit]) -> list[list[Run]]:
    """Each passage, answer first: its quote and source line, then the passage folded.

    The fold (an expandable blockquote) holds the whole passage with the quote in bold,
    for the reader who wants the context; until tapped, only its first lines show.
    """
    blocks = []
    for hit in hits:
        fold = passage_runs(hit)
        blocks.append([*hit_runs(hit, score=False), *([Run("\n"), *fold] if fold else [])])
    return blocks


def answer_runs(
    question: str,
    hits: Sequence[Hit],
    *,
    confidence: Confidence = "found",
    nearest: Sequence[Hit] = (),
    written: GroundedAnswer | None = None,
    limit: int = MESSAGE_LIMIT,
) -> list[list[Run]]:
    """The reply to a question as runs, message by message (see :func:`answer_messages`)."""
    if confidence == "not_found" or not hits:
        hint = nearest_hint(nearest)
        text = NOT_FOUND_HINT + (f"\n{hint}" if hint else "")
        return pack_runs([question_runs(question), [Run(text)]], limit=limit)
    head = question_runs(question)
    if confidence == "uncertain":
        head += [Run(f"\n{UNCERTAIN}", (STRONG,))]
    if written:
        head += [Run(f"\n{WRITTEN}", (STRONG,)), Run(written.text)]
    return pack_runs([head, *passage_blocks(hits)], limit=limit)


def answer_messages(
    question: str,
    hits: Sequence[Hit],
    *,
    confidence: Confidence = "found",
    nearest: Sequence[Hit] = (),
    written: GroundedAnswer | None = None,
    limit: int = MESSAGE_LIMIT,
) -> list[str]:
    """The reply to a question: the question, then each passage (:func:`passage_blocks`).

    The three outcomes of :attr:`retrieval.answer.Answer.confidence`: found, the passages;
    uncertain, the passages under a label saying they may not answer; not found, says so
    and names the nearest headline as a hint, quoting nothing. A passage is never split
    across messages unless it alone is too long for one.

    Args:
        question: The question as asked.
        hits: The passages to show (one page of them).
        confidence: How sure the answer is.
        nearest: The nearest passages, for the hint of a "not found" reply.
        written: The answer the optional LLM wrote from the passages, shown above them.
        limit: Maximum message length.
    """
    runs = answer_runs(
        question, hits, confidence=confidence, nearest=nearest, written=written, limit=limit
    )
    return [render(message, HTML) for message in runs]


def article_messages(chunk: ChunkRecord, *, limit: int = MESSAGE_LIMIT) -> list[str]:
    """The whole article a chunk belongs to, in as many messages as needed.

    The headline comes first, in bold, then the rest of the source line (the issue's title
    or date, page, reporter), then the body.

    Args:
        chunk: Any chunk of the article (it carries the article's body).
        limit: Maximum message length.
    """
    headline, *source = chunk_source_parts(chunk)
    heading = [Run(headline, (STRONG,)), Run("\n" + " · ".join(source))]
    return pack([heading, [Run(chunk.body)]], limit=limit)


def issue_messages(title: str, issues: Sequence[IssueSummary]) -> list[str]:
    """A list of issues, newest first: date, title, number of articles.

    Args:
        title: The heading, e.g. "最新几期".
        issues: The issues to list.
    """
    if not issues:
        return pack([[Run(NO_ISSUES)]])
    lines = [
        [
            Run(
                f"{issue.date.isoformat() if issue.date else '日期不详'} · "
                f"{issue.title or issue.issue} · {issue.articles}篇"
            )
        ]
        for issue in issues
    ]
    return pack([[Run(title, (STRONG,))], *lines], separator="\n")


def bad_question(reason: str) -> str:
    """A question that cannot be asked as it is (``reason`` is the QuestionError's message)."""
    return render([Run("无法回答这个问题："), Run(reason, (STRONG,))], HTML)


def no_bulletins(folder: str) -> str:
    """``/reindex`` without a bulletins folder."""
    return render([Run("公报文件夹不存在："), Run(folder, (STRONG,))], HTML)


def reindex_messages(report: IngestReport) -> list[str]:
    """The outcome of ``/reindex``: counts, then each file that could not be read."""
    summary = (
        f"索引已更新：新增 {len(report.added)} 期，更新 {len(report.replaced)} 期，"
        f"未变 {len(report.unchanged)} 期，失败 {len(report.failed)} 个文件；"
        f"{report.chunks} 段文本（新嵌入 {report.embedded} 段），用时 {report.seconds:.1f} 秒。"
    )
    failures = [[Run(name, (STRONG,)), Run(f"：{reason}")] for name, reason in report.failed]
    return pack([[Run(summary)], *failures], separator="\n")


def stats_messages(
    index: IndexStats | None,
    *,
    questions: int,
    uncertain: int,
    not_found: int,
    errors: int,
    mean_seconds: float,
    uptime_seconds: float,
) -> list[str]:
    """``/stats``: the index (None when there is none yet) and this run's counters."""
    lines = [
        f"索引：{index.issues} 期，{index.chunks} 段文本，第 {index.generation} 代"
        if index
        else NO_INDEX,
        f"运行 {uptime_seconds / 3600:.1f} 小时：回答 {questions} 次"
        f"（其中 {uncertain} 次不确定，{not_found} 次没有找到），平均 {mean_seconds:.2f} 秒；"
        f"出错 {errors} 次",
    ]
    return pack([[Run("统计", (STRONG,))], *([Run(line)] for line in lines)], separator="\n")


def _date(date: dt.date | None) -> str:
    return date.isoformat() if date else "日期不详"


def upload_messages(report: IngestReport, issues: Sequence[IssueSummary]) -> list[str]:
    """What became of files an admin sent: each issue indexed, unchanged or failed.

    Args:
        report: The ingest's report.
        issues: The indexed issues (for their dates and titles), by id.
    """
    by_key = {issue.issue: issue for issue in issues}
    blocks: list[list[Run]] = []
    for item in report.issues:
        summary = by_key.get(item.issue)
        verb = "已更新" if item.issue in report.replaced else "已收录"
        title = summary.title if summary and summary.title else item.issue
        blocks.append(
            [
                Run(f"{verb}："),
                Run(title, (STRONG,)),
                Run(
                    f"\n期次 {item.issue} · {_date(summary.date if summary else None)} · "
                    f"{item.articles} 篇文章 · {item.chunks} 段文本"
                ),
                *(Run(f"\n注意：{warning}") for warning in item.warnings),
            ]
        )
    blocks.extend([[Run("未变（已在索引中）："), Run(key, (STRONG,))] for key in report.unchanged])
    blocks.extend(
        [Run("无法读取 "), Run(Path(name).name, (STRONG,)), Run(f"：{reason}")]
        for name, reason in report.failed
    )
    blocks.append([Run(f"用时 {report.seconds:.1f} 秒。")])
    return pack(blocks, separator="\n\n")


def show_messages(issue: IssueSummary, articles: Sequence[ArticleSummary]) -> list[str]:
    """``/show``: an issue and its articles as indexed, as ``bulletin-qa show`` lists them."""
    head = [
        Run(issue.title or issue.issue, (STRONG,)),
        Run(
            f"\n期次 {issue.issue} · {_date(issue.date)}\n来源 {issue.source}\n"
            f"{len(articles)} 篇文章，{issue.chunks} 段文本"
        ),
    ]
    lines = []
    for a in articles:
        lines.append([Run(f"{a.index}. {' · '.join(article_parts(a))}（{a.chars}字）")])
    return pack([head, *lines], separator="\n")


def not_indexed(issue: str) -> str:
    """``/show`` or ``/remove`` of an issue the index does not hold."""
    return render(
        [Run("索引中没有这一期："), Run(issue, (STRONG,)), Run("（/issues 列出各期）")], HTML
    )


def remove_question(issue: IssueSummary) -> str:
    """``/remove``: what is about to be removed, before the admin confirms."""
    return render(
        [
            Run("确定从索引中删除这一期吗？\n"),
            Run(issue.title or issue.issue, (STRONG,)),
            Run(f"\n期次 {issue.issue} · {_date(issue.date)} · {issue.articles} 篇文章"),
        ],
        HTML,
    )


def removed(issue: str) -> str:
    """An issue was removed from the index."""
    return render([Run("已从索引中删除："), Run(issue, (STRONG,))], HTML)


def _cut_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def inline_title(hit: Hit) -> str:
    """An inline result's title: the passage's headline."""
    return _cut_line(hit.chunk.headline or UNTITLED, INLINE_TITLE)


def inline_description(hit: Hit) -> str:
    """An inline result's description: its quote."""
    return _cut_line(hit.quote, INLINE_DESCRIPTION)


def inline_message(hit: Hit) -> str:
    """The message an inline result sends: the quote in bold and its source line."""
    runs = [Run(hit.quote, (QUOTE,)), Run(f"\n—— {source_line(hit)}")]
    return render(split_runs(runs)[0], HTML)


def notice_messages(issue: IssueSummary, headlines: Sequence[Headline]) -> list[str]:
    """A new issue's notice: date and title, then its first headlines, numbered."""
    head = [
        Run("新的一期：", (STRONG,)),
        Run(f"{_date(issue.date)} · {issue.title or issue.issue}"),
    ]
    lines = [
        [Run(f"{n}. {h.headline or UNTITLED}")]
        for n, h in enumerate(headlines[:NOTICE_HEADLINES], 1)
    ]
    if len(headlines) > NOTICE_HEADLINES:
        lines.append([Run(f"……共 {len(headlines)} 篇")])
    return pack([head, *lines], separator="\n")
