"""The bot for editors and readers: issues sent to it, /show and /remove, inline mode, and
new-issue notices; the real bot against the fake Bot API server."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from bot import format as fmt
from bot.notices import Subscriptions
from retrieval.embed import Embedder
from retrieval.ingest import ingest
from tests.bot.conftest import (
    ADMIN,
    ARCHIVE_ISSUE,
    NOTICE_INTERVAL,
    ROOT,
    bot_settings,
    run_bot,
)
from tests.bot.fake_telegram import MESSAGE_LIMIT, FakeTelegram, Sent, utf16_length

pytestmark = pytest.mark.slow

NEW_ISSUE = ROOT / "data" / "bulletins" / "2024-12-29.txt"
NEW_QUESTION = "台南400宴在哪里举行？"
NEW_HEADLINE = "台南400宴盛大登场"


@pytest.fixture
def library(index_dir: Path, bulletins: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the module's index and bulletins, for a test that changes them."""
    shutil.copytree(index_dir, tmp_path / "index")
    shutil.copytree(bulletins, tmp_path / "bulletins")
    return tmp_path / "index", tmp_path / "bulletins"


def replies(tg: FakeTelegram, chat: int, before: int, count: int = 1) -> list[Sent]:
    return tg.wait_sent(chat, before + count, timeout=60)[before:]


def upload(tg: FakeTelegram, user: int, name: str, data: bytes, count: int = 2) -> list[Sent]:
    """Send a file; wait for ``count`` replies (by default "received" and the outcome)."""
    before = len(tg.sent(user))
    tg.send_document(user, name, data)
    return replies(tg, user, before, count)


def test_an_admin_sends_an_issue_and_readers_ask_about_it(library, embedder, user):
    index, bulletins = library
    with run_bot(bot_settings(index, bulletins), embedder) as tg:
        started, done = upload(tg, ADMIN, NEW_ISSUE.name, NEW_ISSUE.read_bytes())
        assert started.text == fmt.UPLOAD_STARTED
        assert done.text.startswith("已收录：台南市政府新闻汇编")
        assert "期次 2024-12-29 · 2024-12-29 · 4 篇文章" in done.text and "用时" in done.text
        assert (bulletins / NEW_ISSUE.name).read_bytes() == NEW_ISSUE.read_bytes()

        before = len(tg.sent(user))
        tg.say(user, NEW_QUESTION)
        [answer] = replies(tg, user, before)
        assert NEW_HEADLINE in answer.text

        # The same file again: nothing to do, and nothing overwritten or duplicated.
        _, again = upload(tg, ADMIN, NEW_ISSUE.name, NEW_ISSUE.read_bytes())
        assert again.text.startswith("未变（已在索引中）：2024-12-29")
        assert sorted(p.name for p in bulletins.iterdir()).count(NEW_ISSUE.name) == 1
        assert not list(bulletins.glob("2024-12-29-*"))


def test_a_strangers_file_is_refused_and_never_downloaded(library, embedder, user):
    index, bulletins = library
    files = sorted(bulletins.iterdir())
    with run_bot(bot_settings(index, bulletins), embedder) as tg:
        [refusal] = upload(tg, user, NEW_ISSUE.name, NEW_ISSUE.read_bytes(), count=1)
        assert refusal.text == fmt.ADMINS_ONLY
        time.sleep(0.5)
        assert not tg.calls_to("getFile") and not tg.downloads
    with run_bot(bot_settings(index, bulletins, allowed_users=frozenset({1})), embedder) as tg:
        [refusal] = upload(tg, user, NEW_ISSUE.name, NEW_ISSUE.read_bytes(), count=1)
        assert refusal.text == fmt.REFUSED
        assert not tg.calls_to("getFile") and not tg.downloads
    assert sorted(bulletins.iterdir()) == files


