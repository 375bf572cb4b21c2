"""The optional grounded answer, against a fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from retrieval.config import LLMSettings, Settings
from retrieval.grounded import (
    MAX_ANSWER_TOKENS,
    MAX_PASSAGE_CHARS,
    NO_ANSWER,
    Outcome,
    Passage,
    chat_completions_url,
    check_answer,
    write_answer,
)
from retrieval.store import ChunkRecord

KEY = "sk-test-5f3a9c0e1d"
PASSAGES = [
    Passage(
        headline="白漳河整治工程开工",
        issue="2024-02-28",
        text="据了解，白漳河河道城区段全长2886米，一期改造工程总投资1.2亿元，"
        "由县水利局负责实施，预计今年10月完工。",
    ),
    Passage(
        headline="台湾灯会",
        issue="2024-02-20",
        text="台湾灯会自驾车累计运行近400班次，超过1,000人次试乘。活动由“智慧交通”计划支持。",
    ),
]
QUESTION = "白漳河整治工程投了多少钱？"


@dataclass
class FakeLLM:
    """What the fake server answers, and the requests it received."""

    url: str = ""
    status: int = 200
    body: bytes = b""
    delay: float = 0.0
    echo_authorization: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def reply(self, content: Any, **extra: Any) -> None:
        """Answer with an OpenAI-style chat completion whose text is ``content``."""
        message = {"role": "assistant", "content": content, **extra.pop("message", {})}
        choice = {"index": 0, "message": message, "finish_reason": "stop", **extra}
        completion = {"id": "x", "object": "chat.completion", "choices": [choice]}
        self.body = json.dumps(completion).encode()


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    fake = FakeLLM()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            fake.requests.append(
                {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
            )
            if fake.delay:
                fake.release.wait(fake.delay)  # set at teardown: no thread outlives the test
            out = fake.body
            if fake.echo_authorization:
                out += self.headers.get("Authorization", "").encode()
            try:
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
            except OSError:  # the client gave up (the timeout test)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # A short poll interval: shutdown() waits for it, once per test.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    fake.release.set()
    server.shutdown()
    server.server_close()


def settings(llm: FakeLLM, **changes: Any) -> LLMSettings:
    return LLMSettings(**{"url": llm.url, "model": "test-model", "timeout": 2.0, **changes})


# --- the request and the reply ------------------------------------------------------------


def test_a_good_answer_is_accepted_with_its_citations(llm):
    llm.reply("白漳河一期改造工程总投资1.2亿元[1]，由县水利局负责实施。[1]")
    result = write_answer(QUESTION, PASSAGES, settings(llm))
    assert result.outcome is Outcome.ANSWERED
    assert result.answer is not None
    assert result.answer.citations == (1,)
    assert result.answer.text == "白漳河一期改造工程总投资1.2亿元[1]，由县水利局负责实施。[1]"


def test_the_request_is_an_openai_chat_completion_over_the_numbered_passages(llm):
    llm.reply(NO_ANSWER)
    write_answer(QUESTION, PASSAGES, settings(llm))
    (request,) = llm.requests
    assert request["path"] == "/v1/chat/completions"
    body = request["json"]
    assert body["model"] == "test-model"
    assert body["temperature"] == 0
    assert body["max_tokens"] == MAX_ANSWER_TOKENS
    system, user = body["messages"]
    assert system["role"] == "system"
    assert NO_ANSWER in system["content"]
    assert "只根据" in system["content"]
    assert "Use only the numbered passages" in system["content"]
    assert user["role"] == "user"
    assert "[1] 《白漳河整治工程开工》 2024-02-28\n据了解" in user["content"]
    assert "[2] 《台湾灯会》 2024-02-20" in user["content"]
    assert user["content"].endswith(QUESTION)
    assert "Authorization" not in request["headers"]


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/", "/v1/chat/completions"])
def test_the_base_url_may_be_given_with_or_without_v1(llm, suffix):
    llm.reply("总投资1.2亿元[1]。")
    result = write_answer(QUESTION, PASSAGES, settings(llm, url=llm.url + suffix))
    assert result.outcome is Outcome.ANSWERED
    assert [r["path"] for r in llm.requests] == ["/v1/chat/completions"]


def test_chat_completions_url():
    assert chat_completions_url("http://h:11434") == "http://h:11434/v1/chat/completions"
    assert chat_completions_url("https://api.x.com/v1/") == "https://api.x.com/v1/chat/completions"


def test_long_passages_are_cut_before_the_model_sees_them(llm):
    llm.reply(NO_ANSWER)
    long = Passage("长文", "2024-01-01", "甲" * (MAX_PASSAGE_CHARS + 500))
    write_answer(QUESTION, [long], settings(llm))
    assert llm.requests[0]["json"]["messages"][1]["content"].count("甲") == MAX_PASSAGE_CHARS


def test_the_key_is_sent_as_bearer_and_never_logged(llm, caplog):
    llm.status, llm.body, llm.echo_authorization = 500, b"bad request from ", True
    with caplog.at_level(logging.DEBUG):
        result = write_answer(QUESTION, PASSAGES, settings(llm, key=KEY))
    assert llm.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"
    assert result.outcome is Outcome.FAILED
    assert "HTTP 500" in caplog.text
    assert KEY not in caplog.text
    assert KEY not in result.reason
    assert KEY not in repr(settings(llm, key=KEY))


def test_no_passages_ask_nothing(llm):
    assert write_answer(QUESTION, [], settings(llm)).outcome is Outcome.DECLINED
    assert llm.requests == []


# --- what the model says ------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "白漳河一期改造工程总投资1.5亿元[1]。",  # a figure the passage does not give
        "白漳河城区段全长3000米[1]。",
        "工程预计今年11月完工[1]。",
        "白漳河一期改造工程总投资一亿五千万元[1]。",
    ],
)
def test_invented_numbers_are_rejected(llm, reply):
    llm.reply(reply)
    result = write_answer(QUESTION, PASSAGES, settings(llm))
    assert result.outcome is Outcome.REJECTED
    assert result.answer is None
    assert "number" in result.reason


def test_a_name_not_in_the_cited_passage_is_rejected(llm):
    llm.reply("工程由“县交通局”负责实施[1]。")
    assert write_answer(QUESTION, PASSAGES, settings(llm)).outcome is Outcome.REJECTED
    # A name from another passage than the one cited is no better.
    llm.reply("白漳河工程得到“智慧交通”计划支持[1]。")
    result = write_answer(QUESTION, PASSAGES, settings(llm))
    assert result.outcome is Outcome.REJECTED
    assert "智慧交通" in result.reason


@pytest.mark.parametrize(
    "reply",
    [
        "白漳河一期改造工程总投资1.2亿元。",
        "白漳河一期改造工程总投资1.2亿元[1]。工程由县水利局实施。",  # one sentence uncited
        "I'm sorry, but I can't help with that.",
    ],
)
def test_sentences_without_citation_are_rejected(llm, reply):
    llm.reply(reply)
    result = write_answer(QUESTION, PASSAGES, settings(llm))
    assert result.outcome is Outcome.REJECTED
    assert "cites nothing" in result.reason


def test_a_citation_out_of_range_is_rejected(llm):
    llm.reply("白漳河一期改造工程总投资1.2亿元[3]。")
    result = write_answer(QUESTION, PASSAGES, settings(llm))
    assert result.outcome is Outcome.REJECTED
    assert "[3] of 2" in result.reason


@pytest.mark.parametrize(
    "reply",
    [NO_ANSWER, f"{NO_ANSWER}.", "资料中没有提到这个工程的费用。", "The passages do not say."],
)
def test_no_answer_is_declined(llm, reply, caplog):
    llm.reply(reply)
    with caplog.at_level(logging.WARNING):
        result = write_answer(QUESTION, PASSAGES, settings(llm))
    assert result.outcome is Outcome.DECLINED
    assert caplog.text == ""  # declining is the model doing its job, not a warning


def test_thinking_is_dropped_before_the_check(llm):
    llm.reply("<think>问的是投资。资料1说1.2亿元。</think>\n总投资1.2亿元[1]。")
    result = write_answer(QUESTION, PASSAGES, settings(llm))
    assert result.answer is not None
    assert result.answer.text == "总投资1.2亿元[1]。"


# --- failures -----------------------------------------------------------------------------


def test_a_timeout_fails_quickly_and_is_logged(llm, caplog):
    llm.reply("总投资1.2亿元[1]。")
    llm.delay = 5.0
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="retrieval.grounded"):
        result = write_answer(QUESTION, PASSAGES, settings(llm, timeout=0.2))
    assert time.monotonic() - start < 2.0
    assert result.outcome is Outcome.FAILED
    assert "timed out" in result.reason
    assert "timed out" in caplog.text


def test_http_500_fails_and_is_logged(llm, caplog):
    llm.status, llm.body = 500, b'{"error": "model not loaded"}'
    with caplog.at_level(logging.WARNING, logger="retrieval.grounded"):
        result = write_answer(QUESTION, PASSAGES, settings(llm))
    assert result.outcome is Outcome.FAILED
    assert result.answer is None
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "HTTP 500" in caplog.text and "model not loaded" in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b"\xff\xfe\x00garbage",
        b"[]",
        b'"text"',
        b"{}",
        b'{"choices": []}',
        b'{"choices": [{"message": {}}]}',
        b'{"choices": [{"message": {"content": null}}]}',
        b'{"choices": [{"message": {"content": 5}}]}',
        b'{"choices": [{"message": "text"}]}',
        b'{"choices": [{"message": {"content": "  "}}]}',
    ],
)
def test_garbage_replies_fail(llm, body, caplog):
    llm.body = body
    with caplog.at_level(logging.WARNING, logger="retrieval.grounded"):
        result = write_answer(QUESTION, PASSAGES, settings(llm))
    assert result.outcome is Outcome.FAILED
    assert "grounded answer failed" in caplog.text


def test_refusals_and_cut_off_replies_fail(llm):
    llm.reply(None, message={"refusal": "I can't help with that."})
    assert write_answer(QUESTION, PASSAGES, settings(llm)).outcome is Outcome.FAILED
    llm.reply("白漳河一期改造工程总投资1.2亿元[1]，由", finish_reason="length")
    result = write_answer(QUESTION, PASSAGES, settings(llm))
    assert result.outcome is Outcome.FAILED
    assert "length" in result.reason


def test_a_refused_connection_fails(llm):
    with socket.socket() as sock:  # a port bound, then released: nothing listens there
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = write_answer(QUESTION, PASSAGES, settings(llm, url=url))
    assert result.outcome is Outcome.FAILED
    assert "ConnectError" in result.reason


def test_a_failed_connection_is_tried_once_more(llm, monkeypatch):
    llm.reply("总投资1.2亿元[1]。")
    real = httpx.HTTPTransport.handle_request
    calls = []

    def flaky(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        calls.append(request.url)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return real(self, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", flaky)
    assert write_answer(QUESTION, PASSAGES, settings(llm)).outcome is Outcome.ANSWERED
    assert len(calls) == 2


# --- the check itself ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "一期改造工程总投资12000万元[1]。",  # the same amount in other units
        "一期改造工程总投资一亿二千万元[1]。",
        "灯会自驾车运行近四百班次，超过一千人次试乘[2]。",
        "灯会超过1000人次试乘。[2]",  # the citation after the full stop
        "白漳河一期改造工程總投資1.2億元，由縣水利局負責實施【1】。",  # Traditional, full width
        "工程总投资1.2亿元[1]；灯会超过1,000人次试乘[2]。",
        "工程2024年2月28日报道，总投资1.2亿元[1, 2]。",
        "The first phase of the Baizhang River project costs 120 million yuan [1].",
        "The Taiwan Lantern Festival shuttles ran nearly 400 trips in February [2].",
    ],
)
def test_supported_sentences_pass(reply):
    result = check_answer(reply, PASSAGES)
    assert result.outcome is Outcome.ANSWERED, result.reason


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("The Lishui River project costs 120 million yuan [1].", "lishui"),  # pinyin not there
        ("The project costs 130 million yuan [1].", "number"),
        ("The shuttles ran in March [2].", "number 3"),
        ("工程由NASA负责[1]。", "nasa"),
        ("工程总投资1.2亿元[1]，灯会超过1000人次试乘[1]。", "1000"),  # fact of [2], cites [1]
        ("工程全长《白漳河报》2886米[1]。", "白漳河报"),
    ],
)
def test_unsupported_sentences_are_rejected(reply, reason):
    result = check_answer(reply, PASSAGES)
    assert result.outcome is Outcome.REJECTED
    assert reason in result.reason


def test_citations_are_written_one_number_a_bracket():
    result = check_answer("总投资1.2亿元，灯会试乘超过1000人次［1，2］。", PASSAGES)
    assert result.answer is not None
    assert result.answer.text == "总投资1.2亿元，灯会试乘超过1000人次[1][2]。"
    assert result.answer.citations == (1, 2)


def test_a_reply_of_citations_only_is_rejected():
    assert check_answer("[1][2]", PASSAGES).outcome is Outcome.REJECTED


# --- settings -----------------------------------------------------------------------------


def test_settings_are_off_without_a_url(monkeypatch):
    for name in ("URL", "MODEL", "KEY", "TIMEOUT"):
        monkeypatch.delenv(f"BULLETIN_QA_LLM_{name}", raising=False)
    assert LLMSettings.from_env() is None
    assert Settings.from_env().llm is None


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("BULLETIN_QA_LLM_URL", "http://127.0.0.1:11434")
    monkeypatch.setenv("BULLETIN_QA_LLM_MODEL", "qwen2.5:7b")
    monkeypatch.setenv("BULLETIN_QA_LLM_KEY", KEY)
    monkeypatch.setenv("BULLETIN_QA_LLM_TIMEOUT", "7.5")
    llm = Settings.from_env().llm
    assert llm == LLMSettings("http://127.0.0.1:11434", "qwen2.5:7b", KEY, 7.5)
    assert KEY not in repr(Settings.from_env())
    monkeypatch.delenv("BULLETIN_QA_LLM_TIMEOUT")
    assert LLMSettings.from_env().timeout == 20.0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BULLETIN_QA_LLM_MODEL", ""),
        ("BULLETIN_QA_LLM_URL", "localhost:11434"),
        ("BULLETIN_QA_LLM_TIMEOUT", "0"),
        ("BULLETIN_QA_LLM_KEY", "sk-“quoted”"),
    ],
)
def test_bad_settings_are_refused(monkeypatch, name, value):
    monkeypatch.setenv("BULLETIN_QA_LLM_URL", "http://127.0.0.1:11434")
    monkeypatch.setenv("BULLETIN_QA_LLM_MODEL", "qwen2.5:7b")
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        LLMSettings.from_env()


def test_a_passage_from_a_retrieved_chunk():
    chunk = ChunkRecord(
        chunk_id=1,
        text="正文",
        seq=0,
        start=0,
        end=2,
        article_id=1,
        headline="标题",
        section=None,
        author=None,
        page=None,
        body="正文",
        issue="000_abc",
        issue_title=None,
        date=dt.date(2024, 2, 28),
        source="a.txt",
    )
    assert Passage.from_chunk(chunk) == Passage("标题", "2024-02-28", "正文")
    undated = Passage.from_chunk(ChunkRecord(**{**chunk.__dict__, "date": None}))
    assert undated.issue == "000_abc"
