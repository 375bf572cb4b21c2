"""Issue files sent to the bot: safe names in the bulletins folder, never overwriting.

Nothing of the name a user sends is trusted: directories are stripped, control and
format characters removed, leading dots dropped (a hidden file would not be ingested) and
the length limited, keeping the suffix. A file of another issue is never overwritten:
a same-named file with other content gets a new name (``2024-03-01-2.txt``).
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from retrieval.parse.files import ISSUE_SUFFIXES

# Telegram lets bots download files of at most 20 MB.
DOWNLOAD_LIMIT = 20 * 1024 * 1024
# Bytes of a saved file's stem: far below the 255 bytes file systems allow, with room for
# the suffix and a "-<n>" that keeps it from overwriting another file.
STEM_BYTES = 120
FALLBACK_STEM = "upload"


@dataclass(frozen=True)
class Saved:
    """A file written to (or found in) the bulletins folder.

    Attributes:
        path: Where it is.
        unchanged: The folder already held the same content under that name.
    """

    path: Path
    unchanged: bool


def accepted(name: str | None) -> bool:
    """Whether a file named ``name`` is an issue file the bot ingests."""
    return bool(name) and Path(safe_name(name)).suffix in ISSUE_SUFFIXES


def safe_name(name: str) -> str:
    """A file name for the bulletins folder made from a name a user sent.

    Args:
        name: The document's file name as sent (may hold a path, control characters…).

    Returns:
        A plain file name: no directory, no control or format characters, not hidden, a
        lower-case suffix, a stem of at most :data:`STEM_BYTES` bytes (never empty).
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] not in "CZ" or ch == " ")
    base = base.strip(" .")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem.strip(" .")
    # Cut on a character boundary, counting the bytes the file system sees.
    stem = stem.encode()[:STEM_BYTES].decode(errors="ignore").rstrip(" .") or FALLBACK_STEM
    return f"{stem}.{suffix.lower()}" if suffix else stem


def save(folder: Path, name: str, data: bytes) -> Saved:
    """Write ``data`` into ``folder`` under the safe form of ``name``, never overwriting.

    Written to a temporary file first and linked into place, so that a crash never leaves
    half a file for the next ingest, and two uploads racing for a name both keep theirs.

    Args:
        folder: The bulletins folder (created when missing).
        name: The name the user sent.
        data: The file's content.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / safe_name(name)
    stem, suffix = path.stem, path.suffix
    tmp = folder / f".upload-{os.getpid()}-{id(data)}.part"
    tmp.write_bytes(data)
    try:
        for n in range(1, 10_000):
            if n > 1:
                path = folder / f"{stem}-{n}{suffix}"
            try:
                os.link(tmp, path)
            except FileExistsError:
                if path.read_bytes() == data:
                    return Saved(path, unchanged=True)
                continue
            return Saved(path, unchanged=False)
        raise FileExistsError(f"too many files named like {path.name}")
    finally:
        tmp.unlink()
