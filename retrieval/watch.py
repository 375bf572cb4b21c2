"""Watch a folder and ingest bulletin files as they arrive (``bulletin-qa ingest --watch``).

A file is ingested once it has stopped growing: a scanner or an upload writes it over
seconds, and half a PDF is not an issue. Page files of one issue are always ingested
together with the pages already there, so a late page completes its issue instead of
replacing it.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from retrieval.embed import Embedder
from retrieval.ingest import find_files, ingest
from retrieval.parse import group_issue_files
from retrieval.parse.files import ISSUE_SUFFIXES
from retrieval.store import Store, StoreError

log = logging.getLogger(__name__)


class _Pending(FileSystemEventHandler):
    """Collects the bulletin files that changed, with their last seen size and time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.files: dict[Path, tuple[int, float]] = {}

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in {"created", "modified", "moved"}:
            return
        path = Path(str(getattr(event, "dest_path", "") or event.src_path))
        if path.suffix.lower() in ISSUE_SUFFIXES and not path.name.startswith("."):
            with self.lock:
                self.files[path] = (-1, time.monotonic())

    def settled(self, quiet: float) -> list[Path]:
        """Take the files whose size has not changed for ``quiet`` seconds."""
        now = time.monotonic()
        ready = []
        with self.lock:
            for path, (size, since) in list(self.files.items()):
                try:
                    current = path.stat().st_size
                except FileNotFoundError:
                    del self.files[path]  # deleted or renamed away
                    continue
                if current != size:
                    self.files[path] = (current, now)
                elif now - since >= quiet:
                    ready.append(path)
                    del self.files[path]
        return ready


def _with_siblings(folder: Path, changed: list[Path]) -> list[Path]:
    """The changed files plus the other page files of their issues."""
    wanted = set(changed)
    return [
        path
        for group in group_issue_files(find_files([folder]))
        if wanted.intersection(group)
        for path in group
    ]


def watch(
    folder: Path,
    index: Store,
    embedder: Embedder,
    *,
    quiet: float = 3.0,
    poll: float = 1.0,
    batch_size: int | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Ingest ``folder`` now, then every file that appears or changes in it, until stopped.

    Args:
        folder: The folder to watch (recursively).
        index: The index.
        embedder: The embedding model.
        quiet: Seconds a file's size must stay the same before it is ingested.
        poll: Seconds between checks.
        batch_size: Embedding batch size (the embedder's default when None).
        stop: Set it to stop watching (the call returns); None watches until interrupted.
    """
    stop = stop or threading.Event()
    pending = _Pending()
    observer = Observer()
    observer.schedule(pending, str(folder), recursive=True)
    observer.start()
    try:
        _run(find_files([folder]), index, embedder, batch_size)
        while not stop.wait(poll):
            if ready := pending.settled(quiet):
                _run(_with_siblings(folder, ready), index, embedder, batch_size)
    finally:
        observer.stop()
        observer.join()


def _run(paths: list[Path], index: Store, embedder: Embedder, batch_size: int | None) -> None:
    if not paths:
        return
    try:
        # Waits for a manual ingest that holds the lock instead of dropping the files.
        report = ingest(paths, index, embedder, batch_size=batch_size, wait=600)
    except StoreError as exc:
        log.error("ingest of %d files failed: %s", len(paths), exc)
        return
    for name, reason in report.failed:
        log.error("%s: %s", name, reason)
    log.info(
        "ingested %d files: %d added, %d replaced, %d unchanged, %d failed; %d chunks "
        "(%d embedded) in %.1f s",
        len(paths),
        len(report.added),
        len(report.replaced),
        len(report.unchanged),
        len(report.failed),
        report.chunks,
        report.embedded,
        report.seconds,
    )