def test_a_photo_is_asked_for_again_as_a_file(library, embedder, user):
    index, bulletins = library
    with run_bot(bot_settings(index, bulletins), embedder) as tg:
        for sender, reply in ((ADMIN, fmt.UPLOAD_PHOTO), (user, fmt.ADMINS_ONLY)):
            before = len(tg.sent(sender))
            tg.send_photo(sender)
            [answer] = replies(tg, sender, before)
            assert answer.text == reply
        assert not tg.calls_to("getFile")


def test_files_are_checked_before_downloading_and_saved_under_safe_names(
    library, embedder, tmp_path
):
    index, bulletins = library
    text = NEW_ISSUE.read_bytes()
    with run_bot(bot_settings(index, bulletins), embedder) as tg:
        # A small file is downloaded (and a broken one reported with its reason)...
        _, broken = upload(tg, ADMIN, "2024-12-30.pdf", b"%PDF")
        assert "无法读取 2024-12-30.pdf：" in broken.text
        before = len(tg.sent(ADMIN))
        tg.send_document(ADMIN, "2024-12-31.pdf", b"%PDF-1.4", size=25 * 1024 * 1024)
        [too_big] = replies(tg, ADMIN, before)
        assert too_big.text == fmt.UPLOAD_TOO_BIG  # ...a large one is not
        assert len(tg.calls_to("getFile")) == 1
        [unsupported] = upload(tg, ADMIN, "setup.exe", b"MZ", count=1)
        assert unsupported.text == fmt.UPLOAD_UNSUPPORTED

        _, done = upload(tg, ADMIN, "../../x.txt", text)
        assert "已收录" in done.text
        assert (bulletins / "x.txt").read_bytes() == text
        assert (
            not (tmp_path / "x.txt").exists() and not (bulletins.parent.parent / "x.txt").exists()
        )

        # Another issue's file of the same name is kept; the new one gets a name of its own.
        other = text.replace("台南".encode(), "府城".encode())
        _, done = upload(tg, ADMIN, "..\\x.txt", other)
        assert (bulletins / "x.txt").read_bytes() == text
        assert (bulletins / "x-2.txt").read_bytes() == other

        _, done = upload(tg, ADMIN, "\x1b[31m\u202e" + "长" * 300 + "\n.TXT", other + b"\n")
        [saved] = [p for p in bulletins.iterdir() if "长" in p.name]
        assert saved.name.startswith("[31m长长") and saved.suffix == ".txt"
        assert len(saved.name.encode()) <= 124
    assert all(p.parent == bulletins for p in bulletins.rglob("*"))


def test_page_files_sent_together_make_one_issue(library, embedder):
    index, bulletins = library
    pages = [
        "交城县\n\n县城新建口袋公园\n\n本报讯 县城新建口袋公园六处，种植乔木八百株。\n",
        "交城县\n\n乡村文化节开幕\n\n本报讯 第三届乡村文化节在夏家营镇开幕，持续五天。\n",
    ]
    with run_bot(bot_settings(index, bulletins), embedder) as tg:
        before = len(tg.sent(ADMIN))
        for n, page in enumerate(pages, 1):
            tg.send_document(ADMIN, f"2024-03-09_0{n}.txt", page.encode(), album="album-1")
        started, done = replies(tg, ADMIN, before, 2)
        assert started.text == fmt.UPLOAD_STARTED
        assert "期次 2024-03-09" in done.text and "2 篇文章" in done.text
        time.sleep(1)
        assert len(tg.sent(ADMIN)) == before + 2  # one issue, one report


