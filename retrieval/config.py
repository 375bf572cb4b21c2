"""All settings in one place: defaults, overridden by environment variables.

Command-line flags override these in turn (see :mod:`retrieval.cli`).

Environment variables:
    BULLETIN_QA_DATA: data folder (index and bulletins live under it);
        default: the user data dir (e.g. ``~/.local/share/bulletin-qa``).
    BULLETIN_QA_INDEX: the index: a folder (default ``$BULLETIN_QA_DATA/index``), or a
        Milvus collection, ``milvus://HOST:PORT/COLLECTION`` (``milvus+https://…``) or
        ``milvus:FILE.db`` for Milvus Lite (see :func:`retrieval.store.open_store`).
    MILVUS_TOKEN: credentials for a Milvus server (``user:password`` or an API key).
    BULLETIN_QA_BULLETINS: folder of bulletin files; default ``$BULLETIN_QA_DATA/bulletins``.
    BULLETIN_QA_MODEL: a sentence-transformers model folder to use instead of the default.
    BULLETIN_QA_CACHE: cache folder for the converted default model;
        default: the user cache dir (e.g. ``~/.cache/bulletin-qa``).
    BULLETIN_QA_EMBEDDER: what computes the embeddings: ``onnx`` (the default: ONNX
        Runtime in float32, torch's vectors without torch at run time; the default
        model's 4-bit weights stay 4-bit blocks), ``onnx-int8`` (int8 weights and
        activations: embeds passages faster, ranks a little lower) or ``torch``
        (sentence-transformers); see :mod:`retrieval.onnx_embed`.
    BULLETIN_QA_BATCH_SIZE: embedding batch size (default 32).

Telegram bot (``bulletin-qa bot``):
    TELEGRAM_BOT_TOKEN: the bot's token from @BotFather (never printed or logged).
    TELEGRAM_BOT_TOKEN_FILE: a file holding the token instead (wins over the variable).
    TELEGRAM_API_BASE_URL: another Bot API server, as python-telegram-bot's ``base_url``
        (the token is appended), e.g. ``http://127.0.0.1:8081/bot``.
    BULLETIN_QA_ALLOWED_USERS, BULLETIN_QA_ALLOWED_CHATS: user ids and chat ids (comma or
        space separated) allowed to ask; when both are empty, everyone may.
    BULLETIN_QA_ADMINS: user ids allowed to use ``/reindex``, ``/stats``, ``/show``,
        ``/remove`` and to send issue files.
    BULLETIN_QA_WEBHOOK_URL: public HTTPS URL for webhook mode; default long polling.
    BULLETIN_QA_WEBHOOK_LISTEN, BULLETIN_QA_WEBHOOK_PORT: where the webhook server listens
        (default 0.0.0.0:8443).
    BULLETIN_QA_WEBHOOK_SECRET: the secret Telegram sends with each webhook call; default a
        new random one per start.
    BULLETIN_QA_ANSWER_HITS: passages per answer in the bot (default 3).
    BULLETIN_QA_ANSWER_MARGIN: how far below the best passage's score another may be and
        still be shown with it (default :data:`ANSWER_MARGIN`); the others wait behind
        "更多".
    BULLETIN_QA_SUBSCRIPTIONS: SQLite file of the chats subscribed to new-issue notices
        (and of the issues already announced); default
        ``$BULLETIN_QA_DATA/subscriptions.sqlite3``. Bot replicas must share it.
    BULLETIN_QA_NOTICE_INTERVAL: seconds between two looks for new issues in the index
        (default :data:`NOTICE_INTERVAL`).

Optional grounded answer (off unless BULLETIN_QA_LLM_URL is set; see
:mod:`retrieval.grounded`):
    BULLETIN_QA_LLM_URL: base URL of an OpenAI-compatible chat server, with or without
        ``/v1`` (``http://127.0.0.1:11434`` for Ollama, ``http://host:8000/v1`` for vLLM).
    BULLETIN_QA_LLM_MODEL: the model's name on that server (required with the URL).
    BULLETIN_QA_LLM_KEY: API key, sent as ``Authorization: Bearer`` (never printed or logged).
    BULLETIN_QA_LLM_TIMEOUT: seconds to wait for the server at each step (default
        :data:`LLM_TIMEOUT`).
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

# A passage is shown with the best one when its retrieval score (hybrid: 0.5 × scaled
# cosine + 0.5 × scaled BM25) is at most this far below the best's. Calibrated on the eval
# set with benchmarks/answer_layout.py (see the README): the tightest margin that leaves out
# no more right passages than the bot's limit on visible length does by itself.
ANSWER_MARGIN = 0.25

# Seconds the grounded answer waits for the LLM server at each step (connecting, each
# read): long enough for a small local model to write three sentences on a CPU, short
# enough that a reader waiting for the quotes is not kept long when the server hangs.
LLM_TIMEOUT = 20.0

# Seconds between the bot's looks for newly indexed issues to announce: a notice a minute
# late is still news, and listing the issues is one small SQLite query.
NOTICE_INTERVAL = 60.0

# The embedders, the default first. ONNX Runtime float32 gives torch's vectors (cosine
# ≥ 0.9999, so torch's ranking) without loading torch: a one-shot `ask` in 3.3 s against
# 8.7 s, a question embedded in 7.0 ms against 27.5 ms. int8 weights are faster still
# (2.4 s, 4.2 ms, 620 MB) but rank below torch on the eval set (hit@1 0.622 vs 0.628,
# hit@5 0.865 vs 0.882, MRR 0.730 vs 0.733): more than the 0.005 allowed for the default.
# Asked through float32, the eval set scores as with torch (hit@1 0.628, hit@5 0.882).
# Since the float32 graph keeps the default model's 4-bit weights as 4-bit blocks (the
# same values, cosine ≥ 0.9999998 to torch, the same eval scores to the last digit), it
# loads as fast as int8 and holds less: on a busy 2-core machine, `ask` in 2.8 s against
# 3.9 s with the weights in float32 (int8: 2.9 s), 440 MB resident after a question
# against 860 MB (int8: 480 MB).
EMBEDDERS = ("onnx", "onnx-int8", "torch")


def _path_env(name: str, default: Path) -> Path:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else default


def _index_env(default: Path) -> str:
    """BULLETIN_QA_INDEX as written (a Milvus address is no path), ``~/…`` expanded."""
    value = _str_env("BULLETIN_QA_INDEX")
    if value is None:
        return str(default)
    return str(Path(value).expanduser()) if value.startswith("~") else value


def milvus_token() -> str:
    """MILVUS_TOKEN: the credentials a Milvus server wants ("" when none)."""
    return _str_env("MILVUS_TOKEN") or ""


def _str_env(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


def _optional_path_env(name: str) -> Path | None:
    value = _str_env(name)
    return Path(value).expanduser() if value else None


def _embedder_env() -> str:
    value = _str_env("BULLETIN_QA_EMBEDDER") or EMBEDDERS[0]
    if value not in EMBEDDERS:
        raise ValueError(f"BULLETIN_QA_EMBEDDER: {value!r} is not one of {', '.join(EMBEDDERS)}")
    return value


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
class LLMSettings:
    """The OpenAI-compatible chat server that writes the optional grounded answer.

    Attributes:
        url: Base URL, with or without ``/v1``.
        model: The model's name on that server.
        key: API key, sent as a bearer token; kept out of repr(), hence out of logs.
        timeout: Seconds to wait at each step of a request.
    """

    url: str
    model: str
    key: str | None = field(default=None, repr=False)
    timeout: float = LLM_TIMEOUT

    @classmethod
    def from_env(cls) -> LLMSettings | None:
        """The server from the environment; None (no grounded answer) without a URL.

        Raises:
            ValueError: The URL is not http(s), the model is missing, the key is not
                ASCII (an HTTP header cannot carry it) or the timeout is not a positive
                number.
        """
        url = _str_env("BULLETIN_QA_LLM_URL")
        if url is None:
            return None
        if not url.lower().startswith(("http://", "https://")):
            raise ValueError(f"BULLETIN_QA_LLM_URL: {url!r} is not an http(s) URL")
        model = _str_env("BULLETIN_QA_LLM_MODEL")
        if model is None:
            raise ValueError("BULLETIN_QA_LLM_MODEL: required with BULLETIN_QA_LLM_URL")
        timeout = float(os.environ.get("BULLETIN_QA_LLM_TIMEOUT", str(LLM_TIMEOUT)))
        if not timeout > 0:
            raise ValueError(f"BULLETIN_QA_LLM_TIMEOUT: {timeout} is not a positive number")
        key = _str_env("BULLETIN_QA_LLM_KEY")
        if key is not None and not key.isascii():
            raise ValueError("BULLETIN_QA_LLM_KEY: not ASCII (a pasted curly quote?)")
        return cls(url=url, model=model, key=key, timeout=timeout)


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one process."""

    data_dir: Path
    # A folder, or a Milvus address (see retrieval.store.open_store): kept as typed.
    index: str
    bulletins_dir: Path
    cache_dir: Path
    model: Path | None
    batch_size: int
    embedder: str = EMBEDDERS[0]
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
    answer_margin: float = ANSWER_MARGIN
    # None: subscriptions.sqlite3 in the data folder (see subscriptions_path()).
    subscriptions_file: Path | None = None
    notice_interval: float = NOTICE_INTERVAL
    # The optional grounded answer: None (off) unless BULLETIN_QA_LLM_URL is set.
    llm: LLMSettings | None = None

    @classmethod
    def from_env(cls) -> Settings:
        """Read the settings from the environment, falling back to the defaults."""
        data_dir = _path_env("BULLETIN_QA_DATA", Path(platformdirs.user_data_dir(APP_NAME)))
        model = os.environ.get("BULLETIN_QA_MODEL", "").strip()
        return cls(
            data_dir=data_dir,
            index=_index_env(data_dir / "index"),
            bulletins_dir=_path_env("BULLETIN_QA_BULLETINS", data_dir / "bulletins"),
            cache_dir=_path_env("BULLETIN_QA_CACHE", Path(platformdirs.user_cache_dir(APP_NAME))),
            model=Path(model).expanduser() if model else None,
            batch_size=int(os.environ.get("BULLETIN_QA_BATCH_SIZE", "32")),
            embedder=_embedder_env(),
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
            answer_margin=float(os.environ.get("BULLETIN_QA_ANSWER_MARGIN", str(ANSWER_MARGIN))),
            subscriptions_file=_optional_path_env("BULLETIN_QA_SUBSCRIPTIONS"),
            notice_interval=float(
                os.environ.get("BULLETIN_QA_NOTICE_INTERVAL", str(NOTICE_INTERVAL))
            ),
            llm=LLMSettings.from_env(),
        )

    def subscriptions_path(self) -> Path:
        """The new-issue subscriptions file: the configured one, else in the data folder."""
        return self.subscriptions_file or self.data_dir / "subscriptions.sqlite3"

    def bot_token(self) -> str | None:
        """The bot token: the token file's content when one is set, else the variable's.

        Raises:
            OSError: The token file cannot be read.
        """
        if self.telegram_token_file is not None:
            return self.telegram_token_file.read_text(encoding="utf-8").strip() or None
        return self.telegram_token
