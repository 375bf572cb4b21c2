"""Lexical retrieval: BM25 (bm25s) over Chinese words, in either script.

Text is folded before tokenising: Traditional characters to Simplified (OpenCC), full
width to half width, Latin to lower case, thousands separators dropped ("1,000" → "1000"),
so that a question in either script or number style meets the bulletin's wording.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal

import bm25s
import numpy as np

from retrieval.text import HAN, jieba_rs, to_simplified

Tokenizer = Literal["jieba", "bigram", "both"]
DEFAULT_TOKENIZER: Tokenizer = "jieba"

_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# A token is kept when it holds a letter, digit or ideograph: punctuation and spaces
# carry no meaning for matching.
_MEANINGFUL = re.compile(f"[0-9a-z{HAN}]")
_HAN_RUN = re.compile(f"[{HAN}]+|[0-9a-z]+")
# Function words that jieba's search mode emits on their own; as query terms they only
# add noise (BM25's idf keeps them cheap, but not free).
STOPWORDS = frozenset(
    {
        *"的了和与及在是有也都就而或对为以于将把被从向等之其这那吗呢吧啊",
        *("什么", "多少", "哪里", "哪个", "哪些", "怎么", "怎样", "如何", "为什么", "是否"),
        *("怎么样", "什么样", "有没有", "没有", "是不是", "能不能", "会不会", "哪儿", "哪天"),
        *("几个", "多长", "多大", "多久", "多远", "谁"),
        *("请问", "the", "a", "an", "of", "to", "in", "on", "for", "and", "is", "are"),
        *("was", "were", "what", "how", "many", "much", "when", "where", "who", "which"),
        *("why", "does", "do", "did"),
    }
)

_jieba_lock = threading.Lock()
# Text that jieba-rs does not cut as jieba does (see _cut_for_search): a Latin letter or
# digit next to ASCII punctuation (after folding), or Han outside jieba's U+4E00–U+9FD5.
_ASCII_PUNCT = r"!-/:-@\[-`{-~"
_OUTSIDE_JIEBA = r"\u3400-\u4dbf\u9fd6-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
_JIEBA_ONLY = re.compile(rf"[0-9a-z][{_ASCII_PUNCT}]|[{_ASCII_PUNCT}][0-9a-z]|[{_OUTSIDE_JIEBA}]")
_OUTSIDE_JIEBA_RE = re.compile(f"[{_OUTSIDE_JIEBA}]")
_LATIN_OR_DIGIT = re.compile("[0-9a-z]")
# bm25s sets its logger to DEBUG, which floods a CLI configured for warnings.
logging.getLogger("bm25s").setLevel(logging.WARNING)


def fold(text: str) -> str:
    """Fold ``text`` for matching: Simplified script, half width, lower case, plain numbers."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _THOUSANDS.sub("", to_simplified(text))


@cache
def _jieba() -> Any:  # jieba ships no type stubs
    import jieba

    jieba.setLogLevel(60)  # its dictionary-loading chatter goes to stderr otherwise
    with _jieba_lock:
        jieba.initialize()
    return jieba


def _cut_for_search(text: str) -> Iterable[str]:
    """jieba's search-mode words of folded text, by jieba-rs wherever it cuts as jieba does.

    Loading jieba's dictionary took 0.8 s of a one-shot ``ask``'s 2.8; jieba-rs (rjieba)
    loads the same dictionary in 0.1 s and cuts 13 times faster. Over the 72,253
    paragraphs of the corpus (and 50 of its Traditional issues), the eval questions and
    the seed page, the two give the same terms except where a Latin letter or digit
    touches ASCII punctuation ("10.5", "99%", "06-2991111", URLs: jieba keeps some whole
    and splits others) or a Han character lies outside jieba's range (𥕢): such text
    (31% of paragraphs, 11% of questions) still goes through jieba, so an index's terms
    are the same whichever cut them.
    """
    if _JIEBA_ONLY.search(text):
        return _jieba().cut_for_search(text)
    return jieba_rs().cut_for_search(text)


