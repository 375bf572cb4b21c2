"""An optional answer in a few sentences, written by an LLM from the retrieved passages only.

Off unless an OpenAI-compatible chat server is configured (``BULLETIN_QA_LLM_URL``, see
:mod:`retrieval.config`). The model sees the numbered passages and the question, and must
answer in one to three sentences, each citing its passages as ``[n]``, or reply
:data:`NO_ANSWER`. What it writes is checked before anyone sees it
(:func:`check_answer`): every sentence must cite passages that exist, and every number
and name in a sentence must occur in a passage it cites. Anything else (a timeout, an
HTTP error, a reply that is not the expected JSON, a refusal) gives no answer, logged
for the operator; the caller shows the quotes as it would without a model.

The check is deliberately literal: it cannot tell whether a sentence means what its
passage says, only that its numbers and names come from there. How good the answers are
depends on the model the operator chooses.
"""

from __future__ import annotations

import enum
import logging
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from retrieval.config import LLMSettings
from retrieval.lexical import fold
from retrieval.text import HAN_RE, HAN_RUN_RE

if TYPE_CHECKING:
    from retrieval.store import ChunkRecord

log = logging.getLogger(__name__)

# What the model replies when the passages do not answer the question.
NO_ANSWER = "NO_ANSWER"
# A passage longer than this is cut before the model sees it: chunks are at most a few
# hundred characters, so this only bounds the prompt against unusual input.
MAX_PASSAGE_CHARS = 1200
MAX_HEADLINE_CHARS = 100
# Three sentences of Chinese take about 150 tokens; the bound stops a rambling model.
MAX_ANSWER_TOKENS = 400
# Characters of a failing server's reply quoted in the log.
_LOG_BODY_CHARS = 200
# A citation range wider than this ("[1-999]") is taken as its two ends, which the
# range check then judges, rather than expanded.
_MAX_CITED_RANGE = 10
# Reasoning models served by Ollama or vLLM may put their thinking in the reply text.
_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL)

SYSTEM_PROMPT = (
    "你是县报资料问答助手。只根据用户给出的编号资料回答问题，不要使用资料以外的任何知识。"
    "用提问所用的语言回答，写一到三句话，每句话都在句末用方括号注明所依据资料的编号，"
    "例如 [1] 或 [1][2]。数字、日期、人名、地名、机构名要与资料原文一致。"
    f"如果资料不能回答这个问题，只回复 {NO_ANSWER}，不要写别的。\n"
    "You answer questions about a county newspaper's bulletins. Use only the numbered "
    "passages the user gives, no outside knowledge. Answer in the language of the "
    "question, in one to three sentences, and end every sentence with the numbers of the "
    "passages it rests on in square brackets, e.g. [1] or [1][2]. Give numbers, dates and "
    "names exactly as the passages do (names in pinyin in an English answer). If the "
    f"passages do not answer the question, reply exactly {NO_ANSWER} and nothing else."
)


class Outcome(enum.StrEnum):
    """What became of a request for a grounded answer."""

    ANSWERED = "answered"
    """The answer passed the check: show it."""
    DECLINED = "declined"
    """The model says the passages do not answer the question."""
    REJECTED = "rejected"
    """The answer failed the check: it cites nothing or a passage that does not exist, or
    a number or name of it is not in the passages it cites."""
    FAILED = "failed"
    """No usable reply: timeout, connection or HTTP error, not the expected JSON."""


@dataclass(frozen=True)
class Passage:
    """One passage as the model sees it; ``passages[i]`` is cited as ``[i + 1]``.

    Attributes:
        headline: The article's headline ("" when it has none).
        issue: The issue's date (ISO) or, without one, its id.
        text: The passage (the chunk's text, which holds the quote).
    """

    headline: str
    issue: str
    text: str

    @classmethod
    def from_chunk(cls, chunk: ChunkRecord) -> Passage:
        """The passage of a retrieved chunk (``hit.chunk``)."""
        issue = chunk.date.isoformat() if chunk.date is not None else chunk.issue
        return cls(headline=chunk.headline, issue=issue, text=chunk.text)

    def shown(self) -> str:
        """What the model reads, and what the check compares the answer with."""
        head = f"《{self.headline[:MAX_HEADLINE_CHARS]}》" if self.headline else ""
        return f"{head} {self.issue}\n{self.text[:MAX_PASSAGE_CHARS]}".strip()


