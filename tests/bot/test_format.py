"""The answer-formatting core shared by the terminal and Telegram, and 4096-safe splitting."""

from __future__ import annotations

import dataclasses
import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.format import (
    answer_messages,
    article_messages,
    close_to_best,
    issue_messages,
    pack,
    split_runs,
)
from retrieval.answer import Answer, Hit, Relevance
from retrieval.grounded import GroundedAnswer
from retrieval.render import (
    FOLD,
    HTML,
    NOT_FOUND,
    PLAIN,
    QUOTE,
    STRONG,
    UNCERTAIN,
    Run,
    hit_runs,
    passage_runs,
    render,
)
from retrieval.render import render_text as terminal_text
from retrieval.store import IssueSummary
from tests.bot.fake_telegram import (
    MESSAGE_LIMIT,
    Sent,
    check_message,
    parse_entities,
    parse_html,
    utf16_length,
)
from tests.samples import seed_chunk

BEFORE = "挖掘机<铁臂>伴随着轰鸣声。"
QUOTE_TEXT = "据了解，白漳河河道城区段全长2886米&一期1075米。"
AFTER = "目前工程进展顺利。"


def _hit(rank: int = 1, text: str = BEFORE + QUOTE_TEXT + AFTER, body: str | None = None) -> Hit:
    chunk = seed_chunk(
        text,
        headline="人勤春来早 <项目> 施工忙",
        author="司瑞东",
        page=2,
        body=body or text,
        date=dt.date(2023, 2, 24),
        source="x.txt",
    )
    return Hit(rank=rank, score=0.9, quote=QUOTE_TEXT, chunk=chunk)


# The issue is dated: its date names it, not its id.
SOURCE = "《人勤春来早 <项目> 施工忙》 · 交城县 · 2023年2月24日 · 第2版 · 司瑞东"
SOURCE_HTML = "《人勤春来早 &lt;项目&gt; 施工忙》 · 交城县 · 2023年2月24日 · 第2版 · 司瑞东"


def _sent(html_text: str) -> Sent:
    """The message as Telegram would store it (text and entities), through the fake."""
    parsed = check_message(html_text, "HTML")
    return Sent(0, 1, parsed.text, html_text, None, None, None, parsed.entities, parsed.dropped)


def test_one_core_renders_plain_for_the_terminal_and_html_for_telegram():
    hit = _hit()
    assert render(hit_runs(hit), PLAIN) == f"1. 「{QUOTE_TEXT}」\n   —— {SOURCE}  [0.90]"
    found = Relevance(dense=0.9, coverage=1.0)
    assert terminal_text(Answer("q", [hit], relevance=found)) == render(hit_runs(hit), PLAIN)
    html_text = render([*hit_runs(hit, score=False), Run("\n"), *passage_runs(hit)], HTML)
    assert html_text == (
        "1. <b>据了解，白漳河河道城区段全长2886米&amp;一期1075米。</b>\n"
        f"   —— {SOURCE_HTML}\n"
        "<blockquote expandable>挖掘机&lt;铁臂&gt;伴随着轰鸣声。"
        "<b>据了解，白漳河河道城区段全长2886米&amp;一期1075米。</b>"
        "目前工程进展顺利。</blockquote>"
    )
    # What Telegram shows is exactly the text, with nothing lost to the markup.
    sent = _sent(html_text)
    assert sent.text == f"1. {QUOTE_TEXT}\n   —— {SOURCE}\n{BEFORE}{QUOTE_TEXT}{AFTER}"
    # Until tapped, the reader sees the quote and its source; the passage is folded.
    assert sent.shown() == f"1. {QUOTE_TEXT}\n   —— {SOURCE}\n"
    assert sent.folded() == [BEFORE + QUOTE_TEXT + AFTER]
    assert [e.type for e in sent.entities] == ["bold", "expandable_blockquote", "bold"]
    assert not sent.dropped


def test_a_quote_not_found_in_its_chunk_leads_and_the_chunk_is_folded_unmarked():
    hit = _hit(text="另一段文字。")
    [message] = answer_messages("问", [hit])
    assert "1. <b>据了解，白漳河河道城区段全长2886米&amp;一期1075米。</b>\n" in message
    assert message.endswith("<blockquote expandable>另一段文字。</blockquote>")


def test_hostile_text_is_escaped_inside_the_fold():
    hostile = "</blockquote><b>粗</b>&amp;<script>alert(1)</script>&#x27;"
    hit = _hit(text=f"{hostile}{QUOTE_TEXT}<tg-spoiler>", body=None)
    [message] = answer_messages("<blockquote expandable>问</blockquote>", [hit])
    sent = _sent(message)
    assert sent.text.startswith("问：<blockquote expandable>问</blockquote>\n\n1. ")
    assert sent.folded() == [f"{hostile}{QUOTE_TEXT}<tg-spoiler>"]
    assert [e.type for e in sent.entities].count("expandable_blockquote") == 1
    assert not sent.dropped


