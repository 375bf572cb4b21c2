"""``bulletin-qa bot``: the Telegram bot's command, which this package adds to the CLI.

:mod:`retrieval.cli` knows nothing of the bot: it loads the commands other packages
register under the ``bulletin_qa.commands`` entry point group (``pyproject.toml``), this
one among them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from retrieval.cli import embedder_option, index_option, load_model, model_option, settings
from retrieval.store import Store, StoreError


@click.command(name="bot")
@index_option
@click.option(
    "--bulletins",
    "bulletins_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=settings.bulletins_dir,
    show_default=True,
    help="Folder that /reindex ingests (env BULLETIN_QA_BULLETINS).",
)
@model_option
@embedder_option
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=settings.telegram_token_file,
    help="File holding the bot token (env TELEGRAM_BOT_TOKEN_FILE); "
    "default: the variable TELEGRAM_BOT_TOKEN.",
)
@click.option(
    "--api-base-url",
    default=settings.telegram_api_base_url,
    help="Another Bot API server, the token appended: e.g. http://127.0.0.1:8081/bot "
    "(env TELEGRAM_API_BASE_URL).",
)
@click.option(
    "--webhook",
    "webhook_url",
    default=settings.webhook_url,
    help="Receive updates at this public HTTPS URL instead of long polling "
    "(env BULLETIN_QA_WEBHOOK_URL).",
)
@click.option(
    "--listen",
    default=settings.webhook_listen,
    show_default=True,
    help="Address of the webhook server (env BULLETIN_QA_WEBHOOK_LISTEN).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=settings.webhook_port,
    show_default=True,
    help="Port of the webhook server (env BULLETIN_QA_WEBHOOK_PORT).",
)
@click.option(
    "--allow-user",
    "allowed_users",
    type=int,
    multiple=True,
    help="User id allowed to ask; repeatable (env BULLETIN_QA_ALLOWED_USERS).",
)
@click.option(
    "--allow-chat",
    "allowed_chats",
    type=int,
    multiple=True,
    help="Chat id where everyone may ask; repeatable (env BULLETIN_QA_ALLOWED_CHATS).",
)
@click.option(
    "--admin",
    "admins",
    type=int,
    multiple=True,
    help="User id allowed /reindex and /stats; repeatable (env BULLETIN_QA_ADMINS).",
)
def bot_command(
    index: Store,
    bulletins_dir: Path,
    model: Path | None,
    token_file: Path | None,
    api_base_url: str | None,
    webhook_url: str | None,
    listen: str,
    port: int,
    allowed_users: tuple[int, ...],
    allowed_chats: tuple[int, ...],
    admins: tuple[int, ...],
) -> None:
    """Answer questions in Telegram until stopped (token: env TELEGRAM_BOT_TOKEN).

    Long polling by default, or a webhook server with --webhook. Without allowlists
    everyone may ask; /reindex and /stats are for the admins only.
    """
    chosen = dataclasses.replace(
        settings,
        index=index.location,
        bulletins_dir=bulletins_dir,
        telegram_token_file=token_file,
        telegram_api_base_url=api_base_url,
        webhook_url=webhook_url,
        webhook_listen=listen,
        webhook_port=port,
        allowed_users=frozenset(allowed_users) or settings.allowed_users,
        allowed_chats=frozenset(allowed_chats) or settings.allowed_chats,
        admins=frozenset(admins) or settings.admins,
    )
    try:
        token = chosen.bot_token()
    except OSError as exc:
        raise click.ClickException(
            f"cannot read the token file {token_file}: {exc.strerror}"
        ) from None
    if not token:
        raise click.ClickException("no bot token: set TELEGRAM_BOT_TOKEN or use --token-file")
    # Imported here: `bulletin-qa --help` lists this command without loading
    # python-telegram-bot.
    from telegram.error import InvalidToken

    from bot.app import run_bot

    embedder = load_model(model)
    try:
        run_bot(chosen, token, embedder)
    except InvalidToken:
        # Its message quotes the token.
        raise click.ClickException(
            "Telegram rejected the bot token: check TELEGRAM_BOT_TOKEN or the token file"
        ) from None
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
