"""The fake Bot API server rejects what Telegram rejects (else the bot tests prove little)."""

from __future__ import annotations

import httpx
import pytest

from tests.bot.fake_telegram import ApiError, FakeTelegram, check_markup, check_text, parse_html


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