@dataclass(frozen=True)
class GroundedAnswer:
    """An answer that passed the check.

    Attributes:
        text: The answer, citations written ``[1][2]`` whatever form the model used.
        citations: The 1-based numbers of the passages it cites, ascending.
    """

    text: str
    citations: tuple[int, ...]


@dataclass(frozen=True)
class GroundedResult:
    """The outcome of one request, with the answer when there is one.

    Attributes:
        outcome: See :class:`Outcome`.
        answer: Set only when ``outcome`` is :attr:`Outcome.ANSWERED`.
        reason: Why there is no answer, for the log and the tests (never for readers).
    """

    outcome: Outcome
    answer: GroundedAnswer | None = None
    reason: str = ""


# --- the request -------------------------------------------------------------------------


def chat_completions_url(base: str) -> str:
    """The chat completions endpoint of a server given by its base URL.

    Both ``http://host:11434`` and ``http://host:11434/v1`` are accepted (and the full
    endpoint itself), since servers document one form or the other.
    """
    base = base.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if not base.endswith("/v1"):
        base += "/v1"
    return base + "/chat/completions"


def build_messages(question: str, passages: Sequence[Passage]) -> list[dict[str, str]]:
    """The chat messages: instructions, then the numbered passages and the question."""
    numbered = "\n\n".join(f"[{i}] {p.shown()}" for i, p in enumerate(passages, 1))
    user = f"资料 / Passages:\n\n{numbered}\n\n问题 / Question: {question.strip()}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


class _Failure(Exception):
    """No usable reply; the message says why (for the log)."""


def write_answer(
    question: str, passages: Sequence[Passage], settings: LLMSettings
) -> GroundedResult:
    """Ask the model for an answer from ``passages`` and check it.

    Never raises for anything the server does: failures come back as
    :attr:`Outcome.FAILED` and are logged as warnings (without the key), rejected answers
    too; the reader should see the quotes alone.

    Args:
        question: The reader's question.
        passages: The retrieved passages, best first; the model cites them as [1], [2], ….
        settings: The server, model, key and timeout.

    Returns:
        The checked answer, or why there is none.
    """
    if not passages:
        return GroundedResult(Outcome.DECLINED, reason="no passages")
    url = chat_completions_url(settings.url)
    payload = {
        "model": settings.model,
        "messages": build_messages(question, passages),
        # Deterministic: the same question over the same passages gets the same answer.
        "temperature": 0,
        "max_tokens": MAX_ANSWER_TOKENS,
        "stream": False,
    }
    try:
        reply = _complete(url, payload, settings)
    except _Failure as failure:
        reason = str(failure)
        # A server's error page may echo the request: the key goes no further.
        if settings.key:
            reason = reason.replace(settings.key, "[REDACTED]")
        result = GroundedResult(Outcome.FAILED, reason=reason)
    else:
        result = check_answer(reply, passages)
    if result.outcome is not Outcome.ANSWERED:
        level = logging.INFO if result.outcome is Outcome.DECLINED else logging.WARNING
        log.log(level, "grounded answer %s: %s (%s)", result.outcome, result.reason, _display(url))
    return result


