"""An ingest killed with SIGKILL at random moments never damages the index."""

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrieval.answer import answer_question
from retrieval.ingest import ingest
from retrieval.search import Searcher
from retrieval.store.local import IndexReader, check_index

ROOT = Path(__file__).resolve().parents[2]
BULLETINS = ROOT / "data" / "bulletins"
SEED = BULLETINS / "000_d59eaba95ec30256.txt"

pytestmark = pytest.mark.slow


def _ingest_process(folder: Path, index: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from retrieval.cli import cli; cli()",
            "ingest",
            "-q",
            str(folder),
            "--index",
            str(index),
            "--wait",
            "30",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _seed_still_answers(index: Path, embedder) -> None:
    answer = answer_question(Searcher(index, embedder), "白漳河河道城区段全长多少米？", 3)
    assert "2886米" in answer.hits[0].quote


def test_sigkill_at_random_moments_leaves_a_loadable_consistent_index(tmp_path, embedder):
    folder = tmp_path / "bulletins"
    folder.mkdir()
    shutil.copy(SEED, folder)
    index = tmp_path / "index"
    ingest([folder], index, embedder)
    for name in ("2024-02-28.txt", "2024-07-14.txt", "2024-12-29.txt"):
        shutil.copy(BULLETINS / name, folder)

    rng = random.Random(20240301)
    # The child spends its first seconds importing and loading the model; the kills
    # land from then on, in embedding, in SQLite writes or while publishing.
    for delay in sorted(rng.uniform(6, 16) for _ in range(3)):
        process = _ingest_process(folder, index)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert check_index(index) == []
        assert IndexReader(index).generation >= 1
        _seed_still_answers(index, embedder)

    report = ingest([folder], index, embedder)
    assert report.ok
    assert check_index(index) == []
    issues = {i.issue for i in IndexReader(index).issues()}
    assert issues == {"000_d59eaba95ec30256", "2024-02-28", "2024-07-14", "2024-12-29"}
    _seed_still_answers(index, embedder)
