"""The real bot (python-telegram-bot, run_polling) against a fake Bot API server.

Nothing in the bot is mocked: updates go in through getUpdates, answers come out through
sendMessage and friends, and the fake rejects whatever Telegram would reject.
"""

from __future__ import annotations

import io
import logging
import re
import shutil
import socket
import threading
import time

import httpx
import pytest

from bot import format as fmt
from bot.handlers import MAX_RESULTS
from retrieval.ingest import ingest
from retrieval.parse import read_issue
from retrieval.render import UNCERTAIN
from tests.bot.conftest import (
    ADMIN,
    ARCHIVE_ISSUE,
    LONG_HEADLINE,
    ROOT,
    TOKEN,
    bot_settings,
    run_bot,
)
from tests.bot.fake_telegram import BOT_USERNAME, MESSAGE_LIMIT, FakeTelegram, Sent, utf16_length

pytestmark = pytest.mark.slow

QUESTION = "白漳河河道城区段全长多少米？"
GROUP = -1001234567


def ask(tg: FakeTelegram, user: int, text: str, count: int = 1) -> list[Sent]:
    """Send a private question and wait for ``count`` replies."""
    before = len(tg.sent(user))
    tg.say(user, text)
    return tg.wait_sent(user, before + count)[before:]


def ranks(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"^(\d+)\. ", text, flags=re.MULTILINE)]


def test_commands_are_set_at_start(tg):
    [call] = tg.calls_to("setMyCommands")
    names = {c["command"] for c in call.params["commands"]}
    assert names == {
        "ask",
        "latest",
        "issues",
        "help",
        "stats",
        "reindex",
        "show",
        "remove",
        "subscribe",
        "unsubscribe",
    }


def test_question_is_answered_first_with_source_and_the_passage_folded(tg, user):
    [reply] = ask(tg, user, QUESTION)
    # The answer first: the quote, in bold, then its source; the passage folded below.
    first, source, *_ = reply.shown().split("\n\n")[1].split("\n")
    assert first.startswith("1. 据了解") and "白漳河河道城区段全长2886米" in first
    assert source == "   —— 《人勤春来早 项目施工忙》 · 交城县 · 000_d59eaba95ec30256"
    assert re.search(r"^1\. <b>[^<]*2886米[^<]*</b>\n", reply.html.split("\n\n")[1])
    [fold, *_] = reply.folded()
    assert "挖掘机" in fold and "2886米" in fold
    assert not reply.dropped
    # The youth speech contest is far weaker than the answer: it waits behind 更多.
    assert "演讲" not in reply.text
    assert [b["text"] for b in reply.buttons()] == ["原文 1", "更多"]
    assert reply.reply_to is None  # no need to quote the question in a private chat
    # "typing…" was shown while retrieving.
    methods = [(c.method, c.params.get("chat_id")) for c in tg.calls]
    assert methods.index(("sendChatAction", user)) < methods.index(("sendMessage", user))
    action = next(c for c in tg.calls_to("sendChatAction") if c.params["chat_id"] == user)
    assert action.params["action"] == "typing"


def test_html_hostile_question_is_echoed_safely(tg, user):
    [reply] = ask(tg, user, "<b>&</script>")
    assert reply.text.startswith("问：<b>&</script>")  # shown as typed...
    assert "&lt;b&gt;&amp;&lt;/script&gt;" in reply.html  # ...because it was escaped


def test_an_on_topic_question_the_page_may_not_answer_gets_labelled_passages(tg, user):
    # The page gives no completion date (and no cost: a money question it cannot answer
    # at all is "not found", see tests/retrieval/test_answer.py).
    [reply] = ask(tg, user, "白漳河整治工程什么时候完工？")
    assert UNCERTAIN in reply.text
    assert fmt.NOT_FOUND not in reply.text
    assert "白漳河" in reply.text  # the river works' passage, labelled, never an empty reply
    assert reply.buttons()[0]["text"] == "原文 1"


def test_nothing_found_is_said_plainly_with_the_nearest_headline(tg, user):
    [reply] = ask(tg, user, "火星探测器什么时候发射？")  # nothing on the topic
    assert reply.text.startswith("问：火星探测器什么时候发射？")
    assert fmt.NOT_FOUND in reply.text
    assert "最接近：" in reply.text
    assert reply.folded() == []
    assert not reply.buttons()


def test_questions_that_cannot_be_asked_get_the_reason(tg, user):
    [reply] = ask(tg, user, "问" * 600)
    assert reply.text.startswith("无法回答这个问题：the question is too long")
    [reply] = ask(tg, user, "2024-13 灯会")  # refused by retrieval, in the thread pool
    assert reply.text.startswith("无法回答这个问题：the date at the start of the question")


