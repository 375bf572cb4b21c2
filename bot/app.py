"""Build and run the Telegram bot: one python-telegram-bot Application, polling or webhook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import AIORateLimiter, Application, Defaults

from bot import handlers, redact
from bot.access import AccessPolicy
from bot.library import Library
from bot.notices import Subscriptions
from retrieval.config import Settings
from retrieval.crosslingual import load_dictionary
from retrieval.embed import Embedder
from retrieval.store import IndexNotFoundError, open_store

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.CALLBACK_QUERY,
    Update.INLINE_QUERY,
    Update.MY_CHAT_MEMBER,
]
COMMANDS = [
    BotCommand("ask", "提问：/ask 问题"),
    BotCommand("latest", "最新几期"),
    BotCommand("issues", "已收录的各期"),
    BotCommand("help", "使用说明 / how to ask"),
    BotCommand("subscribe", "订阅新一期通知"),
    BotCommand("unsubscribe", "取消订阅"),
    BotCommand("stats", "统计（管理员）"),
    BotCommand("reindex", "更新索引（管理员）"),
    BotCommand("show", "查看一期的文章（管理员）：/show 期次"),
    BotCommand("remove", "删除一期（管理员）：/remove 期次"),
]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Retrieval threads: two cores are kept busy with a couple of queries waiting on SQLite;
# more threads would only contend for the cores.
RETRIEVAL_THREADS = 4
# Updates handled at once. Handlers mostly wait (for the thread pool or for Telegram), so
# many can be in flight; the thread pool bounds the actual work.
CONCURRENT_UPDATES = 64
# Retries of a failed start (getMe, deleteWebhook/setWebhook) before giving up.
BOOTSTRAP_RETRIES = 5
_WATCHER = "new-issue watcher"


class ResilientRateLimiter(AIORateLimiter):
    """AIORateLimiter (flood limits, waits out ``RetryAfter``) that also retries failures.

    python-telegram-bot raises ``NetworkError`` both for a failed connection and for a
    Telegram 5xx; those are retried with exponential backoff. ``BadRequest`` is a subclass
    of it but means the request itself is wrong, so it is not retried. A send that timed
    out after reaching Telegram may arrive twice, which beats not arriving.
    """

    def __init__(self, *, network_retries: int = 4, backoff: float = 0.5, **kwargs: Any) -> None:
        """Set up the flood limits and the retries.

        Args:
            network_retries: Retries of a request that failed with a network error or 5xx.
            backoff: Seconds before the first retry; each further retry waits twice as long.
            **kwargs: AIORateLimiter's arguments (rates, ``max_retries`` for RetryAfter).
        """
        super().__init__(**kwargs)
        self._network_retries = network_retries
        self._backoff = backoff

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Send one request under the flood limits, retrying network errors and 5xx."""
        delay = self._backoff
        attempt = 0
        while True:
            try:
                if endpoint == "sendChatAction":
                    # Typing indicators are not messages: they must not spend a group's
                    # 20 messages a minute.
                    return await callback(*args, **kwargs)
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except BadRequest:
                raise
            except NetworkError as exc:
                if attempt >= self._network_retries:
                    raise
                attempt += 1
                log.warning("%s failed (%s); retry %d in %.1f s", endpoint, exc, attempt, delay)
                await asyncio.sleep(delay)
                delay *= 2


async def _post_init(application: Application) -> None:
    try:
        await application.bot.set_my_commands(COMMANDS)
    except TelegramError as exc:
        # Only the clients' command menu depends on it.
        log.warning("setMyCommands failed: %s", exc)
    log.info("serving as @%s", application.bot.username)
    # An asyncio task rather than PTB's JobQueue: that needs the job-queue extra
    # (APScheduler), a dependency for one periodic call.
    svc = application.bot_data[handlers.SERVICES]
    application.bot_data[_WATCHER] = asyncio.create_task(
        handlers.watch_new_issues(application.bot, svc),
        name=_WATCHER,
    )


