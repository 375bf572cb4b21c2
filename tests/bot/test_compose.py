"""docker-compose.yml and the Dockerfile agree with the command line (Docker is not run)."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path, PurePosixPath

import click
import pytest
import yaml

from retrieval.cli import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def _context(service: dict) -> click.Context:
    """Parse a service's command with the real CLI (unknown options or bad values fail)."""
    command = service["command"]
    args = shlex.split(command) if isinstance(command, str) else list(command)
    assert args[0] in cli.commands, f"no such subcommand: {args[0]}"
    return cli.commands[args[0]].make_context(args[0], args[1:])


def _mounts(service: dict) -> dict[PurePosixPath, str]:
    """Container path → host source, for each volume of a service."""
    mounts = {}
    for volume in service["volumes"]:
        source, target = volume.split(":")[:2]
        mounts[PurePosixPath(target)] = source
    return mounts


def _under_mount(path: Path, mounts: dict[PurePosixPath, str]) -> str:
    [source] = [s for t, s in mounts.items() if PurePosixPath(path).is_relative_to(t)]
    return source


def test_services_are_the_bot_and_a_one_shot_ingest(compose):
    services = compose["services"]
    assert set(services) == {"bot", "ingest"}
    bot, ingest = services["bot"], services["ingest"]
    assert bot["restart"] in {"always", "unless-stopped", "on-failure"}
    assert ".env" in str(bot["env_file"])  # the token comes from an env file
    assert "profiles" not in bot
    assert ingest["profiles"] == ["ingest"] and ingest["restart"] == "no"
    assert bot["image"] == ingest["image"] and bot["build"] == ingest["build"] == "."


def test_commands_parse_with_the_cli_and_share_one_data_volume(compose):
    bot, ingest = compose["services"]["bot"], compose["services"]["ingest"]
    bot_ctx, ingest_ctx = _context(bot), _context(ingest)
    assert bot_ctx.command.name == "bot" and ingest_ctx.command.name == "ingest"
    # Same index; ingest indexes the folder the bot's /reindex reads.
    assert bot_ctx.params["index_dir"] == ingest_ctx.params["index_dir"]
    assert list(ingest_ctx.params["paths"]) == [bot_ctx.params["bulletins_dir"]]
    # Both live on the same host folder, mounted in both services.
    bot_mounts, ingest_mounts = _mounts(bot), _mounts(ingest)
    for ctx_path in (bot_ctx.params["index_dir"], bot_ctx.params["bulletins_dir"]):
        assert _under_mount(ctx_path, bot_mounts) == _under_mount(ctx_path, ingest_mounts)
    assert _under_mount(bot_ctx.params["index_dir"], bot_mounts) == "./data"


def test_dockerfile_runs_the_cli_with_the_model_built_in(compose):
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    [entrypoint] = re.findall(r'^ENTRYPOINT \["([^"]+)"\]', dockerfile, flags=re.MULTILINE)
    assert entrypoint in scripts
    assert re.search(r"^FROM python:3\.\d+-slim", dockerfile, flags=re.MULTILINE)
    assert "download.pytorch.org/whl/cpu" in dockerfile
    assert "python -m retrieval.convert" in dockerfile
    for package in ("retrieval", "bot"):
        assert f"COPY {package} ./{package}" in dockerfile
    # The data folder the CLI defaults to is the volume the services mount.
    [data] = re.findall(r"BULLETIN_QA_DATA=(\S+)", dockerfile)
    assert PurePosixPath(data) in _mounts(compose["services"]["bot"])


def test_secrets_and_local_state_stay_out_of_the_image():
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".env", ".venv", "data", ".git"} <= set(ignored)
