"""Fixtures for the bot tests: bulletins, an index built once per module, and the real bot
running (``run_polling``, or a webhook) against a fake Bot API server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.app import build_application, serve
from bot.handlers import SERVICES
from bot.library import Library
from retrieval.config import ANSWER_MARGIN, Settings
from retrieval.embed import Embedder
from retrieval.ingest import ingest
from retrieval.store import open_store
from tests.bot.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "data" / "bulletins" / "000_d59eaba95ec30256.txt"
# Shaped like a real token, so that a leak would be recognisable.
TOKEN = "4839574812:AAHk3rT5-fakeTokenForTheTests_9xYz"
ADMIN = 9001
NOTICE_INTERVAL = 0.3
# Seconds the bot waits for more files of an album: short, the tests send them at once.
ALBUM_WAIT = 0.5
ARCHIVE_ISSUE = "2024-05-20"
LONG_HEADLINE = "县档案馆数字化工程纪实"
_TOPICS = ["婚姻登记", "土地契约", "学校沿革", "水利工程", "集市贸易", "人口普查"]
_PLACES = ["城关镇", "夏家营镇", "天宁镇", "洪相乡", "庞泉沟镇", "西营镇"]
_SUBJECTS = ["社会变迁", "土地制度", "教育发展", "农田水利", "商贸往来", "人口结构"]


def _long_article() -> str:
    # Over 4096 characters, with characters HTML must escape: "原文" needs two messages.
    paragraphs = [
        f"第{i}批档案完成数字化扫描，共计{i * 37}卷、{i * 1210}页。工作人员逐页核对目录与原件，"
        f"对照<档案著录规则>修正错漏{i % 7 + 1}处，并把破损的卷皮重新装订。"
        f"这一批档案涉及{1950 + i}年至{1952 + i}年的农田水利、乡村教育和集市贸易记录，"
        f"其中不少是首次向社会开放查阅的原始资料，研究人员与群众均可预约利用&复制。"
        for i in range(1, 33)
    ]
    return f"{LONG_HEADLINE}\n\n本报讯 " + "\n\n".join(paragraphs) + "\n\n（记者 王五）"


def _short_article(n: int) -> str:
    topic = _TOPICS[n]
    sentences = [
        f"县档案馆近日整理出一批{topic}档案，共{n * 113 + 40}件，时间跨度{30 + n}年。",
        f"这批{topic}档案由{_PLACES[n]}移交，此前一直保存在乡镇库房中。",
        f"档案馆工作人员先对{topic}档案进行除尘、去钉和平整，再逐件编号、登记目录。",
        f"据介绍，{topic}档案对研究本县{_SUBJECTS[n]}具有重要价值。",
        f"整理完成后，这些{topic}档案将全部扫描上网，群众可以在档案馆查阅室或网上预约查阅。",
        f"档案馆还计划编印{topic}档案选编，向学校和研究机构赠送，让沉睡的{topic}档案发挥作用。",
    ]
    return f"县档案馆整理{topic}档案{n * 113 + 40}件\n\n本报讯 {''.join(sentences) * 3}"


def write_archive_issue(folder: Path) -> Path:
    """An issue about the county archive: one long article and six shorter related ones."""
    articles = [_long_article(), *(_short_article(n) for n in range(len(_TOPICS)))]
    path = folder / f"{ARCHIVE_ISSUE}.txt"
    path.write_text("交城县\n\n" + "\n\n交城县\n\n".join(articles) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def bulletins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bulletins folder: the seed page and the archive issue."""
    folder = tmp_path_factory.mktemp("bulletins")
    shutil.copy(SEED, folder)
    write_archive_issue(folder)
    return folder


@pytest.fixture(scope="module")
def index_dir(
    tmp_path_factory: pytest.TempPathFactory, bulletins: Path, embedder: Embedder
) -> Path:
    """The bulletins' index, built once per module."""
    folder = tmp_path_factory.mktemp("index")
    report = ingest([bulletins], folder, embedder)
    assert not report.failed and len(report.added) == 2
    return folder


def bot_settings(index_dir: Path, bulletins: Path, **changes: object) -> Settings:
    """Bot settings for the tests, independent of the environment; ADMIN is the admin."""
    defaults: dict[str, object] = {
        "index": str(index_dir),
        "bulletins_dir": bulletins,
        "telegram_token": None,
        "telegram_token_file": None,
        "telegram_api_base_url": None,
        "allowed_users": frozenset(),
        "allowed_chats": frozenset(),
        "admins": frozenset({ADMIN}),
        "webhook_url": None,
        "webhook_secret": None,
        "answer_hits": 3,
        "answer_margin": ANSWER_MARGIN,
        # Each index its own subscriptions; new issues are looked for often.
        "subscriptions_file": index_dir.with_name(f"{index_dir.name}-subscriptions.sqlite3"),
        "notice_interval": NOTICE_INTERVAL,
    }
    return dataclasses.replace(Settings.from_env(), **(defaults | changes))


@contextmanager
def run_bot(settings: Settings, embedder: Embedder, token: str = TOKEN) -> Iterator[FakeTelegram]:
    """Run the real bot, as ``bulletin-qa bot`` does, against a fresh fake Bot API server.

    The bot runs ``serve`` (python-telegram-bot's ``run_polling``/``run_webhook``) in a
    thread with its own event loop; it is stopped and joined on exit.
    """
    with FakeTelegram(token) as fake:
        settings = dataclasses.replace(settings, telegram_api_base_url=fake.base_url)
        library = Library(open_store(settings.index), settings.bulletins_dir, embedder)
        application = build_application(settings, token, library)
        application.bot_data[SERVICES].album_wait = ALBUM_WAIT
        loop = asyncio.new_event_loop()
        failure: list[BaseException] = []

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                serve(application, settings, poll_timeout=1, stop_signals=None)
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=main, name="bot", daemon=True)
        thread.start()
        # Running: updates are being fetched (or the webhook server listens) and handled.
        # Stopping the bot any earlier would race its start.
        deadline = time.monotonic() + 30
        while not (application.running or failure or not thread.is_alive()):
            assert time.monotonic() < deadline, "the bot did not start"
            time.sleep(0.01)
        if failure:
            raise failure[0]
        try:
            yield fake
        finally:
            if thread.is_alive():
                loop.call_soon_threadsafe(application.stop_running)
            thread.join(30)
            assert not thread.is_alive(), "the bot did not stop"
            assert not failure, failure


@pytest.fixture(scope="module")
def tg(index_dir: Path, bulletins: Path, embedder: Embedder) -> Iterator[FakeTelegram]:
    """The module's bot, running with the default settings; the fake server drives it."""
    with run_bot(bot_settings(index_dir, bulletins), embedder) as fake:
        yield fake


_user_ids = itertools.count(2000)


@pytest.fixture
def user() -> int:
    """A user id no other test uses (so each test's private chat starts empty)."""
    return next(_user_ids)
