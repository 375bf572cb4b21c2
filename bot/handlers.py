"""Telegram update handlers: questions, the answer buttons, commands, and errors.

Handlers are small coroutines; everything that blocks (the model, SQLite, FAISS, ingest)
runs in the bot's thread pool, so that one question never holds up the others.

Callback data (at most 64 bytes): ``more:<key>:<offset>`` for "更多", where ``<key>`` finds
the question in a small LRU cache, ``full:<chunk id>`` for "原文", which needs no state
and so keeps working after a restart (new-issue notices carry it too), and
``remove:<key>`` for the confirmation of ``/remove``, the issue id under ``<key>`` in the
same cache (an id may be longer than a button's data).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import secrets
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from telegram import (
    Bot,
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot import format as fmt
from bot import uploads
from bot.access import AccessPolicy
from bot.library import Library
from bot.notices import NOTICES_PER_LOOK, Subscriptions, notify
from retrieval.answer import Hit, QuestionError, validate_question
from retrieval.config import ANSWER_MARGIN, NOTICE_INTERVAL
from retrieval.ingest import IngestReport
from retrieval.render import MAX_UNCERTAIN
from retrieval.store import IndexBusyError, IndexNotFoundError, IssueSummary

log = logging.getLogger(__name__)

T = TypeVar("T")

SERVICES = "bulletin-qa"
# Passages retrieved per question, of which "更多" pages through: that far down the
# ranking, passages rarely answer the question.
MAX_RESULTS = 15
LATEST_ISSUES = 5
# Telegram shows "typing…" for 5 seconds after each sendChatAction.
TYPING_REFRESH = 4.0
BUTTONS_PER_ROW = 5
# Seconds to wait after an uploaded file for the next one of the same album (Telegram
# delivers an album's files as separate messages within a second or two). Pages sent
# later still make one issue: ingest groups them with the pages already saved.
ALBUM_WAIT = 3.0
# Inline results: a few passages, as the result list shows a few lines; Telegram caches
# each question's results for a short while, so a reader typing does not re-run it.
INLINE_RESULTS = 5
INLINE_CACHE_SECONDS = 60

_MORE = "more"
_FULL = "full"
_REMOVE = "remove"
# A command as Telegram delimits it: /name or /name@botname (ASCII letters, digits, _).
_COMMAND = re.compile(r"^/\w+(?:@\w+)?\s*", re.ASCII)


class QuestionCache:
    """Recent questions under short random keys, for the "更多" button.

    Only touched from the event loop, hence no lock. Bounded: an evicted question's
    button answers that the question has expired.
    """

    def __init__(self, size: int = 2048) -> None:
        """Keep at most ``size`` questions."""
        self._size = size
        self._items: OrderedDict[str, str] = OrderedDict()

    def put(self, question: str) -> str:
        """Remember ``question``; return its key (8 URL-safe characters)."""
        key = secrets.token_urlsafe(6)
        self._items[key] = question
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return key

    def get(self, key: str) -> str | None:
        """The question stored under ``key``, or None once it has been evicted."""
        question = self._items.get(key)
        if question is not None:
            self._items.move_to_end(key)
        return question


@dataclass
class Counters:
    """What ``/stats`` reports about this run of the bot."""

    questions: int = 0
    # Questions by outcome: found, uncertain, not_found.
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    answer_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)


@dataclass
class Services:
    """What the handlers share, stored once in ``application.bot_data``."""

    library: Library
    access: AccessPolicy
    executor: ThreadPoolExecutor
    hits_per_answer: int = 3
    answer_margin: float = ANSWER_MARGIN
    subscriptions: Subscriptions | None = None
    album_wait: float = ALBUM_WAIT
    notice_interval: float = NOTICE_INTERVAL
    questions: QuestionCache = field(default_factory=QuestionCache)
    counters: Counters = field(default_factory=Counters)
    reindexing: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Files of an album being received, by chat: the last file's handler ingests them.
    albums: dict[int, list[uploads.Saved]] = field(default_factory=dict)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run a blocking call in the thread pool; wait for it without blocking the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args))


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    """The bot's shared services."""
    return context.bot_data[SERVICES]