def _complete(url: str, payload: dict[str, Any], settings: LLMSettings) -> str:
    """POST the request and return the reply's text.

    Raises:
        _Failure: Timeout, connection or HTTP error, or not an OpenAI-style reply.
    """
    headers = {"Authorization": f"Bearer {settings.key}"} if settings.key else {}
    client = _client(settings.timeout)
    try:
        try:
            response = client.post(url, json=payload, headers=headers)
        except httpx.ConnectError:
            # Nothing was sent, so trying again is safe; a server restarting (Ollama
            # loading a model) often accepts the second connection.
            response = client.post(url, json=payload, headers=headers)
    except httpx.TimeoutException as error:
        raise _Failure(f"timed out after {settings.timeout:g} s ({type(error).__name__})") from None
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        raise _Failure(f"{type(error).__name__}: {error}") from None
    if not response.is_success:
        raise _Failure(f"HTTP {response.status_code}: {response.text[:_LOG_BODY_CHARS]!r}")
    try:
        data = response.json()
    except ValueError:
        raise _Failure(f"not JSON: {response.text[:_LOG_BODY_CHARS]!r}") from None
    return _reply_text(data)


@cache
def _client(timeout: float) -> httpx.Client:
    """The process's client for this timeout, kept open: creating one costs 50–100 ms (its
    TLS context), and a kept one reuses its connections. httpx clients may be shared
    between threads (the bot answers in a thread pool)."""
    return httpx.Client(timeout=timeout)


def _reply_text(data: Any) -> str:
    """The assistant's text of an OpenAI-style chat completion.

    Raises:
        _Failure: Fields missing or of the wrong type, a refusal, or a cut-off reply.
    """
    try:
        choice = data["choices"][0]
        message = choice["message"]
        content = message["content"]
    except (KeyError, IndexError, TypeError):
        raise _Failure(f"no choices[0].message.content: {str(data)[:_LOG_BODY_CHARS]!r}") from None
    if not isinstance(content, str) or not isinstance(message, dict):
        raise _Failure(f"content is not text: {str(message)[:_LOG_BODY_CHARS]!r}")
    if message.get("refusal"):
        raise _Failure(f"refused: {str(message['refusal'])[:_LOG_BODY_CHARS]!r}")
    # A reply cut at max_tokens may end mid-claim; a filtered one is not the model's.
    if isinstance(choice, dict) and choice.get("finish_reason") in ("length", "content_filter"):
        raise _Failure(f"finish_reason {choice['finish_reason']}")
    text = _THINKING.sub("", content).strip()
    if not text:
        raise _Failure("empty reply")
    return text


def _display(url: str) -> str:
    """``url`` without credentials or query, which may hold a key."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# --- the check ---------------------------------------------------------------------------

_CITATION = re.compile(
    r"[\[［【]\s*(\d+(?:\s*[-–~]\s*\d+)?(?:\s*[,，、;；]\s*\d+(?:\s*[-–~]\s*\d+)?)*)\s*[\]］】]"
)
_LEADING_CITATIONS = re.compile(rf"\s*(?:{_CITATION.pattern}\s*)+")
# A sentence ends at Chinese or Western final punctuation, with any closing quotes; a
# Western full stop only before a space or the end, so that "1.5" stays whole.
_SENTENCE_END = re.compile(r"(?:[。！？!?]+|\.(?=\s|$))[”’」』）)》\"']*")
# Said instead of NO_ANSWER by models that do not follow the instruction to the letter.
_NO_ANSWER = re.compile(r"no[_ ]answer", re.IGNORECASE)
_DECLINES = re.compile(
    r"没有提到|没有提及|未提到|未提及|没有涉及|未涉及|没有说明|未说明|没有相关|无相关|"
    r"不包含|没有包含|无法回答|无法确定|不能回答|"
    r"(?:do|does|did) not (?:answer|mention|say|state|contain|include|specify)|"
    r"(?:cannot|can't|can not) (?:be )?answer|no information|not (?:mentioned|stated|specified)",
    re.IGNORECASE,
)


def check_answer(text: str, passages: Sequence[Passage]) -> GroundedResult:
    """Check a model's reply against the passages it was given.

    The reply is split into sentences (a citation after the full stop belongs to the
    sentence before it). Every sentence must cite at least one passage that exists, and
    its numbers and names must occur in one of the passages it cites:

    - numbers in Arabic or Chinese numerals, compared by value ("1.2万" = "12000",
      "三百" = "300", "30 million" = "3000万"); a lone "一" is not counted, being more
      often an article than a number;
    - Chinese names: in a Chinese sentence every run of two or more Han characters inside
      「」『』“”‘’《》, in an English one every such run;
    - Latin names: a word in capitals ("CNN") or a Latin word in a Chinese sentence must
      occur as it is; a capitalised word of an English sentence that spells pinyin
      ("Lishui") must spell the pinyin of consecutive characters of the passage; other
      capitalised English words ("County") cannot be checked against Chinese text and pass.

    Words the check cannot see, in a paraphrase or in English ("three", "renovated"),
    pass: it catches invented figures and names, not every wrong sentence.

    Text is compared after :func:`retrieval.lexical.fold` (either script, either width)
    with whitespace removed.

    Args:
        text: The model's reply.
        passages: The passages it was given, in order.

    Returns:
        :attr:`Outcome.ANSWERED` with the answer, or :attr:`Outcome.DECLINED` (the reply is
        :data:`NO_ANSWER` or says, citing nothing, that the passages do not answer), or
        :attr:`Outcome.REJECTED` with the first reason found.
    """
    text = text.strip()
    if _NO_ANSWER.search(text):
        return GroundedResult(Outcome.DECLINED, reason=NO_ANSWER)
    if not re.search(r"\w", _CITATION.sub("", text)):
        return GroundedResult(Outcome.REJECTED, reason=f"no text: {text!r}")
    sentences = _sentences(text)
    if not any(_citations(s) for s in sentences):
        if _DECLINES.search(text):
            return GroundedResult(Outcome.DECLINED, reason="says the passages do not answer")
        return GroundedResult(Outcome.REJECTED, reason=f"cites nothing: {text[:_LOG_BODY_CHARS]!r}")
    sources = [_Source(p) for p in passages]
    cited_all: set[int] = set()
    for sentence in sentences:
        cited = _citations(sentence)
        if not cited:
            return _rejected("a sentence cites nothing", sentence)
        if out := sorted(n for n in cited if not 1 <= n <= len(passages)):
            return _rejected(f"cites [{out[0]}] of {len(passages)} passages", sentence)
        cited_all |= cited
        claim = _CITATION.sub(" ", sentence)
        cited_sources = [sources[n - 1] for n in sorted(cited)]
        for number in _numbers(claim):
            if not any(number in s.numbers for s in cited_sources):
                return _rejected(f"number {number:f} not in {sorted(cited)}", sentence)
        for name, check in _names(claim):
            if not any(check(s, name) for s in cited_sources):
                return _rejected(f"name {name!r} not in {sorted(cited)}", sentence)
    written = _CITATION.sub(lambda m: "".join(f"[{n}]" for n in _expand(m[1])), text)
    return GroundedResult(Outcome.ANSWERED, GroundedAnswer(written, tuple(sorted(cited_all))))


def _rejected(reason: str, sentence: str) -> GroundedResult:
    return GroundedResult(Outcome.REJECTED, reason=f"{reason}: {sentence!r}")


def _sentences(text: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        pieces.append(text[start : match.end()])
        start = match.end()
    pieces.append(text[start:])
    sentences: list[str] = []
    for piece in pieces:
        # "…万元。[1]": citations written after the full stop belong to the sentence before.
        lead = _LEADING_CITATIONS.match(piece)
        if lead and sentences:
            sentences[-1] += lead[0]
            piece = piece[lead.end() :]
        if piece.strip():
            sentences.append(piece.strip())
    return sentences


def _citations(sentence: str) -> set[int]:
    return {n for match in _CITATION.finditer(sentence) for n in _expand(match[1])}


def _expand(numbers: str) -> list[int]:
    """ "1, 3-4" → [1, 3, 4]."""
    result: list[int] = []
    for item in re.split(r"\s*[,，、;；]\s*", numbers.strip()):
        first, _, last = re.sub(r"\s*[-–~]\s*", "-", item).partition("-")
        low, high = int(first), int(last or first)
        result.extend(range(low, high + 1) if high - low <= _MAX_CITED_RANGE else (low, high))
    return result


class _Source:
    """One passage prepared for the check: folded text and numbers."""

    def __init__(self, passage: Passage) -> None:
        shown = passage.shown()
        self.folded = _squeeze(shown)
        self.numbers = frozenset(_numbers(shown, lone_one=True))

    def spells(self, word: str) -> bool:
        """Whether ``word`` (lower case, plain letters) is the pinyin of consecutive
        characters, any reading of each: names are where context-free readings matter
        (单 is Shan as a surname)."""
        for run in HAN_RUN_RE.findall(self.folded):
            readings = [_readings(char) for char in run]
            for start in range(len(run)):
                # Offsets into ``word`` that the characters from ``start`` on can spell.
                offsets = {0}
                for options in readings[start:]:
                    offsets = {
                        o + len(r) for o in offsets for r in options if word.startswith(r, o)
                    }
                    if len(word) in offsets:
                        return True
                    if not offsets:
                        break
        return False


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", fold(text))


def _plain(text: str) -> str:
    """Lower case ASCII letters: tone marks and ü's dots dropped ("Lǚ" → "lu")."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("v", "u"))
    return re.sub(r"[^a-z]", "", "".join(c for c in decomposed if not unicodedata.combining(c)))


