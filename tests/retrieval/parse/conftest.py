"""Fixtures of the parse tests: the seed page's articles and the corpus manifest."""

from __future__ import annotations

import collections
import json

import pytest

from retrieval.documents import Article
from retrieval.parse import split_articles
from tests.samples import CORPUS, seed_text


@pytest.fixture(scope="module")
def seed_articles() -> list[Article]:
    return split_articles(seed_text())


@pytest.fixture(scope="module")
def manifest() -> dict[str, list[dict]]:
    """The corpus manifest's rows by issue; skips when the shared corpus is absent."""
    if not (CORPUS / "manifest.jsonl").is_file():
        pytest.skip(f"shared corpus not found at {CORPUS} (set BULLETIN_QA_SHARED)")
    rows: dict[str, list[dict]] = collections.defaultdict(list)
    with (CORPUS / "manifest.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            rows[row["issue"]].append(row)
    return rows
