"""The one error every reader of issue files raises: a file that cannot be read."""

from __future__ import annotations

from pathlib import Path


class BadFileError(Exception):
    """A file that cannot be read as a bulletin issue.

    Attributes:
        path: The offending file.
        reason: What is wrong with it, in plain words.
    """

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason
