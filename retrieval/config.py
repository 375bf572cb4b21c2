"""All settings in one place: defaults, overridden by environment variables.

Command-line flags override these in turn (see :mod:`retrieval.cli`).

Environment variables:
    BULLETIN_QA_DATA: data folder (index and bulletins live under it);
        default: the user data dir (e.g. ``~/.local/share/bulletin-qa``).
    BULLETIN_QA_INDEX: index folder; default ``$BULLETIN_QA_DATA/index``.
    BULLETIN_QA_BULLETINS: folder of bulletin files; default ``$BULLETIN_QA_DATA/bulletins``.
    BULLETIN_QA_MODEL: a sentence-transformers model folder to use instead of the default.
    BULLETIN_QA_CACHE: cache folder for the converted default model;
        default: the user cache dir (e.g. ``~/.cache/bulletin-qa``).
    BULLETIN_QA_BATCH_SIZE: embedding batch size (default 32).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "bulletin-qa"

# Questions longer than this are refused: no reader types a page into a chat box, and
# the model only reads 512 tokens anyway.
MAX_QUESTION_CHARS = 500


def _path_env(name: str, default: Path) -> Path:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else default


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one process."""

    data_dir: Path
    index_dir: Path
    bulletins_dir: Path
    cache_dir: Path
    model: Path | None
    batch_size: int

    @classmethod
    def from_env(cls) -> Settings:
        """Read the settings from the environment, falling back to the defaults."""
        data_dir = _path_env("BULLETIN_QA_DATA", Path(platformdirs.user_data_dir(APP_NAME)))
        model = os.environ.get("BULLETIN_QA_MODEL", "").strip()
        return cls(
            data_dir=data_dir,
            index_dir=_path_env("BULLETIN_QA_INDEX", data_dir / "index"),
            bulletins_dir=_path_env("BULLETIN_QA_BULLETINS", data_dir / "bulletins"),
            cache_dir=_path_env("BULLETIN_QA_CACHE", Path(platformdirs.user_cache_dir(APP_NAME))),
            model=Path(model).expanduser() if model else None,
            batch_size=int(os.environ.get("BULLETIN_QA_BATCH_SIZE", "32")),
        )