def test_more_button_sends_the_passages_left_out(tg, user):
    [first] = ask(tg, user, QUESTION)
    tg.press(user, first, "更多")
    [second] = tg.wait_sent(user, 2)[1:]
    assert ranks(first.shown()) == [1]
    # A full page follows from the first passage left out, weak or not: the reader asked.
    assert ranks(second.shown()) == [2, 3, 4], second.text
    assert {b["text"] for b in second.buttons()} >= {"原文 2", "原文 3", "原文 4"}
    assert not second.dropped
    # The spent "更多" is removed from the first answer; its "原文" buttons stay.
    tg.wait(lambda: first.edits)
    assert [b["text"] for b in first.buttons()] == ["原文 1"]
    assert tg.calls_to("answerCallbackQuery")


def test_full_text_button_sends_the_whole_article_in_pieces(tg, user, bulletins):
    [reply] = ask(tg, user, "档案数字化扫描共计多少卷？")
    assert f"《{LONG_HEADLINE}》" in reply.text.split("\n\n")[1]
    # The passage's "<" and "&" arrive intact inside its fold, escaped in the HTML.
    [fold, *_] = reply.folded()
    assert "对照<档案著录规则>" in fold and "利用&复制" in fold and not reply.dropped
    assert "&lt;档案著录规则&gt;" in reply.html and "<档案" not in reply.html
    article = read_issue(bulletins / f"{ARCHIVE_ISSUE}.txt").articles[0]
    tg.press(user, reply, "原文 1")
    # Header and body of a 4,600-character article: at least two messages.
    pieces = tg.wait(lambda: (m := tg.sent(user)[1:]) and article.body.endswith(m[-1].text) and m)
    assert len(pieces) >= 2
    assert all(utf16_length(p.text) <= MESSAGE_LIMIT for p in pieces)
    # Headline, then the date (the issue is named by it) and the reporter, then the body.
    assert pieces[0].text.startswith(f"《{LONG_HEADLINE}》\n交城县 · 2024年5月20日 · 王五\n\n")
    assert "".join("".join(p.text.split()) for p in pieces).endswith("".join(article.body.split()))
    # Split between paragraphs, never inside one; "<" and "&" of the text arrive intact.
    assert all(p.text.endswith("复制。") for p in pieces[:-1])
    assert "对照<档案著录规则>" in pieces[0].text and "&lt;档案著录规则&gt;" in pieces[0].html


def test_answer_that_needs_several_messages(index_dir, bulletins, embedder, user):
    settings = bot_settings(index_dir, bulletins, answer_hits=12)
    with run_bot(settings, embedder) as tg:
        [first] = ask(tg, user, "县档案馆整理了哪些档案？")
        # The first page stays within a glance, however many passages a page may hold...
        shown = len(ranks(first.shown()))
        assert utf16_length(first.shown()) <= fmt.GLANCE
        # ...while "更多" sends the rest of the 15 retrieved, up to a page of 12, each with
        # its fold.
        tg.press(user, first, "更多")
        messages = tg.wait(lambda: (m := tg.sent(user)[1:]) and m[-1].reply_markup and m)
    assert len(messages) >= 2
    assert all(utf16_length(m.text) <= MESSAGE_LIMIT and not m.dropped for m in messages)
    more = [r for m in messages for r in ranks(m.shown())]
    assert more == list(range(shown + 1, min(shown + 12, MAX_RESULTS) + 1))
    # Passages are not cut across messages: each ends with its folded passage, and each
    # message has as many source lines as passages. The buttons come with the last one.
    for message in messages:
        assert message.html.endswith("</blockquote>")
        sources = [line for line in message.shown().splitlines() if line.startswith("   —— ")]
        assert len(sources) == len(ranks(message.shown())) == len(message.folded())
    assert all(not m.reply_markup for m in messages[:-1])
    assert [b["text"] for b in messages[-1].buttons()] == [f"原文 {n}" for n in more]


def test_group_answers_mentions_replies_and_ask_but_ignores_chatter(tg, user):
    chatter = tg.say(user, "大家好，今天下午开会吗？", chat_id=GROUP)
    mention = tg.say(user, f"@{BOT_USERNAME} {QUESTION}", chat_id=GROUP)
    [answer] = tg.wait_sent(GROUP, 1)
    assert answer.reply_to == mention["message_id"]
    assert answer.text.startswith(f"问：{QUESTION}")  # the mention is not part of it

    follow_up = tg.say(user, "一期改造工程治理长度是多少？", chat_id=GROUP, reply_to=answer)
    second = tg.wait_sent(GROUP, 2)[1]
    assert second.reply_to == follow_up["message_id"]
    assert "1075米" in second.text

    ask_cmd = tg.say(user, f"/ask@{BOT_USERNAME} 电商培训讲师是谁？", chat_id=GROUP)
    third = tg.wait_sent(GROUP, 3)[2]
    assert third.reply_to == ask_cmd["message_id"]
    assert "魏春雷" in third.text

    tg.say(user, "/ask", chat_id=GROUP)
    assert tg.wait_sent(GROUP, 4)[3].text == fmt.ASK_USAGE
    assert all(m.reply_to != chatter["message_id"] for m in tg.sent(GROUP))
    assert len(tg.sent(GROUP)) == 4