async def in_thread(context: ContextTypes.DEFAULT_TYPE, fn: Callable[..., T], *args: object) -> T:
    """Run a blocking call in the bot's thread pool and wait for it without blocking the loop."""
    return await services(context).run(fn, *args)


def _thread_id(update: Update) -> int | None:
    message = update.effective_message
    return message.message_thread_id if message is not None and message.is_topic_message else None


def _in_group(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type != ChatType.PRIVATE


async def send(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    texts: Sequence[str],
    keyboard: InlineKeyboardMarkup | None = None,
    *,
    quote: bool = False,
) -> None:
    """Send HTML texts as consecutive messages to the update's chat (and forum topic).

    Args:
        update: The update being answered.
        context: The handler's context.
        texts: The messages, each already within Telegram's limits.
        keyboard: Buttons for the last message.
        quote: Reply to the update's message (in groups, so the asker sees the answer is
            theirs).
    """
    chat = update.effective_chat
    origin = update.effective_message
    for i, text in enumerate(texts):
        await context.bot.send_message(
            chat.id,
            text,
            message_thread_id=_thread_id(update),
            reply_markup=keyboard if i == len(texts) - 1 else None,
            reply_parameters=(
                ReplyParameters(origin.message_id) if quote and i == 0 and origin else None
            ),
        )


@contextlib.asynccontextmanager
async def typing(update: Update, context: ContextTypes.DEFAULT_TYPE) -> AsyncIterator[None]:
    """Show "typing…" in the update's chat for as long as the block runs."""
    chat_id, thread_id = update.effective_chat.id, _thread_id(update)

    async def keep_typing() -> None:
        while True:
            # Cosmetic: a failed indicator must not fail the answer.
            with contextlib.suppress(TelegramError):
                await context.bot.send_chat_action(
                    chat_id, ChatAction.TYPING, message_thread_id=thread_id
                )
            await asyncio.sleep(TYPING_REFRESH)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def admitted(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Whether the sender may use the bot here; if not, say so politely."""
    user_id = update.effective_user.id if update.effective_user else None
    chat_id = update.effective_chat.id if update.effective_chat else None
    if services(context).access.may_ask(user_id, chat_id):
        return True
    log.info("refused user %s in chat %s", user_id, chat_id)
    if update.callback_query:
        await update.callback_query.answer(fmt.REFUSED, show_alert=True)
    else:
        await send(update, context, [fmt.REFUSED], quote=_in_group(update))
    return False


async def admin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Whether the sender is an admin; if not, say so politely."""
    user = update.effective_user
    if services(context).access.is_admin(user.id if user else None):
        return True
    await send(update, context, [fmt.ADMINS_ONLY], quote=_in_group(update))
    return False


def _keyboard(hits: Sequence[Hit], more: str | None) -> InlineKeyboardMarkup | None:
    buttons = [
        InlineKeyboardButton(f"原文 {hit.rank}", callback_data=f"{_FULL}:{hit.chunk.chunk_id}")
        for hit in hits
    ]
    rows = [buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)]
    if more:
        rows.append([InlineKeyboardButton("更多", callback_data=more)])
    return InlineKeyboardMarkup(rows) if rows else None


async def answer_page(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    question: str,
    offset: int = 0,
    key: str | None = None,
) -> None:
    """Retrieve and send one page of passages for an already validated question.

    Args:
        update: The update being answered.
        context: The handler's context.
        question: The question.
        offset: How many passages earlier pages showed.
        key: The question's key in the cache, when a page of it was sent before.
    """
    svc = services(context)
    started = time.perf_counter()
    try:
        async with typing(update, context):
            # Always the same ranking, whatever the page: pages never overlap or skip.
            answer = await in_thread(
                context, svc.library.answer, question, max(MAX_RESULTS, svc.hits_per_answer)
            )
    except IndexNotFoundError:
        await send(update, context, [fmt.NO_INDEX], quote=_in_group(update))
        return
    except QuestionError as exc:  # e.g. an impossible date at the start of the question
        await send(update, context, [fmt.bad_question(str(exc))], quote=_in_group(update))
        return
    svc.counters.questions += 1
    svc.counters.answer_seconds += time.perf_counter() - started
    # Passages off the topic are noise, not answers: none are quoted when nothing was
    # found; an uncertain answer shows its best few, labelled.
    confidence = answer.confidence
    pool = {"found": answer.hits, "uncertain": answer.hits[:MAX_UNCERTAIN]}.get(confidence, [])
    hits = pool[offset : offset + svc.hits_per_answer]
    if not offset:
        svc.counters.outcomes[confidence] += 1
        # The first page shows the passages that earn their place next to the best;
        # "更多" goes on from the first one it leaves out.
        hits = fmt.first_page(answer.question, hits, svc.answer_margin, confidence)
    if offset and not hits:
        await send(update, context, [fmt.NO_MORE])
        return
    end = offset + len(hits)
    more = None
    if hits and len(pool) > end:
        more = f"{_MORE}:{key or svc.questions.put(question)}:{end}"
    await send(
        update,
        context,
        fmt.answer_messages(
            answer.question,
            hits,
            confidence=confidence,
            nearest=answer.hits,
            written=answer.written if not offset else None,
        ),
        _keyboard(hits, more),
        quote=_in_group(update) and offset == 0,
    )


async def ask_question(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> None:
    """Answer ``text`` as a question, after checking the sender and the question."""
    if not await admitted(update, context):
        return
    try:
        question = validate_question(text)
    except QuestionError as exc:
        await send(update, context, [fmt.bad_question(str(exc))], quote=_in_group(update))
        return
    await answer_page(update, context, question)


def addressed_question(message: Message, bot: Bot) -> str | None:
    """The question in a group message addressed to the bot, or None for other chatter.

    A message is addressed to the bot when it mentions the bot (as @username, or as a name
    linked to it) or replies to one of its messages; the mention is not part of the
    question.
    """
    handle = f"@{bot.username}".lower()
    mentions = [
        value
        for entity, value in message.parse_entities(
            [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]
        ).items()
        if value.lower() == handle or (entity.user is not None and entity.user.id == bot.id)
    ]
    reply = message.reply_to_message
    replied = reply is not None and reply.from_user is not None and reply.from_user.id == bot.id
    if not (mentions or replied):
        return None
    text = message.text or ""
    for mention in mentions:
        text = text.replace(mention, " ")
    return text.strip()


async def private_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A text message in a private chat is a question."""
    await ask_question(update, context, update.effective_message.text)


async def group_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A group message is a question when it mentions or replies to the bot; else ignored."""
    question = addressed_question(update.effective_message, context.bot)
    if question is None:
        return
    if not question:
        if await admitted(update, context):
            await send(update, context, [fmt.EMPTY_MENTION], quote=True)
        return
    await ask_question(update, context, question)


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/ask 问题``: the question is the rest of the message, spacing kept."""
    question = _COMMAND.sub("", update.effective_message.text or "", count=1)
    if not question.strip():
        if await admitted(update, context):
            await send(update, context, [fmt.ASK_USAGE], quote=_in_group(update))
        return
    await ask_question(update, context, question)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/start`` and ``/help``: how to ask."""
    if await admitted(update, context):
        await send(update, context, [fmt.HELP])


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any other command in a private chat: point to the help."""
    if await admitted(update, context):
        await send(update, context, [fmt.UNKNOWN_COMMAND])


async def latest_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/latest``: the newest issues."""
    await _list_issues(update, context, latest=True)


async def issues_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/issues``: every indexed issue, newest first."""
    await _list_issues(update, context, latest=False)


async def _list_issues(update: Update, context: ContextTypes.DEFAULT_TYPE, *, latest: bool) -> None:
    if not await admitted(update, context):
        return
    try:
        issues = await in_thread(context, services(context).library.issues)
    except IndexNotFoundError:
        await send(update, context, [fmt.NO_INDEX])
        return
    if latest:
        await send(update, context, fmt.issue_messages("最新几期", issues[:LATEST_ISSUES]))
    else:
        await send(update, context, fmt.issue_messages(f"已收录 {len(issues)} 期", issues))


async def stats_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/stats`` (admins): the index and this run's counters."""
    if not (await admitted(update, context) and await admin(update, context)):
        return
    svc = services(context)
    try:
        index = await in_thread(context, svc.library.stats)
    except IndexNotFoundError:
        index = None
    counters = svc.counters
    await send(
        update,
        context,
        fmt.stats_messages(
            index,
            questions=counters.questions,
            uncertain=counters.outcomes["uncertain"],
            not_found=counters.outcomes["not_found"],
            errors=counters.errors,
            mean_seconds=counters.answer_seconds / max(counters.questions, 1),
            uptime_seconds=time.monotonic() - counters.started,
        ),
    )


async def reindex_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/reindex`` (admins): ingest new and changed files of the bulletins folder."""
    if not (await admitted(update, context) and await admin(update, context)):
        return
    svc = services(context)
    if svc.reindexing.locked():
        await send(update, context, [fmt.REINDEX_BUSY])
        return
    folder = svc.library.bulletins_dir
    if not folder.is_dir():
        await send(update, context, [fmt.no_bulletins(str(folder))])
        return
    await send(update, context, [fmt.REINDEX_STARTED])
    report = await _ingest(update, context, svc.library.reindex)
    if report is None:
        return
    log.info("reindex: %d added, %d replaced", len(report.added), len(report.replaced))
    await send(update, context, fmt.reindex_messages(report))


async def _ingest(
    update: Update, context: ContextTypes.DEFAULT_TYPE, job: Callable[[], IngestReport]
) -> IngestReport | None:
    """Run an ingest in the thread pool, one at a time; None when another process writes.

    The bot's own ingests (``/reindex``, uploads) wait for one another; another process
    holding the index is reported to the admin.
    """
    async with services(context).reindexing:
        try:
            async with typing(update, context):
                return await in_thread(context, job)
        except IndexBusyError:
            await send(update, context, [fmt.REINDEX_LOCKED])
            return None


async def document_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A file in a private chat (admins): an issue to save into the bulletins folder and index.

    The file is checked (type, Telegram's 20 MB download limit) before it is downloaded;
    nobody else's file is downloaded at all. The files of an album are indexed together
    once the last one has arrived.
    """
    if not (await admitted(update, context) and await admin(update, context)):
        return
    svc = services(context)
    document = update.effective_message.document
    if not uploads.accepted(document.file_name):
        await send(update, context, [fmt.UPLOAD_UNSUPPORTED])
        return
    if (document.file_size or 0) > uploads.DOWNLOAD_LIMIT:
        await send(update, context, [fmt.UPLOAD_TOO_BIG])
        return
    file = await document.get_file()
    data = bytes(await file.download_as_bytearray())
    saved = await in_thread(
        context, uploads.save, svc.library.bulletins_dir, document.file_name, data
    )
    log.info("saved upload %s (%d bytes)", saved.path.name, len(data))
    chat_id = update.effective_chat.id
    album = svc.albums.setdefault(chat_id, [])
    album.append(saved)
    await asyncio.sleep(svc.album_wait)
    if svc.albums.get(chat_id) is not album or album[-1] is not saved:
        return  # a later file of the album ingests them all
    del svc.albums[chat_id]
    await send(update, context, [fmt.UPLOAD_STARTED])
    paths = [item.path for item in album]
    report = await _ingest(update, context, lambda: svc.library.ingest_uploads(paths))
    if report is None:
        return
    issues: list[IssueSummary] = []
    with contextlib.suppress(IndexNotFoundError):  # nothing could be indexed
        issues = await in_thread(context, svc.library.issues)
    await send(update, context, fmt.upload_messages(report, issues))


async def photo_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A photo in a private chat (admins): asked for again as a file.

    Telegram shrinks a photo to 1280 pixels on its long side (about 110 dpi for an A4
    page, whose body type then stands some 15 pixels high) and recompresses it: too
    little for OCR to read a page by. A file keeps the original.
    """
    if await admitted(update, context) and await admin(update, context):
        await send(update, context, [fmt.UPLOAD_PHOTO])


def _command_argument(update: Update) -> str:
    return _COMMAND.sub("", update.effective_message.text or "", count=1).strip()


async def _indexed_issue(
    update: Update, context: ContextTypes.DEFAULT_TYPE, usage: str
) -> tuple[str, IssueSummary] | None:
    """The issue an admin command names, or None once the reply says why there is none."""
    if not (await admitted(update, context) and await admin(update, context)):
        return None
    key = _command_argument(update)
    if not key:
        await send(update, context, [usage])
        return None
    try:
        summary = await in_thread(context, services(context).library.issue, key)
    except IndexNotFoundError:
        await send(update, context, [fmt.NO_INDEX])
        return None
    if summary is None:
        await send(update, context, [fmt.not_indexed(key)])
        return None
    return key, summary


async def show_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/show ISSUE`` (admins): the issue's articles as indexed, as ``bulletin-qa show``."""
    if (found := await _indexed_issue(update, context, fmt.SHOW_USAGE)) is None:
        return
    key, summary = found
    articles = await in_thread(context, services(context).library.articles, key)
    await send(update, context, fmt.show_messages(summary, articles))


async def remove_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/remove ISSUE`` (admins): asks for confirmation with a button first."""
    if (found := await _indexed_issue(update, context, fmt.REMOVE_USAGE)) is None:
        return
    key, summary = found
    button = InlineKeyboardButton(
        fmt.REMOVE_BUTTON, callback_data=f"{_REMOVE}:{services(context).questions.put(key)}"
    )
    await send(update, context, [fmt.remove_question(summary)], InlineKeyboardMarkup([[button]]))


async def remove_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The confirmation of ``/remove``: removes the issue, once, for an admin only."""
    query = update.callback_query
    if not (await admitted(update, context)):
        return
    svc = services(context)
    if not svc.access.is_admin(query.from_user.id):
        await query.answer(fmt.ADMINS_ONLY, show_alert=True)
        return
    key = svc.questions.get(query.data.split(":", 1)[1])
    if key is None:
        await query.answer(fmt.EXPIRED, show_alert=True)
        return
    await query.answer()
    # The button is spent whatever happens next: a second tap must not remove again.
    with contextlib.suppress(BadRequest):
        await query.edit_message_reply_markup(None)
    async with svc.reindexing:
        try:
            found = await in_thread(context, svc.library.remove, key)
        except IndexBusyError:
            await send(update, context, [fmt.REINDEX_LOCKED])
            return
    log.info("removed issue %s: %s", key, found)
    await send(update, context, [fmt.removed(key) if found else fmt.not_indexed(key)])


async def inline_query(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``@bot 问题`` in any chat: the best passages, each sendable as quote and source."""
    query = update.inline_query
    svc = services(context)
    results: list[InlineQueryResultArticle] = []
    allowed = svc.access.may_ask(query.from_user.id, None)
    if allowed and query.query.strip():
        try:
            answer = await in_thread(
                context, svc.library.passages, validate_question(query.query), INLINE_RESULTS
            )
        except (QuestionError, IndexNotFoundError):
            answer = None
        hits = {"found": answer.hits, "uncertain": answer.hits[:MAX_UNCERTAIN]}.get(
            answer.confidence if answer else "", []
        )
        results = [
            InlineQueryResultArticle(
                id=str(hit.chunk.chunk_id),
                title=fmt.inline_title(hit),
                description=fmt.inline_description(hit),
                input_message_content=InputTextMessageContent(
                    fmt.inline_message(hit), parse_mode=ParseMode.HTML
                ),
            )
            for hit in hits
        ]
    # Results depend on who asks only when there is an allowlist.
    await query.answer(
        results,
        cache_time=INLINE_CACHE_SECONDS,
        is_personal=bool(svc.access.allowed_users or svc.access.allowed_chats),
    )


async def _may_subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Anyone admitted, in a private chat; a group's administrators, in a group."""
    if not await admitted(update, context):
        return False
    if not _in_group(update):
        return True
    member = await context.bot.get_chat_member(update.effective_chat.id, update.effective_user.id)
    if member.status in (ChatMember.ADMINISTRATOR, ChatMember.OWNER):
        return True
    await send(update, context, [fmt.GROUP_ADMINS_ONLY], quote=True)
    return False


async def subscribe_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/subscribe``: this chat gets a notice of each new issue."""
    subscriptions = services(context).subscriptions
    if subscriptions is None or not await _may_subscribe(update, context):
        return
    await in_thread(context, subscriptions.add, update.effective_chat.id)
    await send(update, context, [fmt.SUBSCRIBED])


async def unsubscribe_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/unsubscribe``: no more notices in this chat."""
    subscriptions = services(context).subscriptions
    if subscriptions is None or not await _may_subscribe(update, context):
        return
    removed = await in_thread(context, subscriptions.remove, update.effective_chat.id)
    await send(update, context, [fmt.UNSUBSCRIBED if removed else fmt.NOT_SUBSCRIBED])


async def member_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The bot was blocked, kicked or left a chat: that chat's subscription goes."""
    subscriptions = services(context).subscriptions
    change = update.my_chat_member
    if subscriptions is None or change.new_chat_member.status not in (
        ChatMember.BANNED,
        ChatMember.LEFT,
    ):
        return
    if await in_thread(context, subscriptions.remove, change.chat.id):
        log.info("chat %s removed the bot: unsubscribed", change.chat.id)


async def announce_new_issues(bot: Bot, svc: Services) -> int:
    """Announce the issues indexed since the last look to every subscribed chat.

    Each issue is claimed in the shared subscriptions file before it is announced, so
    that it is announced once however many replicas look. Chats that are gone are
    unsubscribed.

    Returns:
        The number of notices sent.
    """
    if svc.subscriptions is None:
        return 0
    try:
        issues = await svc.run(svc.library.issues)
    except IndexNotFoundError:
        return 0
    claimed = set(await svc.run(svc.subscriptions.claim, [i.issue for i in issues]))
    # Newest first: a bulk ingest announces its newest few.
    fresh = [issue for issue in issues if issue.issue in claimed][:NOTICES_PER_LOOK]
    if not fresh:
        return 0
    chats = await svc.run(svc.subscriptions.chats)
    sent = 0
    for issue in fresh:
        headlines = await svc.run(svc.library.headlines, issue.issue)
        shown = headlines[: fmt.NOTICE_HEADLINES]
        buttons = [
            InlineKeyboardButton(f"原文 {n}", callback_data=f"{_FULL}:{h.chunk_id}")
            for n, h in enumerate(shown, 1)
        ]
        keyboard = InlineKeyboardMarkup(
            [buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)]
        )
        texts = fmt.notice_messages(issue, headlines)
        outcomes = await asyncio.gather(*(notify(bot, chat, texts, keyboard) for chat in chats))
        for chat, outcome in zip(chats, outcomes, strict=True):
            if outcome is None:
                await svc.run(svc.subscriptions.remove, chat)
        chats = [chat for chat, outcome in zip(chats, outcomes, strict=True) if outcome is not None]
        delivered = sum(outcome is True for outcome in outcomes)
        log.info("announced issue %s to %d chats", issue.issue, delivered)
        sent += delivered
    return sent


async def watch_new_issues(bot: Bot, svc: Services) -> None:
    """Look for new issues every ``svc.notice_interval`` seconds and announce them, until
    cancelled."""
    while True:
        try:
            await announce_new_issues(bot, svc)
        except Exception:
            # The next look tries again: a failed look must not end the watching.
            log.exception("announcing new issues failed")
        await asyncio.sleep(svc.notice_interval)


def _without_more(markup: InlineKeyboardMarkup | None) -> InlineKeyboardMarkup | None:
    rows = [
        [button for button in row if not str(button.callback_data or "").startswith(f"{_MORE}:")]
        for row in (markup.inline_keyboard if markup else ())
    ]
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(rows) if rows else None


async def more_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "更多" button: the next page of passages, as a new message."""
    query = update.callback_query
    if not await admitted(update, context):
        return
    _, key, offset = query.data.split(":")
    question = services(context).questions.get(key)
    if question is None:
        await query.answer(fmt.EXPIRED, show_alert=True)
        return
    await query.answer()
    # The button is spent: without it, a second tap cannot send the same page again.
    if isinstance(query.message, Message):
        with contextlib.suppress(BadRequest):
            await query.edit_message_reply_markup(_without_more(query.message.reply_markup))
    await answer_page(update, context, question, int(offset), key)


async def full_text_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "原文" button: the passage's whole article, in as many messages as it takes."""
    query = update.callback_query
    if not await admitted(update, context):
        return
    await query.answer()
    chunk = await in_thread(context, services(context).library.chunk, int(query.data.split(":")[1]))
    await send(update, context, fmt.article_messages(chunk) if chunk else [fmt.ARTICLE_GONE])


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log any error; tell the user whose update failed, briefly; never raise."""
    if not isinstance(update, Update):
        # Errors while fetching updates: python-telegram-bot keeps retrying by itself.
        if isinstance(context.error, NetworkError):
            log.warning("polling: %s", context.error)
        else:
            log.error("error outside any update", exc_info=context.error)
        return
    services(context).counters.errors += 1
    log.error("error while handling update %d", update.update_id, exc_info=context.error)
    with contextlib.suppress(TelegramError):
        if update.callback_query:
            await update.callback_query.answer()
    if update.effective_chat:
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(update.effective_chat.id, fmt.SORRY)


def register(application: Application) -> None:
    """Add the bot's handlers to ``application``."""
    # Edited messages are not new questions.
    new = filters.UpdateType.MESSAGE
    text = new & filters.TEXT & ~filters.COMMAND
    application.add_handlers(
        [
            CommandHandler(["start", "help"], help_command, filters=new),
            CommandHandler("ask", ask_command, filters=new),
            CommandHandler("latest", latest_command, filters=new),
            CommandHandler("issues", issues_command, filters=new),
            CommandHandler("stats", stats_command, filters=new),
            CommandHandler("reindex", reindex_command, filters=new),
            CommandHandler("show", show_command, filters=new),
            CommandHandler("remove", remove_command, filters=new),
            CommandHandler("subscribe", subscribe_command, filters=new),
            CommandHandler("unsubscribe", unsubscribe_command, filters=new),
            MessageHandler(new & filters.Document.ALL & filters.ChatType.PRIVATE, document_message),
            MessageHandler(new & filters.PHOTO & filters.ChatType.PRIVATE, photo_message),
            MessageHandler(new & filters.COMMAND & filters.ChatType.PRIVATE, unknown_command),
            MessageHandler(text & filters.ChatType.PRIVATE, private_message),
            MessageHandler(text & filters.ChatType.GROUPS, group_message),
            CallbackQueryHandler(more_button, pattern=rf"^{_MORE}:[\w-]+:\d+$"),
            CallbackQueryHandler(full_text_button, pattern=rf"^{_FULL}:\d+$"),
            CallbackQueryHandler(remove_button, pattern=rf"^{_REMOVE}:[\w-]+$"),
            InlineQueryHandler(inline_query),
            ChatMemberHandler(member_update, ChatMemberHandler.MY_CHAT_MEMBER),
        ]
    )
    application.add_error_handler(on_error)