# --- numbers -----------------------------------------------------------------------------

_HAN_DIGITS = {
    **{"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4},
    **{"五": 5, "六": 6, "七": 7, "八": 8, "九": 9},
}
_HAN_UNITS = {"十": 10, "百": 100, "千": 1000}
_HAN_NUMERALS = "".join(_HAN_DIGITS) + "".join(_HAN_UNITS) + "万亿"
_SCALES = {
    "万亿": Decimal(10) ** 12,
    "亿": Decimal(10) ** 8,
    "万": Decimal(10) ** 4,
    "thousand": Decimal(10) ** 3,
    "million": Decimal(10) ** 6,
    "billion": Decimal(10) ** 9,
}
_NUMBER = re.compile(
    r"(?P<arabic>[0-9]+(?:\.[0-9]+)?)\s*(?P<scale>万亿|亿|万|thousand\b|million\b|billion\b)?"
    rf"|(?P<han>[{_HAN_NUMERALS}]+)(?=(?P<next>.?))",
    re.DOTALL,
)
# A single Chinese numeral counts as a number only before one of these (三人, 五月, 八点):
# alone it is usually part of a word (统一, 三农, 万众).
_MEASURES = frozenset(
    "个位名人户家座条项件次批场届期轮天日号月年岁周" + "元块角分秒点时倍米亩吨斤辆台间栋层所"
)
# Runs of numerals that are words, not numbers.
_NOT_NUMBERS = frozenset({"万一", "一一"})
_MONTH_NAMES = (
    *("January", "February", "March", "April", "May", "June", "July", "August"),
    *("September", "October", "November", "December"),
)
# Capitalised only: "may" is also a verb.
_MONTHS = re.compile(rf"\b({'|'.join(_MONTH_NAMES)})\b")
_MONTH_NUMBERS = {name: Decimal(i) for i, name in enumerate(_MONTH_NAMES, 1)}


def _numbers(text: str, *, lone_one: bool = False) -> set[Decimal]:
    """The values of the numbers in ``text`` (folded first: "1,000" is 1000).

    Args:
        text: A sentence of an answer, or a passage.
        lone_one: Count a lone 一 before a measure word too: in a passage, so that an
            answer's "第1期" finds "第一期".
    """
    # An English answer names months; a passage gives them as numbers (二月, 2月).
    values = {_MONTH_NUMBERS[m] for m in _MONTHS.findall(unicodedata.normalize("NFKC", text))}
    text = fold(text).replace("百分之", "")  # 百分之三十 is 30 (%), as "30%" is
    for match in _NUMBER.finditer(text):
        if match["arabic"]:
            value = Decimal(match["arabic"]) * _SCALES.get(match["scale"] or "", 1)
        else:
            han = match["han"]
            if han in _NOT_NUMBERS or (
                len(han) == 1
                and (han in ("万亿" if lone_one else "一万亿") or match["next"] not in _MEASURES)
            ):
                continue
            value = Decimal(_han_value(han))
        values.add(value.normalize())
    return values


def _han_value(numeral: str) -> int:
    """The value of a run of Chinese numerals: "三百零五" → 305, "二〇二四" → 2024."""
    if not any(c in numeral for c in "十百千万亿"):
        return int("".join(str(_HAN_DIGITS[c]) for c in numeral))
    total = section = digit = 0
    for char in numeral:
        if char in _HAN_DIGITS:
            digit = _HAN_DIGITS[char]
        elif char in _HAN_UNITS:
            section += (digit or 1) * _HAN_UNITS[char]  # "十五": 十 alone is 10
            digit = 0
        elif char == "万":
            total += (section + digit or 1) * 10**4
            section = digit = 0
        else:  # 亿
            total = (total + section + digit or 1) * 10**8
            section = digit = 0
    return total + section + digit


# --- names -------------------------------------------------------------------------------

_QUOTED = re.compile(r"「([^」]*)」|『([^』]*)』|“([^”]*)”|‘([^’]*)’|《([^》]*)》")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]")
# English words that look like names but are not: capitalised words that also spell
# pinyin ("He" = hé) and abbreviations in capitals.
_NOT_NAMES = frozenset(
    {"a", "an", "he", "she", "hang", "men", "long", "ran", "china", "chinese", "change"}
    | {"am", "pm"}
)


