"""The fake Bot API server rejects what Telegram rejects (else the bot tests prove little)."""

from __future__ import annotations

import httpx
import pytest

from tests.bot.fake_telegram import (
    ApiError,
    Entity,
    FakeTelegram,
    check_markup,
    check_message,
    check_text,
    parse_entities,
    parse_html,
)


@pytest.mark.parametrize(
    "text",
    [
        "<script>x</script>",
        "<b>unclosed",
        "<b><i>crossed</b></i>",
        "stray </b>",
        "a & b",
        "&nbsp;",
        "1 < 2",
        "2 > 1",
        '<a hreff="x">x</a>',
    ],
)
def test_malformed_or_unsupported_html_is_rejected(text):
    with pytest.raises(ApiError, match="can't parse entities"):
        parse_html(text)


def test_supported_html_parses_to_its_visible_text():
    html = "<b>粗</b><blockquote expandable>引&lt;文&gt;</blockquote>&amp;&quot;&#x27;&#39;"
    assert parse_html(html) == "粗引<文>&\"''"


def test_entities_are_parsed_as_telegram_parses_them():
    parsed = parse_entities("<b>答</b>\n<blockquote expandable>前<b>答</b>😀后</blockquote>x")
    assert parsed.text == "答\n前答😀后x"
    # Offsets and lengths in UTF-16 units: the emoji counts two.
    assert parsed.entities == [
        Entity("bold", 0, 1),
        Entity("expandable_blockquote", 2, 5),
        Entity("bold", 3, 1),
    ]
    # Telegram reads the attribute name as written; a plain blockquote is not expandable.
    assert parse_entities("<blockquote Expandable>q</blockquote>").entities == [
        Entity("blockquote", 0, 1)
    ]
    assert parse_entities("<blockquote>q</blockquote>").entities == [Entity("blockquote", 0, 1)]
    # Touching bold runs are one entity; empty ones none.
    assert parse_entities("<b>a</b><b>b</b><i></i>").entities == [Entity("bold", 0, 2)]
    with pytest.raises(ApiError, match='tag "span" must have class "tg-spoiler"'):
        parse_entities('<span class="x">s</span>')


def test_entities_nested_against_telegrams_rules_are_dropped():
    nested = parse_entities("<blockquote>a<blockquote expandable>b</blockquote></blockquote>")
    assert nested.entities == [Entity("blockquote", 0, 2)]
    assert nested.dropped == [Entity("expandable_blockquote", 1, 1)]
    assert parse_entities("<code><b>c</b></code>").dropped == [Entity("bold", 0, 1)]
    assert not parse_entities("<blockquote expandable><b>c</b><code>d</code></blockquote>").dropped


def test_sent_text_is_trimmed_with_its_entities():
    parsed = check_message(" \n<b> x</b>\n\n<blockquote expandable>y \n</blockquote>\n", "HTML")
    assert parsed.text == " x\n\ny"  # leading spaces stay once an entity starts
    assert parsed.entities == [Entity("bold", 0, 2), Entity("expandable_blockquote", 4, 1)]


def test_length_counts_after_entity_parsing_in_utf16_units():
    assert check_text("&amp;" * 4096, "HTML") == "&" * 4096
    with pytest.raises(ApiError, match="message is too long"):
        check_text("&amp;" * 4097, "HTML")
    with pytest.raises(ApiError, match="message is too long"):
        check_text("😀" * 2049, None)
    with pytest.raises(ApiError, match="text is empty"):
        check_text("<b> </b>", "HTML")


def test_callback_data_over_64_bytes_is_rejected():
    check_markup({"inline_keyboard": [[{"text": "更多", "callback_data": "x" * 64}]]})
    with pytest.raises(ApiError, match="BUTTON_DATA_INVALID"):
        check_markup({"inline_keyboard": [[{"text": "更多", "callback_data": "数" * 22}]]})


def test_http_answers_have_telegrams_shapes():
    with FakeTelegram("1:good") as tg:
        url = tg.base_url
        assert httpx.post(f"{url}1:bad/getMe").json() == {
            "ok": False,
            "error_code": 401,
            "description": "Unauthorized",
        }
        assert httpx.post(f"{url}1:good/getMe").json()["result"]["is_bot"] is True
        tg.fail("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
        answer = httpx.post(f"{url}1:good/sendMessage", data={"chat_id": "5", "text": "hi"})
        assert answer.status_code == 429
        assert answer.json()["parameters"] == {"retry_after": 3}
        sent = httpx.post(f"{url}1:good/sendMessage", data={"chat_id": "5", "text": "hi"})
        assert sent.json()["result"]["text"] == "hi"
        bad = httpx.post(
            f"{url}1:good/sendMessage", data={"chat_id": "5", "text": "<x>", "parse_mode": "HTML"}
        )
        assert bad.status_code == 400 and bad.json()["ok"] is False