def test_show_and_remove_with_confirmation(library, embedder, user):
    index, bulletins = library
    with run_bot(bot_settings(index, bulletins), embedder) as tg:
        before = len(tg.sent(user))
        tg.say(user, f"/show {ARCHIVE_ISSUE}")
        [refusal] = replies(tg, user, before)
        assert refusal.text == fmt.ADMINS_ONLY

        tg.say(ADMIN, f"/show {ARCHIVE_ISSUE}")
        [shown] = replies(tg, ADMIN, 0)
        assert shown.text.startswith(f"{ARCHIVE_ISSUE}\n期次 {ARCHIVE_ISSUE} · 2024-05-20")
        assert "7 篇文章" in shown.text and "1. 《县档案馆数字化工程纪实》" in shown.text

        tg.say(ADMIN, "/remove 1999-01-01")
        [unknown] = replies(tg, ADMIN, 1)
        assert unknown.text.startswith("索引中没有这一期：1999-01-01")

        tg.say(ADMIN, f"/remove {ARCHIVE_ISSUE}")
        [confirm] = replies(tg, ADMIN, 2)
        assert confirm.text.startswith("确定从索引中删除这一期吗？")
        tg.press(user, confirm, fmt.REMOVE_BUTTON)  # a forwarded button is not enough
        tg.wait(lambda: len(tg.calls_to("answerCallbackQuery")) == 1)
        assert tg.calls_to("answerCallbackQuery")[0].params["text"] == fmt.ADMINS_ONLY
        tg.press(ADMIN, confirm, fmt.REMOVE_BUTTON)
        [removed] = replies(tg, ADMIN, 3)
        assert removed.text == f"已从索引中删除：{ARCHIVE_ISSUE}"
        assert not confirm.buttons()  # spent

        tg.say(ADMIN, f"/show {ARCHIVE_ISSUE}")
        [gone] = replies(tg, ADMIN, 4)
        assert gone.text.startswith("索引中没有这一期")


def _inline_answer(tg: FakeTelegram, query_id: str) -> dict:
    return tg.wait(
        lambda: next(
            (
                c.params
                for c in tg.calls_to("answerInlineQuery")
                if c.params["inline_query_id"] == query_id and c.status == 200
            ),
            None,
        )
    )


def test_inline_queries_list_passages_within_limits(index_dir, bulletins, embedder, user):
    with run_bot(bot_settings(index_dir, bulletins), embedder) as tg:
        answer = _inline_answer(tg, tg.inline(user, "白漳河河道城区段全长多少米？"))
        results = answer["results"]
        assert 1 <= len(results) <= 5 and int(answer["cache_time"]) > 0
        first = results[0]
        assert first["title"] == "人勤春来早 项目施工忙"
        assert "2886米" in first["description"]
        content = first["input_message_content"]
        assert content["parse_mode"] == "HTML"
        assert (
            content["message_text"].startswith("<b>")
            and "—— 《人勤春来早" in content["message_text"]
        )
        assert utf16_length(content["message_text"]) <= MESSAGE_LIMIT
        assert len({r["id"] for r in results}) == len(results)
        # HTML in the question cannot reach the results; an empty query lists nothing.
        _inline_answer(tg, tg.inline(user, "<b>档案</b>&"))
        assert _inline_answer(tg, tg.inline(user, "  "))["results"] == []

    settings = bot_settings(index_dir, bulletins, allowed_users=frozenset({1}))
    with run_bot(settings, embedder) as tg:
        answer = _inline_answer(tg, tg.inline(user, "白漳河河道城区段全长多少米？"))
        assert answer["results"] == [] and answer["is_personal"] in (True, "true")


def _notices(tg: FakeTelegram, chat: int) -> list[Sent]:
    return [m for m in tg.sent(chat) if m.text.startswith("新的一期")]