def _names(claim: str) -> Iterator[tuple[str, Callable[[_Source, str], bool]]]:
    """The names of a sentence, each with the test a cited passage must pass."""
    claim = unicodedata.normalize("NFKC", claim)
    words = _LATIN_WORD.findall(claim)
    chinese = len(HAN_RE.findall(claim)) > len(words)
    # In an English sentence Chinese characters can only be a name ("白漳河"), quoted or not.
    spans = [m[0] for m in _QUOTED.finditer(claim)] if chinese else [claim]
    for span in spans:
        for run in HAN_RUN_RE.findall(span):
            if len(run) >= 2:
                yield _squeeze(run), _contains
    for word in words:
        plain = _plain(word)
        if plain in _NOT_NAMES:
            continue
        if chinese or (len(word) > 1 and word.isupper()):
            yield _squeeze(word), _contains
        elif word[0].isupper() and _is_pinyin(plain):
            yield plain, _spells_or_contains


def _contains(source: _Source, name: str) -> bool:
    return name in source.folded


def _spells_or_contains(source: _Source, name: str) -> bool:
    return name in source.folded or source.spells(name)


@cache
def _pinyin_dict() -> dict[int, str]:
    """pypinyin's code point → readings ("zhōng,zhòng"), loaded on first use (0.7 s)."""
    from pypinyin.pinyin_dict import pinyin_dict

    return pinyin_dict


@cache
def _readings(char: str) -> frozenset[str]:
    """The toneless readings of a Han character ("长" → chang, zhang)."""
    return frozenset(_plain(r) for r in _pinyin_dict().get(ord(char), "").split(",") if r)


@cache
def _syllables() -> frozenset[str]:
    """Every toneless pinyin syllable."""
    toned = {reading for readings in _pinyin_dict().values() for reading in readings.split(",")}
    # Interjections such as "hm" and "ng" would let any consonant cluster pass.
    return frozenset(plain for r in toned if re.search("[aeiou]", plain := _plain(r)))


def _is_pinyin(word: str) -> bool:
    """Whether ``word`` splits into pinyin syllables ("lishui" = li + shui)."""
    syllables = _syllables()
    reachable = [True] + [False] * len(word)
    for end in range(1, len(word) + 1):
        reachable[end] = any(
            reachable[start] and word[start:end] in syllables
            for start in range(max(0, end - 6), end)
        )
    return reachable[-1]
