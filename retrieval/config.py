"""All settings in one place: defaults, overridden by environment variables.

Command-line flags override these in turn (see :mod:`retrieval.cli`).

Environment variables:
    BULLETIN_QA_DATA: data folder (index and bulletins live under it);
        default: the user data dir (e.g. ``~/.local/share/bulletin-qa``).
    BULLETIN_QA_INDEX: index folder; default ``$BULLETIN_QA_DATA/index``.
    BULLETIN_QA_BULLETINS: folder of bulletin files; default ``$BULLETIN_QA_DATA/bulletins``.
    BULLETIN_QA_MODEL: a sentence-transformers model folder to use instead of the default.
    BULLETIN_QA_CACHE: cache folder for the converted default model;
        default: the user cache dir (e.g. ``~/.cache/bulletin-qa``).
    BULLETIN_QA_BATCH_SIZE: embedding batch size (default 32).

Telegram bot (``bulletin-qa bot``):
    TELEGRAM_BOT_TOKEN: the bot's token from @BotFather (never printed or logged).
    TELEGRAM_BOT_TOKEN_FILE: a file holding the token instead (wins over the variable).
    TELEGRAM_API_BASE_URL: another Bot API server, as python-telegram-bot's ``base_url``
        (the token is appended), e.g. ``http://127.0.0.1:8081/bot``.
    BULLETIN_QA_ALLOWED_USERS, BULLETIN_QA_ALLOWED_CHATS: user ids and chat ids (comma or
        space separated) allowed to ask; when both are empty, everyone may.
    BULLETIN_QA_ADMINS: user ids allowed to use ``/reindex`` and ``/stats``.
    BULLETIN_QA_WEBHOOK_URL: public HTTPS URL for webhook mode; default long polling.
    BULLETIN_QA_WEBHOOK_LISTEN, BULLETIN_QA_WEBHOOK_PORT: where the webhook server listens
        (default 0.0.0.0:8443).
    BULLETIN_QA_WEBHOOK_SECRET: the secret Telegram sends with each webhook call; default a
        new random one per start.
    BULLETIN_QA_ANSWER_HITS: passages per answer in the bot (default 3).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

APP_NAME = "bulletin-qa"

# Questions longer than this are refused: no reader types a page into a chat box, and
# the model only reads 512 tokens anyway.
MAX_QUESTION_CHARS = 500


def _path_env(name: str, default: Path) -> Path:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else default


def _str_env(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


def _optional_path_env(name: str) -> Path | None:
    value = _str_env(name)
    return Path(value).expanduser() if value else None


def parse_ids(text: str, name: str = "ids") -> frozenset[int]:
    """Parse Telegram user or chat ids separated by commas or spaces.

    Args:
        text: E.g. ``"12345, -1001234567890"``.
        name: What the ids are, for the error message.

    Raises:
        ValueError: Something in ``text`` is not an integer.
    """
    ids = set()
    for item in re.split(r"[,\s]+", text.strip()):
        if not item:
            continue
        try:
            ids.add(int(item))
        except ValueError:
            raise ValueError(f"{name}: {item!r} is not a Telegram id (an integer)") from None
    return frozenset(ids)


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one process."""

    data_dir: Path
    index_dir: Path
    bulletins_dir: Path
    cache_dir: Path
    model: Path | None
    batch_size: int
    # Telegram bot. The token and the webhook secret stay out of repr(), hence out of logs.
    telegram_token: str | None = field(default=None, repr=False)
    telegram_token_file: Path | None = None
    telegram_api_base_url: str | None = None
    allowed_users: frozenset[int] = frozenset()
    allowed_chats: frozenset[int] = frozenset()
    admins: frozenset[int] = frozenset()
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: str | None = field(default=None, repr=False)
    answer_hits: int = 3

    @classmethod
    def from_env(cls) -> Settings:
        """Read the settings from the environment, falling back to the defaults."""
        data_dir = _path_env("BULLETIN_QA_DATA", Path(platformdirs.user_data_dir(APP_NAME)))
        model = os.environ.get("BULLETIN_QA_MODEL", "").strip()
        return cls(
            data_dir=data_dir,
            index_dir=_path_env("BULLETIN_QA_INDEX", data_dir / "index"),
            bulletins_dir=_path_env("BULLETIN_QA_BULLETINS", data_dir / "bulletins"),
            cache_dir=_path_env("BULLETIN_QA_CACHE", Path(platformdirs.user_cache_dir(APP_NAME))),
            model=Path(model).expanduser() if model else None,
            batch_size=int(os.environ.get("BULLETIN_QA_BATCH_SIZE", "32")),
            telegram_token=_str_env("TELEGRAM_BOT_TOKEN"),
            telegram_token_file=_optional_path_env("TELEGRAM_BOT_TOKEN_FILE"),
            telegram_api_base_url=_str_env("TELEGRAM_API_BASE_URL"),
            allowed_users=parse_ids(
                os.environ.get("BULLETIN_QA_ALLOWED_USERS", ""), "BULLETIN_QA_ALLOWED_USERS"
            ),
            allowed_chats=parse_ids(
                os.environ.get("BULLETIN_QA_ALLOWED_CHATS", ""), "BULLETIN_QA_ALLOWED_CHATS"
            ),
            admins=parse_ids(os.environ.get("BULLETIN_QA_ADMINS", ""), "BULLETIN_QA_ADMINS"),
            webhook_url=_str_env("BULLETIN_QA_WEBHOOK_URL"),
            webhook_listen=_str_env("BULLETIN_QA_WEBHOOK_LISTEN") or "0.0.0.0",
            webhook_port=int(os.environ.get("BULLETIN_QA_WEBHOOK_PORT", "8443")),
            webhook_secret=_str_env("BULLETIN_QA_WEBHOOK_SECRET"),
            answer_hits=int(os.environ.get("BULLETIN_QA_ANSWER_HITS", "3")),
        )

    def bot_token(self) -> str | None:
        """The bot token: the token file's content when one is set, else the variable's.

        Raises:
            OSError: The token file cannot be read.
        """
        if self.telegram_token_file is not None:
            return self.telegram_token_file.read_text(encoding="utf-8").strip() or None
        return self.telegram_token
