"""Shared fixtures."""

from __future__ import annotations

import pytest

from retrieval.embed import Embedder, load_embedder


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The default model on the torch embedder, converted on first use into the cache.

    Converting once per machine (not per test run) keeps the suite fast; the model
    itself is loaded once per session. Torch, because it is the reference the ONNX
    embedders are checked against (tests/retrieval/test_onnx_embed.py).
    """
    return load_embedder(kind="torch")


@pytest.fixture(scope="session")
def onnx_embedder() -> Embedder:
    """The default model on ONNX Runtime in float32, exported on first use into the cache."""
    return load_embedder(kind="onnx")


@pytest.fixture(scope="session")
def int8_embedder() -> Embedder:
    """The default model on ONNX Runtime with int8 weights."""
    return load_embedder(kind="onnx-int8")
