"""`bulletin-qa bot`: options, token handling, and the lazy import of the bot."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from click.testing import CliRunner

from retrieval.cli import cli
from tests.bot.conftest import TOKEN
from tests.bot.fake_telegram import FakeTelegram


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_retrieval_does_not_import_the_bot():
    code = "import sys, retrieval.cli; print(sorted({'bot', 'telegram'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_bot_registers_its_command_and_help_lists_it_without_telegram():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from retrieval.cli import cli\n"
        "result = CliRunner().invoke(cli, ['--help'])\n"
        "assert result.exit_code == 0 and 'Answer questions in Telegram' in result.output\n"
        "print(sorted({'bot.cli', 'telegram'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['bot.cli']"


def test_bot_help_lists_its_options():
    result = run("bot", "--help")
    assert result.exit_code == 0
    for option in ("--index", "--bulletins", "--token-file", "--webhook", "--port", "--admin"):
        assert option in result.output


def test_missing_token_is_a_clear_error(tmp_path):
    empty = tmp_path / "token"
    empty.write_text("\n")
    result = run("bot", "--index", tmp_path, "--token-file", empty)
    assert result.exit_code == 1
    assert "no bot token: set TELEGRAM_BOT_TOKEN" in result.output
    result = run("bot", "--index", tmp_path, "--token-file", tmp_path / "nope")
    assert result.exit_code == 1
    assert "cannot read the token file" in result.output


@pytest.mark.slow
def test_rejected_token_is_reported_without_showing_it(tmp_path, embedder, caplog):
    wrong = "5550001111:AAwrongTokenThatMustNotBeShown"
    token_file = tmp_path / "token"
    token_file.write_text(wrong)
    with FakeTelegram(TOKEN) as fake, caplog.at_level(logging.DEBUG):
        result = run(
            "bot",
            "--index",
            tmp_path / "index",
            "--bulletins",
            tmp_path,
            "--token-file",
            token_file,
            "--api-base-url",
            fake.base_url,
        )
        assert [c.status for c in fake.calls_to("getMe")] == [401]
    assert result.exit_code == 1
    assert "Telegram rejected the bot token" in result.output
    assert wrong not in result.output
    assert wrong not in caplog.text and "[REDACTED]" in caplog.text
