"""Shared fixtures."""

from __future__ import annotations

import pytest

from retrieval.embed import Embedder, load_embedder


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The default embedder, converted on first use into the normal cache folder.

    Converting once per machine (not per test run) keeps the suite fast; the model
    itself is loaded once per session.
    """
    return load_embedder()
