"""Telegram update handlers: questions, the answer buttons, commands, and errors.

Handlers are small coroutines; everything that blocks (the model, SQLite, FAISS, ingest)
runs in the bot's thread pool, so that one question never holds up the others.

Callback data (at most 64 bytes): ``more:<key>:<offset>`` for "更多", where ``<key>`` finds
the question in a small LRU cache, and ``full:<chunk id>`` for "原文", which needs no state
and so keeps working after a restart.
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
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import format as fmt
from bot.access import AccessPolicy
from bot.library import Library
from retrieval.answer import Hit, QuestionError, validate_question
from retrieval.config import ANSWER_MARGIN
from retrieval.render import MAX_UNCERTAIN
from retrieval.store import IndexBusyError, IndexNotFoundError

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

_MORE = "more"
_FULL = "full"
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
    questions: QuestionCache = field(default_factory=QuestionCache)
    counters: Counters = field(default_factory=Counters)
    reindexing: asyncio.Lock = field(default_factory=asyncio.Lock)


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    """The bot's shared services."""
    return context.bot_data[SERVICES]


async def in_thread(context: ContextTypes.DEFAULT_TYPE, fn: Callable[..., T], *args: object) -> T:
    """Run a blocking call in the bot's thread pool and wait for it without blocking the loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(services(context).executor, functools.partial(fn, *args))


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
    async with svc.reindexing:
        folder = svc.library.bulletins_dir
        if not folder.is_dir():
            await send(update, context, [fmt.no_bulletins(str(folder))])
            return
        await send(update, context, [fmt.REINDEX_STARTED])
        try:
            async with typing(update, context):
                report = await in_thread(context, svc.library.reindex)
        except IndexBusyError:
            await send(update, context, [fmt.REINDEX_LOCKED])
            return
    log.info("reindex: %d added, %d replaced", len(report.added), len(report.replaced))
    await send(update, context, fmt.reindex_messages(report))


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
            MessageHandler(new & filters.COMMAND & filters.ChatType.PRIVATE, unknown_command),
            MessageHandler(text & filters.ChatType.PRIVATE, private_message),
            MessageHandler(text & filters.ChatType.GROUPS, group_message),
            CallbackQueryHandler(more_button, pattern=rf"^{_MORE}:[\w-]+:\d+$"),
            CallbackQueryHandler(full_text_button, pattern=rf"^{_FULL}:\d+$"),
        ]
    )
    application.add_error_handler(on_error)