def test_allowlists_refuse_others_politely(index_dir, bulletins, embedder):
    allowed, stranger, team = 3001, 3002, -1003003
    settings = bot_settings(
        index_dir, bulletins, allowed_users=frozenset({allowed}), allowed_chats=frozenset({team})
    )
    with run_bot(settings, embedder) as tg:
        [refusal] = ask(tg, stranger, QUESTION)
        assert refusal.text == fmt.REFUSED
        [answer] = ask(tg, allowed, QUESTION)
        assert "2886米" in answer.text
        [admin_answer] = ask(tg, ADMIN, QUESTION)  # admins may always ask
        assert "2886米" in admin_answer.text

        tg.say(stranger, f"@{BOT_USERNAME} {QUESTION}", chat_id=team)
        assert "2886米" in tg.wait_sent(team)[0].text  # everyone in an allowed chat
        tg.say(stranger, f"@{BOT_USERNAME} {QUESTION}", chat_id=GROUP)
        assert tg.wait_sent(GROUP)[0].text == fmt.REFUSED

        # A forwarded button does not open the door either.
        query_id = tg.press(stranger, answer, "原文 1")
        call = tg.wait(
            lambda: next(
                (
                    c
                    for c in tg.calls_to("answerCallbackQuery")
                    if c.params["callback_query_id"] == query_id
                ),
                None,
            )
        )
        assert call.params["text"] == fmt.REFUSED and call.params["show_alert"] in (True, "true")


def test_admin_commands_are_for_admins(tg, user, bulletins):
    [refusal] = ask(tg, user, "/stats")
    assert refusal.text == fmt.ADMINS_ONLY
    [refusal] = ask(tg, user, "/reindex")
    assert refusal.text == fmt.ADMINS_ONLY

    [stats] = ask(tg, ADMIN, "/stats")
    assert stats.text.startswith("统计") and "第 1 代" in stats.text

    (bulletins / "2024-06-01.txt").write_text(
        "交城县\n\n县图书馆新馆开放\n\n本报讯 县图书馆新馆正式开放，馆藏图书十二万册，"
        "设有少儿阅览区和古籍修复室。（记者 李四）\n",
        encoding="utf-8",
    )
    started, done = ask(tg, ADMIN, "/reindex", count=2)
    assert started.text == fmt.REINDEX_STARTED
    assert "新增 1 期" in done.text and "未变 2 期" in done.text
    [answer] = ask(tg, user, "县图书馆新馆馆藏图书多少册？")
    assert "十二万册" in answer.text


def test_help_latest_and_issues(tg, user):
    for command in ("/start", "/help"):
        [reply] = ask(tg, user, command)
        assert reply.text.startswith("公报问答") and "Ask a question" in reply.text
    [latest] = ask(tg, user, "/latest")
    assert latest.text.startswith("最新几期") and ARCHIVE_ISSUE in latest.text
    [issues] = ask(tg, user, "/issues")
    assert re.match(r"已收录 \d+ 期", issues.text) and "000_d59eaba95ec30256" in issues.text
    [unknown] = ask(tg, user, "/frobnicate")
    assert unknown.text == fmt.UNKNOWN_COMMAND


def test_rate_limit_and_bad_gateway_are_survived(tg, user):
    tg.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    tg.fail("sendMessage", 502, "Bad Gateway")
    started = time.monotonic()
    [reply] = ask(tg, user, QUESTION)
    assert "2886米" in reply.text
    assert time.monotonic() - started >= 1  # the retry_after was honoured
    statuses = [c.status for c in tg.calls_to("sendMessage") if c.params["chat_id"] == user]
    assert statuses == [429, 502, 200]

    # Polling survives a bad gateway too.
    tg.fail("getUpdates", 502, "Bad Gateway")
    [reply] = ask(tg, user, QUESTION)
    assert "2886米" in reply.text


def test_error_in_a_handler_gets_an_apology_and_the_bot_goes_on(tg, user, caplog):
    tg.fail("sendMessage", 400, "Bad Request: chat not found")
    with caplog.at_level(logging.ERROR, logger="bot.handlers"):
        [apology] = ask(tg, user, QUESTION)
    assert apology.text == fmt.SORRY
    [record] = [r for r in caplog.records if r.name == "bot.handlers"]
    assert "chat not found" in str(record.exc_info[1]).lower()
    [reply] = ask(tg, user, QUESTION)
    assert "2886米" in reply.text