def test_subscribers_get_one_notice_each_under_rate_limits(library, embedder, tmp_path, user):
    index, bulletins = library
    settings = bot_settings(index, bulletins, subscriptions_file=tmp_path / "subs.sqlite3")
    readers = list(range(7000, 7200))  # 200 subscribers
    blocked = readers[-1]
    with run_bot(settings, embedder) as tg:
        tg.say(user, "/subscribe")
        assert tg.wait_sent(user)[0].text == fmt.SUBSCRIBED
        tg.say(user, "/unsubscribe")
        assert tg.wait_sent(user, 2)[1].text == fmt.UNSUBSCRIBED
        for reader in readers:
            tg.say(reader, "/subscribe")
        tg.wait(lambda: all(tg.sent(r) for r in readers), timeout=60)
    # Subscriptions survive a restart.
    assert sorted(Subscriptions(tmp_path / "subs.sqlite3").chats()) == readers

    with run_bot(settings, embedder) as tg:
        tg.block(blocked)
        tg.wait(lambda: blocked not in Subscriptions(tmp_path / "subs.sqlite3").chats())
        tg.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, times=3)
        # Another process indexes a new issue, as `bulletin-qa ingest` would.
        started = time.monotonic()
        ingest([NEW_ISSUE], index, embedder)
        tg.wait(lambda: all(_notices(tg, r) for r in readers[:-1]), timeout=60)
        seconds = time.monotonic() - started
        time.sleep(NOTICE_INTERVAL * 5)  # later looks announce nothing more
        for reader in readers[:-1]:
            [notice] = _notices(tg, reader)
            assert notice.text.startswith("新的一期：2024-12-29 · 台南市政府新闻汇编")
            assert NEW_HEADLINE in notice.text
            assert [b["text"] for b in notice.buttons()][:2] == ["原文 1", "原文 2"]
        assert not _notices(tg, user) and not _notices(tg, blocked)
        assert [c.status for c in tg.calls_to("sendMessage")].count(429) == 3
        # The 原文 button of a notice sends the article.
        tg.press(readers[0], _notices(tg, readers[0])[0], "原文 1")
        article = tg.wait(lambda: (m := tg.sent(readers[0])) and len(m) >= 2 and m[1])
        assert article.text.startswith("《")
    assert seconds < 30


def test_in_a_group_only_its_administrators_subscribe(library, embedder, tmp_path, user):
    index, bulletins = library
    settings = bot_settings(index, bulletins, subscriptions_file=tmp_path / "subs.sqlite3")
    group, admin, member = -1001, 4242, 4343
    with run_bot(settings, embedder) as tg:
        tg.group_admins.add(admin)
        tg.say(member, "/subscribe", chat_id=group)
        [refused] = tg.wait_sent(group)
        assert refused.text == fmt.GROUP_ADMINS_ONLY
        tg.say(admin, "/subscribe", chat_id=group)
        assert tg.wait_sent(group, 2)[1].text == fmt.SUBSCRIBED
        tg.say(member, "/unsubscribe", chat_id=group)
        assert tg.wait_sent(group, 3)[2].text == fmt.GROUP_ADMINS_ONLY
    assert Subscriptions(tmp_path / "subs.sqlite3").chats() == [group]


def test_two_replicas_announce_each_issue_once(library, embedder, tmp_path):
    index, bulletins = library
    settings = bot_settings(index, bulletins, subscriptions_file=tmp_path / "subs.sqlite3")
    subscriptions = Subscriptions(tmp_path / "subs.sqlite3")
    readers = list(range(8000, 8010))
    for reader in readers:
        subscriptions.add(reader)
    with run_bot(settings, embedder) as one, run_bot(settings, embedder) as two:
        time.sleep(NOTICE_INTERVAL * 3)  # both have seen the index as it was
        writer = threading.Thread(target=ingest, args=([NEW_ISSUE], index, embedder))
        writer.start()
        writer.join()
        one.wait(lambda: all(_notices(one, r) or _notices(two, r) for r in readers), timeout=60)
        time.sleep(NOTICE_INTERVAL * 5)
        for reader in readers:
            assert len(_notices(one, reader)) + len(_notices(two, reader)) == 1


def test_existing_issues_are_not_news(index_dir, bulletins, embedder: Embedder, tmp_path):
    settings = bot_settings(index_dir, bulletins, subscriptions_file=tmp_path / "subs.sqlite3")
    Subscriptions(tmp_path / "subs.sqlite3").add(7777)
    with run_bot(settings, embedder) as tg:
        time.sleep(NOTICE_INTERVAL * 4)
        assert not tg.sent(7777)
