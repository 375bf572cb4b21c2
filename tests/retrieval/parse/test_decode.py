"""Tests for retrieval.parse.decode: encodings detected, binary and undecodable files refused."""

from __future__ import annotations

import re

import pytest

from retrieval.parse import (
    decode_text,
)
from tests.samples import (
    CORPUS,
    hanzi,
    seed_text,
)

# Traditional text of our own, so the Big5 tests never depend on the shared folder.
TRADITIONAL = (
    "臺南市政府今日舉辦記者會，說明春節期間的交通管制與垃圾清運安排。"
    "市長表示，各區清潔隊將加派人力，並請民眾配合資源回收，一起維護環境整潔。"
    "觀光旅遊局也提醒遊客，連假期間景點周邊車多，建議多利用大眾運輸。"
)


# --- decode_text ----------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32"])
def test_decode_unicode_encodings(encoding: str) -> None:
    text = "台南市政府新闻汇编\n本报讯 今天，NET ZERO TAINAN 开幕。"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    decoded, name = decode_text(data)
    assert decoded == text
    assert "\ufeff" not in decoded
    assert name.startswith("utf")


def test_decode_normalises_newlines_and_strips_bom() -> None:
    text, name = decode_text("\ufeff第一行\r\n第二行\r第三行\n".encode())
    assert (text, name) == ("第一行\n第二行\n第三行\n", "utf-8-sig")


def test_decode_reads_html_character_references() -> None:
    # Text copied from a web page: readers should see "•", not "&bull;". An ampersand
    # in a name, or before letters without a semicolon, is text.
    text, _ = decode_text("书艺个展&bull;花错纹思&mdash;&#39;AT&T&#39; R&D &notes".encode())
    assert text == "书艺个展•花错纹思—'AT&T' R&D &notes"


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_decode_detects_gb_on_the_seed_page(encoding: str) -> None:
    text = seed_text()
    assert decode_text(text.encode(encoding)) == (text, "gb18030")


def test_decode_gb18030_four_byte_characters() -> None:
    text = "县市合并𢓭首度跨年双现场，在原县区行政中心南𤅀绿都心公园举办。"
    assert decode_text(text.encode("gb18030")) == (text, "gb18030")


def test_decode_detects_big5() -> None:
    decoded, name = decode_text(TRADITIONAL.encode("big5"))
    assert decoded == TRADITIONAL
    assert name == "big5"


def test_decode_detects_big5_on_the_traditional_corpus(manifest: dict) -> None:
    for path in sorted((CORPUS / "issues_zh-Hant").glob("*.txt")):
        # A few characters of the originals have no Big5 code: replace them.
        data = path.read_text(encoding="utf-8").encode("big5", errors="replace")
        decoded, name = decode_text(data)
        assert name == "big5", path.name
        # The same text as its UTF-8 reading (character references read alike).
        assert decoded == decode_text(data.decode("big5").encode())[0]


def _windows(text: str, size: int = 20) -> list[str]:
    """Every 20-character slice (step 7) that is mostly Chinese characters."""
    text = re.sub(r"\s+", "", text)
    slices = (text[i : i + size] for i in range(0, len(text) - size, 7))
    return [s for s in slices if len(hanzi(s)) >= size // 2]


def test_decode_short_texts() -> None:
    simplified = _windows(seed_text())
    traditional = _windows(TRADITIONAL * 2)
    assert simplified and traditional
    for window in simplified:
        assert decode_text(window.encode("gbk")) == (window, "gb18030"), window
    for window in traditional:
        assert decode_text(window.encode("big5"))[0] == window, window


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"PK\x03\x04\x14\x00\x06\x00",
        "正文".encode() + bytes(range(1, 9)) * 20,
    ],
)
def test_decode_rejects_binary(data: bytes) -> None:
    with pytest.raises(ValueError, match="binary file"):
        decode_text(data)


def test_decode_rejects_other_encodings() -> None:
    with pytest.raises(ValueError, match="cannot decode: not UTF-8, GB18030 or Big5"):
        decode_text("Café crème, déjà vu à Zürich".encode("latin-1"))