async def _post_stop(application: Application) -> None:
    watcher = application.bot_data.pop(_WATCHER, None)
    if watcher is not None:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def _post_shutdown(application: Application) -> None:
    application.bot_data[handlers.SERVICES].executor.shutdown(wait=False, cancel_futures=True)


def build_application(settings: Settings, token: str, library: Library) -> Application:
    """The bot: handlers registered, rate limited, HTML by default; not started yet.

    Args:
        settings: Bot API server, access lists, passages per answer and their margin.
        token: The bot token (kept out of the logs from now on).
        library: The index to answer from.
    """
    redact.protect(token)
    builder = (
        Application.builder()
        .token(token)
        .rate_limiter(ResilientRateLimiter(max_retries=3))
        .concurrent_updates(CONCURRENT_UPDATES)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                allow_sending_without_reply=True,
            )
        )
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
    )
    if settings.telegram_api_base_url:
        base_url = settings.telegram_api_base_url
        builder = builder.base_url(base_url)
        # Files are downloaded from the same server: …/bot<token>/… → …/file/bot<token>/…
        if base_url.rstrip("/").endswith("/bot"):
            builder = builder.base_file_url(base_url.rstrip("/").removesuffix("bot") + "file/bot")
    application = builder.build()
    application.bot_data[handlers.SERVICES] = handlers.Services(
        library=library,
        access=AccessPolicy.from_settings(settings),
        executor=ThreadPoolExecutor(RETRIEVAL_THREADS, thread_name_prefix="retrieval"),
        hits_per_answer=settings.answer_hits,
        answer_margin=settings.answer_margin,
        subscriptions=Subscriptions(settings.subscriptions_path()),
        notice_interval=settings.notice_interval,
    )
    handlers.register(application)
    return application


def serve(
    application: Application,
    settings: Settings,
    *,
    poll_timeout: float = 10,
    stop_signals: Sequence[int] | None = STOP_SIGNALS,
) -> None:
    """Run the bot on the current event loop until a stop signal (or ``stop_running()``).

    Long polling by default; with ``settings.webhook_url``, a webhook server on
    ``settings.webhook_listen:settings.webhook_port`` whose path is the URL's, checking
    the secret Telegram sends with each call.

    Args:
        application: From :func:`build_application`.
        settings: Webhook settings.
        poll_timeout: Seconds a getUpdates long poll may wait.
        stop_signals: Signals that stop the bot; None when not run in the main thread.
    """
    if settings.webhook_url:
        application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=urlsplit(settings.webhook_url).path.strip("/"),
            webhook_url=settings.webhook_url,
            secret_token=settings.webhook_secret or secrets.token_urlsafe(32),
            allowed_updates=ALLOWED_UPDATES,
            bootstrap_retries=BOOTSTRAP_RETRIES,
            stop_signals=stop_signals,
        )
    else:
        application.run_polling(
            timeout=poll_timeout,
            allowed_updates=ALLOWED_UPDATES,
            bootstrap_retries=BOOTSTRAP_RETRIES,
            stop_signals=stop_signals,
        )


def run_bot(settings: Settings, token: str, embedder: Embedder) -> None:
    """Serve the index of ``settings`` in Telegram until stopped (``bulletin-qa bot``).

    Raises:
        telegram.error.InvalidToken: Telegram rejected the token.
        retrieval.store.StoreError: The index cannot be used (e.g. another model built it).
    """
    logging.getLogger("bot").setLevel(logging.INFO)
    library = Library(
        open_store(settings.index),
        settings.bulletins_dir,
        embedder,
        settings.batch_size,
        settings.llm,
    )
    try:
        library.open()
    except IndexNotFoundError:
        log.warning(
            "no index in %s yet: questions get answers once /reindex or "
            "`bulletin-qa ingest` has built it",
            settings.index,
        )
    # The first English question would otherwise wait for the dictionary to be parsed.
    threading.Thread(target=load_dictionary, name="dictionary", daemon=True).start()
    application = build_application(settings, token, library)
    # run_polling/run_webhook run on the current event loop and close it when done.
    asyncio.set_event_loop(asyncio.new_event_loop())
    try:
        serve(application, settings)
    finally:
        asyncio.set_event_loop(None)
