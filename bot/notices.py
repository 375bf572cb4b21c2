"""New-issue notices: who subscribed, which issues were announced, and the announcing.

Both live in one small SQLite file shared by every replica of the bot, so that
subscriptions survive restarts and each issue is announced once: a replica claims an
issue with an atomic insert before announcing it, and only the replica whose insert
succeeded sends. New issues are found by looking at the index's issue list periodically,
whoever indexed them (the bot, ``bulletin-qa ingest``, ``ingest --watch``).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from telegram import Bot, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, TelegramError

log = logging.getLogger(__name__)

# Issues one look announces: a bulk ingest of a year of issues is not a year of news.
# The others are marked announced without a message.
NOTICES_PER_LOOK = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS subscribers (chat_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS announced (issue_key TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY);
"""


class Subscriptions:
    """The subscribed chats and the announced issues, in a SQLite file.

    Every method opens its own connection: they run in worker threads, and SQLite's
    locking (not a lock of this process) keeps replicas consistent.
    """

    def __init__(self, path: Path) -> None:
        """Create the file and its tables when missing."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()

    def add(self, chat_id: int) -> bool:
        """Subscribe ``chat_id``; False when it already was."""
        with self._connect() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO subscribers (chat_id) VALUES (?)", (chat_id,)
            )
            return cursor.rowcount == 1

    def remove(self, chat_id: int) -> bool:
        """Unsubscribe ``chat_id``; False when it was not subscribed."""
        with self._connect() as conn:
            return (
                conn.execute("DELETE FROM subscribers WHERE chat_id = ?", (chat_id,)).rowcount > 0
            )

    def chats(self) -> list[int]:
        """The subscribed chats."""
        with self._connect() as conn:
            return [row[0] for row in conn.execute("SELECT chat_id FROM subscribers")]

    def claim(self, issue_keys: Sequence[str]) -> list[str]:
        """Claim the issues nobody has announced yet; return those this call claimed.

        The first call ever claims every issue it is given and returns none: the issues
        indexed before the bot first looked are not news.
        """
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            first = conn.execute("INSERT OR IGNORE INTO meta (key) VALUES ('seeded')").rowcount
            claimed = [
                key
                for key in issue_keys
                if conn.execute(
                    "INSERT OR IGNORE INTO announced (issue_key) VALUES (?)", (key,)
                ).rowcount
            ]
            conn.execute("COMMIT")
        return [] if first else claimed


async def notify(
    bot: Bot, chat_id: int, texts: Sequence[str], keyboard: InlineKeyboardMarkup | None
) -> bool | None:
    """Send one notice to one chat, through the bot's rate limiter (it waits out 429s).

    Returns:
        True when sent; None when the chat is gone for good (it blocked the bot, removed
        it, or no longer exists) and should be unsubscribed; False on another failure.
    """
    try:
        for i, text in enumerate(texts):
            await bot.send_message(
                chat_id, text, reply_markup=keyboard if i == len(texts) - 1 else None
            )
    except Forbidden as exc:
        log.info("chat %s is gone: %s", chat_id, exc.message)
        return None
    except BadRequest as exc:
        if "chat not found" in exc.message.lower():
            log.info("chat %s is gone: %s", chat_id, exc.message)
            return None
        log.warning("notice to chat %s failed: %s", chat_id, exc)
        return False
    except TelegramError as exc:
        log.warning("notice to chat %s failed: %s", chat_id, exc)
        return False
    return True
