"""The answer-formatting core shared by the terminal and Telegram, and 4096-safe splitting."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.format import answer_messages, article_messages, issue_messages, pack, split_runs
from retrieval.answer import Answer, Hit, Relevance
from retrieval.render import HTML, NOT_FOUND, PLAIN, QUOTE, STRONG, Run, hit_runs, render
from retrieval.render import render_text as terminal_text
from retrieval.store import ChunkRecord, IssueSummary
from tests.bot.fake_telegram import MESSAGE_LIMIT, parse_html, utf16_length

BEFORE = "挖掘机<铁臂>伴随着轰鸣声。"
QUOTE_TEXT = "据了解，白漳河河道城区段全长2886米&一期1075米。"
AFTER = "目前工程进展顺利。"


def _hit(rank: int = 1, text: str = BEFORE + QUOTE_TEXT + AFTER, body: str | None = None) -> Hit:
    chunk = ChunkRecord(
        chunk_id=7,
        text=text,
        seq=0,
        start=0,
        end=len(text),
        article_id=3,
        headline="人勤春来早 <项目> 施工忙",
        section="交城县",
        author="司瑞东",
        page=2,
        body=body or text,
        issue="000_d59eaba95ec30256",
        issue_title=None,
        date=dt.date(2023, 2, 24),
        source="x.txt",
    )
    return Hit(rank=rank, score=0.9, quote=QUOTE_TEXT, chunk=chunk)


SOURCE = (
    "《人勤春来早 <项目> 施工忙》 · 交城县 · 000_d59eaba95ec30256 · 2023年2月24日 · 第2版 · 司瑞东"
)


def test_one_core_renders_plain_for_the_terminal_and_html_for_telegram():
    hit = _hit()
    assert render(hit_runs(hit), PLAIN) == f"1. 「{QUOTE_TEXT}」\n   —— {SOURCE}  [0.90]"
    found = Relevance(dense=0.9, coverage=1.0)
    assert terminal_text(Answer("q", [hit], relevance=found)) == render(hit_runs(hit), PLAIN)
    html_text = render(hit_runs(hit, context=True, score=False), HTML)
    assert html_text == (
        "1. <blockquote>挖掘机&lt;铁臂&gt;伴随着轰鸣声。"
        "<b>据了解，白漳河河道城区段全长2886米&amp;一期1075米。</b>"
        "目前工程进展顺利。</blockquote>\n"
        "   —— 《人勤春来早 &lt;项目&gt; 施工忙》 · 交城县 · 000_d59eaba95ec30256"
        " · 2023年2月24日 · 第2版 · 司瑞东"
    )
    # What Telegram shows is exactly the text, with nothing lost to the markup.
    assert parse_html(html_text) == f"1. {BEFORE}{QUOTE_TEXT}{AFTER}\n   —— {SOURCE}"


def test_a_quote_not_found_in_its_chunk_is_shown_alone():
    hit = _hit(text="另一段文字。")
    assert render(hit_runs(hit, context=True), HTML).startswith(
        "1. <blockquote>据了解，白漳河河道城区段全长2886米&amp;一期1075米。</blockquote>"
    )


def test_no_hits_is_said_plainly_in_both_outputs():
    assert terminal_text(Answer("问题", [])) == NOT_FOUND
    [message] = answer_messages("<问题>", [])
    assert parse_html(message) == "问：<问题>\n\n没有找到相关内容。可以换个说法再问一次。"


_styles = st.sampled_from([(), (QUOTE,), (STRONG,), (QUOTE, STRONG)])
_text = st.text(
    alphabet=st.sampled_from([*"白漳河。！？，<>&\"' \nab1", "😀", "\u3000"]), max_size=60
)
_runs = st.lists(st.builds(Run, _text, _styles), max_size=12)


@given(_runs)
def test_html_rendering_always_parses_back_to_the_text(runs):
    assert parse_html(render(runs, HTML)) == "".join(run.text for run in runs)


@settings(max_examples=200)
@given(st.lists(_runs, min_size=1, max_size=6), st.integers(min_value=8, max_value=300))
def test_packed_messages_are_valid_within_the_limit_and_lose_nothing(blocks, limit):
    messages = pack(blocks, limit=limit)
    seen = ""
    for message in messages:
        visible = parse_html(message)  # raises on any malformed HTML
        assert visible.strip()
        assert utf16_length(visible) <= limit
        seen += visible
    original = "".join(run.text for block in blocks for run in block)
    assert "".join(seen.split()) == "".join(original.split())


def test_long_text_is_split_between_paragraphs():
    paragraphs = [f"第{i}段。" + "县档案馆完成数字化扫描。" * 30 for i in range(20)]
    messages = pack([[Run("\n".join(paragraphs))]])
    assert len(messages) > 1
    for message in messages:
        assert utf16_length(parse_html(message)) <= MESSAGE_LIMIT
        assert message.endswith("数字化扫描。")
        assert message.split("\n")[0].startswith("第")


def test_split_falls_back_to_sentences_then_anywhere():
    sentences = "白漳河全长2886米。" * 30
    pieces = split_runs([Run(sentences)], limit=100)
    assert all(render(p, PLAIN).endswith("米。") for p in pieces)
    unbroken = split_runs([Run("河" * 250)], limit=100)
    assert [len(render(p, PLAIN)) for p in unbroken] == [100, 100, 50]


def test_length_is_counted_as_telegram_counts_it():
    # Each emoji is two UTF-16 code units: 3000 of them need two messages.
    messages = pack([[Run("😀" * 3000)]])
    assert len(messages) == 2
    assert all(utf16_length(m) <= MESSAGE_LIMIT for m in messages)
    # Entities count as the one character they stand for.
    [message] = pack([[Run("&" * 4000)]])
    assert len(message) == 20000 and utf16_length(parse_html(message)) == 4000


def test_styles_are_closed_and_reopened_across_a_split():
    runs = [Run("引文。" * 40, (QUOTE,)), Run("要点。" * 40, (QUOTE, STRONG))]
    messages = pack([runs], limit=100)
    assert len(messages) > 2
    for message in messages:
        parse_html(message)
        assert message.startswith("<blockquote>") and message.endswith("</blockquote>")


def test_whole_article_follows_its_source_line():
    body = "\n".join(f"第{i}段：" + "档案&扫描<完成>。" * 40 for i in range(12))
    messages = article_messages(_hit(body=body).chunk)
    assert len(messages) >= 2
    assert messages[0].startswith(f"<b>{SOURCE.replace('<', '&lt;').replace('>', '&gt;')}</b>")
    assert "".join("".join(parse_html(m).split()) for m in messages).endswith("".join(body.split()))


def test_issue_list_is_escaped():
    issue = IssueSummary("2024-03-01", "<交城报>", dt.date(2024, 3, 1), "x.txt", 12, 40, "now")
    [message] = issue_messages("最新几期", [issue])
    assert parse_html(message) == "最新几期\n2024-03-01 · <交城报> · 12篇"
    assert issue_messages("最新几期", []) == ["还没有收录任何一期。"]
