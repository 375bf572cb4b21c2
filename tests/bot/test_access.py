"""Access control, the bot's settings from the environment, and token redaction in logs."""

from __future__ import annotations

import logging

import pytest

from bot import redact
from bot.access import AccessPolicy
from retrieval.config import Settings, parse_ids


def test_without_allowlists_everyone_may_ask_but_only_admins_administer():
    policy = AccessPolicy(admins=frozenset({1}))
    assert policy.may_ask(42, 42) and policy.may_ask(None, None)
    assert policy.is_admin(1)
    assert not policy.is_admin(42) and not policy.is_admin(None)
    assert not AccessPolicy().is_admin(1)  # no admins configured: nobody


def test_allowlists_admit_listed_users_anywhere_and_anyone_in_listed_chats():
    policy = AccessPolicy(
        allowed_users=frozenset({10}), allowed_chats=frozenset({-100}), admins=frozenset({1})
    )
    assert policy.may_ask(10, 10) and policy.may_ask(10, -200)
    assert policy.may_ask(99, -100)
    assert policy.may_ask(1, 1)
    assert not policy.may_ask(99, 99) and not policy.may_ask(99, -200)
    assert not policy.may_ask(None, None)


def test_settings_read_the_bot_configuration_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:8081/bot")
    monkeypatch.setenv("BULLETIN_QA_ALLOWED_USERS", "11, 12 13")
    monkeypatch.setenv("BULLETIN_QA_ALLOWED_CHATS", "-1001234567890")
    monkeypatch.setenv("BULLETIN_QA_ADMINS", "11")
    monkeypatch.setenv("BULLETIN_QA_WEBHOOK_URL", "https://news.example/telegram")
    monkeypatch.setenv("BULLETIN_QA_WEBHOOK_PORT", "8080")
    settings = Settings.from_env()
    assert settings.bot_token() == "123:abc"
    assert settings.telegram_api_base_url == "http://127.0.0.1:8081/bot"
    assert settings.allowed_users == {11, 12, 13}
    assert settings.allowed_chats == {-1001234567890}
    assert settings.admins == {11}
    assert (settings.webhook_url, settings.webhook_port) == ("https://news.example/telegram", 8080)
    assert "123:abc" not in repr(settings)

    token_file = tmp_path / "token"
    token_file.write_text("456:def\n")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN_FILE", str(token_file))
    assert Settings.from_env().bot_token() == "456:def"  # the file wins


def test_bad_ids_are_reported_with_the_variable():
    assert parse_ids("") == frozenset()
    with pytest.raises(ValueError, match="BULLETIN_QA_ADMINS: 'bob'"):
        parse_ids("1, bob", "BULLETIN_QA_ADMINS")


def test_protected_secrets_are_redacted_from_messages_and_tracebacks(caplog):
    secret = "987654:secret-for-redaction-test"
    redact.protect(secret)
    log = logging.getLogger("tests.redact")
    with caplog.at_level(logging.INFO):
        log.info("POST https://api.telegram.org/bot%s/getMe", secret)
        try:
            raise ValueError(f"The token `{secret}` was rejected by the server.")
        except ValueError:
            log.exception("start failed")
    text = caplog.text
    assert secret not in text
    assert "bot[REDACTED]/getMe" in text and "The token `[REDACTED]`" in text
    assert logging.getLogger("httpx").level == logging.WARNING
