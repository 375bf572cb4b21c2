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
    command = cli.get_command(click.Context(cli), args[0])
    assert command is not None, f"no such subcommand: {args[0]}"
    return command.make_context(args[0], args[1:])


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


def test_services_are_the_bot_a_one_shot_ingest_and_milvus_on_demand(compose):
    services = compose["services"]
    assert set(services) == {"bot", "ingest", "etcd", "minio", "milvus"}
    bot, ingest = services["bot"], services["ingest"]
    assert bot["restart"] in {"always", "unless-stopped", "on-failure"}
    assert ".env" in str(bot["env_file"])  # the token comes from an env file
    assert "profiles" not in bot
    assert ingest["profiles"] == ["ingest"] and ingest["restart"] == "no"
    assert bot["image"] == ingest["image"] and bot["build"] == ingest["build"] == "."
    for name in ("etcd", "minio", "milvus"):
        assert services[name]["profiles"] == ["milvus"] and "healthcheck" in services[name]


def _index_default(service: dict) -> str:
    """The index a service uses when .env does not set BULLETIN_QA_INDEX."""
    value = service["environment"]["BULLETIN_QA_INDEX"]
    [default] = re.fullmatch(r"\$\{BULLETIN_QA_INDEX:-([^}]+)\}", value).groups()
    return default


def test_commands_parse_with_the_cli_and_share_one_data_volume(compose):
    bot, ingest = compose["services"]["bot"], compose["services"]["ingest"]
    bot_ctx, ingest_ctx = _context(bot), _context(ingest)
    assert bot_ctx.command.name == "bot" and ingest_ctx.command.name == "ingest"
    # Same index, from the environment (a folder unless .env names a Milvus collection);
    # ingest indexes the folder the bot's /reindex reads.
    assert "--index" not in bot["command"] and "--index" not in ingest["command"]
    index = Path(_index_default(bot))
    assert _index_default(ingest) == str(index)
    assert list(ingest_ctx.params["paths"]) == [bot_ctx.params["bulletins_dir"]]
    # Both live on the same host folder, mounted in both services.
    bot_mounts, ingest_mounts = _mounts(bot), _mounts(ingest)
    for ctx_path in (index, bot_ctx.params["bulletins_dir"]):
        assert _under_mount(ctx_path, bot_mounts) == _under_mount(ctx_path, ingest_mounts)
    assert _under_mount(index, bot_mounts) == "./data"


def test_milvus_profile_is_health_checked_and_waited_for(compose):
    services = compose["services"]
    milvus = services["milvus"]
    assert "9091/healthz" in " ".join(milvus["healthcheck"]["test"])
    assert milvus["environment"]["ETCD_ENDPOINTS"] == "etcd:2379"
    assert milvus["environment"]["MINIO_ADDRESS"] == "minio:9000"
    assert {name: d["condition"] for name, d in milvus["depends_on"].items()} == {
        "etcd": "service_healthy",
        "minio": "service_healthy",
    }
    for name in ("bot", "ingest"):
        # Waits for Milvus when the profile is on; starts alone when it is off.
        assert services[name]["depends_on"]["milvus"] == {
            "condition": "service_healthy",
            "required": False,
        }
    # A Milvus address is what the services take from .env, and the CLI parses it.
    location = "milvus://milvus:19530/bulletins"
    ctx = _context({"command": ["ingest", "x", "--index", location]})
    assert ctx.params["index"].location == location


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