def test_no_hits_is_said_plainly_in_both_outputs():
    assert terminal_text(Answer("问题", [])) == NOT_FOUND
    [message] = answer_messages("<问题>", [])
    assert parse_html(message) == "问：<问题>\n\n没有找到相关内容。可以换个说法再问一次。"


def test_only_passages_close_to_the_best_are_shown_first():
    hits = [
        dataclasses.replace(_hit(rank=r), score=s) for r, s in enumerate([0.9, 0.8, 0.5, 0.85], 1)
    ]
    assert [h.rank for h in close_to_best(hits, 0.15)] == [1, 2]  # a prefix: 4 waits too
    assert [h.rank for h in close_to_best(hits, 0.0)] == [1]
    assert [h.rank for h in close_to_best(hits, 1.0)] == [1, 2, 3, 4]
    assert close_to_best([], 0.2) == []


_styles = st.sampled_from(
    [(), (QUOTE,), (STRONG,), (QUOTE, STRONG), (FOLD,), (FOLD, QUOTE), (FOLD, STRONG)]
)
_text = st.text(
    alphabet=st.sampled_from([*"白漳河。！？，<>&\"' \nab1", "😀", "\u3000"]), max_size=60
)
_runs = st.lists(st.builds(Run, _text, _styles), max_size=12)


@given(_runs)
def test_html_rendering_always_parses_back_to_the_text_with_valid_nesting(runs):
    parsed = parse_entities(render(runs, HTML))
    assert parsed.text == "".join(run.text for run in runs)
    assert not parsed.dropped  # Telegram keeps every entity: none nests where it may not
    # Folded text is exactly the text of the FOLD runs.
    folds = "".join(
        parsed.text.encode("utf-16-le")[2 * e.offset : 2 * e.end].decode("utf-16-le")
        for e in parsed.entities
        if e.type == "expandable_blockquote"
    )
    assert folds == "".join(run.text for run in runs if FOLD in run.styles)


@settings(max_examples=200)
@given(st.lists(_runs, min_size=1, max_size=6), st.integers(min_value=8, max_value=300))
def test_packed_messages_are_valid_within_the_limit_and_lose_nothing(blocks, limit):
    messages = pack(blocks, limit=limit)
    seen = ""
    for message in messages:
        parsed = parse_entities(message)  # raises on any malformed HTML
        assert not parsed.dropped
        visible = parsed.text
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
    runs = [Run("引文。" * 40, (FOLD,)), Run("要点。" * 40, (FOLD, QUOTE))]
    messages = pack([runs], limit=100)
    assert len(messages) > 2
    for message in messages:
        assert not parse_entities(message).dropped
        assert message.startswith("<blockquote expandable>")
        assert message.endswith("</blockquote>")


def test_a_passage_too_long_for_one_message_keeps_its_quote_and_fold_valid():
    hit = _hit(text=BEFORE * 200 + QUOTE_TEXT + AFTER * 200)
    messages = answer_messages("问", [hit])
    assert len(messages) >= 2
    sents = [_sent(m) for m in messages]
    assert all(utf16_length(s.text) <= MESSAGE_LIMIT and not s.dropped for s in sents)
    assert sents[0].shown().startswith(f"问：问\n\n1. {QUOTE_TEXT}\n   —— {SOURCE}")
    assert "".join(f for s in sents for f in s.folded()) == hit.chunk.text


def test_whole_article_follows_its_headline_and_date():
    body = "\n".join(f"第{i}段：" + "档案&扫描<完成>。" * 40 for i in range(12))
    messages = article_messages(_hit(body=body).chunk)
    assert len(messages) >= 2
    heading = "<b>《人勤春来早 &lt;项目&gt; 施工忙》</b>\n交城县 · 2023年2月24日 · 第2版 · 司瑞东"
    assert messages[0].startswith(f"{heading}\n\n第0段：")
    assert "".join("".join(parse_html(m).split()) for m in messages).endswith("".join(body.split()))


def test_issue_list_is_escaped():
    issue = IssueSummary("2024-03-01", "<交城报>", dt.date(2024, 3, 1), "x.txt", 12, 40, "now")
    [message] = issue_messages("最新几期", [issue])
    assert parse_html(message) == "最新几期\n2024-03-01 · <交城报> · 12篇"
    assert issue_messages("最新几期", []) == ["还没有收录任何一期。"]


def test_outcomes_read_as_labelled_in_the_chat():
    hit = _hit()
    uncertain = _sent(answer_messages("问", [hit], confidence="uncertain")[0])
    assert uncertain.text.startswith(f"问：问\n{UNCERTAIN}\n\n1. {QUOTE_TEXT}")
    written = GroundedAnswer("白漳河城区段全长2886米[1]。", (1,))
    answered = _sent(answer_messages("问", [hit], written=written)[0])
    assert answered.shown().startswith(
        f"问：问\n答：白漳河城区段全长2886米[1]。\n\n1. {QUOTE_TEXT}"
    )
    [message] = answer_messages("问", [], confidence="not_found", nearest=[hit])
    assert parse_html(message).endswith(
        "没有找到相关内容。可以换个说法再问一次。\n最接近：《人勤春来早 <项目> 施工忙》"
    )