def tokenize(text: str, tokenizer: Tokenizer = DEFAULT_TOKENIZER) -> list[str]:
    """Split text into the terms BM25 matches on.

    Args:
        text: A chunk or a question, in either script.
        tokenizer: ``"jieba"`` (search-mode word cut: words plus their sub-words),
            ``"bigram"`` (overlapping character pairs of each Han run, whole Latin words
            and numbers) or ``"both"`` (the two together).

    Returns:
        Terms in order, stopwords and punctuation removed.
    """
    folded = fold(text)
    words: Iterable[str] = []
    if tokenizer in ("jieba", "both"):
        words = _cut_for_search(folded)
    if tokenizer in ("bigram", "both"):
        words = [*words, *_bigrams(folded)]
    return [
        w for w in (w.strip() for w in words) if w and _MEANINGFUL.search(w) and w not in STOPWORDS
    ]


def terms_in(text: str, terms: Iterable[str], tokenizer: Tokenizer = DEFAULT_TOKENIZER) -> set[str]:
    """Which of ``terms`` (as :func:`tokenize` gives them) ``text`` holds as terms.

    Where the terms are all Han, jieba-rs cuts the text even where :func:`tokenize` needs
    jieba: the two differ only in runs of Latin letters, digits and ASCII punctuation,
    never in the Han words (the same Han terms in all 22,250 corpus paragraphs they cut
    otherwise). So a Chinese question's coverage of a passage with "10.5吨" in it does
    not load jieba's dictionary (1.3 s of a one-shot ``ask``).
    """
    wanted = set(terms)
    folded = fold(text)
    if (
        tokenizer in ("jieba", "both")
        and not any(_LATIN_OR_DIGIT.search(term) for term in wanted)
        and not _OUTSIDE_JIEBA_RE.search(folded)
    ):
        words: Iterable[str] = jieba_rs().cut_for_search(folded)
        if tokenizer == "both":
            words = [*words, *_bigrams(folded)]
        return wanted & {word.strip() for word in words}
    return wanted & set(tokenize(text, tokenizer))


def place_names(text: str) -> list[str]:
    """Words of ``text`` (folded) that jieba tags as place names (``ns``), of two
    characters or more, as jieba-rs tags them (its dictionary, not jieba's, is loaded)."""
    return [w for w, tag in jieba_rs().tag(fold(text)) if tag == "ns" and len(w) > 1]


def dictionary_frequency(word: str) -> int:
    """How often jieba's dictionary counts ``word`` (0 if it is not there).

    Loads jieba's dictionary (0.8 s) on first use.
    """
    return int(_jieba().dt.FREQ.get(word, 0))


def _bigrams(text: str) -> list[str]:
    terms = []
    for run in _HAN_RUN.findall(text):
        if run.isascii() or len(run) == 1:
            terms.append(run)
        else:
            terms.extend(run[i : i + 2] for i in range(len(run) - 1))
    return terms


def bm25_idf(documents: int, frequency: int) -> float:
    """BM25's inverse document frequency (bm25s's "lucene" one, as Milvus's) of a term
    that ``frequency`` of ``documents`` hold."""
    return math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))