def test_many_users_asking_at_once_all_get_answers(tg):
    users = range(5000, 5032)
    questions = [QUESTION, "电商培训讲师是谁？", "档案数字化扫描共计多少卷？", "<i>谁</i>？"]
    for n, uid in enumerate(users):
        tg.say(uid, questions[n % len(questions)])
    tg.wait(lambda: all(tg.sent(uid) for uid in users), timeout=90)
    for n, uid in enumerate(users):
        [reply] = tg.sent(uid)
        assert reply.text.startswith(f"问：{questions[n % len(questions)]}")


def test_index_updated_on_disk_is_served_without_restart(
    index_dir, bulletins, embedder, tmp_path, user
):
    index = tmp_path / "index"
    shutil.copytree(index_dir, index)
    new_issue = ROOT / "data" / "bulletins" / "2024-12-29.txt"
    question = "台南400宴在哪里举行？"
    with run_bot(bot_settings(index, bulletins), embedder) as tg:
        [before] = ask(tg, user, question)
        assert "台南400宴盛大登场" not in before.text

        # Another writer (as `bulletin-qa ingest` would be) publishes a new generation while
        # readers keep asking: every one of them gets an answer.
        writer = threading.Thread(target=ingest, args=([new_issue], index, embedder))
        writer.start()
        askers = iter(range(6000, 6100))
        asked = []
        while writer.is_alive():
            asked.append(next(askers))
            tg.say(asked[-1], QUESTION)
            time.sleep(0.2)
        writer.join()
        tg.wait(lambda: all(tg.sent(uid) for uid in asked), timeout=60)
        assert all("2886米" in tg.sent(uid)[0].text for uid in asked)

        [after] = ask(tg, user, question)
        assert "台南400宴盛大登场" in after.text


def test_a_milvus_index_is_served_and_followed_without_restart(
    index_dir, bulletins, embedder, tmp_path, user
):
    pytest.importorskip("milvus_lite")
    from retrieval.store import open_store
    from retrieval.store.migrate import migrate

    location = f"milvus:{tmp_path / 'index.db'}"
    store = open_store(location)
    migrate(open_store(index_dir), store)
    question = "台南400宴在哪里举行？"
    settings = bot_settings(tmp_path / "subs", bulletins, index=location)
    with run_bot(settings, embedder) as tg:
        [answer] = ask(tg, user, QUESTION)
        assert "2886米" in answer.text
        [before] = ask(tg, user, question)
        assert "台南400宴盛大登场" not in before.text
        # Milvus Lite is one process's: the ingest runs in the bot's, as /reindex would.
        report = ingest([ROOT / "data" / "bulletins" / "2024-12-29.txt"], store, embedder)
        assert report.added == ["2024-12-29"]
        [after] = ask(tg, user, question)
        assert "台南400宴盛大登场" in after.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_webhook_mode(index_dir, bulletins, embedder, user):
    port = _free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    settings = bot_settings(
        index_dir, bulletins, webhook_url=url, webhook_listen="127.0.0.1", webhook_port=port
    )
    with run_bot(settings, embedder) as tg:
        assert tg.webhook["url"] == url
        secret = tg.webhook["secret_token"]
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": int(time.time()),
                "chat": {"id": user, "type": "private", "first_name": "读者"},
                "from": {"id": user, "is_bot": False, "first_name": "读者"},
                "text": QUESTION,
            },
        }
        assert httpx.post(url, json=update).status_code == 403  # not from Telegram
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
        assert httpx.post(url, json=update, headers=headers).status_code == 200
        assert "2886米" in tg.wait_sent(user)[0].text


def test_token_never_reaches_the_logs(index_dir, bulletins, embedder, user):
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    loggers = [logging.getLogger(name) for name in ("telegram", "bot", "httpx")]
    levels = [logger.level for logger in (root, *loggers)]
    root.addHandler(handler)
    try:
        root.setLevel(logging.DEBUG)
        for logger in loggers[:2]:
            logger.setLevel(logging.DEBUG)
        with run_bot(bot_settings(index_dir, bulletins), embedder) as tg:
            # An operator turning httpx's request log back on still sees no token.
            loggers[2].setLevel(logging.DEBUG)
            ask(tg, user, QUESTION)
            logging.getLogger("test").warning("careless: %s", TOKEN)
            try:
                raise RuntimeError(f"failed at /bot{TOKEN}/getMe")
            except RuntimeError:
                logging.getLogger("test").exception("with a traceback")
    finally:
        root.removeHandler(handler)
        for logger, level in zip((root, *loggers), levels, strict=True):
            logger.setLevel(level)
    text = captured.getvalue()
    assert "sendMessage" in text and "/bot[REDACTED]/" in text  # the logs did flow
    assert "careless: [REDACTED]" in text
    assert TOKEN not in text
    assert TOKEN.split(":")[1] not in text