class LexicalIndex:
    """A BM25 index over chunks, with the chunk id of each document.

    Saved inside an index generation's folder, next to the FAISS index it mirrors.
    """

    def __init__(self, bm25: bm25s.BM25, ids: np.ndarray, tokenizer: Tokenizer) -> None:
        self._bm25 = bm25
        self.ids = ids
        self.tokenizer = tokenizer
        self._row_of = {int(chunk_id): row for row, chunk_id in enumerate(ids)}
        # Document frequency per term: the score matrix is column-compressed by term.
        self._df = np.diff(bm25.scores["indptr"]) if len(ids) else np.zeros(0, dtype=np.int64)

    @classmethod
    def build(
        cls,
        ids: Sequence[int],
        token_lists: Sequence[Sequence[str]],
        tokenizer: Tokenizer = DEFAULT_TOKENIZER,
    ) -> LexicalIndex:
        """Index documents given as token lists (see :func:`tokenize`)."""
        bm25 = bm25s.BM25()
        if token_lists:
            bm25.index([list(t) for t in token_lists], show_progress=False)
        return cls(bm25, np.asarray(ids, dtype=np.int64), tokenizer)

    def save(self, folder: Path) -> None:
        """Write the index into ``folder`` (created)."""
        folder.mkdir(parents=True, exist_ok=True)
        if len(self.ids):
            self._bm25.save(str(folder), show_progress=False)
        np.save(folder / "ids.npy", self.ids)
        (folder / "lexical.json").write_text(json.dumps({"tokenizer": self.tokenizer}))

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """Read an index written by :meth:`save`."""
        ids = np.load(folder / "ids.npy")
        tokenizer = json.loads((folder / "lexical.json").read_text())["tokenizer"]
        bm25 = bm25s.BM25.load(str(folder)) if len(ids) else bm25s.BM25()
        return cls(bm25, ids, tokenizer)

    def scores(self, question: str, allowed: np.ndarray | None = None) -> LexicalScores:
        """Score every document against ``question``.

        Args:
            question: The question, in either script.
            allowed: Chunk ids the results are restricted to (None for all); the others
                score 0.
        """
        terms = [t for t in tokenize(question, self.tokenizer) if t in self.vocabulary]
        if not terms:
            return LexicalScores(self, np.zeros(len(self.ids), dtype=np.float32))
        return LexicalScores(self, self._bm25.get_scores(terms, weight_mask=self._mask(allowed)))

    def weighted_scores(
        self, terms: Mapping[str, float], allowed: np.ndarray | None = None
    ) -> LexicalScores:
        """Score every document against weighted terms (a translated question).

        Args:
            terms: Folded term → weight; each term's BM25 scores count times its weight.
            allowed: As for :meth:`scores`.
        """
        total = np.zeros(len(self.ids), dtype=np.float32)
        mask = self._mask(allowed)
        for term, weight in terms.items():
            if term in self.vocabulary:
                total += weight * self._bm25.get_scores([term], weight_mask=mask)
        return LexicalScores(self, total)

    @property
    def vocabulary(self) -> Mapping[str, int]:
        """The indexed terms (folded), as a mapping to their columns."""
        return self._bm25.vocab_dict if len(self.ids) else {}

    def _mask(self, allowed: np.ndarray | None) -> np.ndarray | None:
        if allowed is None:
            return None
        mask = np.zeros(len(self.ids), dtype=np.float32)
        mask[[self._row_of[i] for i in allowed.tolist() if i in self._row_of]] = 1.0
        return mask

    def idf(self, term: str) -> float:
        """Inverse document frequency of a term; a term no document has counts as rarest."""
        n = len(self.ids)
        if not n:
            return 0.0
        column = self._bm25.vocab_dict.get(term)
        return bm25_idf(n, int(self._df[column]) if column is not None else 0)

    def row(self, chunk_id: int) -> int | None:
        """Row of a chunk in the score array, None when it is not indexed."""
        return self._row_of.get(chunk_id)


class LexicalScores:
    """BM25 scores of all documents for one question."""

    def __init__(self, index: LexicalIndex, scores: np.ndarray) -> None:
        self._index = index
        self.array = scores

    def top(self, k: int) -> list[tuple[int, float]]:
        """The ``k`` best ``(chunk_id, score)`` pairs with a positive score, best first."""
        if not len(self.array):
            return []
        k = min(k, len(self.array))
        rows = np.argpartition(-self.array, k - 1)[:k]
        rows = rows[np.argsort(-self.array[rows])]
        return [(int(self._index.ids[r]), float(self.array[r])) for r in rows if self.array[r] > 0]

    def get(self, chunk_id: int) -> float:
        """The score of one chunk (0 when it is not indexed)."""
        row = self._index.row(chunk_id)
        return float(self.array[row]) if row is not None else 0.0
